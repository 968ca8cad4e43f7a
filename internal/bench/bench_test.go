package bench

import (
	"flag"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/vigil-ha/vigil/internal/bench
BenchmarkParse100k-2   	      12	  95123456 ns/op	  41.5 MB/s	 100001 lines	12345678 B/op	  234567 allocs/op
BenchmarkVRRPScale/daemon=keepalived-2         	       1	      7431 ns/op	        11.48 backup-cpu-ms/s	         5.293 backup-pss-MB
--- BENCH: BenchmarkVRRPScale/daemon=keepalived-2
    scale_test.go:196: keepalived: 1,000 VIPs on the master side 6.803s after start
BenchmarkFailover/v3-10ms/master=vigil/backup=keepalived-2 	3	 812345678 ns/op	 36.91 failover-ms	 0.81 over-mdi-ms
BenchmarkScheduler10kTCP/targets=10000-2 	1	6001234567 ns/op	 0.4231 cpu-s/s	 12.5 cpu-µs/probe
        BenchmarkKernelSync/10000x10/from-empty         	       1	 9876543210 ns/op	 89.8 µs/netlink-op
BenchmarkBroken 1 not a result line
BenchmarkOdd-2 	1	 12 ns/op 7
PASS
ok  	github.com/vigil-ha/vigil/internal/bench	70.849s
`
	got, err := ParseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{Name: "BenchmarkParse100k", N: 12, Metrics: map[string]float64{"ns/op": 95123456, "MB/s": 41.5, "lines": 100001, "B/op": 12345678, "allocs/op": 234567}},
		{Name: "BenchmarkVRRPScale/daemon=keepalived", N: 1, Metrics: map[string]float64{"ns/op": 7431, "backup-cpu-ms/s": 11.48, "backup-pss-MB": 5.293}},
		{Name: "BenchmarkFailover/v3-10ms/master=vigil/backup=keepalived", N: 3, Metrics: map[string]float64{"ns/op": 812345678, "failover-ms": 36.91, "over-mdi-ms": 0.81}},
		{Name: "BenchmarkScheduler10kTCP/targets=10000", N: 1, Metrics: map[string]float64{"ns/op": 6001234567, "cpu-s/s": 0.4231, "cpu-µs/probe": 12.5}},
		{Name: "BenchmarkKernelSync/10000x10/from-empty", N: 1, Metrics: map[string]float64{"ns/op": 9876543210, "µs/netlink-op": 89.8}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseGoBench (-want +got):\n%s", diff)
	}
	if vs := Values(got, "BenchmarkFailover/v3-10ms/master=vigil/backup=keepalived", "failover-ms"); !slices.Equal(vs, []float64{36.91}) {
		t.Errorf("Values = %v, want [36.91]", vs)
	}
	if vs := Values(got, "BenchmarkParse100k", "failover-ms"); vs != nil {
		t.Errorf("Values of a unit the benchmark lacks = %v, want none", vs)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
		ok   bool
	}{
		{nil, 0, false},
		{[]float64{7}, 7, true},
		{[]float64{3, 1, 2}, 2, true},
		{[]float64{4, 1, 3, 2}, 2.5, true},
		{[]float64{10, 10, 1000}, 10, true},
	} {
		in := slices.Clone(tc.in)
		got, ok := Median(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Median(%v) = %v, %v; want %v, %v", in, got, ok, tc.want, tc.ok)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("Median reordered its input: %v, was %v", tc.in, in)
		}
	}
}

func TestRowMet(t *testing.T) {
	m := func(v float64) Measure { return Measure{V: v, N: 3} }
	for _, tc := range []struct {
		name string
		row  Row
		want string
	}{
		{"ratio met", Row{Vigil: m(10), Keepalived: m(25), Target: Target{MaxRatio, 0.5}}, "yes"},
		{"ratio at the bound", Row{Vigil: m(10), Keepalived: m(20), Target: Target{MaxRatio, 0.5}}, "yes"},
		{"ratio missed", Row{Vigil: m(25), Keepalived: m(25), Target: Target{MaxRatio, 0.5}}, "**no**"},
		{"ratio, keepalived not measured", Row{Vigil: m(1), Target: Target{MaxRatio, 1}}, "not measured"},
		{"value met", Row{Vigil: m(150), Target: Target{MaxValue, 200}}, "yes"},
		{"value missed", Row{Vigil: m(250), Target: Target{MaxValue, 200}}, "**no**"},
		{"value not measured", Row{Target: Target{MaxValue, 200}}, "not measured"},
		{"value at the bound", Row{Vigil: m(200), Target: Target{MaxValue, 200}}, "yes"},
		{"strict bound met", Row{Vigil: m(49.9), Target: Target{BelowValue, 50}}, "yes"},
		{"strict bound reached", Row{Vigil: m(50), Target: Target{BelowValue, 50}}, "**no**"},
		{"strict bound missed", Row{Vigil: m(212.2), Keepalived: m(95.4), Target: Target{BelowValue, 50}}, "**no**"},
		{"strict bound not measured", Row{Keepalived: m(20), Target: Target{BelowValue, 50}}, "not measured"},
		{"no target", Row{Vigil: m(1)}, "—"},
	} {
		if got := tc.row.Met(); got != tc.want {
			t.Errorf("%s: Met() = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestWriteTable(t *testing.T) {
	rows := []Row{
		{Metric: "CPU, master side", Unit: "ms CPU/s", Vigil: Measure{24.98, 3}, Keepalived: Measure{25.47, 3}, Target: Target{MaxRatio, 0.5}},
		{Metric: "RSS, master side", Unit: "MB", Vigil: Measure{155.5, 3}, Keepalived: Measure{14.25, 3}, Target: Target{MaxRatio, 1}},
		{Metric: "parse", Unit: "ms", Vigil: Measure{95.1234, 1}, Target: Target{MaxValue, 200}},
		{Metric: "sync", Unit: "s", Target: Target{MaxValue, 2}, Note: "the VM did not boot"},
		{Metric: "lateness", Unit: "ms", Vigil: Measure{0.01234, 2}},
		{Metric: "jitter", Unit: "ms", Vigil: Measure{23.34, 1}, Keepalived: Measure{211.5, 1}, Target: Target{BelowValue, 50}},
	}
	var b strings.Builder
	if err := WriteTable(&b, rows); err != nil {
		t.Fatal(err)
	}
	golden(t, "table.golden", b.String())
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestFailoverChart(t *testing.T) {
	pts := func(a, b, c float64) []ChartPoint {
		return []ChartPoint{
			{time.Second, time.Duration(a * float64(time.Millisecond))},
			{10 * time.Millisecond, time.Duration(c * float64(time.Millisecond))}, // out of order on purpose
			{100 * time.Millisecond, time.Duration(b * float64(time.Millisecond))},
		}
	}
	path := filepath.Join(t.TempDir(), "failover.png")
	err := FailoverChart(path, "test", []ChartSeries{
		{Label: "vigil", Points: pts(3610.7, 362.6, 36.9)},
		{Label: "keepalived", Points: pts(3610.5, 362.7, 37.2)},
		{Label: "MDI", Points: pts(3609.4, 360.9, 36.1), Reference: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("failover.png is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
		t.Errorf("chart is %v, want at least 300×200", b)
	}
	err = FailoverChart(filepath.Join(t.TempDir(), "bad.png"), "test", []ChartSeries{{Label: "x", Points: []ChartPoint{{0, time.Second}}}})
	if err == nil {
		t.Error("FailoverChart accepted an advert_int of 0 on a log axis")
	}
}

func TestProcUsageTree(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("skipping: cannot start sleep(1): %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	u0, err := ProcUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(u0.PIDs, cmd.Process.Pid) || u0.PIDs[0] != os.Getpid() {
		t.Errorf("ProcUsage PIDs = %v, want this process %d first and the child %d", u0.PIDs, os.Getpid(), cmd.Process.Pid)
	}
	if u0.RSS <= 0 || u0.PSS <= 0 || u0.PSS > u0.RSS {
		t.Errorf("RSS %d, PSS %d: want 0 < PSS ≤ RSS", u0.RSS, u0.PSS)
	}
	// Spend CPU until the tick counter moves: CPU time must grow.
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for {
		for i := range 1_000_000 {
			x += i
		}
		u1, err := ProcUsage(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if u1.CPU > u0.CPU && u1.Ticks > u0.Ticks {
			// Both count the same work (utime+stime is the threads'
			// run time in whole ticks, per process): they agree
			// within a few ticks per process.
			if d := (u1.CPU - u0.CPU) - (u1.Ticks - u0.Ticks); d.Abs() > time.Duration(3*len(u1.PIDs))*clockTick {
				t.Errorf("CPU grew by %v on the threads' schedstat, %v in utime+stime", u1.CPU-u0.CPU, u1.Ticks-u0.Ticks)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time stayed at %v after 5 s of work (x=%d)", u1.CPU, x)
		}
	}
	if _, err := ProcUsage(1 << 30); err == nil {
		t.Error("ProcUsage of a pid that cannot exist: no error")
	}
}
