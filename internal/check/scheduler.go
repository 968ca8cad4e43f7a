package check

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"
)

// Stepper is a Checker that probes one of several steps per call: HTTPGet's
// URLs. Under PolicyHTTP the Scheduler calls CheckStep with the URL the
// Tracker asks for.
type Stepper interface {
	Checker
	Steps() int
	CheckStep(ctx context.Context, step int) Result
}

// Target is one checker of one real server.
type Target struct {
	// Name identifies the checker in events, e.g. "[10.0.0.2]:tcp:80".
	Name    string
	Checker Checker
	Policy  Policy
	Timing  Timing
	// Resume, when set, carries this checker's state from the scheduler it
	// replaces on a reload (see Tracker.Resume and Scheduler.States).
	Resume *TrackerState
}

// Event reports a checker's state. The Scheduler sends one when keepalived
// would update the real server: on every UP/DOWN change, the first time the
// state is settled, and (MISC_CHECK misc_dynamic) when the weight changes.
type Event struct {
	// ID is the index of the target in the slice given to NewScheduler.
	ID   int
	Name string
	// Up is the checker's state; Changed says it just flipped.
	Up      bool
	Changed bool
	// Result is the probe that led to the event. For misc_dynamic, a nil
	// Result.Weight on an up checker means the configured weight.
	Result Result
}

// SchedulerOptions tune a Scheduler.
type SchedulerOptions struct {
	// Workers bounds how many probes run at once; 0 means 64.
	Workers int
	// OnEvent receives events from the scheduler's goroutines, one call at
	// a time; it must not block (hand the event to a queue of your own).
	OnEvent func(Event)
	// OnResult, when set, sees every probe's result (metrics); same rule.
	OnResult func(id int, r Result)
	// Rand returns a number in [0, 1) for the warmup delay; nil means
	// math/rand/v2.Float64.
	Rand func() float64
}

// Scheduler runs many checkers from timer heaps: thousands of checkers cost
// a handful of goroutines. Connectors (TCP_CHECK) run on an event loop, one
// goroutine with non-blocking connects (Linux; elsewhere they join the
// others); the other checkers run on a bounded pool of workers fed from a
// second heap. It creates no goroutine until Run.
type Scheduler struct {
	opts    SchedulerOptions
	entries []*entry
	ran     bool
	// reportMu makes the event loop's and the pool's callbacks take turns.
	reportMu sync.Mutex
}

type entry struct {
	id      int
	target  Target
	tracker *Tracker
	stepper Stepper
	conn    Connector // set when the target may run on the event loop
	due     time.Time // when the first probe, or the pool's next, starts
	weight  *int
}

type completion struct {
	e          *entry
	r          Result
	start, end time.Time
}

// NewScheduler prepares targets for Run.
func NewScheduler(targets []Target, opts SchedulerOptions) (*Scheduler, error) {
	if opts.Workers <= 0 {
		opts.Workers = 64
	}
	if opts.Rand == nil {
		opts.Rand = rand.Float64
	}
	s := &Scheduler{opts: opts}
	for i, t := range targets {
		if t.Checker == nil {
			return nil, errors.New("check target " + t.Name + ": no checker")
		}
		if t.Timing.DelayLoop <= 0 {
			return nil, errors.New("check target " + t.Name + ": delay_loop must be positive")
		}
		e := &entry{id: i, target: t}
		steps := 1
		if st, ok := t.Checker.(Stepper); ok && t.Policy == PolicyHTTP {
			e.stepper = st
			steps = st.Steps()
			if steps < 1 {
				return nil, errors.New("check target " + t.Name + ": HTTP_GET/SSL_GET has no url")
			}
		}
		if c, ok := t.Checker.(Connector); ok && e.stepper == nil {
			e.conn = c
		}
		e.tracker = NewTracker(t.Policy, t.Timing, steps)
		if t.Resume != nil {
			e.tracker.Resume(*t.Resume)
		}
		s.entries = append(s.entries, e)
	}
	return s, nil
}

// Run probes the targets until ctx is done, then waits for the probes in
// flight (their contexts are cancelled; the event loop closes its sockets)
// and returns ctx's error. Run may be called once.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.ran {
		return errors.New("check scheduler: Run called twice")
	}
	s.ran = true

	now := time.Now()
	var pool, conns []*entry
	for _, e := range s.entries {
		e.due = now.Add(e.tracker.FirstDelay(s.opts.Rand()))
		if e.conn != nil {
			conns = append(conns, e)
		} else {
			pool = append(pool, e)
		}
	}
	if len(conns) > 0 {
		loop, err := newTCPLoop(s, conns)
		if err != nil {
			// No event loop here (not Linux, or out of descriptors):
			// the workers run the TCP_CHECKs through Check, as before.
			pool = s.entries
		} else if len(pool) == 0 {
			return loop.run(ctx)
		} else {
			// Both run until ctx is done; should the loop fail, the
			// pool stops too and Run returns the loop's error.
			lctx, cancel := context.WithCancelCause(ctx)
			var wg sync.WaitGroup
			wg.Go(func() { cancel(loop.run(lctx)) })
			err := s.runPool(lctx, pool)
			cancel(nil)
			wg.Wait()
			if ctx.Err() == nil {
				return context.Cause(lctx)
			}
			return err
		}
	}
	return s.runPool(ctx, pool)
}

