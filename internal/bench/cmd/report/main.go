// Command report is `make bench`: it runs every benchmark of vigil that
// has a keepalived counterpart or a target, several times, and writes
// bench/results.md (metric | vigil | keepalived | ratio | target | met?,
// medians over the runs) and bench/failover.png (failover time per
// advert_int, vigil against keepalived as the backup). The raw `go test`
// output of each step is kept in bench/raw/.
//
//	go run ./internal/bench/cmd/report [-count 3] [-failover-benchtime 3x] [-vm=true] [-out bench]
//
// Run it as root from the module root: the failover and scale benchmarks
// build network-namespace labs and run Debian's keepalived, the IPVS
// kernel benchmark boots a qemu VM. It takes tens of minutes. It exits 1
// when a step failed (results.md then says which, and its rows read "not
// measured"), not when a target is missed: results.md says that.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-ha/vigil/internal/bench"
)

type options struct {
	count             int
	failoverBenchtime string
	vm                bool
	out               string
	goBin             string
	// reuse re-renders from bench/raw/*.txt of an earlier run instead of
	// running the benchmarks again.
	reuse bool
	// only runs these steps and reuses the raw output of the others.
	only string
}

// step is one `go test` invocation.
type step struct {
	name string
	args []string // after "go test"
	// once: the step runs a single time whatever -count (the VM).
	once bool
}

func steps(o options) []step {
	c := fmt.Sprint(o.count)
	s := []step{
		{name: "conf", args: []string{"-run", "^$", "-bench", "^(BenchmarkParse100k|BenchmarkLoad100k|BenchmarkKeepalivedCheck100k)$", "-benchmem", "-count", c, "-timeout", "30m", "./internal/conf"}},
		{name: "check", args: []string{"-run", "^$", "-bench", "^BenchmarkScheduler10kTCP$", "-benchtime", "1x", "-count", c, "-timeout", "30m", "./internal/check"}},
		{name: "ipvs-diff", args: []string{"-run", "^$", "-bench", "^BenchmarkDiff10k$", "-count", c, "-timeout", "30m", "./internal/ipvs"}},
		{name: "failover", args: []string{"-run", "^$", "-bench", "^BenchmarkFailover$", "-benchtime", o.failoverBenchtime, "-count", c, "-timeout", "120m", "./internal/interop"}},
		{name: "flood", args: []string{"-run", "^$", "-bench", "^BenchmarkBadAdvertFlood$", "-benchtime", "1x", "-count", c, "-timeout", "30m", "./internal/faults"}},
		{name: "scale", args: []string{"-run", "^$", "-bench", "^BenchmarkVRRPScale$", "-benchtime", "1x", "-count", c, "-timeout", "60m", "./internal/bench"}},
	}
	if o.vm {
		s = append(s, step{name: "ipvs-vm", once: true, args: []string{"-run", "^TestVM$", "-v", "-count", "1", "-timeout", "40m", "./internal/ipvs", "-args", "-vm.bench=^(BenchmarkKernelSync|BenchmarkKernelSyncVsKeepalived|BenchmarkDiff10k)$"}})
	}
	return s
}

