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
// them (internal/bench/testdata/report/raw). conf, failover, flood, scale
// and ipvs-diff are copies of a real run's; check.txt, check-vm.txt and
// ipvs-vm.txt carry the current sub-benchmark names with hand-made
// figures: check-vm.txt is a run in which rs=200 and rs=500 passed and
// rs=1000 failed (both daemons fell behind), as the TCG VM does.
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
			name:  "host checkers: path=loop is vigil, path=pool the previous path",
			steps: map[string]string{"check": "check.txt"},
			want: []want{
				{[]string{"10,000 TCP_CHECKs", "(host): CPU of the checker process"}, 261, notMeasured, "—", "keepalived's checker process needs ip_vs"},
				{[]string{"10,000 TCP_CHECKs", "(host): p99 deviation of the check period"}, 3.870, notMeasured, "yes", "jitter target"},
				{[]string{"10,000 TCP_CHECKs", "(host): p99 probe start lateness"}, 2.114, notMeasured, "—", ""},
				{[]string{"10,000 TCP_CHECKs", "(host): probes"}, 8390, notMeasured, "—", ""},
				{[]string{"10,000 TCP_CHECKs", "worker-pool path: CPU"}, 699, notMeasured, "—", ""},
				{[]string{"10,000 TCP_CHECKs", "worker-pool path: p99 deviation"}, 8.533, notMeasured, "—", ""},
				{[]string{"2,000 TCP_CHECKs", "(host): CPU of the checker process"}, 67, notMeasured, "—", ""},
				{[]string{"2,000 TCP_CHECKs", "worker-pool path: CPU"}, 227.1, notMeasured, "—", ""},
			},
		},
		{
			name: "host checkers: results without path= (before the loop) fill no row",
			raw: map[string]string{"check": "BenchmarkScheduler10kTCP/targets=10000-2 \t1\t6015254141 ns/op\t0.6990 cpu-s/s\t8.533 p99-period-dev-ms\n" +
				"ok  \tgithub.com/vigil-ha/vigil/internal/check\t36.097s\n"},
			want: []want{
				{[]string{"10,000 TCP_CHECKs", "(host): CPU of the checker process"}, notMeasured, notMeasured, "—", ""},
				{[]string{"10,000 TCP_CHECKs", "(host): p99 deviation of the check period"}, notMeasured, notMeasured, "not measured", ""},
			},
		},
		{
			name:  "VM checkers: the sizes that ran are reported, the failed one says why",
			vm:    true,
			steps: map[string]string{"check-vm": "check-vm.txt"},
			want: []want{
				{[]string{"200 TCP_CHECK real servers", ": CPU, vigil"}, 90.94, 260.8, "yes", "VM busy during the window: 31% with vigil, 27% with keepalived"},
				{[]string{"200 TCP_CHECK real servers", ": CPU per probe"}, 457, 1322, "—", ""},
				{[]string{"200 TCP_CHECK real servers", ": RSS"}, 20.81, 3.004, "—", ""},
				{[]string{"200 TCP_CHECK real servers", "at the listeners"}, 24.71, 211.5, "yes", ""},
				{[]string{"200 TCP_CHECK real servers", "from its probe start times"}, 23.34, notMeasured, "—", ""},
				{[]string{"200 TCP_CHECK real servers", "probes accepted"}, 198.9, 197.3, "—", ""},
				{[]string{"500 TCP_CHECK real servers", ": CPU, vigil"}, 215, 345, "**no**", ""},
				{[]string{"500 TCP_CHECK real servers", "at the listeners"}, 61.2, 256.4, "**no**", ""},
				{[]string{"1,000 TCP_CHECK real servers", ": CPU, vigil"}, notMeasured, notMeasured, "not measured",
					"not measured: the VM does not cope with 1,000 real servers (vigil made 8899 of the 18002 probes expected, keepalived made 13460 of the 18019 probes expected"},
				{[]string{"1,000 TCP_CHECK real servers", ": CPU, vigil"}, notMeasured, notMeasured, "not measured",
					"largest N measured side by side in this run: 500"},
				{[]string{"1,000 TCP_CHECK real servers", "at the listeners"}, notMeasured, notMeasured, "not measured", ""},
			},
		},
		{
			name: "VM checkers: no output at all",
			vm:   true,
			want: []want{
				{[]string{"200 TCP_CHECK real servers", ": CPU, vigil"}, notMeasured, notMeasured, "not measured", ""},
				{[]string{"1,000 TCP_CHECK real servers", ": CPU, vigil"}, notMeasured, notMeasured, "not measured", "largest N measured side by side in this run: none"},
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
				so, err := parseRaw(path)
				if err != nil {
					t.Fatal(err)
				}
				outs[step] = so
			}
			rows := buildRows(outs, options{count: 3, failoverBenchtime: "3x", vm: tc.vm})
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
	r := rowWith(t, rows, "10,000 TCP_CHECKs", "(host): CPU of the checker process")
	if strings.Contains(r.Note, "VM rows") {
		t.Errorf("-vm=false: the host checker row points at VM rows: %q", r.Note)
	}
}

