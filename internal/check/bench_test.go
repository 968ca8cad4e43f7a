package check

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/check/checktest"
)

// probeLog notes when each probe of one target started and ended. The
// Scheduler runs one probe of a target at a time and hands targets between
// goroutines over channels (or keeps them on its event loop), so no lock is
// needed.
type probeLog struct {
	starts, ends []time.Time
}

// recording wraps a Checker and logs its probes. It hides any Connector
// behind it, so the Scheduler runs it on the worker pool.
type recording struct {
	Checker
	probeLog
}

func (r *recording) Check(ctx context.Context) Result {
	r.starts = append(r.starts, time.Now())
	res := r.Checker.Check(ctx)
	r.ends = append(r.ends, time.Now())
	return res
}

// recordingConnector wraps a Connector and logs its probes; the Scheduler
// runs it on the event loop.
type recordingConnector struct {
	Connector
	probeLog
}

func (r *recordingConnector) Check(ctx context.Context) Result {
	r.starts = append(r.starts, time.Now())
	res := r.Connector.Check(ctx)
	r.ends = append(r.ends, time.Now())
	return res
}

func (r *recordingConnector) BeginConnect() Conn {
	r.starts = append(r.starts, time.Now())
	return r.Connector.BeginConnect()
}

func (r *recordingConnector) EndConnect(res Result) Result {
	r.ends = append(r.ends, time.Now())
	return r.Connector.EndConnect(res)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkScheduler10kTCP runs 10,000 (and 2,000) TCP_CHECKs with delay_loop 1 s
// against 100 loopback listeners for 6 s, and reports the process CPU per
// second of wall time (the listeners run in a child process, whose CPU is
// reported apart), the probe rate, and how late
// probes started against their due time (end of previous probe + 1 s).
// path=loop runs them on the Scheduler's event loop (what TCP_CHECK gets),
// path=pool on the worker pool through TCP.Check (the way before the loop,
// and any checker's that is not a Connector).
// Run with: go test -run '^$' -bench Scheduler10kTCP -benchtime 1x ./internal/check
func BenchmarkScheduler10kTCP(b *testing.B) {
	for _, n := range []int{10000, 2000} {
		for _, loop := range []bool{true, false} {
			path := map[bool]string{true: "loop", false: "pool"}[loop]
			b.Run(fmt.Sprintf("targets=%d/path=%s", n, path), func(b *testing.B) { benchTCPTargets(b, n, loop) })
		}
	}
}

func benchTCPTargets(b *testing.B, targets int, loop bool) {
	const (
		listeners = 100
		run       = 6 * time.Second
		delayLoop = time.Second
	)
	lp := startBenchListeners(b, listeners)
	addrs := lp.addrs

	for b.Loop() {
		recs := make([]*probeLog, targets)
		ts := make([]Target, targets)
		for i := range ts {
			tcp := NewTCP(Conn{Addr: addrs[i%listeners]})
			var c Checker
			if loop {
				r := &recordingConnector{Connector: tcp}
				c, recs[i] = r, &r.probeLog
			} else {
				r := &recording{Checker: tcp}
				c, recs[i] = r, &r.probeLog
			}
			ts[i] = Target{Checker: c, Policy: PolicyTCP,
				Timing: Timing{DelayLoop: delayLoop, DelayBeforeRetry: delayLoop, Retry: 1, Warmup: delayLoop, Timeout: 5 * time.Second}}
		}
		failures := 0
		var firstFailure string
		s, err := NewScheduler(ts, SchedulerOptions{OnResult: func(_ int, r Result) {
			if !r.OK {
				if failures == 0 {
					firstFailure = r.Reason
				}
				failures++
			}
		}})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(b.Context(), run)
		cpu0, lcpu0, wall0 := cpuTime(), lp.cpu(b), time.Now()
		_ = s.Run(ctx)
		cpu, lcpu, wall := cpuTime()-cpu0, lp.cpu(b)-lcpu0, time.Since(wall0)
		cancel()

		var late, period []time.Duration
		probes := 0
		for _, r := range recs {
			probes += len(r.starts)
			for i := 1; i < len(r.starts); i++ {
				late = append(late, r.starts[i].Sub(r.ends[i-1].Add(delayLoop)))
				period = append(period, (r.starts[i].Sub(r.starts[i-1]) - delayLoop).Abs())
			}
		}
		slices.Sort(late)
		slices.Sort(period)
		pct := func(d []time.Duration, p float64) float64 {
			if len(d) == 0 {
				return 0
			}
			return float64(d[int(float64(len(d)-1)*p)]) / float64(time.Millisecond)
		}
		b.ReportMetric(float64(cpu)/float64(wall), "cpu-s/s")
		b.ReportMetric(float64(lcpu)/float64(wall), "listener-cpu-s/s")
		b.ReportMetric(float64(probes)/wall.Seconds(), "probes/s")
		b.ReportMetric(pct(late, 0.50), "p50-late-ms")
		b.ReportMetric(pct(late, 0.99), "p99-late-ms")
		b.ReportMetric(pct(period, 0.99), "p99-period-dev-ms")
		b.ReportMetric(float64(failures), "failed-probes")
		b.ReportMetric(float64(cpu.Microseconds())/float64(probes), "cpu-µs/probe")
		if failures > 0 {
			b.Logf("%d probes failed; first: %s", failures, firstFailure)
		}
	}
}

// envBenchListeners makes the test binary the listener process of
// BenchmarkScheduler10kTCP (see TestBenchListenerProcess).
const envBenchListeners = "VIGIL_CHECK_BENCH_LISTENERS"

// benchListeners is the listener process of BenchmarkScheduler10kTCP.
type benchListeners struct {
	pid   int
	addrs []netip.AddrPort
}

// startBenchListeners runs this test binary as a process with n loopback
// listeners that accept and close every connection, so that accepting
// the probes does not count as the scheduler's CPU. It stops when the
// benchmark ends.
func startBenchListeners(b *testing.B, n int) *benchListeners {
	b.Helper()
	c := checktest.StartChild(b, "TestBenchListenerProcess", fmt.Sprintf("%s=%d", envBenchListeners, n))
	lp := &benchListeners{pid: c.Pid}
	sc := c.Out
	for len(lp.addrs) < n && sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
			lp.addrs = append(lp.addrs, netip.MustParseAddrPort(a))
		}
	}
	if len(lp.addrs) < n {
		b.Fatalf("listener process: %d of %d listeners: %v", len(lp.addrs), n, sc.Err())
	}
	go func() { // the rest of its output (PASS)
		for sc.Scan() {
		}
	}()
	return lp
}

// cpu is the listener process's utime+stime.
func (lp *benchListeners) cpu(b *testing.B) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", lp.pid))
	if err != nil {
		b.Logf("listener process CPU: %v", err)
		return 0
	}
	// utime and stime are fields 14 and 15, after the command in parentheses.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// TestBenchListenerProcess is not a test: it is the listener process of
// BenchmarkScheduler10kTCP, run only with VIGIL_CHECK_BENCH_LISTENERS set
// to the number of listeners. It prints "LISTEN addr" for each and serves
// until its stdin closes.
func TestBenchListenerProcess(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(envBenchListeners))
	if err != nil {
		t.Skipf("listener process of BenchmarkScheduler10kTCP only (%s unset)", envBenchListeners)
	}
	var wg sync.WaitGroup
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
		wg.Wait()
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		fmt.Printf("LISTEN %s\n", ln.Addr())
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		})
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
}