func main() {
	var o options
	flag.IntVar(&o.count, "count", 3, "repetitions of each benchmark (go test -count); medians are reported")
	flag.StringVar(&o.failoverBenchtime, "failover-benchtime", "3x", "failovers per case and run of BenchmarkFailover")
	flag.BoolVar(&o.vm, "vm", true, "run the IPVS kernel benchmarks in the qemu VM (TestVM -vm.bench)")
	flag.StringVar(&o.out, "out", "bench", "directory for results.md, failover.png and raw/")
	flag.StringVar(&o.goBin, "go", "go", "go command")
	flag.StringVar(&o.only, "only", "", "comma-separated steps to run (conf, check, ipvs-diff, failover, scale, flood, ipvs-vm); the others are read from OUT/raw as with -reuse")
	flag.BoolVar(&o.reuse, "reuse", false, "rebuild results.md and failover.png from the raw output of the last run (OUT/raw) without running anything")
	flag.Parse()
	log.SetFlags(log.Ltime)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if _, err := os.Stat("go.mod"); err != nil {
		return fmt.Errorf("run from the module root (no go.mod here): %w", err)
	}
	if o.count < 1 {
		return fmt.Errorf("-count %d: want at least 1", o.count)
	}
	raw := filepath.Join(o.out, "raw")
	if err := os.MkdirAll(raw, 0o755); err != nil {
		return err
	}
	// One vigil binary for every step that runs it.
	tmp, err := os.MkdirTemp("", "vigil-report-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "vigil")
	if o.reuse {
		log.Printf("-reuse: reading %s instead of running the benchmarks", raw)
	} else if out, err := exec.CommandContext(ctx, o.goBin, "build", "-o", bin, "./cmd/vigil").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/vigil: %w\n%s", err, out)
	}

	started := time.Now()
	results := map[string][]bench.Result{}
	var failed []string
	for _, s := range steps(o) {
		log.Printf("step %s: go test %s", s.name, strings.Join(s.args, " "))
		t0 := time.Now()
		var rs []bench.Result
		var err error
		if o.reuse || (o.only != "" && !slices.Contains(strings.Split(o.only, ","), s.name)) {
			log.Printf("step %s: reusing %s", s.name, filepath.Join(raw, s.name+".txt"))
			rs, err = parseRaw(filepath.Join(raw, s.name+".txt"))
		} else {
			rs, err = runStep(ctx, o, s, bin, filepath.Join(raw, s.name+".txt"))
		}
		results[s.name] = rs
		if err != nil {
			log.Printf("step %s failed after %v: %v (output in %s)", s.name, time.Since(t0).Round(time.Second), err, filepath.Join(raw, s.name+".txt"))
			failed = append(failed, fmt.Sprintf("%s (%v; see %s)", s.name, err, filepath.Join(raw, s.name+".txt")))
		} else {
			log.Printf("step %s: %d results in %v", s.name, len(rs), time.Since(t0).Round(time.Second))
		}
		if ctx.Err() != nil {
			break
		}
	}
	rows := buildRows(results, o)
	if err := writeResults(filepath.Join(o.out, "results.md"), o, rows, failed, started); err != nil {
		return err
	}
	series := failoverSeries(results["failover"])
	if len(series[0].Points) > 0 || len(series[1].Points) > 0 {
		if err := bench.FailoverChart(filepath.Join(o.out, "failover.png"),
			"Failover after SIGKILL of the master (median of runs)", series); err != nil {
			return err
		}
	} else {
		failed = append(failed, "failover.png not drawn: no failover results")
	}
	log.Printf("wrote %s and %s in %v", filepath.Join(o.out, "results.md"), filepath.Join(o.out, "failover.png"), time.Since(started).Round(time.Second))
	if len(failed) > 0 {
		return fmt.Errorf("steps failed: %s", strings.Join(failed, "; "))
	}
	return nil
}

// rawTime is the newest modification time of the raw outputs in dir.
func rawTime(dir string) string {
	var newest time.Time
	fs, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	for _, f := range fs {
		if st, err := os.Stat(f); err == nil && st.ModTime().After(newest) {
			newest = st.ModTime()
		}
	}
	if newest.IsZero() {
		return "at an unknown time"
	}
	return newest.UTC().Format("2006-01-02 15:04 MST")
}

// parseRaw reads the results of a step from its raw output file.
func parseRaw(path string) ([]bench.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	rs, err := bench.ParseGoBench(bytes.NewReader(b))
	return rs, errors.Join(err, failures(b))
}

var procsSuffix = regexp.MustCompile(`-\d+$`)

// failures names the benchmarks and tests that printed "--- FAIL": a
// sub-benchmark can fail while go test still ends with "ok" (with
// -count, when a later run of it passes).
func failures(out []byte) error {
	var names []string
	seen := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		_, name, ok := strings.Cut(l, "--- FAIL: ")
		if !ok {
			continue
		}
		name, _, _ = strings.Cut(name, " (")
		name = procsSuffix.ReplaceAllString(name, "")
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	return fmt.Errorf("failed: %s", strings.Join(names, ", "))
}

