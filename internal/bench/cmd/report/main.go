// Command report is `make bench`: it runs every benchmark of vigil that
// has a keepalived counterpart or a target, several times, and writes
// bench/results.md (metric | vigil | keepalived | ratio | target | met?,
// medians over the runs) and bench/failover.png (failover time per
// advert_int, vigil against keepalived as the backup). The raw `go test`
// output of each step is kept in bench/raw/.
//
//	go run ./internal/bench/cmd/report [-count 3] [-failover-benchtime 3x] [-vm=true] [-out bench]
//
// Run it as root from the module root: the failover, scale and host
// checker benchmarks build network namespaces and run Debian's keepalived,
// the IPVS kernel benchmark boots a qemu VM. It takes tens of minutes. It exits 1
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
	"strconv"
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
	// raw is where reused raw output is read from; "" is OUT/raw.
	// Steps that run always write to OUT/raw.
	raw string
}

// rawDir is the directory reused raw output is read from.
func (o options) rawDir() string {
	if o.raw != "" {
		return o.raw
	}
	return filepath.Join(o.out, "raw")
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
		// vigil's lvs.Manager next to keepalived's checker process (run
		// with an IPVS socket-option shim) in a network namespace of the
		// host: issue 6's 10,000 TCP_CHECKs.
		{name: "check-host", args: []string{"-run", "^$", "-bench", checkHostBench(), "-benchtime", "1x", "-count", c, "-timeout", "60m", "./internal/lvs"}},
		{name: "ipvs-diff", args: []string{"-run", "^$", "-bench", "^BenchmarkDiff10k$", "-count", c, "-timeout", "30m", "./internal/ipvs"}},
		{name: "failover", args: []string{"-run", "^$", "-bench", "^BenchmarkFailover$", "-benchtime", o.failoverBenchtime, "-count", c, "-timeout", "120m", "./internal/interop"}},
		{name: "flood", args: []string{"-run", "^$", "-bench", "^BenchmarkBadAdvertFlood$", "-benchtime", "1x", "-count", c, "-timeout", "30m", "./internal/faults"}},
		{name: "scale", args: []string{"-run", "^$", "-bench", "^BenchmarkVRRPScale$", "-benchtime", "1x", "-count", c, "-timeout", "60m", "./internal/bench"}},
	}
	if o.vm {
		s = append(s,
			step{name: "ipvs-vm", once: true, args: []string{"-run", "^TestVM$", "-v", "-count", "1", "-timeout", "60m", "./internal/ipvs", "-args", "-vm.boots=3", "-vm.bench=^(BenchmarkKernelSync|BenchmarkKernelSyncVsKeepalived|BenchmarkDiff10k)$"}},
			// The same comparison next to the real ip_vs, at a size the
			// emulated VM keeps up with.
			step{name: "check-vm", once: true, args: []string{"-run", "^TestVM$", "-v", "-count", "1", "-timeout", "60m", "./internal/lvs", "-args", "-vm.bench=" + checkVMBench()}},
		)
	}
	return s
}

// checkHostSizes are the numbers of TCP_CHECK real servers of
// internal/lvs BenchmarkHostCheckers that the check-host step runs.
var checkHostSizes = []int{1000, 10000}

// checkVMSizes are the numbers of TCP_CHECK real servers of
// internal/lvs BenchmarkKernelCheckers that the check-vm step runs. The
// TCG-emulated VM keeps up with a few hundred: from about 500 both
// daemons fall behind delay_loop (jitter), from 1,000 they saturate its
// vCPU. The 10,000 run on the host (check-host).
var checkVMSizes = []int{200}

// checkHostBench is the -test.bench pattern of the check-host step.
func checkHostBench() string { return sizesPattern("BenchmarkHostCheckers", checkHostSizes) }

// checkVMBench is the -test.bench pattern of the check-vm step.
func checkVMBench() string { return sizesPattern("BenchmarkKernelCheckers", checkVMSizes) }

