package lvs

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/check"
	"github.com/vigil-ha/vigil/internal/vmtest"
	"github.com/vishvananda/netlink"

	"github.com/vigil-ha/vigil/internal/check/checktest"
)

// Host-side switches for TestVM: with -vm.bench the VM runs the matching
// benchmarks (BenchmarkKernelCheckers) instead of the TestKernel* tests.
var (
	vmBench = flag.String("vm.bench", "", "run the benchmarks matching this regexp inside the VM (TestVM) instead of the TestKernel tests")
	vmMem   = flag.Int("vm.mem", 0, "guest memory in MB for TestVM (default 512, 2048 with -vm.bench)")
	vmSMP   = flag.Int("vm.smp", 0, "virtual CPUs for TestVM (default 1)")
	// vmTCPPool is passed on to the VM: BenchmarkKernelCheckers then
	// hides the TCP_CHECKs' check.Connector so that the Scheduler runs
	// them on its worker pool, the way before its event loop.
	vmTCPPool = flag.Bool("vm.tcppool", false, "with -vm.bench: run vigil's TCP_CHECKs on the scheduler's worker pool instead of its event loop (for comparison)")
)

// vmBenchOptions applies -vm.bench, -vm.mem and -vm.smp to TestVM's run.
func vmBenchOptions(g *vmtest.GoTest) {
	g.MemoryMB, g.CPUs = *vmMem, *vmSMP
	if *vmBench == "" {
		return
	}
	g.Run = "^$"
	g.Bench = *vmBench
	g.Args = append(g.Args, "-test.benchtime=1x")
	if *vmTCPPool {
		g.Args = append(g.Args, "-vm.tcppool")
	}
	g.Timeout = 20 * time.Minute
	if g.MemoryMB == 0 {
		g.MemoryMB = 2048
	}
}

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

// BenchmarkKernelCheckers is the health checker comparison: n TCP_CHECK
// real servers (delay_loop 1) against listeners on lo, served by a
// separate listener process. First vigil's Manager (in this process) runs
// them, then Debian's keepalived -n -l -C on the same keepalived.conf. For
// each, once every listener is being probed periodically, a 20 s window
// measures CPU (utime+stime from /proc/PID/stat: this process for vigil,
// keepalived's checker child for keepalived), RSS (VmRSS), the probe rate
// and the p99 deviation of each real server's check period from delay_loop
// — from vigil's probe start times, and for both from the listeners'
// accept times. Inside the VM only (TestVM -vm.bench KernelCheckers).
func BenchmarkKernelCheckers(b *testing.B) {
	for _, n := range []int{100, 200, 500, 1000, 2000, 5000, 10000} {
		b.Run(fmt.Sprintf("rs=%d", n), func(b *testing.B) {
			for b.Loop() {
				benchCheckers(b, n)
			}
		})
	}
}

// daemonFigures are one daemon's figures over the window.
type daemonFigures struct {
	utime, stime time.Duration
	// listenerCPU is the listener process's utime+stime; vmBusy the
	// share of the VM's CPU time not idle: near 1 means the VM is
	// saturated and the figures are not comparable.
	listenerCPU   time.Duration
	vmBusy        float64
	cpu           time.Duration // utime+stime
	wall          time.Duration
	rssKB         int
	probes        int           // accepts at the listeners
	covered       int           // listeners probed at least twice
	p50, p99, max time.Duration // check period deviation at the listeners
}

func (f daemonFigures) cpuShare() float64 { return f.cpu.Seconds() / f.wall.Seconds() }

func (f daemonFigures) String() string {
	return fmt.Sprintf("CPU %.1f%% of one vCPU (user %v + system %v in %v), RSS %.1f MB, %.0f probes/s, period deviation at the listeners p50 %.1f ms p99 %.1f ms max %.1f ms",
		100*f.cpuShare(), f.utime, f.stime, f.wall.Round(time.Millisecond), float64(f.rssKB)/1024,
		float64(f.probes)/f.wall.Seconds(), ms(f.p50), ms(f.p99), ms(f.max)) +
		fmt.Sprintf("; listener process CPU %.1f%%, VM busy %.0f%%", 100*f.listenerCPU.Seconds()/f.wall.Seconds(), 100*f.vmBusy)
}

