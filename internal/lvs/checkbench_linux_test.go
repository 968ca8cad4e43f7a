package lvs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/check"
	"github.com/vigil-ha/vigil/internal/check/checktest"
	"github.com/vigil-ha/vigil/internal/ipvs"
	"github.com/vishvananda/netlink"
)

// The health checker comparison of issue 6, shared by the VM
// (BenchmarkKernelCheckers, checkbench_vm_linux_test.go) and the host
// (BenchmarkHostCheckers, checkbench_host_linux_test.go): n TCP_CHECK
// real servers with delay_loop 1 against listeners on lo, first vigil's
// lvs.Manager in the test process, then keepalived's checker process on
// the same keepalived.conf.

const (
	// benchWindow is how long each daemon is measured once all its
	// checkers run.
	benchWindow = 20 * time.Second
	benchDelay  = time.Second // delay_loop
	// rsPerVS real servers go in each virtual server.
	rsPerVS = 100
	// envListen makes the test binary a listener process (see
	// TestCheckBenchListenerProcess): the number of real servers.
	envListen = "VIGIL_CHECKBENCH_LISTEN"
	// userHZ is the unit of utime and stime in /proc/PID/stat (USER_HZ,
	// 100 on every Linux architecture vigil supports).
	userHZ = 100
)

// benchRS is real server i: 10.99.1.1-100, ports 10000-10099.
func benchRS(i int) (addr string, port int) {
	return fmt.Sprintf("10.99.1.%d", i/rsPerVS+1), 10000 + i%rsPerVS
}

// benchConf is n TCP_CHECK real servers, rsPerVS per virtual server
// 10.99.0.x:80, delay_loop 1.
func benchConf(n int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id checkbench\n}\n")
	for i := 0; i < n; i++ {
		if i%rsPerVS == 0 {
			if i > 0 {
				b.WriteString("}\n")
			}
			fmt.Fprintf(&b, "virtual_server 10.99.0.%d 80 {\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n", i/rsPerVS+1)
		}
		a, p := benchRS(i)
		fmt.Fprintf(&b, "    real_server %s %d {\n        TCP_CHECK {\n            connect_timeout 5\n        }\n    }\n", a, p)
	}
	if n > 0 {
		b.WriteString("}\n")
	}
	return b.String()
}

// checkBenchSetup is what differs between the machines the comparison
// runs on: vigil's IPVS table and how keepalived is started.
type checkBenchSetup struct {
	// machine names the machine in messages and metric units: "VM" or
	// "host".
	machine string
	// where describes it for the log (CPUs, memory, namespace).
	where string
	// kernel is the Manager's IPVS table.
	kernel ipvs.KernelTable
	// afterVigil, if set, runs once the Manager has stopped and before
	// keepalived starts.
	afterVigil func() error
	// keepalived is how keepalived -n -l -C starts on the file.
	keepalived kaStart
	// tcpPool hides the TCP_CHECKs' check.Connector so that the
	// Scheduler runs them on its worker pool, the way before its event
	// loop.
	tcpPool bool
}

// checkBenchResult is one run of benchCheckers. Its fields are exported
// for BenchmarkHostCheckers, which receives it as JSON from the process
// that ran it inside the benchmark's network namespace.
type checkBenchResult struct {
	N       int
	Machine string // checkBenchSetup.machine
	Where   string
	Path    string // where vigil's TCP_CHECKs ran in the Scheduler
	LoadAvg string // /proc/loadavg when the run started

	Vigil, Keepalived daemonFigures
	// VigilDev and VigilDur are vigil's own record of its probes in
	// the window: the deviation of each probe's start from the previous
	// one's plus delay_loop, and each probe's duration.
	VigilDev, VigilDur quantiles
	VigilProbes        int
	VigilFailures      int
	// VigilTableRS is the number of real servers in vigil's IPVS table
	// at the end of its window: those its checkers hold up.
	VigilTableRS int
	// IdleShare is the test process's CPU share with the listeners up
	// and no Manager running.
	IdleShare float64

	KAVersion string
	// KAFails counts keepalived's failure and removal log lines in its
	// window.
	KAFails int
}

// quantiles are the p50, p99 and maximum of a set of durations.
type quantiles struct{ P50, P99, Max time.Duration }

func quantilesOf(d []time.Duration) quantiles {
	slices.Sort(d)
	return quantiles{pct(d, 0.5), pct(d, 0.99), pct(d, 1)}
}