// sizesPattern selects the sub-benchmarks rs=N of name for the sizes.
func sizesPattern(name string, sizes []int) string {
	ns := make([]string, len(sizes))
	for i, n := range sizes {
		ns[i] = strconv.Itoa(n)
	}
	return "^" + name + "$/^rs=(" + strings.Join(ns, "|") + ")$"
}

func main() {
	var o options
	flag.IntVar(&o.count, "count", 3, "repetitions of each benchmark (go test -count); medians are reported")
	flag.StringVar(&o.failoverBenchtime, "failover-benchtime", "3x", "failovers per case and run of BenchmarkFailover")
	flag.BoolVar(&o.vm, "vm", true, "run the qemu VM steps: IPVS sync and health checkers against keepalived (TestVM -vm.bench of internal/ipvs and internal/lvs)")
	flag.StringVar(&o.out, "out", "bench", "directory for results.md, failover.png and raw/")
	flag.StringVar(&o.goBin, "go", "go", "go command")
	flag.StringVar(&o.only, "only", "", "comma-separated steps to run (conf, check, check-host, ipvs-diff, failover, flood, scale, ipvs-vm, check-vm); the others are read from the raw output of an earlier run as with -reuse")
	flag.BoolVar(&o.reuse, "reuse", false, "rebuild results.md and failover.png from the raw output of the last run without running anything")
	flag.StringVar(&o.raw, "raw", "", "directory the raw output of an earlier run is read from with -reuse or -only (default OUT/raw); with -out elsewhere, a dry run leaves bench/ alone")
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
		log.Printf("-reuse: reading %s instead of running the benchmarks", o.rawDir())
	} else if out, err := exec.CommandContext(ctx, o.goBin, "build", "-o", bin, "./cmd/vigil").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/vigil: %w\n%s", err, out)
	}

	started := time.Now()
	outs := map[string]stepOutput{}
	var failed []string
	for _, s := range steps(o) {
		t0 := time.Now()
		var so stepOutput
		var err error
		path := filepath.Join(raw, s.name+".txt")
		if o.reuse || (o.only != "" && !slices.Contains(strings.Split(o.only, ","), s.name)) {
			path = filepath.Join(o.rawDir(), s.name+".txt")
			log.Printf("step %s: reusing %s", s.name, path)
			so, err = parseRaw(path)
		} else {
			log.Printf("step %s: go test %s", s.name, strings.Join(s.args, " "))
			so, err = runStep(ctx, o, s, bin, path)
		}
		// A failed step's results still count: a sub-benchmark that
		// failed printed none, the others did.
		outs[s.name] = so
		if err != nil {
			log.Printf("step %s failed after %v: %v (%d results; output in %s)", s.name, time.Since(t0).Round(time.Second), err, len(so.results), path)
			failed = append(failed, fmt.Sprintf("%s (%v; see %s)", s.name, err, path))
		} else {
			log.Printf("step %s: %d results in %v", s.name, len(so.results), time.Since(t0).Round(time.Second))
		}
		if ctx.Err() != nil {
			break
		}
	}
	rows := buildRows(outs, o)
	if err := writeResults(filepath.Join(o.out, "results.md"), o, rows, failed, started); err != nil {
		return err
	}
	series := failoverSeries(outs["failover"].results)
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

// stepOutput is what one step left: the result lines of its go test
// output, and that output itself (for the lines that say why a
// sub-benchmark has no result).
type stepOutput struct {
	results []bench.Result
	raw     []byte
}