// perProbe is the CPU per probe accepted by the listeners, in µs.
func perProbe(f daemonFigures) float64 {
	return float64(f.cpu.Microseconds()) / float64(max(f.probes, 1))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func benchCheckers(b *testing.B, n int) {
	k := newVMKernel(b)
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		b.Skipf("keepalived not in the VM (install Debian package keepalived on the host): %v", err)
	}
	// 10,000 listeners, and keepalived's sockets, need more than the
	// kernel's default 1024/4096 descriptors; children inherit this.
	lim := syscall.Rlimit{Cur: 1 << 16, Max: 1 << 16}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatalf("raise RLIMIT_NOFILE: %v", err)
	}
	// A /24 on lo makes every address in it local, so the listeners can
	// bind 10.99.1.1-100 with one address.
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		b.Fatal(err)
	}
	prefix := &netlink.Addr{IPNet: &net.IPNet{IP: net.IPv4(10, 99, 1, 254), Mask: net.CIDRMask(24, 32)}}
	if err := netlink.AddrAdd(lo, prefix); err != nil {
		b.Fatalf("add 10.99.1.254/24 to lo: %v", err)
	}
	b.Cleanup(func() { _ = netlink.AddrDel(lo, prefix) })

	ls := startListenerProcess(b, n)
	cfgText := benchConf(n)
	idle, err := idleShare(b, os.Getpid())
	if err != nil {
		b.Fatal(err)
	}

	// vigil: the Manager with the same configuration, its checkers
	// wrapped to record probe start times.
	rec := &probeRecorder{byID: map[int]*probeRec{}}
	m, err := New(mustLoad(b, cfgText), Deps{Kernel: k, Checker: rec.build}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	self := os.Getpid()
	vigil, err := measure(b, ls, n, self, func(on bool) { rec.measuring.Store(on) })
	cancel()
	if runErr := <-done; runErr != nil {
		b.Errorf("vigil Run: %v", runErr)
	}
	if err != nil {
		b.Fatalf("vigil: %v", err)
	}
	devs, durs, probes := rec.deviations()
	slices.Sort(devs)
	slices.Sort(durs)

	// keepalived's checker process on the same file.
	if err := k.Flush(); err != nil {
		b.Fatal(err)
	}
	ka, kaLog := startBenchKeepalived(b, bin, cfgText)
	// keepalived logs each failed TCP_CHECK ("TCP connection to ...
	// failed") and each real server it removes.
	var kaFails int
	kaFailed := func() int { return strings.Count(kaLog(), "failed") + strings.Count(kaLog(), "Removing service") }
	kaFig, err := measure(b, ls, n, ka.checker, func(on bool) {
		if on {
			kaFails = -kaFailed()
		} else {
			kaFails += kaFailed()
		}
	})
	if err != nil {
		b.Fatalf("keepalived: %v\nlog tail:\n%s", err, tailLines(kaLog(), 30))
	}
	ka.stop()

	path := "event loop"
	if *vmTCPPool {
		path = "worker pool (-vm.tcppool)"
	}
	b.Logf("%d TCP_CHECK real servers (%d virtual servers), delay_loop 1 s, window %v after every listener was probed twice; VM %s; vigil's TCP_CHECKs on the scheduler's %s",
		n, (n+rsPerVS-1)/rsPerVS, benchWindow, vmSize(), path)
	b.Logf("vigil (lvs.Manager, test process): %v; probe start period deviation p50 %.1f ms p99 %.1f ms max %.1f ms over %d probes",
		vigil, ms(pct(devs, 0.50)), ms(pct(devs, 0.99)), ms(pct(devs, 1)), probes)
	b.Logf("vigil: %.0f µs CPU per probe, %d failed probes in the window; probe duration p50 %.1f ms p99 %.1f ms; the test process alone (listeners up, no Manager) used %.1f%% CPU",
		perProbe(vigil), rec.failures(), ms(pct(durs, 0.5)), ms(pct(durs, 0.99)), 100*idle)
	b.Logf("keepalived %s (checker process): %v", kaVersion(bin), kaFig)
	b.Logf("keepalived: %.0f µs CPU per probe, %d failure or removal log lines in the window", perProbe(kaFig), kaFails)
	ratio := vigil.cpuShare() / kaFig.cpuShare()
	b.Logf("CPU vigil/keepalived = %.2f (target ≤ 0.5); RSS vigil/keepalived = %.2f; vigil p99 period deviation %.1f ms (target < 50 ms)",
		ratio, float64(vigil.rssKB)/float64(kaFig.rssKB), ms(pct(devs, 0.99)))
	b.ReportMetric(100*vigil.cpuShare(), "vigil-cpu-%")
	b.ReportMetric(100*kaFig.cpuShare(), "ka-cpu-%")
	b.ReportMetric(ratio, "cpu-ratio")
	b.ReportMetric(perProbe(vigil), "vigil-cpu-µs/probe")
	b.ReportMetric(perProbe(kaFig), "ka-cpu-µs/probe")
	b.ReportMetric(100*vigil.vmBusy, "vigil-vm-busy-%")
	b.ReportMetric(100*kaFig.vmBusy, "ka-vm-busy-%")
	b.ReportMetric(float64(vigil.rssKB)/1024, "vigil-rss-MB")
	b.ReportMetric(float64(kaFig.rssKB)/1024, "ka-rss-MB")
	b.ReportMetric(ms(pct(devs, 0.99)), "vigil-p99-dev-ms")
	b.ReportMetric(ms(vigil.p99), "vigil-p99-accept-dev-ms")
	b.ReportMetric(ms(kaFig.p99), "ka-p99-accept-dev-ms")
	b.ReportMetric(float64(vigil.probes)/vigil.wall.Seconds(), "vigil-probes/s")
	b.ReportMetric(float64(kaFig.probes)/kaFig.wall.Seconds(), "ka-probes/s")
	// A daemon that falls behind does less work for its CPU: the ratio
	// would flatter it. Both must keep up with delay_loop.
	for _, f := range []struct {
		who string
		d   daemonFigures
	}{{"vigil", vigil}, {"keepalived", kaFig}} {
		if want := 0.9 * float64(n) * f.d.wall.Seconds() / benchDelay.Seconds(); float64(f.d.probes) < want {
			b.Errorf("%s made %d probes in %v, fewer than 90%% of one per real server per delay_loop (%.0f): the VM does not cope with %d real servers",
				f.who, f.d.probes, f.d.wall.Round(time.Millisecond), want, n)
		}
	}
}

