package vrrp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// PacketFeed is a PacketConn that pushes its packets to a function
// instead of being read (the daemon's shared-socket mux): an Engine then
// needs no goroutine per instance to receive. deliver and fail may be
// called from any goroutine, but not while holding a lock that Feed
// takes; fail is called at most once, when the source stops for good.
type PacketFeed interface {
	Feed(deliver func(Packet), fail func(error))
}

// Engine runs many GroupRunners as keepalived runs every VRRP instance in
// one thread: one lock serialises them, a single timer serves the
// earliest Deadline of all of them, and a packet is handled by the
// goroutine that read it. With a thousand instances there is no
// goroutine per instance, and a burst of adverts costs one wake-up: the
// reader's, with no hand-off to another goroutine.
//
// Start, Stop, Run, Track (via the Runner) and the PacketFeed functions
// may be called from any goroutine.
type Engine struct {
	now func() time.Time

	mu    sync.Mutex
	done  bool // Run's ctx ended: no new groups
	heap  groupHeap
	all   map[*GroupRunner]*engineGroup
	timer *time.Timer // runs timerFired; armed for armed (less fineLead with fine)
	armed time.Time   // zero: stopped
	due   []*engineGroup

	// precise asks Run for fine: a timerfd that takes over the last
	// fineLead before a deadline that must not be late (a backup's
	// master-down timer) from Go's timer, which can wake up to a
	// millisecond late. fineArmed: fine is set for armed.
	precise   bool
	fine      *fineTimer
	fineArmed bool
}

// fineLead is how long before a deadline Go's timer hands over to the
// timerfd: more than Go's timer is ever late on an unloaded machine
// (up to 1 ms), so the timerfd is set before the deadline.
const fineLead = 2 * time.Millisecond

// maxEarly bounds earlySlack, and so how far ahead fire looks.
const maxEarly = 5 * time.Millisecond

// engineGroup is a GroupRunner in an Engine.
type engineGroup struct {
	e       *Engine
	g       *GroupRunner
	ctx     context.Context
	cancel  context.CancelFunc
	exit    func(error)
	readers sync.WaitGroup // for members whose Conn is not a PacketFeed
	stopped bool           // ended; later packets and events are ignored
	due     time.Time      // zero: no deadline
	key     int64          // the heap's order: due.UnixNano(), or earlier (see reschedule)
	index   int            // in the heap, -1 if not in it
}

// NewEngine returns an Engine with clock now (time.Now if nil).
func NewEngine(now func() time.Time) *Engine {
	if now == nil {
		now = time.Now
	}
	e := &Engine{now: now, all: map[*GroupRunner]*engineGroup{}}
	e.timer = time.AfterFunc(time.Hour, e.timerFired)
	e.timer.Stop()
	return e
}

// SetPrecise makes Run, on Linux, serve deadlines from a timerfd
// instead of only Go's timers, which wake up to a millisecond late
// (the runtime's poller sleeps in whole milliseconds): a backup then
// takes over within the kernel's timer slack of Master_Down_Interval.
// Call it before Run. Not for synctest bubbles: the timerfd runs on
// the real clock.
func (e *Engine) SetPrecise(on bool) {
	e.mu.Lock()
	e.precise = on
	e.mu.Unlock()
}

// ErrEngineStopped is returned by Start once the Engine's Run has ended.
var ErrEngineStopped = errors.New("VRRP engine stopped")