// parseRaw reads the results of a step from its raw output file. Like
// runStep, it returns the results found also when the output says that
// something failed, with an error naming what failed.
func parseRaw(path string) (stepOutput, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return stepOutput{}, fmt.Errorf("no raw output of an earlier run: %w", err)
	}
	rs, err := bench.ParseGoBench(bytes.NewReader(b))
	return stepOutput{results: rs, raw: b}, errors.Join(err, failures(b))
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
func runStep(ctx context.Context, o options, s step, bin, rawPath string) (stepOutput, error) {
	f, err := os.Create(rawPath)
	if err != nil {
		return stepOutput{}, err
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
	return stepOutput{results: rs, raw: buf.Bytes()}, errors.Join(runErr, perr, failures(buf.Bytes()))
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

func buildRows(outs map[string]stepOutput, o options) []bench.Row {
	var rows []bench.Row
	nsToMS := func(vs []float64) []float64 { return scale(vs, 1e-6) }
	conf := outs["conf"].results
	rows = append(rows,
		bench.Row{Metric: "parse 100,000-line keepalived.conf (BenchmarkParse100k)", Unit: "ms",
			Vigil:  bench.MeasureOf(nsToMS(bench.Values(conf, "BenchmarkParse100k", "ns/op"))),
			Target: bench.Target{Kind: bench.MaxValue, Value: 200},
			Note:   "no keepalived column: keepalived has no parse-only mode; `keepalived -t` (next row) is the comparison"},
		bench.Row{Metric: "check 100,000-line config: vigil load (parse+decode+validate) vs `keepalived -t`", Unit: "ms",
			Vigil:      bench.MeasureOf(nsToMS(bench.Values(conf, "BenchmarkLoad100k", "ns/op"))),
			Keepalived: bench.MeasureOf(nsToMS(bench.Values(conf, "BenchmarkKeepalivedCheck100k", "ns/op"))),
			Target:     bench.Target{Kind: bench.MaxValue, Value: 200}},
		bench.Row{Metric: "memory allocated per load of the 100,000-line config", Unit: "MB",
			Vigil: bench.MeasureOf(scale(bench.Values(conf, "BenchmarkLoad100k", "B/op"), 1.0/(1<<20)))},
	)

	fo := outs["failover"].results
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

	sc := outs["scale"].results
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

	fl := outs["flood"].results
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

	rows = append(rows, checkerRows(outs["check-host"], hostCheckers)...)
	rows = append(rows, checkRows(outs["check"].results)...)
	if o.vm {
		rows = append(rows, checkerRows(outs["check-vm"], vmCheckers)...)
	}
	rows = append(rows, ipvsRows(outs["ipvs-diff"].results, outs["ipvs-vm"].results, o)...)
	return rows
}

// checkName is a sub-benchmark of internal/check BenchmarkScheduler10kTCP.
const checkName = "BenchmarkScheduler10kTCP/targets=%d/path=%s"

// checkRows are the rows of internal/check's Scheduler alone on the host:
// TCP_CHECKs without lvs.Manager, config or IPVS table, and no keepalived
// (issue 6's comparison and targets are the host netns rows). path=loop
// is what TCP_CHECK runs on; path=pool, the worker pool it ran on before,
// is shown for information.
func checkRows(ck []bench.Result) []bench.Row {
	v := func(n int, path, unit string, k float64) bench.Measure {
		return bench.MeasureOf(scale(bench.Values(ck, fmt.Sprintf(checkName, n, path), unit), k))
	}
	alone := "internal/check BenchmarkScheduler10kTCP: the Scheduler alone, 100 listeners; vigil next to keepalived, and issue 6's targets: the host netns rows"
	var rows []bench.Row
	for _, n := range []int{10000, 2000} {
		what := fmt.Sprintf("%s TCP_CHECKs, delay_loop 1 s, check.Scheduler alone (host)", thousands(n))
		rows = append(rows,
			bench.Row{Metric: what + ": CPU of the test process (listeners not counted)", Unit: "ms CPU/s",
				Vigil: v(n, "loop", "cpu-s/s", 1000), Note: alone},
			bench.Row{Metric: what + ": p99 deviation of the check period from delay_loop", Unit: "ms",
				Vigil: v(n, "loop", "p99-period-dev-ms", 1)},
			bench.Row{Metric: what + ": p99 probe start lateness (against the end of the previous probe + delay_loop)", Unit: "ms",
				Vigil: v(n, "loop", "p99-late-ms", 1)},
			bench.Row{Metric: what + ": probes", Unit: "probes/s",
				Vigil: v(n, "loop", "probes/s", 1)},
			bench.Row{Metric: what + ", previous worker-pool path: CPU of the test process", Unit: "ms CPU/s",
				Vigil: v(n, "pool", "cpu-s/s", 1000)},
			bench.Row{Metric: what + ", previous worker-pool path: p99 deviation of the check period", Unit: "ms",
				Vigil: v(n, "pool", "p99-period-dev-ms", 1)},
		)
	}
	return rows
}

// notCoping matches the error of internal/lvs's checker benchmarks for a
// daemon that made too few of the probes delay_loop asks for.
var notCoping = regexp.MustCompile(`(vigil|keepalived) made (\d+) probes in \S+, fewer than (\d+)% of one per real server per delay_loop \((\d+)\): the (?:VM|host) does not cope with (\d+) real servers`)

// checkerBench is one machine's run of internal/lvs's checker comparison:
// vigil's lvs.Manager next to keepalived's checker process on the same
// keepalived.conf of n TCP_CHECK real servers.
type checkerBench struct {
	name    string // sub-benchmark, with %d for the size
	sizes   []int
	where   string // in each row's metric, after the size
	machine string // "VM" or "host", as in the metric units
	// note goes on the CPU row of the first size, lastNote on that of
	// the last.
	note, lastNote string
}

var (
	hostCheckers = checkerBench{
		name:    "BenchmarkHostCheckers/rs=%d",
		sizes:   checkHostSizes,
		where:   "delay_loop 1 s, loopback listeners (host netns)",
		machine: "host",
		note: "both in a network namespace of their own on the host, listeners in a separate process; the host kernel has no ip_vs: " +
			"keepalived runs with an LD_PRELOAD shim answering its IPVS socket options (internal/lvs/testdata/ipvsshim.c), vigil with an in-memory IPVS table, " +
			"so neither side's figures hold IPVS kernel work (none in steady state)",
	}
	vmCheckers = checkerBench{
		name:    "BenchmarkKernelCheckers/rs=%d",
		sizes:   checkVMSizes,
		where:   "delay_loop 1 s (qemu VM, TCG)",
		machine: "VM",
		note:    "against the real ip_vs",
		lastNote: "the TCG-emulated VM keeps up with a few hundred real servers (from about 1,000 both daemons saturate it and fall behind delay_loop): " +
			"issue 6's 10,000 are the host netns rows",
	}
)

// checkerRows are the rows of c's sizes. A size without a result (its
// sub-benchmark failed: a daemon fell behind delay_loop) reads "not
// measured" and says why; the sizes that ran are reported all the same.
func checkerRows(so stepOutput, c checkerBench) []bench.Row {
	rs := so.results
	why := map[int][]string{}
	for _, m := range notCoping.FindAllStringSubmatch(string(so.raw), -1) {
		n, _ := strconv.Atoi(m[5])
		why[n] = append(why[n], fmt.Sprintf("%s made %s probes, fewer than %s%% of the %s delay_loop asks for", m[1], m[2], m[3], m[4]))
	}
	var rows []bench.Row
	for i, n := range c.sizes {
		name := fmt.Sprintf(c.name, n)
		v := func(unit string, k float64) bench.Measure {
			return bench.MeasureOf(scale(bench.Values(rs, name, unit), k))
		}
		what := fmt.Sprintf("%s TCP_CHECK real servers, %s", thousands(n), c.where)
		var note []string
		if i == 0 && c.note != "" {
			note = append(note, c.note)
		}
		busy := "-" + strings.ToLower(c.machine) + "-busy-%"
		if vb, kb := v("vigil"+busy, 1), v("ka"+busy, 1); vb.Measured() && kb.Measured() {
			note = append(note, fmt.Sprintf("%s busy during the window (all CPUs): %.0f%% with vigil, %.0f%% with keepalived (near 100%% it is saturated)", c.machine, vb.V, kb.V))
		}
		if !v("vigil-cpu-%", 1).Measured() {
			switch {
			case len(why[n]) > 0:
				note = append(note, fmt.Sprintf("not measured: the %s does not cope with %s real servers (%s: the sub-benchmark fails)", c.machine, thousands(n), strings.Join(why[n], ", ")))
			case len(so.raw) > 0:
				note = append(note, "not measured: no result in the step's raw output (the sub-benchmark failed or did not run; its log is there)")
			}
		}
		if i == len(c.sizes)-1 && c.lastNote != "" {
			note = append(note, c.lastNote)
		}
		rows = append(rows,
			bench.Row{Metric: what + ": CPU, vigil (lvs.Manager) vs keepalived's checker process", Unit: "ms CPU/s",
				Vigil: v("vigil-cpu-%", 10), Keepalived: v("ka-cpu-%", 10),
				Target: bench.Target{Kind: bench.MaxRatio, Value: 0.5},
				Note:   strings.Join(note, "; ")},
			bench.Row{Metric: what + ": CPU in user space (utime)", Unit: "ms CPU/s",
				Vigil: v("vigil-user-ms/s", 1), Keepalived: v("ka-user-ms/s", 1)},
			bench.Row{Metric: what + ": CPU in the kernel (stime)", Unit: "ms CPU/s",
				Vigil: v("vigil-sys-ms/s", 1), Keepalived: v("ka-sys-ms/s", 1)},
			bench.Row{Metric: what + ": CPU per probe", Unit: "µs",
				Vigil: v("vigil-cpu-µs/probe", 1), Keepalived: v("ka-cpu-µs/probe", 1)},
			bench.Row{Metric: what + ": RSS (VmRSS; vigil's test process, keepalived's checker process)", Unit: "MB",
				Vigil: v("vigil-rss-MB", 1), Keepalived: v("ka-rss-MB", 1)},
			bench.Row{Metric: what + ": p99 deviation of the check period from delay_loop, at the listeners", Unit: "ms",
				Vigil: v("vigil-p99-accept-dev-ms", 1), Keepalived: v("ka-p99-accept-dev-ms", 1),
				Target: bench.Target{Kind: bench.BelowValue, Value: 50},
				Note:   "issue 6's jitter target, for vigil; measured for both from the listeners' accept times"},
			bench.Row{Metric: what + ": vigil's p99 deviation of the check period, from its probe start times", Unit: "ms",
				Vigil: v("vigil-p99-dev-ms", 1)},
			bench.Row{Metric: what + ": probes accepted by the listeners", Unit: "probes/s",
				Vigil: v("vigil-probes/s", 1), Keepalived: v("ka-probes/s", 1)},
		)
	}
	return rows
}

// Sub-benchmarks of internal/ipvs's VM benchmarks.
const (
	kernelSync = "BenchmarkKernelSync/10000x10/"
	syncVsKA   = "BenchmarkKernelSyncVsKeepalived/10000x10/"
)

// ipvsRows are the IPVS rows: the pure diff on the host and, with the VM,
// the kernel sync of 10,000 × 10 next to keepalived's in the same VM.
func ipvsRows(diff, vm []bench.Result, o options) []bench.Row {
	nsToMS := func(vs []float64) []float64 { return scale(vs, 1e-6) }
	rows := []bench.Row{{Metric: "IPVS diff of 10,000 services × 10 real servers from empty (host, pure)", Unit: "ms",
		Vigil: bench.MeasureOf(nsToMS(bench.Values(diff, "BenchmarkDiff10k/from-empty", "ns/op")))}}
	if !o.vm {
		return rows
	}
	vmS := func(name string) bench.Measure { return bench.MeasureOf(scale(bench.Values(vm, name, "ns/op"), 1e-9)) }
	kaFirst := bench.MeasureOf(bench.Values(vm, syncVsKA+"keepalived", "s-first-to-full"))
	kaExec := bench.MeasureOf(bench.Values(vm, syncVsKA+"keepalived", "s/sync"))
	side := func(variant string) bench.Measure {
		return bench.MeasureOf(bench.Values(vm, syncVsKA+variant, "s/sync"))
	}

	sync := vmS(kernelSync + "from-empty")
	note := "vigil: BenchmarkKernelSync (Reconcile into the VM's empty table); keepalived: BenchmarkKernelSyncVsKeepalived, keepalived -C on the same table as keepalived.conf in the same VM, " +
		"from its first entry to the last (its start-up and parsing left out, as vigil's Reconcile has none); the target is vigil's, for real hardware; internal/vmtest runs qemu with TCG emulation (no KVM)"
	host := bench.MeasureOf(bench.Values(diff, "BenchmarkDiff10k/from-empty", "ns/op"))
	guest := bench.MeasureOf(bench.Values(vm, "BenchmarkDiff10k/from-empty", "ns/op"))
	if sync.Measured() && host.Measured() && guest.Measured() && host.V > 0 {
		slow := guest.V / host.V
		note += fmt.Sprintf("; BenchmarkDiff10k runs %.1f× slower in the VM than on the host, which would put vigil's sync at about %.2f s natively (an estimate from the CPU-bound part, not a measurement)", slow, sync.V/slow)
	}
	fresh := "each side in a fresh network namespace of the same VM (BenchmarkKernelSyncVsKeepalived)"
	rows = append(rows,
		bench.Row{Metric: "IPVS sync of 10,000 services × 10 real servers into an empty kernel table (qemu VM, TCG)", Unit: "s",
			Vigil: sync, Keepalived: kaFirst,
			Target: bench.Target{Kind: bench.MaxValue, Value: 2},
			Note:   note},
		bench.Row{Metric: "IPVS sync of 10,000 × 10 from empty, vigil (batched, ack per sendmsg) vs keepalived first entry to last (fresh netns each, same VM)", Unit: "s",
			Vigil: side("vigil"), Keepalived: kaFirst, Note: fresh},
		bench.Row{Metric: "IPVS sync of 10,000 × 10 from empty, vigil vs keepalived -C from exec (its start-up and the 350,000-line keepalived.conf included)", Unit: "s",
			Vigil: side("vigil"), Keepalived: kaExec, Note: fresh},
		bench.Row{Metric: "IPVS sync of 10,000 × 10 from empty, vigil with an ack for every op (vigil-ack-each) vs keepalived first entry to last", Unit: "s",
			Vigil: side("vigil-ack-each"), Keepalived: kaFirst, Note: fresh},
		bench.Row{Metric: "IPVS sync of 10,000 × 10 from empty, op by op through moby/ipvs (vigil's previous write path, baseline) vs keepalived first entry to last", Unit: "s",
			Vigil: side("moby"), Keepalived: kaFirst, Note: fresh},
		bench.Row{Metric: "IPVS sync, table unchanged (read and compare, VM)", Unit: "s",
			Vigil: vmS(kernelSync + "unchanged")},
		bench.Row{Metric: "IPVS sync, one real server's weight changed: Reconcile (read, diff, one op; VM)", Unit: "s",
			Vigil: vmS(kernelSync + "one-weight-reconcile")},
		bench.Row{Metric: "IPVS sync, one real server's weight changed: Update (diff against the known table, one op; VM)", Unit: "ms",
			Vigil: bench.MeasureOf(nsToMS(bench.Values(vm, kernelSync+"one-weight-update", "ns/op")))},
		bench.Row{Metric: "IPVS diff from empty inside the VM (emulation slowdown vs host)", Unit: "ms",
			Vigil: bench.MeasureOf(nsToMS(bench.Values(vm, "BenchmarkDiff10k/from-empty", "ns/op")))},
	)
	return rows
}

// thousands writes n with a comma between thousands (10,000), as the
// row names of results.md do.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
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
		fmt.Fprintf(&b, ", rebuilt with -reuse from the raw output of an earlier run (%s/*.txt, last written %s).\n", o.rawDir(), rawTime(o.rawDir()))
	case o.only != "":
		fmt.Fprintf(&b, ", started %s, took %v; steps %s were run, the others read from %s of an earlier run.\n",
			started.UTC().Format("2006-01-02 15:04 MST"), time.Since(started).Round(time.Second), o.only, o.rawDir())
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
