package vmtest

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestResult is one test, subtest or benchmark reported by a test binary
// run with -test.v=test2json.
type TestResult struct {
	Name     string // full name, "TestX/sub"
	Action   string // "pass", "fail", "skip", or "" if it never finished
	Elapsed  string // "0.01s" as printed
	Output   []string
	Subtests []*TestResult
}

// Report is a parsed test run.
type Report struct {
	Tests  []*TestResult // top-level tests in the order they started
	Final  string        // "PASS", "FAIL" or "" (binary died)
	Output []string      // lines not attributable to any test
}

const framing = "\x16"

// ParseTestOutput parses the output of a Go test binary run with
// -test.v=test2json: framing lines (=== RUN, --- PASS, ...) start with ^V,
// every other line belongs to the test named by the last framing line.
func ParseTestOutput(data []byte) *Report {
	rep := &Report{}
	byName := map[string]*TestResult{}
	var get func(name string) *TestResult
	get = func(name string) *TestResult {
		if tr, ok := byName[name]; ok {
			return tr
		}
		tr := &TestResult{Name: name}
		byName[name] = tr
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			p := get(name[:i])
			p.Subtests = append(p.Subtests, tr)
		} else {
			rep.Tests = append(rep.Tests, tr)
		}
		return tr
	}
	var cur *TestResult
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		framed := strings.HasPrefix(line, framing)
		body := strings.TrimLeft(strings.TrimPrefix(line, framing), " ")
		if framed {
			if name, ok := frameName(body); ok {
				cur = nil // "=== NAME" with no name: output of no test
				if name != "" {
					cur = get(name)
				}
				continue
			}
			if action, name, elapsed, ok := frameResult(body); ok {
				tr := get(name)
				tr.Action, tr.Elapsed = action, elapsed
				cur = tr
				continue
			}
			if body == "PASS" || body == "FAIL" {
				rep.Final, cur = body, nil
				continue
			}
		}
		if !framed && cur == nil && (line == "PASS" || line == "FAIL") {
			rep.Final = line
			continue
		}
		if cur == nil {
			rep.Output = append(rep.Output, line)
			continue
		}
		// chatty output is indented four spaces per level below the
		// top; Replay indents again.
		depth := strings.Count(cur.Name, "/") + 1
		for range depth {
			line = strings.TrimPrefix(line, "    ")
		}
		cur.Output = append(cur.Output, line)
	}
	// A benchmark that succeeds prints no "--- PASS" line, only its
	// result line; it passed if the binary did.
	if rep.Final == "PASS" {
		var mark func([]*TestResult)
		mark = func(ts []*TestResult) {
			for _, t := range ts {
				if t.Action == "" && strings.HasPrefix(t.Name, "Benchmark") {
					t.Action = "pass"
				}
				mark(t.Subtests)
			}
		}
		mark(rep.Tests)
	}
	return rep
}

func frameName(body string) (string, bool) {
	for _, p := range []string{"=== RUN ", "=== CONT ", "=== NAME ", "=== PAUSE "} {
		if s, ok := strings.CutPrefix(body, p); ok {
			return strings.TrimSpace(s), true
		}
		if strings.TrimSpace(body) == strings.TrimSpace(p) {
			return "", true
		}
	}
	return "", false
}

func frameResult(body string) (action, name, elapsed string, ok bool) {
	for _, a := range []string{"PASS", "FAIL", "SKIP", "BENCH"} {
		s, found := strings.CutPrefix(body, "--- "+a+": ")
		if !found {
			continue
		}
		name, elapsed = s, ""
		if i := strings.LastIndex(s, " ("); i >= 0 && strings.HasSuffix(s, ")") {
			name, elapsed = s[:i], s[i+2:len(s)-1]
		}
		action = strings.ToLower(a)
		if action == "bench" {
			action = "pass"
		}
		return action, name, elapsed, true
	}
	return "", "", "", false
}

// Failed reports whether any test failed or never finished.
func (r *Report) Failed() bool {
	var walk func([]*TestResult) bool
	walk = func(ts []*TestResult) bool {
		for _, t := range ts {
			if t.Action == "fail" || t.Action == "" || walk(t.Subtests) {
				return true
			}
		}
		return false
	}
	return walk(r.Tests)
}

// Replay re-runs the parsed tests as subtests of t, with the same names:
// the output of each goes to its subtest, and a test that failed (or never
// finished) inside the VM fails on the host; one skipped there is skipped.
func Replay(t *testing.T, tests []*TestResult) {
	t.Helper()
	for _, tr := range tests {
		short := tr.Name[strings.LastIndexByte(tr.Name, '/')+1:]
		t.Run(short, func(t *testing.T) {
			w := t.Output()
			for _, l := range tr.Output {
				fmt.Fprintln(w, l)
			}
			Replay(t, tr.Subtests)
			switch tr.Action {
			case "fail":
				t.Errorf("failed inside the VM (%s)", tr.Elapsed)
			case "skip":
				t.SkipNow()
			case "":
				t.Errorf("no result inside the VM: the test binary died or the VM timed out while it ran")
			}
		})
	}
}