// Start runs g in the engine: its instances start (stale VIPs cleaned,
// Startup) before Start returns. exit is called once g has shut down
// after Stop, when Run's ctx ends, or when a member's socket fails (with
// that error); it is called without the engine's lock held. g must not
// be run elsewhere.
func (e *Engine) Start(g *GroupRunner, exit func(error)) error {
	eg := &engineGroup{e: e, g: g, exit: exit, index: -1}
	if !g.eg.CompareAndSwap(nil, eg) {
		return fmt.Errorf("vrrp_sync_group %q is already running", g.name)
	}
	eg.ctx, eg.cancel = context.WithCancel(context.Background())
	e.mu.Lock()
	if e.done {
		e.mu.Unlock()
		eg.cancel()
		g.eg.Store(nil)
		return ErrEngineStopped
	}
	e.all[g] = eg
	for i, m := range g.members {
		fail := func(err error) {
			// Not in the caller: a reader goroutine reporting its own
			// failure cannot wait for itself to end.
			go e.fail(eg, i, err)
		}
		deliver := func(p Packet) { e.deliver(eg, i, p) }
		switch c := m.deps.Conn.(type) {
		case PacketFeed:
			c.Feed(deliver, fail)
		case PacketStream:
			eg.readers.Go(func() { forwardStream(eg.ctx, c, deliver, fail) })
		default:
			eg.readers.Go(func() { readInto(eg.ctx, m.deps.Conn, deliver, fail) })
		}
	}
	for _, m := range g.members {
		m.cleanStale(eg.ctx)
	}
	g.step(eg.ctx, -1, Startup{})
	// Tracking changes that came before the group ran.
	for drained := false; !drained; {
		select {
		case me := <-g.events:
			g.step(eg.ctx, me.member, me.ev)
		default:
			drained = true
		}
	}
	e.reschedule(eg)
	e.rearm()
	e.mu.Unlock()
	return nil
}

// Stop shuts g down (priority-0 adverts from masters, VIPs removed) and
// returns once that is done and its exit has been called. Stopping a
// group that is not running in e does nothing.
func (e *Engine) Stop(g *GroupRunner) {
	eg := g.eg.Load()
	if eg == nil || eg.e != e {
		return
	}
	e.mu.Lock()
	if eg.stopped {
		e.mu.Unlock()
		return
	}
	e.endLocked(eg)
	e.rearm()
	e.mu.Unlock()
	eg.finish(nil)
}

// fail ends a group whose member's socket failed. Deaf to the other
// routers, a master could hold its VIPs alongside a new master: they are
// released as on stop before the failure is reported.
func (e *Engine) fail(eg *engineGroup, member int, err error) {
	e.mu.Lock()
	if eg.stopped {
		e.mu.Unlock()
		return
	}
	e.endLocked(eg)
	e.rearm()
	e.mu.Unlock()
	eg.finish(fmt.Errorf("(%s) VRRP socket: %w", eg.g.members[member].Name(), err))
}

// Run waits for ctx to end, then shuts down every group still running
// and returns once they are all down. Groups run whether or not Run has
// been called: it only bounds their lifetime.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	precise := e.precise
	e.mu.Unlock()
	if precise {
		e.runFine(ctx)
	}
	<-ctx.Done()
	e.mu.Lock()
	e.done = true
	var ended []*engineGroup
	for _, eg := range e.all {
		e.endLocked(eg)
		ended = append(ended, eg)
	}
	e.rearm()
	e.mu.Unlock()
	for _, eg := range ended {
		eg.finish(nil)
	}
	return nil
}

// runFine serves the timerfd until ctx ends, then gives the deadlines
// back to Go's timer. Without a timerfd (or if reading it fails) the
// engine goes on with Go's timer alone.
func (e *Engine) runFine(ctx context.Context) {
	ft, err := newFineTimer()
	if err != nil {
		return
	}
	defer ft.close()
	e.mu.Lock()
	e.fine = ft
	e.armed = time.Time{} // rearm afresh under the new scheme
	e.rearm()
	e.mu.Unlock()
	stop := context.AfterFunc(ctx, ft.interrupt)
	defer stop()
	for ft.wait() == nil {
		e.mu.Lock()
		e.fineArmed = false // expired: a timerfd fires once
		e.mu.Unlock()
		e.fire()
	}
	e.mu.Lock()
	e.fine, e.fineArmed = nil, false
	e.armed = time.Time{}
	e.rearm()
	e.mu.Unlock()
}

