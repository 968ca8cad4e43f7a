package conf

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Severity orders findings as keepalived's config_err_t does (lib/parser.h):
// the lower the value, the worse. The first three mean the configuration
// cannot run; the middle ones are errors keepalived still runs with;
// Security is reported when script security is needed but not enabled.
// Warning, Deprecated and NotSupported are vigil's own and never change the
// -t verdict.
type Severity int

const (
	FileNotFound     Severity = iota + 1 // CONFIG_FILE_NOT_FOUND
	BadIf                                // CONFIG_BAD_IF
	Fatal                                // CONFIG_FATAL
	MultipleFiles                        // CONFIG_MULTIPLE_FILES
	UnknownKeyword                       // CONFIG_UNKNOWN_KEYWORD
	UnexpectedBOB                        // CONFIG_UNEXPECTED_BOB: '{' where none is allowed
	MissingBOB                           // CONFIG_MISSING_BOB: '{' missing
	UnexpectedEOB                        // CONFIG_UNEXPECTED_EOB: extra '}'
	MissingEOB                           // CONFIG_MISSING_EOB: '}' missing at the end
	UnmatchedQuote                       // CONFIG_UNMATCHED_QUOTE
	MissingParameter                     // CONFIG_MISSING_PARAMETER
	InvalidNumber                        // CONFIG_INVALID_NUMBER
	GeneralError                         // CONFIG_GENERAL_ERROR
	SecurityError                        // CONFIG_SECURITY_ERROR
	Warning                              // keepalived logs it but does not count it as an error
	Deprecated                           // accepted alias or keyword keepalived calls deprecated
	NotSupported                         // documented keyword that vigil parses but does not act on yet
)

var sevNames = map[Severity]string{
	FileNotFound: "file-not-found", BadIf: "bad-interface", Fatal: "fatal",
	MultipleFiles: "multiple-files", UnknownKeyword: "unknown-keyword",
	UnexpectedBOB: "unexpected-{", MissingBOB: "missing-{",
	UnexpectedEOB: "unexpected-}", MissingEOB: "missing-}", UnmatchedQuote: "unmatched-quote",
	MissingParameter: "missing-parameter", InvalidNumber: "invalid-number",
	GeneralError: "error", SecurityError: "security", Warning: "warning",
	Deprecated: "deprecated", NotSupported: "not-supported",
}

// String names the severity in lower case, for golden files and JSON.
func (s Severity) String() string {
	if n, ok := sevNames[s]; ok {
		return n
	}
	return fmt.Sprintf("severity(%d)", int(s))
}

// IsError reports whether keepalived -t counts a finding of this severity
// as a configuration error (a non-zero exit).
func (s Severity) IsError() bool { return s >= FileNotFound && s <= SecurityError }

// Diagnostic is one finding about the configuration.
type Diagnostic struct {
	Pos   Pos      `json:"pos"`
	Sev   Severity `json:"severity"`
	Msg   string   `json:"msg"`
	Chain []Pos    `json:"chain,omitempty"` // include chain, outermost first: where Pos.File was included from
}

// String renders the finding as keepalived prints it:
// "(FILE: Line N) message", or just the message without a position.
func (d Diagnostic) String() string {
	if !d.Pos.IsValid() {
		if d.Pos.File != "" {
			return fmt.Sprintf("(%s) %s", d.Pos.File, d.Msg)
		}
		return d.Msg
	}
	return fmt.Sprintf("(%s: Line %d) %s", d.Pos.File, d.Pos.Line, d.Msg)
}

// Diagnostics is a list of findings, in the manner of go/scanner.ErrorList.
type Diagnostics []Diagnostic

// Add appends a finding.
func (ds *Diagnostics) Add(pos Pos, sev Severity, format string, args ...any) {
	*ds = append(*ds, Diagnostic{Pos: pos, Sev: sev, Msg: fmt.Sprintf(format, args...)})
}

// Sort orders findings by file, line, column, then severity; the order is
// stable, so findings on one line keep the order they were made in.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Pos, ds[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Worst returns the most severe finding's severity, or 0 when there is none.
func (ds Diagnostics) Worst() Severity {
	var w Severity
	for _, d := range ds {
		if w == 0 || d.Sev < w {
			w = d.Sev
		}
	}
	return w
}

// HasErrors reports whether any finding is one keepalived -t counts as an error.
func (ds Diagnostics) HasErrors() bool { return ds.Worst().IsError() }

// Err returns nil when no finding is an error, else an error listing them.
func (ds Diagnostics) Err() error {
	var errs []string
	for _, d := range ds {
		if d.Sev.IsError() {
			errs = append(errs, d.String())
		}
	}
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errors.New(errs[0])
	}
	return fmt.Errorf("%s (and %d more errors)", errs[0], len(errs)-1)
}

// String renders one finding per line.
func (ds Diagnostics) String() string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	return b.String()
}