// daemonFigures are one daemon's figures over the window.
type daemonFigures struct {
	UTime, STime time.Duration
	// ListenerCPU is the listener process's utime+stime; Busy the share
	// of all the machine's CPU time not idle: near 1 means the machine
	// is saturated and the figures are not comparable.
	ListenerCPU   time.Duration
	Busy          float64
	CPU           time.Duration // utime+stime
	Wall          time.Duration
	RSSKB         int
	Probes        int           // accepts at the listeners
	Covered       int           // listeners probed at least twice
	P50, P99, Max time.Duration // check period deviation at the listeners
	// TCP are the namespace's tcpCounterNames counters over the
	// window: what makes connects late (a SYN sent again after 1 s).
	TCP map[string]int64
}

func (f daemonFigures) cpuShare() float64 { return f.CPU.Seconds() / f.Wall.Seconds() }

// perSecond is d per second of the window, in ms/s.
func (f daemonFigures) perSecond(d time.Duration) float64 { return ms(d) / f.Wall.Seconds() }

func (f daemonFigures) describe(machine string) string {
	return fmt.Sprintf("CPU %.1f%% of one CPU (user %v + system %v in %v), RSS %.1f MB, %.0f probes/s, period deviation at the listeners p50 %.1f ms p99 %.1f ms max %.1f ms",
		100*f.cpuShare(), f.UTime, f.STime, f.Wall.Round(time.Millisecond), float64(f.RSSKB)/1024,
		float64(f.Probes)/f.Wall.Seconds(), ms(f.P50), ms(f.P99), ms(f.Max)) +
		fmt.Sprintf("; listener process CPU %.1f%%, %s busy %.0f%%", 100*f.ListenerCPU.Seconds()/f.Wall.Seconds(), machine, 100*f.Busy) +
		"; TCP counters in the window:" + f.tcpString()
}

func (f daemonFigures) tcpString() string {
	var b strings.Builder
	for _, name := range tcpCounterNames() {
		fmt.Fprintf(&b, " %s %d", name, f.TCP[name])
	}
	return b.String()
}

// tcpCounterNames are the TcpExt counters (/proc/net/netstat) the
// figures keep: SYNs sent again (a connect late by a second or more) and
// why the listeners' side would drop them.
func tcpCounterNames() []string {
	return []string{"TCPSynRetrans", "ListenOverflows", "ListenDrops", "TCPTimeWaitOverflow", "PAWSTimewait"}
}

// tcpCounters reads tcpCounterNames from /proc/net/netstat, that is in
// this process's network namespace.
func tcpCounters() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	out := map[string]int64{}
	for i := 0; i+1 < len(lines); i += 2 {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) {
			continue
		}
		for j, name := range names {
			if slices.Contains(tcpCounterNames(), name) {
				if out[name], err = strconv.ParseInt(values[j], 10, 64); err != nil {
					return nil, fmt.Errorf("/proc/net/netstat TcpExt %s: %w", name, err)
				}
			}
		}
	}
	return out, nil
}