// runStep runs go test for one step, its output teed to rawPath and the
// terminal, and parses the results (also when the step failed).
func runStep(ctx context.Context, o options, s step, bin, rawPath string) ([]bench.Result, error) {
	f, err := os.Create(rawPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	cmd := exec.CommandContext(ctx, o.goBin, append([]string{"test"}, s.args...)...)
	cmd.Env = append(os.Environ(), "VIGIL_BIN="+bin)
	w := io.MultiWriter(f, &buf, os.Stderr)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = time.Minute
	runErr := cmd.Run()
	rs, perr := bench.ParseGoBench(bytes.NewReader(buf.Bytes()))
	return rs, errors.Join(runErr, perr, failures(buf.Bytes()))
}

// name of the sub-benchmarks and units the rows are built from.
const (
	failoverName = "BenchmarkFailover/%s/master=%s/backup=%s"
	scaleName    = "BenchmarkVRRPScale/daemon=%s"
)

// failoverCases mirror internal/interop's failoverCases.
var failoverCases = []struct {
	name    string
	label   string
	version int
	adv     time.Duration
}{
	{"v2-1s", "1 s (VRRPv2)", 2, time.Second},
	{"v3-100ms", "100 ms (VRRPv3)", 3, 100 * time.Millisecond},
	{"v3-10ms", "10 ms (VRRPv3)", 3, 10 * time.Millisecond},
}

// pooled gathers a failover unit of one backup kind over both master
// kinds and every run.
func pooled(rs []bench.Result, c, backup, unit string) []float64 {
	var vs []float64
	for _, m := range []string{"keepalived", "vigil"} {
		vs = append(vs, bench.Values(rs, fmt.Sprintf(failoverName, c, m, backup), unit)...)
	}
	return vs
}

func buildRows(res map[string][]bench.Result, o options) []bench.Row {
	var rows []bench.Row
	nsToMS := func(vs []float64) []float64 { return scale(vs, 1e-6) }
	conf := res["conf"]
	rows = append(rows,
		bench.Row{Metric: "parse 100,000-line keepalived.conf (BenchmarkParse100k)", Unit: "ms",
			Vigil:  bench.MeasureOf(nsToMS(bench.Values(conf, "BenchmarkParse100k", "ns/op"))),
			Target: bench.Target{Kind: bench.MaxValue, Value: 200}},
		bench.Row{Metric: "check 100,000-line config: vigil load (parse+decode+validate) vs `keepalived -t`", Unit: "ms",
			Vigil:      bench.MeasureOf(nsToMS(bench.Values(conf, "BenchmarkLoad100k", "ns/op"))),
			Keepalived: bench.MeasureOf(nsToMS(bench.Values(conf, "BenchmarkKeepalivedCheck100k", "ns/op"))),
			Target:     bench.Target{Kind: bench.MaxValue, Value: 200}},
		bench.Row{Metric: "memory allocated per load of the 100,000-line config", Unit: "MB",
			Vigil: bench.MeasureOf(scale(bench.Values(conf, "BenchmarkLoad100k", "B/op"), 1.0/(1<<20)))},
	)

	fo := res["failover"]
	for _, c := range failoverCases {
		// go test prints failover-ms with four digits (3611): rebuild it
		// from the computed Master_Down_Interval and over-mdi-ms.
		mdiMS := float64(benchMDI(c.version, c.adv)) / float64(time.Millisecond)
		rows = append(rows,
			bench.Row{Metric: "failover after master SIGKILL, advert_int " + c.label + ", backup's first advert", Unit: "ms",
				Vigil:      bench.MeasureOf(offset(pooled(fo, c.name, "vigil", "over-mdi-ms"), mdiMS)),
				Keepalived: bench.MeasureOf(offset(pooled(fo, c.name, "keepalived", "over-mdi-ms"), mdiMS)),
				Target:     bench.Target{Kind: bench.MaxRatio, Value: 1.0},
				Note: "target: never slower than keepalived; Master_Down_Interval + over-mdi-ms, medians pooled over both master kinds and every run " +
					"(each run's value is the mean of " + strings.TrimSuffix(o.failoverBenchtime, "x") + " failovers)"},
			bench.Row{Metric: "failover beyond Master_Down_Interval, advert_int " + c.label, Unit: "ms",
				Vigil:      bench.MeasureOf(pooled(fo, c.name, "vigil", "over-mdi-ms")),
				Keepalived: bench.MeasureOf(pooled(fo, c.name, "keepalived", "over-mdi-ms")),
				Target:     bench.Target{Kind: bench.MaxValue, Value: 5}},
			bench.Row{Metric: "first gratuitous ARP after master SIGKILL, advert_int " + c.label, Unit: "ms",
				Vigil:      bench.MeasureOf(pooled(fo, c.name, "vigil", "garp-ms")),
				Keepalived: bench.MeasureOf(pooled(fo, c.name, "keepalived", "garp-ms"))},
		)
	}

	sc := res["scale"]
	sv := func(daemon, unit string) bench.Measure {
		return bench.MeasureOf(bench.Values(sc, fmt.Sprintf(scaleName, daemon), unit))
	}
	for _, side := range []string{"master", "backup"} {
		rows = append(rows,
			bench.Row{Metric: "1,000 VRRP instances (5 links × 200 VRIDs, advert_int 1 s), CPU, " + side + " side", Unit: "ms CPU/s",
				Vigil: sv("vigil", side+"-cpu-ms/s"), Keepalived: sv("keepalived", side+"-cpu-ms/s"),
				Target: bench.Target{Kind: bench.MaxRatio, Value: 0.5}},
			bench.Row{Metric: "1,000 VRRP instances, RSS (VmRSS, keepalived parent + VRRP child), " + side + " side", Unit: "MB",
				Vigil: sv("vigil", side+"-rss-MB"), Keepalived: sv("keepalived", side+"-rss-MB"),
				Target: bench.Target{Kind: bench.MaxRatio, Value: 1.0}},
			bench.Row{Metric: "1,000 VRRP instances, PSS (shared pages split), " + side + " side", Unit: "MB",
				Vigil: sv("vigil", side+"-pss-MB"), Keepalived: sv("keepalived", side+"-pss-MB")},
		)
	}
	rows = append(rows, bench.Row{Metric: "1,000 VRRP instances, start to every VIP on the master side", Unit: "s",
		Vigil: sv("vigil", "converge-s"), Keepalived: sv("keepalived", "converge-s")})
	for _, side := range []string{"master", "backup"} {
		rows = append(rows,
			bench.Row{Metric: "1,000 VRRP instances, vigil's Go heap in use (go_memstats_heap_inuse_bytes), " + side + " side", Unit: "MB",
				Vigil: sv("vigil", side+"-heap-MB")},
			bench.Row{Metric: "1,000 VRRP instances, vigil's goroutine stacks (go_memstats_stack_inuse_bytes), " + side + " side", Unit: "MB",
				Vigil: sv("vigil", side+"-stack-MB")},
			bench.Row{Metric: "1,000 VRRP instances, vigil's goroutines, " + side + " side", Unit: "",
				Vigil: sv("vigil", side+"-goroutines")},
		)
	}

	fl := res["flood"]
	for _, side := range []string{"master", "backup"} {
		rows = append(rows, bench.Row{Metric: "CPU under 10,000 bad adverts/s (wrong password, bad checksum) for the pair's VRID, " + side + " side", Unit: "ms CPU/s",
			Vigil:      bench.MeasureOf(bench.Values(fl, "BenchmarkBadAdvertFlood/daemon=vigil", side+"-cpu-ms/s")),
			Keepalived: bench.MeasureOf(bench.Values(fl, "BenchmarkBadAdvertFlood/daemon=keepalived", side+"-cpu-ms/s")),
			Target:     bench.Target{Kind: bench.MaxValue, Value: 500},
			Note:       "target: bounded, half a core at 10,000 packets/s (the fault suite's TestBadAdvertFlood bound)"})
	}
	rows = append(rows, bench.Row{Metric: "election held through the bad-advert flood (share of runs in which the master alone held the VIP when the flood ended)", Unit: "",
		Vigil:      share(bench.Values(fl, "BenchmarkBadAdvertFlood/daemon=vigil", "election-held")),
		Keepalived: share(bench.Values(fl, "BenchmarkBadAdvertFlood/daemon=keepalived", "election-held"))})

	ck := res["check"]
	for _, n := range []string{"10000", "2000"} {
		name := "BenchmarkScheduler10kTCP/targets=" + n
		rows = append(rows,
			bench.Row{Metric: n + " TCP_CHECKs, delay_loop 1 s: CPU (checker + loopback listeners)", Unit: "ms CPU/s",
				Vigil: bench.MeasureOf(scale(bench.Values(ck, name, "cpu-s/s"), 1000))},
			bench.Row{Metric: n + " TCP_CHECKs: p99 probe start lateness", Unit: "ms",
				Vigil: bench.MeasureOf(bench.Values(ck, name, "p99-late-ms"))},
		)
	}

	rows = append(rows, bench.Row{Metric: "IPVS diff of 10,000 services × 10 real servers from empty (host, pure)", Unit: "ms",
		Vigil: bench.MeasureOf(nsToMS(bench.Values(res["ipvs-diff"], "BenchmarkDiff10k/from-empty", "ns/op")))})
	if o.vm {
		vm := res["ipvs-vm"]
		sync := bench.MeasureOf(scale(bench.Values(vm, "BenchmarkKernelSync/10000x10/from-empty", "ns/op"), 1e-9))
		note := "the target is for real hardware; internal/vmtest runs qemu with TCG emulation (no KVM)"
		host := bench.MeasureOf(bench.Values(res["ipvs-diff"], "BenchmarkDiff10k/from-empty", "ns/op"))
		guest := bench.MeasureOf(bench.Values(vm, "BenchmarkDiff10k/from-empty", "ns/op"))
		if sync.Measured() && host.Measured() && guest.Measured() && host.V > 0 {
			slow := guest.V / host.V
			note += fmt.Sprintf("; BenchmarkDiff10k runs %.1f× slower in the VM than on the host, which would put the sync at about %.2f s natively (an estimate from the CPU-bound part, not a measurement)", slow, sync.V/slow)
		}
		rows = append(rows,
			bench.Row{Metric: "IPVS sync of 10,000 services × 10 real servers into an empty kernel table (qemu VM, TCG)", Unit: "s",
				Vigil:  sync,
				Target: bench.Target{Kind: bench.MaxValue, Value: 2},
				Note:   note},
			bench.Row{Metric: "IPVS sync of 10,000 × 10 from empty, vigil vs keepalived -C from launch (same VM, TCG)", Unit: "s",
				Vigil:      bench.MeasureOf(bench.Values(vm, "BenchmarkKernelSyncVsKeepalived/10000x10/vigil", "s/sync")),
				Keepalived: bench.MeasureOf(bench.Values(vm, "BenchmarkKernelSyncVsKeepalived/10000x10/keepalived", "s/sync"))},
			bench.Row{Metric: "IPVS sync, table unchanged (read and compare, VM)", Unit: "s",
				Vigil: bench.MeasureOf(scale(bench.Values(vm, "BenchmarkKernelSync/10000x10/unchanged", "ns/op"), 1e-9))},
			bench.Row{Metric: "IPVS diff from empty inside the VM (emulation slowdown vs host)", Unit: "ms",
				Vigil: bench.MeasureOf(nsToMS(bench.Values(vm, "BenchmarkDiff10k/from-empty", "ns/op")))},
		)
	}
	return rows
}

// share is the mean of 0/1 outcomes over the runs (a median would hide a
// minority).
func share(vs []float64) bench.Measure {
	if len(vs) == 0 {
		return bench.Measure{}
	}
	sum := 0.0
	for _, v := range vs {
		sum += v
	}
	return bench.Measure{V: sum / float64(len(vs)), N: len(vs)}
}

func offset(vs []float64, k float64) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = v + k
	}
	return out
}