// measure waits until every listener has been probed twice (all checkers
// running periodically), then measures pid over benchWindow. mark, if
// set, is told when the window opens and closes.
func measure(b *testing.B, ls *listenerProcess, n, pid int, mark func(bool)) (daemonFigures, error) {
	b.Helper()
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
		case <-b.Context().Done():
			return f, b.Context().Err()
		}
	}
	if _, err := ls.cmd("mark"); err != nil {
		return f, err
	}
	if mark != nil {
		mark(true)
	}
	u0, s0, err := procCPU(pid)
	if err != nil {
		return f, err
	}
	lu0, ls0, err := procCPU(ls.pid)
	if err != nil {
		return f, err
	}
	busy0, total0, err := vmCPU()
	if err != nil {
		return f, err
	}
	start := time.Now()
	// The window is the measurement itself, not a wait for an effect.
	select {
	case <-time.After(benchWindow):
	case <-b.Context().Done():
		return f, b.Context().Err()
	}
	u1, s1, err := procCPU(pid)
	if err != nil {
		return f, err
	}
	lu1, ls1, err := procCPU(ls.pid)
	if err != nil {
		return f, err
	}
	busy1, total1, err := vmCPU()
	if err != nil {
		return f, err
	}
	f.wall = time.Since(start)
	f.listenerCPU = lu1 + ls1 - lu0 - ls0
	f.vmBusy = float64(busy1-busy0) / float64(max(total1-total0, 1))
	if mark != nil {
		mark(false)
	}
	r, err := ls.report()
	if err != nil {
		return f, err
	}
	f.utime, f.stime = u1-u0, s1-s0
	f.cpu = f.utime + f.stime
	if f.rssKB, err = procRSS(pid); err != nil {
		return f, err
	}
	f.probes, f.covered, f.p50, f.p99, f.max = r.accepts, r.covered, r.p50, r.p99, r.max
	return f, nil
}

// idleShare is pid's CPU share over 5 s, for a baseline.
func idleShare(b *testing.B, pid int) (float64, error) {
	u0, s0, err := procCPU(pid)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	select {
	case <-time.After(5 * time.Second): // the measurement window
	case <-b.Context().Done():
		return 0, b.Context().Err()
	}
	u1, s1, err := procCPU(pid)
	if err != nil {
		return 0, err
	}
	return (u1 + s1 - u0 - s0).Seconds() / time.Since(start).Seconds(), nil
}