// timerFired is Go's timer's callback. With the timerfd, it is the
// lead-in: the last stretch before the deadline goes to the timerfd.
func (e *Engine) timerFired() {
	e.mu.Lock()
	if e.fine != nil && !e.armed.IsZero() {
		if wait := e.armed.Sub(e.now()); wait > 0 {
			e.armFine(wait)
			e.mu.Unlock()
			return
		}
	}
	e.mu.Unlock()
	e.fire()
}

// armFine sets the timerfd for wait from now; if that fails, Go's timer
// serves the deadline itself.
func (e *Engine) armFine(wait time.Duration) {
	if err := e.fine.set(wait); err != nil {
		e.fineArmed = false
		e.timer.Reset(wait)
		return
	}
	e.fineArmed = true
}

// deliver handles one packet for a member, in the reader's goroutine.
func (e *Engine) deliver(eg *engineGroup, member int, p Packet) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if eg.stopped {
		return
	}
	if ev, ok := eg.g.members[member].receive(p); ok {
		eg.g.step(eg.ctx, member, ev)
		e.reschedule(eg)
		// A deadline that moved later (a backup hearing its master)
		// leaves the timer armed early: it then fires for nothing,
		// once per a few seconds, instead of being reset at every
		// advert. Only an earlier one must rearm it.
		if !eg.due.IsZero() && (e.armed.IsZero() || eg.due.Before(e.armed)) {
			e.rearm()
		}
	}
}

// post handles a tracking change for a member.
func (eg *engineGroup) post(member int, ev Event) {
	e := eg.e
	e.mu.Lock()
	defer e.mu.Unlock()
	if eg.stopped {
		return
	}
	eg.g.step(eg.ctx, member, ev)
	e.reschedule(eg)
	e.rearm()
}

// endLocked shuts a group down; its finish must follow, unlocked.
func (e *Engine) endLocked(eg *engineGroup) {
	g := eg.g
	eg.stopped = true
	if eg.index >= 0 {
		e.heap.remove(eg.index)
	}
	delete(e.all, g)
	g.shutdown(eg.ctx)
	eg.cancel()
	for _, m := range g.members {
		if f, ok := m.deps.Conn.(PacketFeed); ok {
			f.Feed(nil, nil)
		}
	}
}

// finish waits for what the group started and reports its exit.
func (eg *engineGroup) finish(err error) {
	eg.readers.Wait()
	for _, m := range eg.g.members {
		m.wg.Wait()
	}
	if eg.exit != nil {
		eg.exit(err)
	}
}

// fire steps every group whose Deadline has come, and the masters due
// within their earlySlack, each once: a deadline still due after its step
// (catching up) is served by the next pass.
func (e *Engine) fire() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.armed = time.Time{}
	now := e.now()
	e.due = e.heap.within(e.due[:0], 0, now.Add(maxEarly).UnixNano())
	for i, eg := range e.due {
		e.due[i] = nil
		if eg.stopped {
			continue
		}
		var ev Timeout
		if eg.due.After(now) {
			s := eg.g.earlySlack()
			if eg.due.Sub(now) > s {
				continue
			}
			ev.Early = s
		}
		eg.g.step(eg.ctx, -1, ev)
		e.reschedule(eg)
	}
	e.rearm()
}

// rearm sets the timer for the earliest deadline, if it moved.
func (e *Engine) rearm() {
	if len(e.heap) == 0 {
		if !e.armed.IsZero() {
			e.timer.Stop()
			e.disarmFine()
			e.armed = time.Time{}
		}
		return
	}
	// Keys that lag their deadline (reschedule's lazy moves) are settled
	// when they reach the top, so that the timer is set for a real one.
	for e.heap[0].key < e.heap[0].due.UnixNano() {
		e.heap[0].key = e.heap[0].due.UnixNano()
		e.heap.down(0)
	}
	d := e.heap[0].due
	if d.Equal(e.armed) {
		return
	}
	e.armed = d
	wait := max(d.Sub(e.now()), 0)
	if e.fine == nil || e.heap[0].g.earlySlack() > 0 {
		// A master's advert may go out early by its slack, and late
		// by as much does no harm: Go's timer alone, one wake-up.
		e.disarmFine()
		e.timer.Reset(wait)
		return
	}
	if wait <= fineLead {
		e.timer.Stop()
		e.armFine(wait)
		return
	}
	e.disarmFine()
	e.timer.Reset(wait - fineLead)
}