func scale(vs []float64, k float64) []float64 {
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = v * k
	}
	return out
}

// failoverSeries is the chart's data per advert_int and backup kind:
// Master_Down_Interval (computed, the line the others sit on) plus the
// median of over-mdi-ms. go test prints metrics with four significant
// digits, so failover-ms itself (3611 ms) has lost the milliseconds that
// tell the daemons apart; over-mdi-ms has not.
func failoverSeries(rs []bench.Result) []bench.ChartSeries {
	series := []bench.ChartSeries{{Label: "vigil (backup)"}, {Label: "keepalived 2.2.7 (backup)"}, {Label: "Master_Down_Interval", Reference: true}}
	for _, c := range failoverCases {
		mdi := benchMDI(c.version, c.adv)
		for i, backup := range []string{"vigil", "keepalived"} {
			if m := bench.MeasureOf(pooled(rs, c.name, backup, "over-mdi-ms")); m.Measured() {
				series[i].Points = append(series[i].Points, bench.ChartPoint{AdvertInt: c.adv, Failover: mdi + time.Duration(m.V*float64(time.Millisecond))})
			}
		}
		series[2].Points = append(series[2].Points, bench.ChartPoint{AdvertInt: c.adv, Failover: mdi})
	}
	return series
}

// benchMDI is the backup's Master_Down_Interval in BenchmarkFailover
// (priority 100): RFC 5798 §6.1 3 × advert_int + (256 − 100) × advert_int
// / 256; VRRPv2 (RFC 3768 §6.1) skews by (256 − 100)/256 s.
func benchMDI(version int, adv time.Duration) time.Duration {
	const prio = 100
	if version == 2 {
		return 3*adv + (256-prio)*time.Second/256
	}
	return 3*adv + (256-prio)*adv/256
}

