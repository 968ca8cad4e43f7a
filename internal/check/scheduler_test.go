package check

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// scripted is a fake Checker: each probe takes Work (fake time inside a
// synctest bubble), then returns the next scripted verdict. It records when
// each probe started, relative to Epoch.
type scripted struct {
	mu       sync.Mutex
	Epoch    time.Time
	Work     time.Duration
	Verdicts []bool // the last one repeats
	Weights  []*int
	Starts   []time.Duration
	Steps    []int
	n        int
	steps    int
}

func (s *scripted) Check(ctx context.Context) Result { return s.CheckStep(ctx, 0) }

func (s *scripted) CheckStep(ctx context.Context, step int) Result {
	s.mu.Lock()
	s.Starts = append(s.Starts, time.Since(s.Epoch))
	s.Steps = append(s.Steps, step)
	i := min(s.n, len(s.Verdicts)-1)
	s.n++
	s.mu.Unlock()
	select {
	case <-time.After(s.Work):
	case <-ctx.Done():
		return Result{Reason: "timeout"}
	}
	r := Result{OK: s.Verdicts[i]}
	if i < len(s.Weights) {
		r.Weight = s.Weights[i]
	}
	return r
}

// stepped wraps scripted as a Stepper with n URLs.
type stepped struct{ *scripted }

func (s stepped) Steps() int { return s.steps }

func (s *scripted) starts() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.Starts...)
}

func secs(f ...float64) []time.Duration {
	out := make([]time.Duration, len(f))
	for i, v := range f {
		out[i] = time.Duration(v * float64(time.Second))
	}
	return out
}

// runFor runs the scheduler for d of fake time and returns the events.
func runFor(t *testing.T, d time.Duration, targets []Target, opts SchedulerOptions) []Event {
	t.Helper()
	var events []Event
	opts.OnEvent = func(e Event) { events = append(events, e) }
	if opts.Rand == nil {
		opts.Rand = func() float64 { return 0 }
	}
	s, err := NewScheduler(targets, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	if err := s.Run(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Run = %v, want deadline exceeded", err)
	}
	return events
}

func TestSchedulerTimesRetriesLikeTCPCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &scripted{Epoch: time.Now(), Work: 500 * time.Millisecond,
			Verdicts: []bool{true, false, false, true}}
		tm := Timing{DelayLoop: 10 * time.Second, DelayBeforeRetry: 3 * time.Second, Retry: 1, Timeout: 5 * time.Second}
		events := runFor(t, 40*time.Second, []Target{{Name: "rs1", Checker: c, Policy: PolicyTCP, Timing: tm}}, SchedulerOptions{})
		// 1 s bootstrap; each next probe is delay after the previous one ends
		// (0.5 s of work): ok → 10 s, fail → 3 s (retry), fail → 10 s (down).
		want := secs(1, 11.5, 15, 25.5, 36)
		if diff := cmp.Diff(want, c.starts()); diff != "" {
			t.Errorf("probe start times (-want +got):\n%s", diff)
		}
		type ev struct{ Up, Changed bool }
		var got []ev
		for _, e := range events {
			got = append(got, ev{e.Up, e.Changed})
		}
		if diff := cmp.Diff([]ev{{true, false}, {false, true}, {true, true}}, got); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
	})
}

func TestSchedulerTimesMiscFromScriptStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &scripted{Epoch: time.Now(), Work: 2 * time.Second, Verdicts: []bool{true}}
		tm := Timing{DelayLoop: 10 * time.Second, DelayBeforeRetry: time.Second, Timeout: 5 * time.Second}
		runFor(t, 32*time.Second, []Target{{Checker: c, Policy: PolicyMisc, Timing: tm}}, SchedulerOptions{})
		// check_misc.c times the next run from last_ran, the script's start.
		if diff := cmp.Diff(secs(1, 11, 21, 31), c.starts()); diff != "" {
			t.Errorf("probe start times (-want +got):\n%s", diff)
		}
	})
}

func TestSchedulerWarmupDelaysFirstProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &scripted{Epoch: time.Now(), Verdicts: []bool{true}}
		tm := Timing{DelayLoop: 10 * time.Second, Warmup: 4 * time.Second, Timeout: time.Second}
		runFor(t, 15*time.Second, []Target{{Checker: c, Policy: PolicyTCP, Timing: tm}},
			SchedulerOptions{Rand: func() float64 { return 0.5 }})
		if diff := cmp.Diff(secs(3, 13), c.starts()); diff != "" {
			t.Errorf("probe start times (-want +got):\n%s", diff)
		}
	})
}

func TestSchedulerTimeoutInContextFailsProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The probe would take a minute; connect_timeout 2 s ends it.
		c := &scripted{Epoch: time.Now(), Work: time.Minute, Verdicts: []bool{true}}
		tm := Timing{DelayLoop: 10 * time.Second, DelayBeforeRetry: time.Second, Retry: 0, Timeout: 2 * time.Second}
		events := runFor(t, 14*time.Second, []Target{{Checker: c, Policy: PolicyTCP, Timing: tm}}, SchedulerOptions{})
		if diff := cmp.Diff(secs(1, 13), c.starts()); diff != "" {
			t.Errorf("probe start times (-want +got):\n%s", diff)
		}
		if len(events) != 1 || events[0].Up || events[0].Result.Reason != "timeout" {
			t.Errorf("events = %+v, want one DOWN by timeout", events)
		}
	})
}

func TestSchedulerWalksHTTPURLs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &scripted{Epoch: time.Now(), Verdicts: []bool{true, true, false, false, true}, steps: 2}
		tm := Timing{DelayLoop: 10 * time.Second, DelayBeforeRetry: 3 * time.Second, Retry: 1, Timeout: time.Second}
		events := runFor(t, 40*time.Second, []Target{{Checker: stepped{c}, Policy: PolicyHTTP, Timing: tm}}, SchedulerOptions{})
		if diff := cmp.Diff(secs(1, 11, 21, 24, 34), c.starts()); diff != "" {
			t.Errorf("probe start times (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int{0, 1, 0, 0, 0}, c.Steps); diff != "" {
			t.Errorf("URLs probed (-want +got):\n%s", diff)
		}
		if len(events) != 2 || !events[0].Up || events[1].Up || !events[1].Changed {
			t.Errorf("events = %+v, want settle UP then DOWN", events)
		}
	})
}

func TestSchedulerReportsMiscDynamicWeight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w5, w8 := 5, 8
		c := &scripted{Epoch: time.Now(), Verdicts: []bool{true, true, true, true},
			Weights: []*int{&w5, &w5, &w8, nil}}
		tm := Timing{DelayLoop: time.Second, Timeout: time.Second}
		events := runFor(t, 4500*time.Millisecond, []Target{{Checker: c, Policy: PolicyMisc, Timing: tm}}, SchedulerOptions{})
		var got []any
		for _, e := range events {
			if e.Result.Weight == nil {
				got = append(got, "configured")
			} else {
				got = append(got, *e.Result.Weight)
			}
		}
		if diff := cmp.Diff([]any{5, 8, "configured"}, got); diff != "" {
			t.Errorf("weights reported (-want +got):\n%s", diff)
		}
	})
}

func TestSchedulerBoundsConcurrentProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		running, peak := 0, 0
		var targets []Target
		var cs []*scripted
		for range 10 {
			c := &scripted{Epoch: time.Now(), Work: time.Second, Verdicts: []bool{true}}
			cs = append(cs, c)
			targets = append(targets, Target{Checker: CheckerFunc(func(ctx context.Context) Result {
				mu.Lock()
				running++
				peak = max(peak, running)
				mu.Unlock()
				r := c.Check(ctx)
				mu.Lock()
				running--
				mu.Unlock()
				return r
			}), Policy: PolicyTCP, Timing: Timing{DelayLoop: 100 * time.Second, Timeout: 5 * time.Second}})
		}
		runFor(t, 7*time.Second, targets, SchedulerOptions{Workers: 2})
		if peak != 2 {
			t.Errorf("peak concurrent probes = %d, want 2", peak)
		}
		// Ten 1 s probes through two workers from t=1 s: starts at 1,1,2,2,…,5,5.
		var starts []time.Duration
		for _, c := range cs {
			starts = append(starts, c.starts()...)
		}
		if len(starts) != 10 {
			t.Fatalf("got %d probes, want 10", len(starts))
		}
		for _, s := range starts {
			if s < time.Second || s > 5*time.Second || s%time.Second != 0 {
				t.Errorf("probe started at %v, want a whole second in [1s, 5s]", s)
			}
		}
	})
}

func TestSchedulerStopLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	ln := listenTCP(t)
	var targets []Target
	for range 50 {
		targets = append(targets, Target{Checker: NewTCP(Conn{Addr: ln}), Policy: PolicyTCP,
			Timing: Timing{DelayLoop: time.Millisecond, Timeout: time.Second}})
	}
	probed := make(chan struct{}, 1)
	s, err := NewScheduler(targets, SchedulerOptions{Workers: 8, OnResult: func(int, Result) {
		select {
		case probed <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	// +1: the test listener's accept loop. The count may also drop: the
	// previous test's goroutine can still be on its way out when this
	// test starts.
	if n := runtime.NumGoroutine(); n > before+1 {
		t.Errorf("NewScheduler started goroutines: %d, want at most %d", n, before+1)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	<-probed
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	waitGoroutines(t, before+1)
}

// waitGoroutines polls until at most want goroutines remain, failing with
// the stacks of the survivors after a deadline.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines remain, want %d:\n%s", runtime.NumGoroutine(), want, buf[:n])
		}
		runtime.Gosched()
	}
}

func TestNewSchedulerRejectsBadTargets(t *testing.T) {
	tests := []struct {
		name string
		t    Target
		want string
	}{
		{"no checker", Target{Name: "a", Timing: Timing{DelayLoop: time.Second}}, "a: no checker"},
		{"no delay_loop", Target{Name: "b", Checker: NewTCP(Conn{})}, "b: delay_loop must be positive"},
		{"HTTP_GET without url", Target{Name: "c", Checker: &HTTPGet{}, Policy: PolicyHTTP, Timing: Timing{DelayLoop: time.Second}}, "c: HTTP_GET/SSL_GET has no url"},
	}
	for _, tc := range tests {
		if _, err := NewScheduler([]Target{tc.t}, SchedulerOptions{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestSchedulerStatesCarryOverReload(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := Timing{DelayLoop: 10 * time.Second, DelayBeforeRetry: time.Second, Retry: 1, Timeout: time.Second}
		down := &scripted{Epoch: time.Now(), Verdicts: []bool{false}}
		up := &scripted{Epoch: time.Now(), Verdicts: []bool{true}}
		targets := []Target{{Checker: down, Timing: tm}, {Checker: up, Timing: tm}}
		s, err := NewScheduler(targets, SchedulerOptions{Rand: func() float64 { return 0 }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		s.Run(ctx)
		states := s.States()
		want := []TrackerState{{Up: false, HasRun: true}, {Up: true, HasRun: true}}
		if diff := cmp.Diff(want, states); diff != "" {
			t.Fatalf("States (-want +got):\n%s", diff)
		}
		// The reloaded scheduler starts from those states: the down checker
		// coming back reports a change, the up one reports nothing new.
		var events []Event
		targets[0].Resume, targets[1].Resume = &states[0], &states[1]
		targets[0].Checker = &scripted{Epoch: time.Now(), Verdicts: []bool{true}}
		s2, err := NewScheduler(targets, SchedulerOptions{Rand: func() float64 { return 0 }, OnEvent: func(e Event) { events = append(events, e) }})
		if err != nil {
			t.Fatal(err)
		}
		ctx2, cancel2 := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel2()
		s2.Run(ctx2)
		if len(events) != 1 || events[0].ID != 0 || !events[0].Up || !events[0].Changed {
			t.Errorf("events after reload = %+v, want one UP change of target 0", events)
		}
	})
}