// disarmFine stops the timerfd if it is set. A wait that then sees it
// expire anyway only costs a fire with nothing due.
func (e *Engine) disarmFine() {
	if e.fineArmed {
		_ = e.fine.disarm()
		e.fineArmed = false
	}
}

// reschedule moves a group to its current Deadline in the timer heap.
func (e *Engine) reschedule(eg *engineGroup) {
	d := eg.g.deadline()
	if eg.index >= 0 && d.Equal(eg.due) {
		return
	}
	if eg.index >= 0 && d.After(eg.due) {
		// Later, as at every advert a backup hears: the heap key stays
		// where it was, an earlier and so safe bound, and is settled
		// only when the timer serves the top (rearm). Sinking the
		// group through the heap at every advert would cost more.
		eg.due = d
		return
	}
	eg.due, eg.key = d, d.UnixNano()
	switch {
	case d.IsZero() && eg.index >= 0:
		e.heap.remove(eg.index)
	case d.IsZero():
	case eg.index >= 0:
		e.heap.fix(eg.index)
	default:
		e.heap.push(eg)
	}
}

// forwardStream moves a PacketStream's packets into the engine.
func forwardStream(ctx context.Context, s PacketStream, deliver func(Packet), fail func(error)) {
	pkts, failed := s.Packets(), s.Failed()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-pkts:
			deliver(p)
		case <-failed:
			if ctx.Err() == nil {
				fail(s.Err())
			}
			return
		}
	}
}

// readInto reads a PacketConn into the engine until ctx is done.
func readInto(ctx context.Context, c PacketConn, deliver func(Packet), fail func(error)) {
	for {
		p, err := c.ReadPacket(ctx)
		if err != nil {
			if ctx.Err() == nil {
				fail(err)
			}
			return
		}
		deliver(p)
	}
}

// within appends the groups of the subtree at i due at or before limit
// (UnixNano): a heap's children are never due before their parent.
func (h groupHeap) within(out []*engineGroup, i int, limit int64) []*engineGroup {
	if i >= len(h) || h[i].key > limit {
		return out
	}
	out = append(out, h[i])
	out = h.within(out, 2*i+1, limit)
	return h.within(out, 2*i+2, limit)
}

// groupHeap is a binary min-heap of groups by due time (key), each
// knowing its index; typed rather than container/heap, whose interface
// calls cost a backup that moves its deadline at every advert.
type groupHeap []*engineGroup

func (h groupHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h groupHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].key <= h[i].key {
			return
		}
		h.swap(i, p)
		i = p
	}
}

// down sinks i and reports whether it moved.
func (h groupHeap) down(i int) bool {
	i0 := i
	for {
		l := 2*i + 1
		if l >= len(h) {
			break
		}
		c := l
		if r := l + 1; r < len(h) && h[r].key < h[l].key {
			c = r
		}
		if h[i].key <= h[c].key {
			break
		}
		h.swap(i, c)
		i = c
	}
	return i > i0
}

func (h *groupHeap) push(eg *engineGroup) {
	eg.index = len(*h)
	*h = append(*h, eg)
	h.up(eg.index)
}

func (h *groupHeap) remove(i int) {
	old := *h
	n := len(old) - 1
	eg := old[i]
	if i != n {
		old.swap(i, n)
	}
	old[n] = nil
	*h = old[:n]
	if i != n {
		if !h.down(i) {
			h.up(i)
		}
	}
	eg.index = -1
}

func (h groupHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}