// perProbe is the CPU per probe accepted by the listeners, in µs.
func perProbe(f daemonFigures) float64 {
	return float64(f.CPU.Microseconds()) / float64(max(f.Probes, 1))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// benchCheckers runs the comparison for n real servers on s and returns
// its figures; report logs them and reports them as metrics.
func benchCheckers(tb testing.TB, n int, s checkBenchSetup) checkBenchResult {
	tb.Helper()
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		tb.Skipf("keepalived not found (install Debian package keepalived: scripts/deps.sh bench): %v", err)
	}
	// 10,000 listeners, and keepalived's sockets, need more than the
	// kernel's default 1024/4096 descriptors; children inherit this.
	// Without CAP_SYS_RESOURCE (a container) the hard limit stays: it
	// must leave room for the listeners.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	if lim.Max < 1<<16 {
		want := syscall.Rlimit{Cur: 1 << 16, Max: 1 << 16}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err == nil {
			lim = want
		} else if need := uint64(n) + 1024; lim.Max < need {
			tb.Skipf("RLIMIT_NOFILE hard limit %d, %d real servers need %d descriptors, and raising it failed: %v", lim.Max, n, need, err)
		}
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatalf("raise RLIMIT_NOFILE to %d: %v", lim.Max, err)
	}
	// A /24 on lo makes every address in it local, so the listeners can
	// bind 10.99.1.1-100 with one address.
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		tb.Fatal(err)
	}
	prefix := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 99, 1, 254), Mask: net.CIDRMask(24, 32)}}
	if err := netlink.AddrAdd(lo, prefix); err != nil {
		tb.Fatalf("add 10.99.1.254/24 to lo: %v", err)
	}
	tb.Cleanup(func() { _ = netlink.AddrDel(lo, prefix) })

	res := checkBenchResult{N: n, Machine: s.machine, Where: s.where, Path: "event loop", LoadAvg: loadAvg(), KAVersion: kaVersion(bin)}
	if s.tcpPool {
		res.Path = "worker pool"
	}
	ls := startListenerProcess(tb, n)
	cfgText := benchConf(n)
	if res.IdleShare, err = idleShare(tb, os.Getpid()); err != nil {
		tb.Fatal(err)
	}

	// vigil: the Manager with the same configuration, its checkers
	// wrapped to record probe start times.
	rec := &probeRecorder{byID: map[int]*probeRec{}, pool: s.tcpPool}
	m, err := New(mustLoad(tb, cfgText), Deps{Kernel: s.kernel, Checker: rec.build}, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(tb.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	res.Vigil, err = measure(tb, ls, n, os.Getpid(), func(on bool) {
		if on {
			// As the daemon does 10 s after a start or reload:
			// the loading's garbage goes back to the system.
			debug.FreeOSMemory()
		}
		rec.measuring.Store(on)
	})
	if err == nil {
		// Before Run's shutdown removes them: the real servers the
		// checkers hold up.
		var tab ipvs.Table
		if tab, err = s.kernel.Read(ctx); err == nil {
			for _, svc := range tab {
				res.VigilTableRS += len(svc.Dests)
			}
		}
	}
	cancel()
	if runErr := <-done; runErr != nil {
		tb.Errorf("vigil Run: %v", runErr)
	}
	if err != nil {
		tb.Fatalf("vigil: %v", err)
	}
	devs, durs, probes := rec.deviations()
	res.VigilDev, res.VigilDur, res.VigilProbes = quantilesOf(devs), quantilesOf(durs), probes
	res.VigilFailures = rec.failures()

	// keepalived's checker process on the same file.
	if s.afterVigil != nil {
		if err := s.afterVigil(); err != nil {
			tb.Fatal(err)
		}
	}
	ka, kaLog := startBenchKeepalived(tb, bin, cfgText, s.keepalived)
	// keepalived logs each failed TCP_CHECK ("TCP_CHECK on service ...
	// failed") and each real server it removes.
	kaFailed := func() int { return strings.Count(kaLog(), "failed") + strings.Count(kaLog(), "Removing service") }
	res.Keepalived, err = measure(tb, ls, n, ka.checker, func(on bool) {
		if on {
			res.KAFails = -kaFailed()
		} else {
			res.KAFails += kaFailed()
		}
	})
	if err != nil {
		tb.Fatalf("keepalived: %v\nlog tail:\n%s", err, tailLines(kaLog(), 30))
	}
	ka.stop()
	return res
}

// report logs r and reports its figures as b's metrics. It fails b when
// a daemon fell behind delay_loop or vigil's checkers did not hold every
// real server up: the figures then do not compare like with like.
func (r checkBenchResult) report(b *testing.B) {
	b.Helper()
	v, k := r.Vigil, r.Keepalived
	b.Logf("%d TCP_CHECK real servers (%d virtual servers), delay_loop 1 s, window %v after every listener was probed twice; %s %s; load average at the start %s; vigil's TCP_CHECKs on the scheduler's %s",
		r.N, (r.N+rsPerVS-1)/rsPerVS, benchWindow, r.Machine, r.Where, r.LoadAvg, r.Path)
	b.Logf("vigil (lvs.Manager, test process): %v; probe start period deviation p50 %.1f ms p99 %.1f ms max %.1f ms over %d probes",
		v.describe(r.Machine), ms(r.VigilDev.P50), ms(r.VigilDev.P99), ms(r.VigilDev.Max), r.VigilProbes)
	b.Logf("vigil: %.0f µs CPU per probe, %d failed probes in the window, %d of %d real servers in its IPVS table at the end; probe duration p50 %.1f ms p99 %.1f ms; the test process alone (listeners up, no Manager) used %.1f%% CPU",
		perProbe(v), r.VigilFailures, r.VigilTableRS, r.N, ms(r.VigilDur.P50), ms(r.VigilDur.P99), 100*r.IdleShare)
	b.Logf("keepalived %s (checker process): %v", r.KAVersion, k.describe(r.Machine))
	b.Logf("keepalived: %.0f µs CPU per probe, %d failure or removal log lines in the window", perProbe(k), r.KAFails)
	ratio := v.cpuShare() / k.cpuShare()
	b.Logf("CPU vigil/keepalived = %.2f (target ≤ 0.5): user %.0f vs %.0f ms/s, system %.0f vs %.0f ms/s; RSS vigil/keepalived = %.2f; vigil p99 period deviation %.1f ms (target < 50 ms)",
		ratio, v.perSecond(v.UTime), k.perSecond(k.UTime), v.perSecond(v.STime), k.perSecond(k.STime),
		float64(v.RSSKB)/float64(k.RSSKB), ms(r.VigilDev.P99))
	busy := strings.ToLower(r.Machine) + "-busy-%"
	b.ReportMetric(100*v.cpuShare(), "vigil-cpu-%")
	b.ReportMetric(100*k.cpuShare(), "ka-cpu-%")
	b.ReportMetric(ratio, "cpu-ratio")
	b.ReportMetric(v.perSecond(v.UTime), "vigil-user-ms/s")
	b.ReportMetric(v.perSecond(v.STime), "vigil-sys-ms/s")
	b.ReportMetric(k.perSecond(k.UTime), "ka-user-ms/s")
	b.ReportMetric(k.perSecond(k.STime), "ka-sys-ms/s")
	b.ReportMetric(perProbe(v), "vigil-cpu-µs/probe")
	b.ReportMetric(perProbe(k), "ka-cpu-µs/probe")
	b.ReportMetric(100*v.Busy, "vigil-"+busy)
	b.ReportMetric(100*k.Busy, "ka-"+busy)
	b.ReportMetric(float64(v.RSSKB)/1024, "vigil-rss-MB")
	b.ReportMetric(float64(k.RSSKB)/1024, "ka-rss-MB")
	b.ReportMetric(ms(r.VigilDev.P99), "vigil-p99-dev-ms")
	b.ReportMetric(ms(v.P99), "vigil-p99-accept-dev-ms")
	b.ReportMetric(ms(k.P99), "ka-p99-accept-dev-ms")
	b.ReportMetric(float64(v.Probes)/v.Wall.Seconds(), "vigil-probes/s")
	b.ReportMetric(float64(k.Probes)/k.Wall.Seconds(), "ka-probes/s")
	// A daemon that falls behind does less work for its CPU: the ratio
	// would flatter it. Both must keep up with delay_loop, give or take
	// keepalived's way of starting each check delay_loop after the
	// previous one ended (at 10,000 on a 2-CPU host it makes 90-95%).
	const keepUp = 0.8
	for _, f := range []struct {
		who string
		d   daemonFigures
	}{{"vigil", v}, {"keepalived", k}} {
		if want := keepUp * float64(r.N) * f.d.Wall.Seconds() / benchDelay.Seconds(); float64(f.d.Probes) < want {
			b.Errorf("%s made %d probes in %v, fewer than %.0f%% of one per real server per delay_loop (%.0f): the %s does not cope with %d real servers",
				f.who, f.d.Probes, f.d.Wall.Round(time.Millisecond), 100*keepUp, want, r.Machine, r.N)
		}
	}
	if r.VigilTableRS != r.N {
		b.Errorf("vigil's IPVS table held %d of the %d real servers at the end of its window (%d failed probes): the listeners did not answer every probe",
			r.VigilTableRS, r.N, r.VigilFailures)
	}
}

// measure waits until every listener has been probed twice (all checkers
// running periodically), then measures pid over benchWindow. mark, if
// set, is told when the window opens and closes.
func measure(tb testing.TB, ls *listenerProcess, n, pid int, mark func(bool)) (daemonFigures, error) {
	tb.Helper()
	var f daemonFigures
	if _, err := ls.cmd("mark"); err != nil {
		return f, err
	}
	deadline := time.Now().Add(3 * time.Minute)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		r, err := ls.report()
		if err != nil {
			return f, err
		}
		if r.covered == n {
			break
		}
		if time.Now().After(deadline) {
			return f, fmt.Errorf("only %d of %d listeners probed twice within 3 minutes", r.covered, n)
		}
		select {
		case <-tick.C: // polling the listeners
		case <-tb.Context().Done():
			return f, tb.Context().Err()
		}
	}
	if _, err := ls.cmd("mark"); err != nil {
		return f, err
	}
	if mark != nil {
		mark(true)
	}
	s0, err := sampleWindow(pid, ls.pid)
	if err != nil {
		return f, err
	}
	start := time.Now()
	// The window is the measurement itself, not a wait for an effect.
	select {
	case <-time.After(benchWindow):
	case <-tb.Context().Done():
		return f, tb.Context().Err()
	}
	s1, err := sampleWindow(pid, ls.pid)
	if err != nil {
		return f, err
	}
	f.TCP = map[string]int64{}
	for name, v := range s1.tcp {
		f.TCP[name] = v - s0.tcp[name]
	}
	f.Wall = time.Since(start)
	f.ListenerCPU = s1.lu + s1.ls - s0.lu - s0.ls
	f.Busy = float64(s1.busy-s0.busy) / float64(max(s1.total-s0.total, 1))
	if mark != nil {
		mark(false)
	}
	r, err := ls.report()
	if err != nil {
		return f, err
	}
	f.UTime, f.STime = s1.u-s0.u, s1.s-s0.s
	f.CPU = f.UTime + f.STime
	if f.RSSKB, err = procRSS(pid); err != nil {
		return f, err
	}
	f.Probes, f.Covered, f.P50, f.P99, f.Max = r.accepts, r.covered, r.p50, r.p99, r.max
	return f, nil
}