func writeResults(path string, o options, rows []bench.Row, failed []string, started time.Time) error {
	var b bytes.Buffer
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(&b, "# vigil benchmarks against keepalived\n\n")
	fmt.Fprintf(&b, "Written by `go run ./internal/bench/cmd/report -count %d -failover-benchtime %s -vm=%v` (make bench) on %s (%d CPUs, Linux %s, %s)",
		o.count, o.failoverBenchtime, o.vm, host, runtime.NumCPU(), strings.TrimSpace(string(kernel)), runtime.Version())
	switch {
	case o.reuse:
		fmt.Fprintf(&b, ", rebuilt with -reuse from the raw output of an earlier run (raw/*.txt, last written %s).\n", rawTime(filepath.Join(filepath.Dir(path), "raw")))
	case o.only != "":
		fmt.Fprintf(&b, ", started %s, took %v; steps %s were run, the others read from raw/ of an earlier run.\n",
			started.UTC().Format("2006-01-02 15:04 MST"), time.Since(started).Round(time.Second), o.only)
	default:
		fmt.Fprintf(&b, ", started %s, took %v.\n", started.UTC().Format("2006-01-02 15:04 MST"), time.Since(started).Round(time.Second))
	}
	fmt.Fprintf(&b, "Every value is the median over the runs (n); keepalived is Debian's 2.2.7 measured in the same run on the same input. ratio = vigil / keepalived.\n")
	fmt.Fprintf(&b, "Raw `go test` output: [raw/](raw/). Failover per case: [failover.md](failover.md), chart: [failover.png](failover.png).\n\n")
	if err := bench.WriteTable(&b, rows); err != nil {
		return err
	}
	var missed []string
	for _, r := range rows {
		if m := r.Met(); m != "yes" && m != "—" {
			missed = append(missed, fmt.Sprintf("%s (%s)", r.Metric, strings.Trim(m, "*")))
		}
	}
	sort.Strings(missed)
	if len(missed) > 0 {
		fmt.Fprintf(&b, "\n## Targets not met\n\n")
		for _, m := range missed {
			fmt.Fprintf(&b, "- %s\n", m)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(&b, "\n## Failed steps\n\n")
		for _, f := range failed {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