// vmCPU returns the non-idle and total ticks of all CPUs (/proc/stat).
func vmCPU() (busy, total int64, err error) {
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

func vmSize() string {
	cpus := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		cpus = strings.Count(string(b), "\nprocessor\t") + 1
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		l, _, _ := strings.Cut(string(b), "\n")
		mem = strings.Join(strings.Fields(l)[1:], " ")
	}
	return fmt.Sprintf("%d vCPU (TCG), MemTotal %s", cpus, mem)
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
	mu        sync.Mutex
	byID      map[int]*probeRec
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
	if cc, ok := c.(check.Connector); ok && !*vmTCPPool {
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

func (c *recChecker) Check(ctx context.Context) check.Result {
	now := time.Now()
	r := c.rec
	if r.on.Load() {
		r.probes++
		if !r.last.IsZero() {
			r.devs = append(r.devs, (now.Sub(r.last) - benchDelay).Abs())
		}
	}
	r.last = now
	res := c.Checker.Check(ctx)
	if r.on.Load() {
		r.durs = append(r.durs, time.Since(now))
		if !res.OK {
			r.failures++
		}
	}
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
	now := time.Now()
	r := c.rec
	if r.on.Load() {
		r.probes++
		if !r.last.IsZero() {
			r.devs = append(r.devs, (now.Sub(r.last) - benchDelay).Abs())
		}
	}
	r.last, c.start = now, now
	return c.conn.BeginConnect()
}

func (c *recConnector) EndConnect(res check.Result) check.Result {
	res = c.conn.EndConnect(res)
	if r := c.rec; r.on.Load() {
		r.durs = append(r.durs, time.Since(c.start))
		if !res.OK {
			r.failures++
		}
	}
	return res
}

// benchKeepalived is a running keepalived and its checker child.
type benchKeepalived struct {
	checker int
	stop    func()
}

// startBenchKeepalived starts keepalived -n -l -C on conf and waits for
// its checker child's pid file.
func startBenchKeepalived(b *testing.B, bin, conf string) (*benchKeepalived, func() string) {
	b.Helper()
	dir := b.TempDir()
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	logs := &syncBuf{}
	// keepalived -l opens syslog with LOG_CONS: without a /dev/log its
	// messages would land on the VM console, which carries the results.
	benchSyslog(b, logs)
	checkerPid := filepath.Join(dir, "checkers.pid")
	cmd := exec.Command(bin, "-n", "-l", "-C", "-f", path,
		"-p", filepath.Join(dir, "keepalived.pid"), "-c", checkerPid)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		b.Fatalf("start keepalived: %v", err)
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
	b.Cleanup(stop)
	deadline := time.Now().Add(time.Minute)
	for {
		if data, err := os.ReadFile(checkerPid); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
				return &benchKeepalived{checker: pid, stop: stop}, logs.String
			}
		}
		select {
		case <-exited:
			b.Fatalf("keepalived exited before writing %s:\n%s", checkerPid, tailLines(logs.String(), 30))
		case <-time.After(50 * time.Millisecond): // polling for the pid file
		}
		if time.Now().After(deadline) {
			b.Fatalf("keepalived wrote no checker pid file within a minute:\n%s", tailLines(logs.String(), 30))
		}
	}
}

// benchSyslog receives syslog datagrams on /dev/log into w until the
// benchmark ends.
func benchSyslog(b *testing.B, w io.Writer) {
	b.Helper()
	_ = os.Remove("/dev/log")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "/dev/log", Net: "unixgram"})
	if err != nil {
		b.Fatalf("listen on /dev/log: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 8192)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			_, _ = w.Write(append(buf[:n:n], '\n'))
		}
	}()
	b.Cleanup(func() {
		c.Close()
		<-done
		_ = os.Remove("/dev/log")
	})
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
func startListenerProcess(b *testing.B, n int) *listenerProcess {
	b.Helper()
	c := checktest.StartChild(b, "TestCheckBenchListenerProcess", fmt.Sprintf("%s=%d", envListen, n))
	lp := &listenerProcess{pid: c.Pid, in: c.In, out: c.Out}
	if l, err := lp.cmd("ready"); err != nil || l != "ready" {
		b.Fatalf("listener process for %d real servers: %q %v", n, l, err)
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
// of BenchmarkKernelCheckers, run only with VIGIL_CHECKBENCH_LISTEN set.
// It listens on every real server's address, accepts and closes each
// connection and records accept times; on stdin, "ready" is answered once
// listening, "mark" restarts the record, "report" answers the accepts,
// the listeners accepted at least twice and the deviation of the period
// between a listener's accepts from delay_loop since the mark.
func TestCheckBenchListenerProcess(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(envListen))
	if err != nil {
		t.Skipf("listener process of BenchmarkKernelCheckers only (%s unset)", envListen)
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
