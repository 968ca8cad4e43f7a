package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/notify"
	"github.com/vigil-ha/vigil/internal/status"
	"github.com/vigil-ha/vigil/internal/track"
	"github.com/vigil-ha/vigil/internal/vrrp"
)

// Options are the daemon's command-line switches.
type Options struct {
	// KeepVIPs leaves VIPs in place on stop (keepalived -V).
	KeepVIPs bool
	// Notifier receives state changes; nil: the daemon's notify scripts.
	Notifier vrrp.Notifier
	// Filter enforces no_accept (drops traffic to a master's VIPs);
	// nil: not enforced.
	Filter vrrp.AcceptFilter
	// PreciseTimers serves VRRP deadlines from a timerfd (see
	// vrrp.Engine.SetPrecise): for the real clock only, not in
	// synctest bubbles.
	PreciseTimers bool
}

// Edges opens the per-instance sockets and handles. The Linux
// implementation is in edges_linux.go; tests pass fakes.
type Edges interface {
	// Open returns the connection of the instance with VRID vrid, its
	// address manager and announcer (the last two may be nil), and the
	// advert source.
	Open(ctx context.Context, p vrrp.ConnConfig, vrid uint8) (InstanceEdges, error)
	// WatchLinks sends the state of the named interfaces, then each
	// change, until ctx is done.
	WatchLinks(ctx context.Context, names []string, events chan<- vrrp.LinkEvent) error
}

// InstanceEdges are one instance's sockets and handles.
type InstanceEdges struct {
	Conn     vrrp.PacketConn
	Addrs    vrrp.AddrManager
	Announce vrrp.AddrAnnouncer
	Src      netip.Addr
	Close    func() error
}

// Daemon runs the VRRP instances of one configuration and applies new
// configurations to them without disturbing what did not change.
type Daemon struct {
	log   *slog.Logger
	opts  Options
	edges Edges

	cfg    *conf.Config // the configuration being run; owned by Run
	agg    *trackAgg    // tracked objects' states, kept across reloads; owned by Run
	plans  []groupPlan
	reload chan reloadReq
	failed chan error
	// eng runs every instance and sync group in one goroutine; Run
	// runs it.
	eng *vrrp.Engine

	mu    sync.Mutex
	insts map[string]*running // by groupPlan.key()
	order []string            // keys in config order
	// notifier is the current notify runner; replaced on reload.
	notifier *notify.Notifier
	// priorityChanges holds the instances with notify_priority_changes.
	priorityChanges map[string]bool
	// notifyCfg is the current notifier's configuration; owned by Run.
	notifyCfg notify.Config
	// draining holds replaced notifiers finishing their queues.
	draining sync.WaitGroup
	// trackers is the tracking goroutine's published view of each
	// instance's tracked objects, for Trackers.
	trackers map[string][]status.Tracker
}

// running is one started unit: a lone instance or a vrrp_sync_group.
type running struct {
	plan    groupPlan
	runners []*vrrp.Runner // the members, in group order
	cancel  func()         // asks the engine to stop the unit
	done    chan struct{}  // closed once it is down
}

type reloadReq struct {
	cfg   *conf.Config
	plans []groupPlan
	res   chan ReloadResult
}

// ReloadResult says what a reload did.
type ReloadResult struct {
	Kept, Started, Stopped, Restarted []string
}

// planUnits plans the instances of c and groups them into the units the
// daemon runs (planGroups).
func planUnits(c *conf.Config) ([]groupPlan, error) {
	plans, err := planVRRP(c)
	if err != nil {
		return nil, err
	}
	return planGroups(c.SyncGroups, plans), nil
}

