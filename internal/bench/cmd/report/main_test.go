package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-ha/vigil/internal/bench"
)

var update = flag.Bool("update", false, "rewrite ../../testdata/report/results.golden")

// sampleDir holds one raw output per step in the format go test prints
// them (internal/bench/testdata/report/raw). conf, failover, flood, scale,
// ipvs-diff and check-host (-count 3 on a shared 2-CPU host) are copies of
// a real run's; check.txt, check-vm.txt and ipvs-vm.txt carry the current
// sub-benchmark names with hand-made figures: check-vm.txt is a run of
// the sizes the VM step used to run, in which rs=200 and rs=500 passed
// and rs=1000 failed (both daemons fell behind), as the TCG VM does.
const sampleDir = "../../testdata/report/raw"

// sample reads every step's sample raw output the way -reuse does.
func sample(t *testing.T) map[string]stepOutput {
	t.Helper()
	outs := map[string]stepOutput{}
	for _, s := range steps(options{count: 1, vm: true}) {
		so, err := parseRaw(filepath.Join(sampleDir, s.name+".txt"))
		if err != nil && s.name != "check-vm" {
			t.Fatalf("sample %s: %v", s.name, err)
		}
		outs[s.name] = so
	}
	return outs
}

// rowWith returns the one row whose metric contains every part, and
// fails the test when there is none or more than one.
func rowWith(t *testing.T, rows []bench.Row, parts ...string) bench.Row {
	t.Helper()
	var found []bench.Row
	for _, r := range rows {
		if !slices.ContainsFunc(parts, func(p string) bool { return !strings.Contains(r.Metric, p) }) {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		var names []string
		for _, r := range found {
			names = append(names, r.Metric)
		}
		t.Fatalf("rows with %q: %d, want 1: %q", parts, len(found), names)
	}
	return found[0]
}

func TestBuildRows(t *testing.T) {
	const notMeasured = -1
	type want struct {
		parts      []string // the row's metric contains each
		vigil      float64  // notMeasured: "—"
		keepalived float64
		met        string
		note       string // the note contains it ("" = no check)
	}
	// The figures are medians of the samples, worked out by hand.
	for _, tc := range []struct {
		name  string
		vm    bool
		steps map[string]string // step → sample file; others have no output
		raw   map[string]string // step → inline raw output
		want  []want
	}{
		{
			name:  "Scheduler alone: path=loop is vigil, path=pool the previous path; no target (the host netns rows have it)",
			steps: map[string]string{"check": "check.txt"},
			want: []want{
				{[]string{"10,000 TCP_CHECKs", "check.Scheduler alone (host): CPU of the test process"}, 261, notMeasured, "—", "issue 6's targets: the host netns rows"},
				{[]string{"10,000 TCP_CHECKs", "alone (host): p99 deviation of the check period"}, 3.870, notMeasured, "—", ""},
				{[]string{"10,000 TCP_CHECKs", "alone (host): p99 probe start lateness"}, 2.114, notMeasured, "—", ""},
				{[]string{"10,000 TCP_CHECKs", "alone (host): probes"}, 8390, notMeasured, "—", ""},
				{[]string{"10,000 TCP_CHECKs", "worker-pool path: CPU"}, 699, notMeasured, "—", ""},
				{[]string{"10,000 TCP_CHECKs", "worker-pool path: p99 deviation"}, 8.533, notMeasured, "—", ""},
				{[]string{"2,000 TCP_CHECKs", "alone (host): CPU of the test process"}, 67, notMeasured, "—", ""},
				{[]string{"2,000 TCP_CHECKs", "worker-pool path: CPU"}, 227.1, notMeasured, "—", ""},
			},
		},
		{
			name: "Scheduler alone: results without path= (before the loop) fill no row",
			raw: map[string]string{"check": "BenchmarkScheduler10kTCP/targets=10000-2 \t1\t6015254141 ns/op\t0.6990 cpu-s/s\t8.533 p99-period-dev-ms\n" +
				"ok  \tgithub.com/vigil-ha/vigil/internal/check\t36.097s\n"},
			want: []want{
				{[]string{"10,000 TCP_CHECKs", "alone (host): CPU of the test process"}, notMeasured, notMeasured, "—", ""},
				{[]string{"10,000 TCP_CHECKs", "alone (host): p99 deviation of the check period"}, notMeasured, notMeasured, "—", ""},
			},
		},
		{
			name:  "host netns checkers: vigil's Manager next to keepalived, medians of three runs",
			steps: map[string]string{"check-host": "check-host.txt"},
			want: []want{
				{[]string{"10,000 TCP_CHECK real servers", "(host netns): CPU, vigil"}, 376.4, 386.6, "**no**", "host busy during the window (all CPUs): 47% with vigil, 56% with keepalived"},
				{[]string{"10,000 TCP_CHECK real servers", "(host netns): CPU in user space"}, 36.5, 21.98, "—", ""},
				{[]string{"10,000 TCP_CHECK real servers", "(host netns): CPU in the kernel"}, 342.5, 360.1, "—", ""},
				{[]string{"10,000 TCP_CHECK real servers", "(host netns): CPU per probe"}, 38.86, 41.71, "—", ""},
				{[]string{"10,000 TCP_CHECK real servers", "(host netns): RSS"}, 76.95, 12.00, "—", ""},
				{[]string{"10,000 TCP_CHECK real servers", "(host netns): p99 deviation", "at the listeners"}, 98.23, 282.6, "**no**", "jitter target"},
				{[]string{"10,000 TCP_CHECK real servers", "(host netns): vigil's p99 deviation"}, 99.19, notMeasured, "—", ""},
				{[]string{"10,000 TCP_CHECK real servers", "(host netns): probes accepted"}, 9934, 9270, "—", ""},
				{[]string{"1,000 TCP_CHECK real servers", "(host netns): CPU, vigil"}, 54.99, 78.50, "**no**", "LD_PRELOAD shim"},
				{[]string{"1,000 TCP_CHECK real servers", "(host netns): CPU in user space"}, 6.499, 5.495, "—", ""},
				{[]string{"1,000 TCP_CHECK real servers", "(host netns): p99 deviation", "at the listeners"}, 1.846, 1.339, "yes", ""},
			},
		},
		{
			name: "host netns checkers: a size a daemon fell behind at says why, the other is reported",
			raw: map[string]string{"check-host": "BenchmarkHostCheckers/rs=1000-2 \t1\t52193903411 ns/op\t0.7076 cpu-ratio\t7.843 ka-cpu-%\t5.549 vigil-cpu-%\n" +
				"--- FAIL: BenchmarkHostCheckers/rs=10000\n" +
				"    checkbench_linux_test.go:318: keepalived made 55982 probes in 20.001s, fewer than 80% of one per real server per delay_loop (160008): the host does not cope with 10000 real servers\n" +
				"--- FAIL: BenchmarkHostCheckers\nFAIL\n"},
			want: []want{
				{[]string{"1,000 TCP_CHECK real servers", "(host netns): CPU, vigil"}, 55.49, 78.43, "**no**", ""},
				{[]string{"10,000 TCP_CHECK real servers", "(host netns): CPU, vigil"}, notMeasured, notMeasured, "not measured",
					"not measured: the host does not cope with 10,000 real servers (keepalived made 55982 probes, fewer than 80% of the 160008 delay_loop asks for: the sub-benchmark fails)"},
			},
		},
		{
			name:  "VM checkers: rs=200 only",
			vm:    true,
			steps: map[string]string{"check-vm": "check-vm.txt"},
			want: []want{
				{[]string{"200 TCP_CHECK real servers", ": CPU, vigil"}, 90.94, 260.8, "yes", "VM busy during the window (all CPUs): 31% with vigil, 27% with keepalived"},
				{[]string{"200 TCP_CHECK real servers", ": CPU, vigil"}, 90.94, 260.8, "yes", "issue 6's 10,000 are the host netns rows"},
				{[]string{"200 TCP_CHECK real servers", ": CPU per probe"}, 457, 1322, "—", ""},
				{[]string{"200 TCP_CHECK real servers", ": RSS"}, 20.81, 3.004, "—", ""},
				{[]string{"200 TCP_CHECK real servers", "at the listeners"}, 24.71, 211.5, "yes", ""},
				{[]string{"200 TCP_CHECK real servers", "from its probe start times"}, 23.34, notMeasured, "—", ""},
				{[]string{"200 TCP_CHECK real servers", "probes accepted"}, 198.9, 197.3, "—", ""},
				// The VM step no longer runs them.
				{[]string{"200 TCP_CHECK real servers", "(qemu VM, TCG): CPU in user space"}, notMeasured, notMeasured, "—", ""},
			},
		},
		{
			name: "VM checkers: rs=200 fell behind (the message of the 90% threshold it had)",
			vm:   true,
			raw: map[string]string{"check-vm": "--- FAIL: TestVM/BenchmarkKernelCheckers/rs=200\n" +
				"    checkbench_vm_linux_test.go:251: vigil made 1899 probes in 20.002s, fewer than 90% of one per real server per delay_loop (3600): the VM does not cope with 200 real servers\n"},
			want: []want{
				{[]string{"200 TCP_CHECK real servers", ": CPU, vigil"}, notMeasured, notMeasured, "not measured",
					"not measured: the VM does not cope with 200 real servers (vigil made 1899 probes, fewer than 90% of the 3600 delay_loop asks for: the sub-benchmark fails)"},
			},
		},
		{
			name: "VM checkers: no output at all",
			vm:   true,
			want: []want{
				{[]string{"200 TCP_CHECK real servers", ": CPU, vigil"}, notMeasured, notMeasured, "not measured", "issue 6's 10,000 are the host netns rows"},
			},
		},
		{
			name:  "IPVS in the VM: keepalived next to vigil's sync, and the moby baseline",
			vm:    true,
			steps: map[string]string{"ipvs-vm": "ipvs-vm.txt", "ipvs-diff": "ipvs-diff.txt"},
			want: []want{
				{[]string{"IPVS sync of 10,000 services × 10 real servers into an empty kernel table"}, 15.301303289, 22.41, "**no**", "about 0.86 s natively"},
				{[]string{"vigil (batched, ack per sendmsg)"}, 14.87, 22.41, "—", "fresh network namespace"},
				{[]string{"keepalived -C from exec"}, 14.87, 31.55, "—", ""},
				{[]string{"vigil-ack-each"}, 19.03, 22.41, "—", ""},
				{[]string{"moby/ipvs"}, 47.92, 22.41, "—", ""},
				{[]string{"table unchanged"}, 8.321931196, notMeasured, "—", ""},
				{[]string{"weight changed: Reconcile"}, 8.520132273, notMeasured, "—", ""},
				{[]string{"weight changed: Update"}, 769.689284, notMeasured, "—", ""},
				{[]string{"IPVS diff from empty inside the VM"}, 431.838274, notMeasured, "—", ""},
				{[]string{"IPVS diff of 10,000 services", "(host, pure)"}, 24.386687, notMeasured, "—", ""},
			},
		},
		{
			name:  "conf: the parse row says why it has no keepalived column",
			steps: map[string]string{"conf": "conf.txt"},
			want: []want{
				{[]string{"parse 100,000-line keepalived.conf"}, 52.065272, notMeasured, "yes", "keepalived has no parse-only mode"},
				{[]string{"`keepalived -t`"}, 77.952558, 125.360982, "yes", ""},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outs := map[string]stepOutput{}
			for step, file := range tc.steps {
				so, _ := parseRaw(filepath.Join(sampleDir, file))
				if len(so.results) == 0 {
					t.Fatalf("sample %s: no results", file)
				}
				outs[step] = so
			}
			dir := t.TempDir()
			for step, text := range tc.raw {
				path := filepath.Join(dir, step+".txt")
				if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
				// A sub-benchmark that failed is an error, with the
				// results of the others.
				so, err := parseRaw(path)
				if err != nil && !strings.Contains(text, "--- FAIL: ") {
					t.Fatal(err)
				}
				outs[step] = so
			}
			rows := buildRows(outs, options{count: 3, failoverBenchtime: "3x", vm: tc.vm})
			for _, r := range rows {
				if strings.Contains(r.Metric, "TCP_CHECK real servers, delay_loop 1 s (qemu VM, TCG)") && !strings.HasPrefix(r.Metric, "200 ") {
					t.Errorf("a row of a size the check-vm step does not run: %s", r.Metric)
				}
			}
			for _, w := range tc.want {
				r := rowWith(t, rows, w.parts...)
				check := func(side string, got bench.Measure, want float64) {
					t.Helper()
					switch {
					case want == notMeasured && got.Measured():
						t.Errorf("%s: %s = %v, want not measured", r.Metric, side, got.V)
					case want != notMeasured && !got.Measured():
						t.Errorf("%s: %s not measured, want %v", r.Metric, side, want)
					case want != notMeasured && !near(got.V, want):
						t.Errorf("%s: %s = %v, want %v", r.Metric, side, got.V, want)
					}
				}
				check("vigil", r.Vigil, w.vigil)
				check("keepalived", r.Keepalived, w.keepalived)
				if got := r.Met(); got != w.met {
					t.Errorf("%s: met = %q, want %q", r.Metric, got, w.met)
				}
				if !strings.Contains(r.Note, w.note) {
					t.Errorf("%s: note %q does not contain %q", r.Metric, r.Note, w.note)
				}
			}
		})
	}
}

func near(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-9*max(1, b, -b)
}

func TestBuildRowsWithoutVM(t *testing.T) {
	rows := buildRows(sample(t), options{count: 3, failoverBenchtime: "3x", vm: false})
	for _, r := range rows {
		if strings.Contains(r.Metric, "VM") || strings.Contains(r.Metric, "qemu") {
			t.Errorf("-vm=false, yet a VM row: %s", r.Metric)
		}
	}
	rowWith(t, rows, "IPVS diff of 10,000 services", "(host, pure)")
	// The host's comparison is no VM step.
	if r := rowWith(t, rows, "10,000 TCP_CHECK real servers", "(host netns): CPU, vigil"); !r.Vigil.Measured() || !r.Keepalived.Measured() {
		t.Errorf("-vm=false: %s: vigil %v, keepalived %v, want both measured", r.Metric, r.Vigil, r.Keepalived)
	}
}

// TestTargetRowsHaveKeepalived checks issue 8's "side by side": a row with
// a target either has keepalived's figure or says why it has none.
func TestTargetRowsHaveKeepalived(t *testing.T) {
	for _, r := range buildRows(sample(t), options{count: 3, failoverBenchtime: "3x", vm: true}) {
		if r.Target.Kind == bench.NoTarget || r.Keepalived.Measured() {
			continue
		}
		if !strings.Contains(r.Note, "keepalived") {
			t.Errorf("%s: target %s, no keepalived figure and no note saying why", r.Metric, r.Target.String(r.Unit))
		}
	}
}

// TestParseRawKeepsResultsOfFailedStep: a step whose go test failed (a
// sub-benchmark could not keep up) still yields the results it printed,
// and an error naming what failed.
func TestParseRawKeepsResultsOfFailedStep(t *testing.T) {
	so, err := parseRaw(filepath.Join(sampleDir, "check-vm.txt"))
	if err == nil || !strings.Contains(err.Error(), "TestVM/BenchmarkKernelCheckers/rs=1000") {
		t.Errorf("parseRaw error = %v, want one naming TestVM/BenchmarkKernelCheckers/rs=1000", err)
	}
	var names []string
	for _, r := range so.results {
		names = append(names, r.Name)
	}
	if want := []string{"BenchmarkKernelCheckers/rs=200", "BenchmarkKernelCheckers/rs=500"}; !slices.Equal(names, want) {
		t.Errorf("results %q, want %q", names, want)
	}
	if _, err := parseRaw(filepath.Join(t.TempDir(), "none.txt")); err == nil {
		t.Error("parseRaw of a missing file: no error")
	}
}

// TestSteps checks the checker steps: check-host runs on the host (also
// with -vm=false), check-vm only with the VM, and each one's pattern
// selects exactly its sizes, level by level as go test matches
// -test.bench.
func TestSteps(t *testing.T) {
	find := func(o options, name string) *step {
		for _, s := range steps(o) {
			if s.name == name {
				return &s
			}
		}
		return nil
	}
	if find(options{count: 3, vm: false}, "check-vm") != nil || find(options{count: 3, vm: false}, "ipvs-vm") != nil {
		t.Errorf("-vm=false steps include a VM step")
	}
	for _, tc := range []struct {
		name, bench, pattern string
		vm                   bool
		args                 []string // the step's first arguments
		once                 bool
		sizes                map[string]bool // sub-benchmark → selected
	}{
		{"check-host", "BenchmarkHostCheckers", checkHostBench(), false, []string{"-run", "^$", "-bench", checkHostBench()}, false,
			map[string]bool{"rs=1000": true, "rs=10000": true, "rs=5000": false, "rs=100": false, "rs=100000": false}},
		{"check-vm", "BenchmarkKernelCheckers", checkVMBench(), true, []string{"-run", "^TestVM$"}, true,
			map[string]bool{"rs=200": true, "rs=500": false, "rs=1000": false, "rs=100": false, "rs=2000": false}},
	} {
		s := find(options{count: 3, vm: tc.vm}, tc.name)
		if s == nil {
			t.Errorf("vm=%v: no %s step", tc.vm, tc.name)
			continue
		}
		if s.once != tc.once || !slices.Contains(s.args, "./internal/lvs") || !slices.Equal(s.args[:len(tc.args)], tc.args) {
			t.Errorf("%s step %+v", tc.name, *s)
		}
		if tc.vm && !slices.Contains(s.args, "-vm.bench="+tc.pattern) {
			t.Errorf("%s step %+v: no -vm.bench=%s", tc.name, *s, tc.pattern)
		}
		levels := strings.Split(tc.pattern, "/")
		if len(levels) != 2 {
			t.Fatalf("pattern %q: %d levels, want 2", tc.pattern, len(levels))
		}
		top, sub := regexp.MustCompile(levels[0]), regexp.MustCompile(levels[1])
		for name, want := range map[string]bool{tc.bench: true, tc.bench + "X": false, "BenchmarkKernelSync": false} {
			if top.MatchString(name) != want {
				t.Errorf("%q matches %s: %v, want %v", name, levels[0], !want, want)
			}
		}
		for name, want := range tc.sizes {
			if sub.MatchString(name) != want {
				t.Errorf("%q matches %s: %v, want %v", name, levels[1], !want, want)
			}
		}
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 200: "200", 1000: "1,000", 10000: "10,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestResultsGolden renders the whole table of the sample run.
func TestResultsGolden(t *testing.T) {
	rows := buildRows(sample(t), options{count: 3, failoverBenchtime: "3x", vm: true})
	var b strings.Builder
	if err := bench.WriteTable(&b, rows); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(sampleDir, "..", "results.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), b.String()); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestReuseWritesElsewhere is the dry run: -reuse with -raw reads an
// earlier run's raw output, runs nothing, and writes results.md under
// -out only. The sample's check-vm step failed, so run reports it.
func TestReuseWritesElsewhere(t *testing.T) {
	raw, err := filepath.Abs(sampleDir)
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("../../../..")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	t.Chdir(root)
	err = run(t.Context(), options{count: 3, failoverBenchtime: "3x", vm: true, out: out, raw: raw, reuse: true, goBin: "false"})
	if err == nil || !strings.Contains(err.Error(), "check-vm") || strings.Contains(err.Error(), "ipvs-vm") {
		t.Errorf("run -reuse = %v, want the failed check-vm step only", err)
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"rebuilt with -reuse", raw, "| 200 TCP_CHECK real servers", "| 10,000 TCP_CHECK real servers, delay_loop 1 s, loopback listeners (host netns): CPU", "## Failed steps", "- check-vm ("} {
		if !strings.Contains(string(md), s) {
			t.Errorf("results.md lacks %q", s)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "raw")); err != nil {
		t.Errorf("-out's raw/: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(out, "raw")); len(ents) != 0 {
		t.Errorf("-reuse wrote %d files to -out's raw/", len(ents))
	}
}
