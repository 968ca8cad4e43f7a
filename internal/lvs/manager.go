package lvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/internal/check"
	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/ipvs"
	"github.com/vigil-ha/vigil/internal/notify"
	"github.com/vigil-ha/vigil/internal/status"
)

// Deps are the Manager's edges and switches.
type Deps struct {
	// Kernel is the IPVS table (*ipvs.Kernel on Linux); required.
	Kernel ipvs.KernelTable
	// Flush empties the whole IPVS table (ipvsadm -C), for lvs_flush and
	// lvs_flush_onstop all; nil means those fall back to removing only
	// vigil's own services.
	Flush func(ctx context.Context) error
	// Checker builds the checker of a target; nil means t.Checker().
	// Tests put fakes here.
	Checker func(t *Target) (check.Checker, error)
	// Exec runs a notify_up/notify_down/quorum_up/quorum_down script;
	// nil runs it with internal/notify as the configured user.
	Exec func(ctx context.Context, s *conf.Script) error
	// KeepIPVS leaves the IPVS table in place on stop (keepalived -I,
	// --dont-release-ipvs).
	KeepIPVS bool
	// Rand is the scheduler's warmup randomness; nil: math/rand/v2.
	Rand func() float64
	// Workers bounds concurrent probes; 0: the scheduler's default.
	Workers int
}

// Manager runs the health checkers of a configuration's virtual servers
// and keeps the IPVS table in the state their results call for, applying
// only the difference on each change.
type Manager struct {
	deps   Deps
	log    *slog.Logger
	plan   *Plan
	cfg    *conf.Config
	reload chan reloadReq
	ops    *opCounts
	// checks are the probe counters by real server (statsKey); owned by
	// the goroutine that owns plan, the counters themselves are atomic.
	checks map[string]*checkStats

	mu     sync.Mutex
	status []status.RealServerStatus
	// stats are status's probe counters, index for index (nil for sorry
	// servers).
	stats []*checkStats
	ran   bool
}

type reloadReq struct {
	plan *Plan
	cfg  *conf.Config
	res  chan error
}

// New maps cfg's virtual servers and builds every checker; nothing runs
// until Run. Configuration problems keepalived corrects are logged as
// warnings; a checker that cannot be built is an error.
func New(cfg *conf.Config, deps Deps, log *slog.Logger) (*Manager, error) {
	if deps.Kernel == nil {
		return nil, errors.New("lvs: no IPVS kernel table")
	}
	m := &Manager{deps: deps, log: log, cfg: cfg, reload: make(chan reloadReq), ops: &opCounts{}}
	p, err := m.newPlan(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := m.targets(p); err != nil {
		return nil, err
	}
	m.plan = p
	m.snapshot()
	return m, nil
}

func (m *Manager) newPlan(cfg *conf.Config) (*Plan, error) {
	p, ds := NewPlan(cfg)
	for _, d := range ds {
		m.log.Warn(d.Msg, "file", d.Pos.File, "line", d.Pos.Line)
	}
	if err := p.Table().Validate(); err != nil {
		return nil, fmt.Errorf("virtual servers: %w", err)
	}
	return p, nil
}

func (m *Manager) targets(p *Plan) ([]check.Target, error) {
	var out []check.Target
	var errs []error
	for _, t := range p.Targets {
		build := m.deps.Checker
		if build == nil {
			build = (*Target).Checker
		}
		c, err := build(t)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, t.CheckTarget(c))
	}
	return out, errors.Join(errs...)
}

// eventQueue hands scheduler events to the Manager's loop without ever
// blocking the scheduler.
type eventQueue struct {
	mu    sync.Mutex
	evs   []check.Event
	ready chan struct{}
}

func (q *eventQueue) push(ev check.Event) {
	q.mu.Lock()
	q.evs = append(q.evs, ev)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *eventQueue) take() []check.Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	evs := q.evs
	q.evs = nil
	return evs
}

// running is one scheduler run.
type running struct {
	sched  *check.Scheduler
	q      *eventQueue
	cancel context.CancelFunc
	done   chan struct{}
}