// windowSample is what measure reads at each end of its window: the
// daemon's and the listener process's user and system time, the
// machine's busy and total CPU time, and the TCP counters.
type windowSample struct {
	u, s, lu, ls time.Duration
	busy, total  int64
	tcp          map[string]int64
}

func sampleWindow(pid, listener int) (w windowSample, err error) {
	if w.u, w.s, err = procCPU(pid); err != nil {
		return w, err
	}
	if w.lu, w.ls, err = procCPU(listener); err != nil {
		return w, err
	}
	if w.busy, w.total, err = machineCPU(); err != nil {
		return w, err
	}
	w.tcp, err = tcpCounters()
	return w, err
}

// idleShare is pid's CPU share over 5 s, for a baseline.
func idleShare(tb testing.TB, pid int) (float64, error) {
	u0, s0, err := procCPU(pid)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	select {
	case <-time.After(5 * time.Second): // the measurement window
	case <-tb.Context().Done():
		return 0, tb.Context().Err()
	}
	u1, s1, err := procCPU(pid)
	if err != nil {
		return 0, err
	}
	return (u1 + s1 - u0 - s0).Seconds() / time.Since(start).Seconds(), nil
}

// machineCPU returns the non-idle and total ticks of all CPUs
// (/proc/stat).
func machineCPU() (busy, total int64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	l, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(l)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: first line %q", l)
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/stat: %q: %w", l, err)
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total, nil
}