// TestTargetRowsHaveKeepalived checks issue 8's "side by side": a row with
// a target either has keepalived's figure or says why it has none.
func TestTargetRowsHaveKeepalived(t *testing.T) {
	for _, r := range buildRows(sample(t), options{count: 3, failoverBenchtime: "3x", vm: true}) {
		if r.Target.Kind == bench.NoTarget || r.Keepalived.Measured() {
			continue
		}
		if strings.HasPrefix(r.Metric, "1,000 TCP_CHECK real servers") {
			continue // failed in the sample: its note says why
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

// TestSteps checks the VM steps and that check-vm's pattern selects
// exactly checkVMSizes, level by level as go test matches -test.bench.
func TestSteps(t *testing.T) {
	names := func(o options) (ns []string) {
		for _, s := range steps(o) {
			ns = append(ns, s.name)
		}
		return ns
	}
	if got := names(options{count: 3, vm: false}); slices.Contains(got, "check-vm") || slices.Contains(got, "ipvs-vm") {
		t.Errorf("-vm=false steps %q include a VM step", got)
	}
	var cv *step
	for _, s := range steps(options{count: 3, vm: true}) {
		if s.name == "check-vm" {
			cv = &s
		}
	}
	if cv == nil {
		t.Fatal("-vm steps have no check-vm")
	}
	if !cv.once || !slices.Contains(cv.args, "./internal/lvs") || !slices.Contains(cv.args, "-vm.bench="+checkVMBench()) ||
		!slices.Equal(cv.args[:2], []string{"-run", "^TestVM$"}) {
		t.Errorf("check-vm step %+v", *cv)
	}
	levels := strings.Split(checkVMBench(), "/")
	if len(levels) != 2 {
		t.Fatalf("pattern %q: %d levels, want 2", checkVMBench(), len(levels))
	}
	top, sub := regexp.MustCompile(levels[0]), regexp.MustCompile(levels[1])
	for name, want := range map[string]bool{"BenchmarkKernelCheckers": true, "BenchmarkKernelCheckersX": false, "BenchmarkKernelSync": false} {
		if top.MatchString(name) != want {
			t.Errorf("%q matches %s: %v, want %v", name, levels[0], !want, want)
		}
	}
	for name, want := range map[string]bool{"rs=200": true, "rs=500": true, "rs=1000": true, "rs=100": false, "rs=10000": false, "rs=2000": false} {
		if sub.MatchString(name) != want {
			t.Errorf("%q matches %s: %v, want %v", name, levels[1], !want, want)
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
	for _, s := range []string{"rebuilt with -reuse", raw, "| 200 TCP_CHECK real servers", "## Failed steps", "- check-vm ("} {
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