func (m *Manager) startScheduler(ctx context.Context, p *Plan, resume []*check.TrackerState) (*running, error) {
	targets, err := m.targets(p)
	if err != nil {
		return nil, err
	}
	for i := range targets {
		if i < len(resume) {
			targets[i].Resume = resume[i]
		}
	}
	q := &eventQueue{ready: make(chan struct{}, 1)}
	sched, err := check.NewScheduler(targets, check.SchedulerOptions{
		Workers: m.deps.Workers, Rand: m.deps.Rand, OnEvent: q.push, OnResult: m.onResult(p),
	})
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &running{sched: sched, q: q, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		_ = sched.Run(rctx)
	}()
	return r, nil
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

// Run programs IPVS for the configuration, runs the checkers and applies
// their verdicts until ctx is done; then it stops the checkers and, unless
// KeepIPVS, removes its virtual servers (or flushes the whole table with
// lvs_flush_onstop all), as keepalived does on stop. Run may be called once.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.ran {
		m.mu.Unlock()
		return errors.New("lvs: Run called twice")
	}
	m.ran = true
	m.mu.Unlock()

	scripts := newScriptRunner(m)
	defer scripts.wait()
	rec := ipvs.NewReconciler(countingKernel{m.deps.Kernel, m.ops}, nil)
	if m.cfg.Global.LVSFlush {
		m.flushAll(ctx, "lvs_flush")
	}
	m.apply(ctx, scripts, m.plan.Start())
	if _, err := rec.Reconcile(ctx, m.plan.Table()); err != nil {
		m.log.Warn("IPVS: cannot program every virtual server", "err", err)
	}
	m.snapshot()
	run, err := m.startScheduler(ctx, m.plan, nil)
	if err != nil {
		m.shutdown(ctx, rec)
		return err
	}
	for {
		select {
		case <-ctx.Done():
			run.stop()
			m.shutdown(ctx, rec)
			return nil
		case <-run.q.ready:
			changed := false
			for _, ev := range run.q.take() {
				changed = m.observe(ctx, scripts, ev) || changed
			}
			if changed {
				m.update(ctx, rec)
			}
		case req := <-m.reload:
			run.stop()
			// Events the old scheduler reported before it stopped still count.
			for _, ev := range run.q.take() {
				m.observe(ctx, scripts, ev)
			}
			resume, gone := carry(m.plan, req.plan, run.sched.States())
			m.plan, m.cfg = req.plan, req.cfg
			m.apply(ctx, scripts, gone)
			m.apply(ctx, scripts, m.plan.restart())
			m.update(ctx, rec)
			var err error
			run, err = m.startScheduler(ctx, m.plan, resume)
			req.res <- err
			if err != nil {
				m.shutdown(ctx, rec)
				return err
			}
		}
	}
}

// observe applies one checker event; it reports whether the health state
// may have changed.
func (m *Manager) observe(ctx context.Context, scripts *scriptRunner, ev check.Event) bool {
	t := m.plan.Targets[ev.ID]
	hadRun := t.HasRun
	if !ev.Up {
		t.Real.Reason = ev.Result.Reason
	}
	m.log.Info(checkerLog(t, ev.Up, hadRun, t.Timing().Retry),
		"vs", t.Real.Pool.Name, "rs", t.Real.Name, "check", string(t.Type()), "reason", ev.Result.Reason)
	w := ev.Result.Weight
	m.apply(ctx, scripts, m.plan.Observe(ev.ID, ev.Up, w))
	return true
}

func (m *Manager) apply(ctx context.Context, scripts *scriptRunner, effs []Effect) {
	for _, e := range effs {
		if e.Script != nil {
			scripts.run(ctx, e)
			continue
		}
		args := []any{"vs", e.VS}
		if e.RS != "" {
			args = append(args, "rs", e.RS)
		}
		m.log.Info(e.Msg, args...)
	}
}

func (m *Manager) update(ctx context.Context, rec *ipvs.Reconciler) {
	n, err := rec.Update(ctx, m.plan.Table())
	if err != nil {
		m.log.Warn("IPVS update failed", "ops", n, "err", err)
	} else if n > 0 {
		m.log.Debug("IPVS updated", "ops", n)
	}
	m.snapshot()
}

func (m *Manager) flushAll(ctx context.Context, why string) bool {
	if m.deps.Flush == nil {
		return false
	}
	if err := m.deps.Flush(ctx); err != nil {
		m.log.Warn("IPVS flush failed", "reason", why, "err", err)
		return false
	}
	return true
}