// procCPU is the utime and stime of pid.
func procCPU(pid int) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields after the command", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut) * time.Second / userHZ, time.Duration(st) * time.Second / userHZ, nil
}

// procRSS is VmRSS of pid in kB.
func procRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// machineSize is the number of CPUs and MemTotal, for the log.
func machineSize() string {
	cpus := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpus = strings.Count(string(b), "\nprocessor\t") + 1
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		l, _, _ := strings.Cut(string(b), "\n")
		mem = strings.Join(strings.Fields(l)[1:], " ")
	}
	unit := "CPUs"
	if cpus == 1 {
		unit = "CPU"
	}
	return fmt.Sprintf("%d %s, MemTotal %s", cpus, unit, mem)
}

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

func kaVersion(bin string) string {
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	l, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(l)
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[int(float64(len(d)-1)*p)]
}

func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// probeRecorder builds the Manager's checkers, each wrapped to record the
// deviation of its probe period from delay_loop while measuring is set.
type probeRecorder struct {
	measuring atomic.Bool
	// pool: see checkBenchSetup.tcpPool.
	pool bool
	mu   sync.Mutex
	byID map[int]*probeRec
}

// build is Deps.Checker. The Manager builds each checker twice (in New
// and in Run); both share one record, by target ID.
func (p *probeRecorder) build(t *Target) (check.Checker, error) {
	c, err := t.Checker()
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.byID[t.ID]
	if r == nil {
		r = &probeRec{on: &p.measuring}
		p.byID[t.ID] = r
	}
	rc := &recChecker{Checker: c, rec: r}
	if cc, ok := c.(check.Connector); ok && !p.pool {
		// Keep TCP_CHECK on the Scheduler's event loop.
		return &recConnector{recChecker: rc, conn: cc}, nil
	}
	return rc, nil
}