// runPool runs entries, whose first due times are set, on the worker pool
// until ctx is done.
func (s *Scheduler) runPool(ctx context.Context, entries []*entry) error {
	workers := min(s.opts.Workers, len(entries))
	// jobs is buffered so the loop can hand out a batch of due probes
	// without waiting for each worker to wake up.
	jobs := make(chan *entry, workers)
	// Each worker holds at most one job and jobs holds at most Workers, so a
	// buffer of 2*Workers lets every worker deliver its results after the
	// loop has stopped reading: no worker can block on shutdown.
	done := make(chan completion, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for e := range jobs {
				if ctx.Err() != nil {
					// Shutting down: skip the probe, report nothing.
					continue
				}
				done <- s.probe(ctx, e)
			}
		})
	}
	defer func() {
		close(jobs)
		wg.Wait()
	}()

	// Entries are known in the heap by their id.
	h := newTimerHeap(len(s.entries), time.Now())
	for _, e := range entries {
		h.push(e.id, e.due)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var ready []*entry
	var armed time.Time
	for {
		// Move due entries to the ready queue and hand out as many as the
		// workers' queue takes without blocking.
		now := time.Now()
		for _, ok := h.firstDue(now); ok; _, ok = h.firstDue(now) {
			ready = append(ready, s.entries[h.pop()])
		}
	fill:
		for len(ready) > 0 {
			select {
			case jobs <- ready[0]:
				ready[0] = nil
				ready = ready[1:]
			default:
				break fill
			}
		}
		if len(ready) == 0 {
			ready = nil // let the backing array go once drained
		}
		if h.len() > 0 {
			if _, due := h.first(); !due.Equal(armed) {
				armed = due
				timer.Reset(armed.Sub(now))
			}
		}
		var send chan *entry
		var next *entry
		if len(ready) > 0 {
			send, next = jobs, ready[0]
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			armed = time.Time{}
		case send <- next:
			ready[0] = nil
			ready = ready[1:]
		case c := <-done:
			s.complete(h, c)
			// Take the other results already waiting, without blocking.
		drain:
			for {
				select {
				case c := <-done:
					s.complete(h, c)
				default:
					break drain
				}
			}
		}
	}
}

// States returns each target's tracker state, in target order, for the
// Resume of a reloaded configuration. Call it only after Run has returned
// (or before it starts).
func (s *Scheduler) States() []TrackerState {
	out := make([]TrackerState, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.tracker.State()
	}
	return out
}

func (s *Scheduler) probe(ctx context.Context, e *entry) completion {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, e.timeout())
	var r Result
	if e.stepper != nil {
		r = e.stepper.CheckStep(cctx, e.tracker.Step())
	} else {
		r = e.target.Checker.Check(cctx)
	}
	cancel()
	return completion{e: e, r: r, start: start, end: time.Now()}
}

// timeout bounds one probe of e: connect_timeout (misc_timeout), or
// delay_loop when unset.
func (e *entry) timeout() time.Duration {
	if e.target.Timing.Timeout > 0 {
		return e.target.Timing.Timeout
	}
	return e.target.Timing.DelayLoop
}

func (s *Scheduler) complete(h *timerHeap, c completion) {
	c.e.due = s.settle(c.e, c.r, c.start, c.end)
	h.push(c.e.id, c.e.due)
}

// settle feeds the result r of e's probe, which ran from start to end, to
// e's tracker, reports it and returns when e is due again.
func (s *Scheduler) settle(e *entry, r Result, start, end time.Time) time.Time {
	o := e.tracker.Observe(r.OK)
	base := end
	if o.FromStart {
		base = start
	}
	s.reportMu.Lock()
	defer s.reportMu.Unlock()
	if s.opts.OnResult != nil {
		s.opts.OnResult(e.id, r)
	}
	weightChanged := r.OK && !sameWeight(e.weight, r.Weight)
	if r.OK {
		e.weight = r.Weight
	} else if o.Changed {
		e.weight = nil
	}
	if s.opts.OnEvent != nil && (o.Report || (weightChanged && o.Up)) {
		s.opts.OnEvent(Event{ID: e.id, Name: e.target.Name, Up: o.Up, Changed: o.Changed, Result: r})
	}
	return base.Add(o.Delay)
}

func sameWeight(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
