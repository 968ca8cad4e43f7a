package check

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// recording wraps a Checker and notes when each probe started and ended.
// The Scheduler runs one probe of a target at a time and hands targets
// between goroutines over channels, so no lock is needed.
type recording struct {
	Checker
	starts, ends []time.Time
}

func (r *recording) Check(ctx context.Context) Result {
	r.starts = append(r.starts, time.Now())
	res := r.Checker.Check(ctx)
	r.ends = append(r.ends, time.Now())
	return res
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
// second of wall time (listeners included), the probe rate, and how late
// probes started against their due time (end of previous probe + 1 s).
// Run with: go test -run '^$' -bench Scheduler10kTCP -benchtime 1x ./internal/check
func BenchmarkScheduler10kTCP(b *testing.B) {
	for _, n := range []int{10000, 2000} {
		b.Run(fmt.Sprintf("targets=%d", n), func(b *testing.B) { benchTCPTargets(b, n) })
	}
}

func benchTCPTargets(b *testing.B, targets int) {
	const (
		listeners = 100
		run       = 6 * time.Second
		delayLoop = time.Second
	)
	var addrs []netip.AddrPort
	var wg sync.WaitGroup
	b.Cleanup(wg.Wait) // runs last: after the listeners below are closed
	for range listeners {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().(*net.TCPAddr).AddrPort())
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		})
		b.Cleanup(func() { ln.Close() })
	}

	for b.Loop() {
		recs := make([]*recording, targets)
		ts := make([]Target, targets)
		for i := range ts {
			recs[i] = &recording{Checker: NewTCP(Conn{Addr: addrs[i%listeners]})}
			ts[i] = Target{Checker: recs[i], Policy: PolicyTCP,
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
		cpu0, wall0 := cpuTime(), time.Now()
		_ = s.Run(ctx)
		cpu, wall := cpuTime()-cpu0, time.Since(wall0)
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