// deviations returns every recorded period deviation and probe
// duration, and the probe count; call it after the Manager has stopped.
func (p *probeRecorder) deviations() (devs, durs []time.Duration, probes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.byID {
		devs = append(devs, r.devs...)
		durs = append(durs, r.durs...)
		probes += r.probes
	}
	return devs, durs, probes
}

// failures counts the failed probes in the window; call it after the
// Manager has stopped.
func (p *probeRecorder) failures() (n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.byID {
		n += r.failures
	}
	return n
}

// probeRec is one target's record. The Scheduler runs one probe of a
// target at a time and hands it between goroutines over channels, so the
// fields need no lock.
type probeRec struct {
	on       *atomic.Bool
	last     time.Time
	devs     []time.Duration
	durs     []time.Duration // probe durations
	probes   int
	failures int
}

type recChecker struct {
	check.Checker
	rec *probeRec
}

// began notes a probe starting at now: its deviation from the period.
func (r *probeRec) began(now time.Time) {
	if r.on.Load() {
		r.probes++
		if !r.last.IsZero() {
			r.devs = append(r.devs, (now.Sub(r.last) - benchDelay).Abs())
		}
	}
	r.last = now
}

// ended notes the verdict of the probe that began at start.
func (r *probeRec) ended(start time.Time, res check.Result) {
	if r.on.Load() {
		r.durs = append(r.durs, time.Since(start))
		if !res.OK {
			r.failures++
		}
	}
}

func (c *recChecker) Check(ctx context.Context) check.Result {
	now := time.Now()
	c.rec.began(now)
	res := c.Checker.Check(ctx)
	c.rec.ended(now, res)
	return res
}

// recConnector is recChecker for a check.Connector (TCP_CHECK): it
// records the probes the Scheduler's event loop runs, which start with
// BeginConnect and end with EndConnect rather than calling Check.
type recConnector struct {
	*recChecker
	conn  check.Connector
	start time.Time
}

func (c *recConnector) BeginConnect() check.Conn {
	c.start = time.Now()
	c.rec.began(c.start)
	return c.conn.BeginConnect()
}

func (c *recConnector) EndConnect(res check.Result) check.Result {
	res = c.conn.EndConnect(res)
	c.rec.ended(c.start, res)
	return res
}

// kaStart is how keepalived starts on one machine.
type kaStart struct {
	// env is added to keepalived's environment.
	env []string
	// args go before the benchmark's own (-n -l -C -f ... -p ... -c ...).
	args []string
	// logSink, if set, collects what keepalived sends to syslog into w
	// until tb ends; otherwise keepalived runs with -G (no syslog) and
	// logs to its standard output only.
	logSink func(tb testing.TB, w io.Writer)
}

// benchKeepalived is a running keepalived and its checker child.
type benchKeepalived struct {
	checker int
	stop    func()
}

// startBenchKeepalived starts keepalived -n -l -C on conf and waits for
// its checker child's pid file.
func startBenchKeepalived(tb testing.TB, bin, conf string, how kaStart) (*benchKeepalived, func() string) {
	tb.Helper()
	dir := tb.TempDir()
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	logs := &syncBuf{}
	args := slices.Clone(how.args)
	if how.logSink != nil {
		how.logSink(tb, logs)
	} else {
		args = append(args, "-G")
	}
	checkerPid := filepath.Join(dir, "checkers.pid")
	args = append(args, "-n", "-l", "-C", "-f", path, "-p", filepath.Join(dir, "keepalived.pid"), "-c", checkerPid)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), how.env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	// If this process dies without its cleanup, keepalived goes too
	// (its checker child follows its parent).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start keepalived: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	stop := sync.OnceFunc(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Minute): // removing 10,000 real servers under TCG is slow
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	tb.Cleanup(stop)
	deadline := time.Now().Add(time.Minute)
	for {
		if data, err := os.ReadFile(checkerPid); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
				return &benchKeepalived{checker: pid, stop: stop}, logs.String
			}
		}
		select {
		case <-exited:
			tb.Fatalf("keepalived exited before writing %s:\n%s", checkerPid, tailLines(logs.String(), 30))
		case <-time.After(50 * time.Millisecond): // polling for the pid file
		}
		if time.Now().After(deadline) {
			tb.Fatalf("keepalived wrote no checker pid file within a minute:\n%s", tailLines(logs.String(), 30))
		}
	}
}

