package conf

import (
	"io/fs"
)

// LoadOptions configures Load: the front end's options and Decode's.
type LoadOptions struct {
	Parse  ParseOptions
	Decode DecodeOptions
}

// Load reads the configuration at path from fsys (see Parse for how path
// maps onto fsys), decodes and validates it. The Config is never nil: like
// keepalived, vigil keeps whatever it could decode. The Diagnostics are
// sorted by position and each finding appears once, even where keepalived
// prints it once per process.
func Load(fsys fs.FS, path string, opts LoadOptions) (*Config, Diagnostics) {
	nodes, ds := Parse(fsys, path, opts.Parse)
	cfg, dds := Decode(nodes, opts.Decode)
	ds = append(ds, dds...)
	return cfg, Dedup(ds)
}

// Dedup sorts ds by position and drops exact repeats (same position,
// severity and message). It returns the shortened list.
func Dedup(ds Diagnostics) Diagnostics {
	ds.Sort()
	type key struct {
		file      string
		line, col int
		sev       Severity
		msg       string
	}
	seen := make(map[key]bool, len(ds))
	out := ds[:0]
	for _, d := range ds {
		k := key{d.Pos.File, d.Pos.Line, d.Pos.Col, d.Sev, d.Msg}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	return out
}

// Exit codes of keepalived 2.2.7 -t, measured (see difftest_test.go and
// TestExitCode). They do not follow the order its source suggests
// (KEEPALIVED_EXIT_CONFIG for CONFIG_BAD_IF), so only measured values are
// used here.
const (
	exitOK          = 0
	exitFatalParse  = 2 // a keyword missing its parameter
	exitConfigTest  = 5 // any other configuration error
	exitSecurityErr = 6 // SECURITY VIOLATION, or a file an include variant requires
)

// ExitCode returns the status keepalived 2.2.7 -t exits with for these
// findings, so that `vigil -t` can stand in for it in scripts. In order
// of precedence:
//
//   - 6 when an include variant that requires its files (includem,
//     includew, includer, …) could not read one: FileNotFound at a line.
//     keepalived exits 0 when the main file itself is missing (it only
//     logs "Config files missing"), so FileNotFound without a line does
//     not count.
//   - 2 when a keyword lacks a required parameter (MissingParameter).
//   - 5 when an interface does not exist (BadIf): keepalived stops at the
//     interface check, before it looks at scripts.
//   - 6 for a script SECURITY VIOLATION (SecurityError).
//   - 5 for any other error, including a deprecated keyword, which
//     keepalived reports as a configuration error.
//   - 0 otherwise: Warning and NotSupported findings never fail.
//
// vigil reports every finding whatever the code.
func ExitCode(ds Diagnostics) int {
	var fileNotFound, missingParam, badIf, security, other bool
	for _, d := range ds {
		switch {
		case d.Sev == FileNotFound:
			fileNotFound = fileNotFound || d.Pos.Line > 0
		case d.Sev == MissingParameter:
			missingParam = true
		case d.Sev == BadIf:
			badIf = true
		case d.Sev == SecurityError:
			security = true
		case d.Sev.IsError() || d.Sev == Deprecated:
			other = true
		}
	}
	switch {
	case fileNotFound:
		return exitSecurityErr
	case missingParam:
		return exitFatalParse
	case badIf:
		return exitConfigTest
	case security:
		return exitSecurityErr
	case other:
		return exitConfigTest
	}
	return exitOK
}
