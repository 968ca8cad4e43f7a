package vmtest

import (
	"os"
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const envFixture = "VMTEST_FIXTURE"

// TestFixture produces the output TestParseTestOutput parses; it does
// its work only when that test runs it in a child process.
func TestFixture(t *testing.T) {
	if os.Getenv(envFixture) != "1" {
		t.Skip("fixture for TestParseTestOutput, run in a child process")
	}
	t.Log("top-level log")
	t.Run("ok", func(t *testing.T) {
		t.Log("hello from ok")
		t.Run("deeper", func(t *testing.T) { t.Log("two levels down") })
	})
	t.Run("bad", func(t *testing.T) { t.Error("boom") })
	t.Run("skipped", func(t *testing.T) { t.Skip("not today") })
}

func TestFixtureTwo(t *testing.T) {
	if os.Getenv(envFixture) != "1" {
		t.Skip("fixture for TestParseTestOutput, run in a child process")
	}
}

// TestParseTestOutput runs the fixture with the real testing package in
// -test.v=test2json mode, as the VM does, and checks the parsed tree.
func TestParseTestOutput(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestFixture", "-test.v=test2json", "-test.count=1")
	cmd.Env = append(os.Environ(), envFixture+"=1")
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); !ok {
		t.Fatalf("fixture run: %v (want it to fail with exit status 1)\n%s", err, out)
	}
	rep := ParseTestOutput(out)
	type node struct {
		Name, Action string
		Output       []string
		Subtests     []node
	}
	var conv func([]*TestResult) []node
	conv = func(ts []*TestResult) []node {
		var ns []node
		for _, tr := range ts {
			ns = append(ns, node{tr.Name, tr.Action, tr.Output, conv(tr.Subtests)})
		}
		return ns
	}
	want := []node{
		{"TestFixture", "fail", []string{"gotest_test.go:19: top-level log"}, []node{
			{"TestFixture/ok", "pass", []string{"gotest_test.go:21: hello from ok"}, []node{
				{"TestFixture/ok/deeper", "pass", []string{"gotest_test.go:22: two levels down"}, nil},
			}},
			{"TestFixture/bad", "fail", []string{"gotest_test.go:24: boom"}, nil},
			{"TestFixture/skipped", "skip", []string{"gotest_test.go:25: not today"}, nil},
		}},
		{"TestFixtureTwo", "pass", nil, nil},
	}
	if diff := cmp.Diff(want, conv(rep.Tests)); diff != "" {
		t.Errorf("parsed tree (-want +got):\n%s\nraw output:\n%s", diff, out)
	}
	if rep.Final != "FAIL" || !rep.Failed() {
		t.Errorf("Final = %q, Failed() = %v; want FAIL, true", rep.Final, rep.Failed())
	}
}

func TestParseTestOutputUnfinished(t *testing.T) {
	// A VM that dies mid-test leaves a RUN with no result and no final line.
	rep := ParseTestOutput([]byte("\x16=== RUN   TestA\n    a_test.go:1: started\n[ 3.1] Kernel panic\n"))
	if len(rep.Tests) != 1 || rep.Tests[0].Action != "" || !rep.Failed() || rep.Final != "" {
		t.Errorf("report %+v: want one unfinished test, failed", rep)
	}
	// Benchmarks print no --- PASS line; a passing run passes them.
	rep = ParseTestOutput([]byte("\x16=== RUN   BenchmarkX\nBenchmarkX\nBenchmarkX-2   1  5 ns/op\n\x16PASS\n"))
	if rep.Failed() || rep.Tests[0].Action != "pass" {
		t.Errorf("benchmark report %+v: want passed", rep.Tests[0])
	}
}