// shutdown releases IPVS as keepalived's clear_services does on stop.
func (m *Manager) shutdown(ctx context.Context, rec *ipvs.Reconciler) {
	if m.deps.KeepIPVS {
		m.log.Info("Leaving IPVS configuration in place (--dont-release-ipvs)")
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if m.cfg.Global.LVSFlushOnStop == "all" && m.flushAll(sctx, "lvs_flush_onstop") {
		return
	}
	for _, s := range m.plan.Table() {
		for _, d := range s.Dests {
			for _, p := range m.plan.Pools {
				for _, r := range append(p.Reals, p.Sorry) {
					if r != nil && r.Addr == d.Addr && p.hasService(s.Key) && p.destPort(r, s.Key) == d.Port {
						m.log.Info(fmt.Sprintf("Shutting down service %s from VS %s", r.Name, p.Name), "vs", p.Name, "rs", r.Name)
					}
				}
			}
		}
	}
	if _, err := rec.Reconcile(sctx, nil); err != nil {
		m.log.Warn("IPVS: cannot remove every virtual server on stop", "err", err)
	}
}

func (p *Pool) hasService(k ipvs.ServiceKey) bool {
	for _, s := range p.services {
		if s.Key == k {
			return true
		}
	}
	return false
}

// Reload replaces the configuration: real servers (and checkers) that
// stay keep their health state and checker progress, and only the
// difference in the IPVS table is applied. It returns once the new
// configuration runs.
func (m *Manager) Reload(ctx context.Context, cfg *conf.Config) error {
	p, err := m.newPlan(cfg)
	if err != nil {
		return err
	}
	if _, err := m.targets(p); err != nil {
		return err
	}
	req := reloadReq{plan: p, cfg: cfg, res: make(chan error, 1)}
	select {
	case m.reload <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// carry moves state from old to nw for virtual servers, real servers and
// checkers that are in both (keepalived's clear_diff_services and
// migrate_checkers), and returns each new target's tracker state to
// resume (nil for new checkers), and keepalived's messages for what is
// gone.
func carry(old, nw *Plan, states []check.TrackerState) ([]*check.TrackerState, []Effect) {
	resume := make([]*check.TrackerState, len(nw.Targets))
	var gone []Effect
	pools := map[string]*Pool{}
	for _, p := range old.Pools {
		pools[p.id] = p
	}
	kept := map[string]bool{}
	for _, np := range nw.Pools {
		kept[np.id] = true
	}
	for _, op := range old.Pools {
		if !kept[op.id] {
			msg := "Removing Virtual Server " + op.Name
			if op.cfg.Group != "" {
				msg = "Removing Virtual Server Group [" + op.cfg.Group + "]"
			}
			gone = append(gone, Effect{VS: op.Name, Msg: msg})
		}
	}
	for _, np := range nw.Pools {
		op := pools[np.id]
		if op == nil {
			continue
		}
		nkeys := map[string]bool{}
		for _, r := range np.Reals {
			nkeys[r.cfgKey()] = true
		}
		for _, r := range op.Reals {
			if !nkeys[r.cfgKey()] {
				gone = append(gone, Effect{VS: op.Name, RS: r.Name, Msg: "service " + r.Name + " no longer exist"})
			}
		}
		np.carried = true
		np.QuorumUp = op.QuorumUp
		if np.Sorry != nil && op.Sorry != nil && np.Sorry.Addr == op.Sorry.Addr && np.Sorry.Port == op.Sorry.Port {
			np.SorryIn = op.SorryIn
		}
		reals := map[string]*Real{}
		for _, r := range op.Reals {
			reals[r.cfgKey()] = r
		}
		for _, nr := range np.Reals {
			or := reals[nr.cfgKey()]
			if or == nil {
				continue
			}
			nr.carried = true
			nr.Alive = or.Alive
			nr.Reason = or.Reason
			if nr.Weight == or.Weight {
				nr.Effective = or.Effective
			}
			for i, nt := range nr.Checkers {
				if i >= len(or.Checkers) || or.Checkers[i].cfg.Type != nt.cfg.Type {
					continue
				}
				ot := or.Checkers[i]
				nt.Up, nt.HasRun, nt.weight = ot.Up, ot.HasRun, ot.weight
				if ot.ID < len(states) {
					st := states[ot.ID]
					resume[nt.ID] = &st
				}
			}
		}
	}
	return resume, gone
}

func (r *Real) cfgKey() string {
	return fmt.Sprintf("%s:%d", r.Addr, r.Port)
}

// restart settles a reloaded plan: new real servers start as at start-up
// (alive unless an alpha checker holds them down), carried ones keep their
// state, and quorum is re-evaluated as keepalived's init_service_vs does.
func (p *Plan) restart() []Effect {
	var out []Effect
	for _, pool := range p.Pools {
		for _, r := range pool.Reals {
			if !r.carried {
				r.Alive = r.failed() == 0
			}
		}
		if !pool.carried {
			pool.QuorumUp = false
		}
		out = append(out, pool.updateQuorum(true)...)
	}
	return out
}

func (m *Manager) snapshot() {
	m.syncStats()
	var out []status.RealServerStatus
	var stats []*checkStats
	tab := map[ipvs.ServiceKey]map[ipvs.DestKey]int{}
	for _, s := range m.plan.Table() {
		ds := map[ipvs.DestKey]int{}
		for _, d := range s.Dests {
			ds[d.Key()] = d.Weight
		}
		tab[s.Key] = ds
	}
	for _, p := range m.plan.Pools {
		for _, r := range append(p.Reals, p.Sorry) {
			if r == nil {
				continue
			}
			st := status.RealServerStatus{VirtualServer: p.Name, RealServer: r.Name, Up: r.Alive}
			if r == p.Sorry {
				st.Up = p.SorryIn
				st.Checker = "sorry_server"
			}
			for _, t := range r.Checkers {
				if st.Checker != "" {
					st.Checker += ","
				}
				st.Checker += string(t.Type())
			}
			if !st.Up {
				st.Reason = r.Reason
			}
			if len(p.services) > 0 {
				k := p.services[0].Key
				st.Weight = tab[k][ipvs.DestKey{Addr: r.Addr, Port: p.destPort(r, k)}]
			}
			out = append(out, st)
			var cs *checkStats
			if r != p.Sorry {
				cs = m.checks[statsKey(r)]
			}
			stats = append(stats, cs)
		}
	}
	m.mu.Lock()
	m.status, m.stats = out, stats
	m.mu.Unlock()
}

// RealServers returns every real and sorry server with its state, its
// weight in the kernel table (0 when out) and its probe counters, for the
// status and metrics packages.
func (m *Manager) RealServers() []status.RealServerStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := append([]status.RealServerStatus(nil), m.status...)
	for i := range out {
		out[i].Checks, out[i].CheckFailures, out[i].CheckLatency = m.stats[i].load()
	}
	return out
}

// Status is RealServers.
func (m *Manager) Status() []status.RealServerStatus { return m.RealServers() }

// scriptRunner runs notify and quorum scripts without blocking the loop,
// at most 8 at a time, and waits for them when Run ends.
type scriptRunner struct {
	m      *Manager
	sem    chan struct{}
	wg     sync.WaitGroup
	def    notify.Credential
	ctx    context.Context
	cancel context.CancelFunc
}

func newScriptRunner(m *Manager) *scriptRunner {
	g := m.cfg.Global
	def, err := notify.DefaultCredential(g.ScriptUser, g.ScriptGroup, g.EnableScriptSecurity)
	if err != nil {
		def = notify.Self()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &scriptRunner{m: m, sem: make(chan struct{}, 8), def: def, ctx: ctx, cancel: cancel}
}

func (s *scriptRunner) run(_ context.Context, e Effect) {
	s.m.log.Info("Executing ["+e.Script.Cmd+"]", "vs", e.VS, "rs", e.RS)
	s.wg.Go(func() {
		s.sem <- struct{}{}
		defer func() { <-s.sem }()
		var err error
		if s.m.deps.Exec != nil {
			err = s.m.deps.Exec(s.ctx, e.Script)
		} else {
			err = s.exec(e.Script)
		}
		if err != nil {
			s.m.log.Warn("script failed", "script", e.Script.Cmd, "vs", e.VS, "rs", e.RS, "err", err)
		}
	})
}

func (s *scriptRunner) exec(sc *conf.Script) error {
	args, err := notify.ParseCommand(sc.Cmd)
	if err != nil {
		return fmt.Errorf("script %q: %w", sc.Cmd, err)
	}
	c := notify.Command{Args: args}
	if sc.User != "" {
		cred, err := notify.LookupCredential(sc.User, sc.Group)
		if err != nil {
			return err
		}
		c.User = &cred
	}
	if r := c.Exec(s.ctx, notify.DefaultTimeout, s.def); !r.OK() {
		return fmt.Errorf("script %q %s", sc.Cmd, r)
	}
	return nil
}

// wait lets running scripts finish (they are bounded by their timeout).
func (s *scriptRunner) wait() {
	s.wg.Wait()
	s.cancel()
}