// listenerProcess drives the listener process over its stdin/stdout.
type listenerProcess struct {
	pid int
	in  io.Writer
	out *bufio.Scanner
}

type listenerReport struct {
	accepts, covered int
	p50, p99, max    time.Duration
}

// startListenerProcess runs this test binary as the listener process for
// n real servers, so that accepting the probes costs neither daemon's CPU.
func startListenerProcess(tb testing.TB, n int) *listenerProcess {
	tb.Helper()
	c := checktest.StartChild(tb, "TestCheckBenchListenerProcess", fmt.Sprintf("%s=%d", envListen, n))
	lp := &listenerProcess{pid: c.Pid, in: c.In, out: c.Out}
	if l, err := lp.cmd("ready"); err != nil || l != "ready" {
		tb.Fatalf("listener process for %d real servers: %q %v", n, l, err)
	}
	return lp
}

// cmd sends one command line and returns the reply line.
func (lp *listenerProcess) cmd(c string) (string, error) {
	if _, err := fmt.Fprintln(lp.in, c); err != nil {
		return "", fmt.Errorf("listener process: %w", err)
	}
	for lp.out.Scan() {
		// The test binary's own output (=== RUN ...) is not a reply.
		if l, ok := strings.CutPrefix(lp.out.Text(), "LP "); ok {
			return l, nil
		}
	}
	return "", fmt.Errorf("listener process ended: %v", lp.out.Err())
}

func (lp *listenerProcess) report() (listenerReport, error) {
	var r listenerReport
	l, err := lp.cmd("report")
	if err != nil {
		return r, err
	}
	var p50, p99, mx int64
	if _, err := fmt.Sscanf(l, "accepts=%d covered=%d p50=%d p99=%d max=%d", &r.accepts, &r.covered, &p50, &p99, &mx); err != nil {
		return r, fmt.Errorf("listener process report %q: %w", l, err)
	}
	r.p50, r.p99, r.max = time.Duration(p50), time.Duration(p99), time.Duration(mx)
	return r, nil
}

// TestCheckBenchListenerProcess is not a test: it is the listener process
// of BenchmarkKernelCheckers and BenchmarkHostCheckers, run only with
// VIGIL_CHECKBENCH_LISTEN set. It listens on every real server's address,
// accepts and closes each connection and records accept times; on stdin,
// "ready" is answered once listening, "mark" restarts the record,
// "report" answers the accepts, the listeners accepted at least twice and
// the deviation of the period between a listener's accepts from
// delay_loop since the mark.
func TestCheckBenchListenerProcess(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(envListen))
	if err != nil {
		t.Skipf("listener process of the checker benchmarks only (%s unset)", envListen)
	}
	var mu sync.Mutex
	times := make([][]time.Time, n)
	var wg sync.WaitGroup
	var lns []net.Listener
	for i := range n {
		a, p := benchRS(i)
		ln, err := net.Listen("tcp", net.JoinHostPort(a, strconv.Itoa(p)))
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				now := time.Now()
				c.Close()
				mu.Lock()
				times[i] = append(times[i], now)
				mu.Unlock()
			}
		})
	}
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
		wg.Wait()
	}()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "ready":
			fmt.Println("LP ready")
		case "mark":
			mu.Lock()
			for i := range times {
				times[i] = times[i][:0]
			}
			mu.Unlock()
			fmt.Println("LP ok")
		case "report":
			var devs []time.Duration
			accepts, covered := 0, 0
			mu.Lock()
			for _, ts := range times {
				accepts += len(ts)
				if len(ts) >= 2 {
					covered++
				}
				for j := 1; j < len(ts); j++ {
					devs = append(devs, (ts[j].Sub(ts[j-1]) - benchDelay).Abs())
				}
			}
			mu.Unlock()
			slices.Sort(devs)
			fmt.Printf("LP accepts=%d covered=%d p50=%d p99=%d max=%d\n", accepts, covered, pct(devs, 0.5), pct(devs, 0.99), pct(devs, 1))
		default:
			t.Fatalf("listener process: unknown command %q", sc.Text())
		}
	}
}