// New checks cfg and plans its instances; nothing runs until Run.
func New(cfg *conf.Config, edges Edges, opts Options, log *slog.Logger) (*Daemon, error) {
	plans, err := planUnits(cfg)
	if err != nil {
		return nil, err
	}
	eng := vrrp.NewEngine(nil)
	eng.SetPrecise(opts.PreciseTimers)
	return &Daemon{
		log: log, opts: opts, edges: edges, cfg: cfg, plans: plans, agg: newTrackAgg(cfg),
		reload: make(chan reloadReq), failed: make(chan error, 1),
		insts: map[string]*running{}, eng: eng,
	}, nil
}

// Runners returns the running instances in config order (for status and
// metrics).
func (d *Daemon) Runners() []*vrrp.Runner {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*vrrp.Runner, 0, len(d.order))
	for _, n := range d.order {
		if r := d.insts[n]; r != nil {
			out = append(out, r.runners...)
		}
	}
	return out
}

// Reload applies cfg to the running daemon: instances whose settings did
// not change keep running untouched (state, timers, VIPs); new ones start;
// removed ones stop cleanly (priority-0 advert, VIPs removed); changed ones
// are stopped and started with their new settings. It returns an error,
// and changes nothing, when cfg cannot be planned.
func (d *Daemon) Reload(ctx context.Context, cfg *conf.Config) (ReloadResult, error) {
	plans, err := planUnits(cfg)
	if err != nil {
		return ReloadResult{}, err
	}
	req := reloadReq{cfg: cfg, plans: plans, res: make(chan ReloadResult, 1)}
	select {
	case d.reload <- req:
	case <-ctx.Done():
		return ReloadResult{}, ctx.Err()
	}
	select {
	case res := <-req.res:
		return res, nil
	case <-ctx.Done():
		return ReloadResult{}, ctx.Err()
	}
}

// Run starts every instance and returns when ctx is done and every
// instance has shut down (priority-0 adverts sent, VIPs removed), or when
// an instance fails.
func (d *Daemon) Run(ctx context.Context, ready func()) error {
	stopNotifier := d.startNotifier(ctx, d.cfg)
	ectx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		_ = d.eng.Run(ectx)
	}()
	// Instances stop first, so that their STOP notifies are queued
	// before the notifier drains its queues and exits.
	defer func() {
		d.stopAll()
		stopEngine()
		<-engineDone
		stopNotifier()
		d.draining.Wait()
	}()
	if _, err := d.apply(ctx, d.plans); err != nil {
		return err
	}
	if len(d.plans) == 0 {
		d.log.Warn("no vrrp_instance configured: nothing to do for VRRP")
	}
	stopTracking := d.startTracking(ctx)
	defer func() { stopTracking() }()
	// Loading and starting leave garbage behind (the parsed
	// configuration, netlink dumps, the first transitions) that a
	// daemon allocating next to nothing would only collect at the
	// runtime's forced collection two minutes later, and then return to
	// the system slowly: once things have settled, hand it back.
	trim := time.AfterFunc(trimAfter, debug.FreeOSMemory)
	defer trim.Stop()
	if ready != nil {
		ready()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-d.failed:
			return err
		case req := <-d.reload:
			stopTracking()
			// The notifier is replaced only when the notify settings
			// changed; the old one then drains in the background, so a
			// reload neither waits for nor (usually) cuts a running
			// script. An unchanged configuration keeps it untouched.
			if nc, _ := planNotify(req.cfg); !reflect.DeepEqual(nc, d.notifyCfg) {
				stopOld := stopNotifier
				stopNotifier = d.startNotifier(ctx, req.cfg)
				d.draining.Go(stopOld)
			} else {
				d.setPriorityChanges(req.cfg)
			}
			res, err := d.apply(ctx, req.plans)
			if err != nil {
				// An instance that cannot start is logged; the rest run.
				d.log.Error("reload: "+err.Error(), "err", err)
			}
			d.cfg = req.cfg
			d.agg.configure(req.cfg)
			stopTracking = d.startTracking(ctx)
			trim.Reset(trimAfter)
			req.res <- res
		}
	}
}

// trimAfter is how long after a start or reload the daemon returns its
// free memory to the system.
const trimAfter = 10 * time.Second

// apply moves the running set to plans. A vrrp_sync_group is kept or
// restarted as a whole: any change to a member or to the membership
// restarts every member. The result lists instance names.
func (d *Daemon) apply(ctx context.Context, plans []groupPlan) (ReloadResult, error) {
	var res ReloadResult
	names := func(u groupPlan) []string {
		var out []string
		for _, m := range u.Members {
			out = append(out, m.Name)
		}
		return out
	}
	want := map[string]groupPlan{}
	var order []string
	for _, p := range plans {
		want[p.key()] = p
		order = append(order, p.key())
	}
	d.mu.Lock()
	var stop []*running
	for key, r := range d.insts {
		p, ok := want[key]
		switch {
		case !ok:
			res.Stopped = append(res.Stopped, names(r.plan)...)
			stop = append(stop, r)
			delete(d.insts, key)
		case !reflect.DeepEqual(p, r.plan):
			for _, n := range names(r.plan) {
				if slices.Contains(names(p), n) {
					res.Restarted = append(res.Restarted, n)
				} else {
					res.Stopped = append(res.Stopped, n)
				}
			}
			stop = append(stop, r)
			delete(d.insts, key)
		default:
			res.Kept = append(res.Kept, names(r.plan)...)
		}
	}
	d.order = order
	d.mu.Unlock()
	stopEach(stop)

	var errs []error
	for _, p := range plans {
		d.mu.Lock()
		_, have := d.insts[p.key()]
		d.mu.Unlock()
		if have {
			continue
		}
		if err := d.start(ctx, p); err != nil {
			errs = append(errs, err)
			continue
		}
		for _, n := range names(p) {
			if !contains(res.Restarted, n) {
				res.Started = append(res.Started, n)
			}
		}
	}
	return res, errors.Join(errs...)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// start opens the edges of a unit's members and hands the unit to the
// engine: vrrp.NewRunner for a lone instance, vrrp.NewGroupRunner for a
// vrrp_sync_group.
func (d *Daemon) start(ctx context.Context, u groupPlan) error {
	var (
		cfgs    []vrrp.RunnerConfig
		deps    []vrrp.RunnerDeps
		closers []func() error
	)
	closeAll := func() {
		for _, c := range closers {
			if c != nil {
				_ = c()
			}
		}
	}
	for _, p := range u.Members {
		for _, w := range p.Warnings {
			d.log.Warn(w)
		}
		e, err := d.edges.Open(ctx, p.Conn, p.Runner.Instance.VRID)
		if err != nil {
			closeAll()
			return fmt.Errorf("(%s) %w", p.Name, err)
		}
		closers = append(closers, e.Close)
		dep := vrrp.RunnerDeps{Conn: e.Conn, Addrs: e.Addrs, Announce: e.Announce, Notify: d.opts.Notifier, Filter: d.opts.Filter}
		if dep.Notify == nil {
			dep.Notify = d
		}
		if d.opts.KeepVIPs && e.Addrs != nil {
			dep.Addrs = keepOnStop{e.Addrs}
		}
		cfgs = append(cfgs, p.withSource(e.Src))
		deps = append(deps, dep)
	}
	var (
		g       *vrrp.GroupRunner
		runners []*vrrp.Runner
	)
	if u.Group == "" {
		p := u.Members[0]
		rlog := d.log.With("instance", p.Name, "vrid", p.Runner.Instance.VRID, "iface", p.Conn.Interface)
		r, err := vrrp.NewRunner(cfgs[0], deps[0], rlog)
		if err != nil {
			closeAll()
			return fmt.Errorf("(%s) %w", p.Name, err)
		}
		g, runners = r.Loop(), []*vrrp.Runner{r}
	} else {
		var err error
		g, err = vrrp.NewGroupRunner(u.Group, cfgs, deps, d.log.With("group", u.Group))
		if err != nil {
			closeAll()
			return err
		}
		runners = g.Members()
	}
	ri := &running{plan: u, runners: runners, cancel: func() { d.eng.Stop(g) }, done: make(chan struct{})}
	// exit runs in the engine's goroutine once the unit is down.
	exit := func(err error) {
		closeAll()
		if err != nil {
			select {
			case d.failed <- err:
			default:
			}
		}
		close(ri.done)
	}
	if err := d.eng.Start(g, exit); err != nil {
		closeAll()
		return err
	}
	d.mu.Lock()
	d.insts[u.key()] = ri
	d.mu.Unlock()
	return nil
}

// stopEach shuts instances down together and waits for all of them.
func stopEach(rs []*running) {
	for _, r := range rs {
		r.cancel()
	}
	for _, r := range rs {
		<-r.done
	}
}

func (d *Daemon) stopAll() {
	d.mu.Lock()
	var rs []*running
	for _, r := range d.insts {
		rs = append(rs, r)
	}
	d.insts = map[string]*running{}
	d.order = nil
	d.mu.Unlock()
	stopEach(rs)
}

// keepOnStop implements -V: VIPs are added but never removed.
type keepOnStop struct{ vrrp.AddrManager }

func (k keepOnStop) DelVIP(context.Context, vrrp.VIP) error { return nil }

func (k keepOnStop) DelRoute(context.Context, vrrp.VirtualRoute) error { return nil }

// startTracking starts the goroutines that watch tracked objects and feed
// each instance its tracking total; the returned function stops them and
// waits. A fresh start re-reads every object's state, and the instances
// ignore totals that did not change, so a restart across a reload is
// harmless.
func (d *Daemon) startTracking(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	agg := d.agg
	byName := map[string]*vrrp.Runner{}
	for _, r := range d.Runners() {
		byName[r.Name()] = r
		// A restarted instance needs the current total again.
		if tc, ok := agg.current(r.Name()); ok {
			r.Track(ctx, tc)
		}
	}
	var wg sync.WaitGroup
	for _, w := range agg.warns {
		d.log.Warn(w)
	}
	tcfg, warns := planTrack(d.cfg, d.notifyCfg, agg.used())
	for _, w := range warns {
		d.log.Warn(w)
	}
	var trackEvents <-chan track.Event
	if len(tcfg.Scripts)+len(tcfg.Files) > 0 {
		tr, err := track.New(tcfg, d.log)
		if err != nil {
			d.log.Error("vrrp_script tracking not started", "err", err)
		} else {
			trackEvents = tr.Subscribe()
			wg.Go(func() {
				if err := tr.Run(ctx); err != nil {
					d.log.Error("vrrp_script tracking stopped", "err", err)
				}
			})
		}
	}
	links := make(chan vrrp.LinkEvent, 16)
	if names := agg.interfaces(); len(names) > 0 && len(byName) > 0 {
		wg.Go(func() {
			if err := d.edges.WatchLinks(ctx, names, links); err != nil {
				d.log.Error("interface tracking stopped", "err", err)
			}
		})
	}
	publish := func() {
		snap := agg.snapshot()
		d.mu.Lock()
		d.trackers = snap
		d.mu.Unlock()
	}
	publish()
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-links:
				up := ev.Up && !ev.Deleted
				changes, news := agg.setIface(ev.Name, up)
				if news {
					d.log.Info(fmt.Sprintf("Netlink reports %s %s", ev.Name, upDown(up)))
					publish()
				}
				for inst, tc := range changes {
					if r := byName[inst]; r != nil {
						r.Track(ctx, tc)
					}
				}
			case ev := <-trackEvents:
				var changes map[string]vrrp.TrackChange
				switch ev.Kind {
				case track.KindScript:
					changes = agg.setScript(ev.Name, ev.Status)
				case track.KindFile:
					changes = agg.setFile(ev.Name, ev.Value)
				}
				publish()
				for inst, tc := range changes {
					if r := byName[inst]; r != nil {
						r.Track(ctx, tc)
					}
				}
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// Trackers implements status.Explainer: the instance's tracked objects
// and what each contributes now.
func (d *Daemon) Trackers(instance string) ([]status.Tracker, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	trs, ok := d.trackers[instance]
	return append([]status.Tracker(nil), trs...), ok
}

// startNotifier builds and runs the notifier for cfg and makes it the
// current one; the returned function stops it after its queues drain.
func (d *Daemon) startNotifier(ctx context.Context, cfg *conf.Config) (stop func()) {
	nc, warns := planNotify(cfg)
	for _, w := range warns {
		d.log.Warn(w)
	}
	d.notifyCfg = nc
	n, err := notify.New(nc, d.log)
	if err != nil {
		d.log.Error("notify scripts disabled", "err", err)
		return func() {}
	}
	nctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := n.Run(nctx); err != nil {
			d.log.Error("notifier stopped", "err", err)
		}
	}()
	d.mu.Lock()
	d.notifier = n
	d.mu.Unlock()
	d.setPriorityChanges(cfg)
	return func() {
		cancel()
		<-done
	}
}

func (d *Daemon) setPriorityChanges(cfg *conf.Config) {
	pc := map[string]bool{}
	for _, vi := range cfg.Instances {
		pc[vi.Name] = vi.Notify.PriorityChanges != nil && *vi.Notify.PriorityChanges
	}
	d.mu.Lock()
	d.priorityChanges = pc
	d.mu.Unlock()
}

// NotifyState implements vrrp.Notifier over the current notifier.
func (d *Daemon) NotifyState(instance string, from, to vrrp.State, prio uint8) {
	st, ok := notifyState(to)
	if !ok {
		return
	}
	d.mu.Lock()
	n := d.notifier
	d.mu.Unlock()
	if n != nil {
		n.Enqueue(notify.Event{Name: instance, State: st, Priority: int(prio)})
	}
}

// NotifyGroupState implements vrrp.GroupNotifier: a vrrp_sync_group's
// notify scripts, FIFO line and mail, through the current notifier
// (keepalived send_group_notifies; groups always report priority 0).
func (d *Daemon) NotifyGroupState(group string, from, to vrrp.State) {
	st, ok := notifyState(to)
	if !ok {
		return
	}
	d.mu.Lock()
	n := d.notifier
	d.mu.Unlock()
	if n != nil {
		n.Enqueue(notify.Event{Group: true, Name: group, State: st})
	}
}

// NotifyMasterRxLowerPrio implements vrrp.EventNotifier:
// notify_master_rx_lower_pri and the MASTER_RX_LOWER_PRI FIFO line.
func (d *Daemon) NotifyMasterRxLowerPrio(instance string, prio uint8) {
	d.enqueue(notify.Event{Name: instance, State: notify.EventMasterRxLowerPri, Priority: int(prio)})
}

// NotifyPriorityChange implements vrrp.EventNotifier: with
// notify_priority_changes, the MASTER_PRIORITY / BACKUP_PRIORITY FIFO
// lines.
func (d *Daemon) NotifyPriorityChange(instance string, st vrrp.State, prio uint8) {
	d.mu.Lock()
	on := d.priorityChanges[instance]
	d.mu.Unlock()
	if !on {
		return
	}
	ev := notify.Event{Name: instance, Priority: int(prio)}
	switch st {
	case vrrp.StateMaster:
		ev.State = notify.EventMasterPriority
	case vrrp.StateBackup:
		ev.State = notify.EventBackupPriority
	default:
		return
	}
	d.enqueue(ev)
}

func (d *Daemon) enqueue(ev notify.Event) {
	d.mu.Lock()
	n := d.notifier
	d.mu.Unlock()
	if n != nil {
		n.Enqueue(ev)
	}
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}
