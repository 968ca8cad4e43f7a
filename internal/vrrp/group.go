package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"
)

// GroupNotifier is implemented by a Notifier that also runs the notify
// scripts of a vrrp_sync_group (keepalived send_group_notifies: notify_*,
// the generic notify with "GROUP", the FIFO, SMTP alerts). A
// GroupRunner calls it when the Notifier of its first member implements
// it. It must not block.
type GroupNotifier interface {
	NotifyGroupState(group string, from, to State)
}

// memberEvent is an event for one member (index into members).
type memberEvent struct {
	member int
	ev     Event
}

// GroupRunner is the goroutine that owns a vrrp_sync_group: the SyncGroup
// core over its members' Instances, one timer for the group's Deadline,
// and every member's socket. Each member keeps its own Runner for its
// edges, receive checks, Stats and Snapshot; Members returns them. A lone
// instance (NewRunner) runs in a GroupRunner of one member with no
// SyncGroup.
type GroupRunner struct {
	name    string
	log     *slog.Logger
	now     func() time.Time
	members []*Runner
	sg      *SyncGroup // nil for a lone instance
	// events holds tracking changes that arrive before the group runs.
	events chan memberEvent
	state  atomic.Uint32 // State of sg, published for other goroutines
	// eg is set while an Engine runs the group.
	eg atomic.Pointer[engineGroup]
}

// NewGroupRunner builds the runner of vrrp_sync_group name over its
// member instances, in the order given: members[i] is driven through
// deps[i]. Each member logs with log.With("instance", …, "vrid", …,
// "iface", …). The clock is deps[0].Now (time.Now if nil). Nothing runs
// until Run.
func NewGroupRunner(name string, members []RunnerConfig, deps []RunnerDeps, log *slog.Logger) (*GroupRunner, error) {
	if len(members) != len(deps) {
		return nil, fmt.Errorf("vrrp_sync_group %s: %d member configurations but %d sets of edges", name, len(members), len(deps))
	}
	var (
		rs   []*Runner
		ins  []*Instance
		errs []error
		seen = map[string]bool{}
	)
	for i, cfg := range members {
		ic := cfg.Instance
		if seen[ic.Name] {
			errs = append(errs, fmt.Errorf("vrrp_instance %s is listed twice", ic.Name))
			continue
		}
		seen[ic.Name] = true
		r, err := newMember(cfg, deps[i], log.With("instance", ic.Name, "vrid", ic.VRID, "iface", cfg.Interface))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rs = append(rs, r)
		ins = append(ins, r.in)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("vrrp_sync_group %s: %w", name, err)
	}
	sg, err := NewSyncGroup(name, ins)
	if err != nil {
		return nil, err
	}
	return newGroupRunner(name, rs, sg, rs[0].deps.Now, log), nil
}

// newGroupRunner ties members to a new group runner.
func newGroupRunner(name string, members []*Runner, sg *SyncGroup, now func() time.Time, log *slog.Logger) *GroupRunner {
	g := &GroupRunner{
		name: name, log: log, now: now, members: members, sg: sg,
		events: make(chan memberEvent, 16*len(members)),
	}
	for i, r := range members {
		r.group, r.index = g, i
		r.publish(time.Time{}, netip.Addr{}, 0)
	}
	g.publishState()
	return g
}

// Name returns the vrrp_sync_group name ("" for a lone instance).
func (g *GroupRunner) Name() string { return g.name }

// Members returns the members' runners, in configuration order, for
// Snapshot, Stats and Track. Do not call their Run.
func (g *GroupRunner) Members() []*Runner { return slices.Clone(g.members) }

// Member returns the runner of the named member instance, nil if none.
func (g *GroupRunner) Member(instance string) *Runner {
	for _, r := range g.members {
		if r.Name() == instance {
			return r
		}
	}
	return nil
}

// State returns the group state last published: INIT before Run, then
// the state the members were last synchronised to, STOP after Run.
func (g *GroupRunner) State() State { return State(g.state.Load()) }

func (g *GroupRunner) publishState() {
	s := g.members[0].in.State()
	if g.sg != nil {
		s = g.sg.State()
	}
	g.state.Store(uint32(s))
}

// Run runs every member until ctx is done, then shuts them all down
// (priority-0 adverts from masters, VIPs removed) and returns once that
// is finished. When a member's socket fails it shuts every member down
// the same way and returns the error. It is an Engine of one group; a
// daemon runs all its groups in one Engine instead.
func (g *GroupRunner) Run(ctx context.Context) error {
	e := NewEngine(g.now)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var exitErr error
	if err := e.Start(g, func(err error) { exitErr = err; cancel() }); err != nil {
		return err
	}
	_ = e.Run(ctx)
	return exitErr
}

// shutdown steps every member to STOP (priority-0 adverts from masters,
// VIPs removed), with 5s for the effects even when ctx is done.
func (g *GroupRunner) shutdown(ctx context.Context) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	g.step(sctx, -1, Shutdown{})
}

// earlySlack is how much earlier than its deadline the Engine may step
// the group (Timeout.Early) when it is awake anyway for another: 1/200 of
// advert_int, at most maxEarly (5 ms at 1 s), for a lone MASTER, whose
// deadlines only send adverts and gratuitous ARPs; none for a backup,
// whose deadline declares the master down, nor for a sync group. Adverts
// sent together once are re-armed together, so a thousand masters settle
// into a few bursts a second instead of a wake-up each.
func (g *GroupRunner) earlySlack() time.Duration {
	if g.sg != nil || g.members[0].in.State() != StateMaster {
		return 0
	}
	return min(g.members[0].cfg.Instance.AdvertInterval/200, maxEarly)
}

func (g *GroupRunner) deadline() time.Time {
	if g.sg != nil {
		return g.sg.Deadline()
	}
	return g.members[0].in.Deadline()
}

// core steps the Instance or the SyncGroup. member is the index of the
// member an AdvertRecv or TrackChange is for.
func (g *GroupRunner) core(now time.Time, member int, ev Event) []MemberAction {
	if g.sg != nil {
		return g.sg.Step(now, member, ev)
	}
	var out []MemberAction
	for _, a := range g.members[0].in.Step(now, ev) {
		out = append(out, MemberAction{Member: 0, Action: a})
	}
	return out
}

// step feeds one event to the core, performs the actions it returns and
// publishes the members' snapshots.
func (g *GroupRunner) step(ctx context.Context, member int, ev Event) {
	now := g.now()
	if _, ok := ev.(Timeout); !ok {
		// Instance.Step: other events never fire due timers, so a
		// Timeout that is due goes first.
		if d := g.deadline(); !d.IsZero() && !now.Before(d) {
			g.step(ctx, -1, Timeout{})
		}
	}
	acts := g.core(now, member, ev)
	g.logTransitions(acts)
	notified := make([]bool, len(g.members))
	for _, ma := range acts {
		if ma.Member < 0 {
			g.performGroup(ma.Action)
			continue
		}
		if _, ok := ma.Action.(Notify); ok {
			notified[ma.Member] = true
		}
		g.members[ma.Member].perform(ctx, now, ma.Action)
	}
	for i, m := range g.members {
		snap := m.snap.Load()
		lastFrom, lastPrio, since := snap.LastMaster, snap.LastPrio, snap.Since
		if recv, ok := ev.(AdvertRecv); ok && i == member {
			lastFrom, lastPrio = recv.Src, recv.Adv.Priority
		}
		if notified[i] {
			since = now
		}
		m.publish(since, lastFrom, lastPrio)
	}
	g.publishState()
}

// logTransitions logs the transitions of acts before any is performed,
// as keepalived logs "Entering MASTER STATE" before it sets the VIPs. A
// group change is logged where keepalived logs it: after the transition
// of the member that caused it, before those of the members it drags
// along ("(VI_1) Entering FAULT STATE", "VRRP_Group(VG_1) Syncing
// instances to FAULT state", "(VI_2) Entering FAULT STATE"). At startup
// and stop, where nothing is synchronised, it comes after the members'.
func (g *GroupRunner) logTransitions(acts []MemberAction) {
	var pending []MemberAction // Notifies since the last group change
	flush := func() {
		for _, ma := range pending {
			g.members[ma.Member].logTransition(ma.Action.(Notify))
		}
		pending = pending[:0]
	}
	for _, ma := range acts {
		switch a := ma.Action.(type) {
		case Notify:
			pending = append(pending, ma)
		case SyncGroupNotify:
			if a.From == StateInit || a.To == StateStop {
				flush()
				g.logGroup(a)
				continue
			}
			if len(pending) > 0 {
				g.members[pending[0].Member].logTransition(pending[0].Action.(Notify))
				pending = pending[1:]
			}
			g.logGroup(a)
			flush()
		}
	}
	flush()
}

func (g *GroupRunner) logGroup(a SyncGroupNotify) {
	if a.From == StateInit || a.To == StateStop {
		// keepalived runs the group's notifies at startup and stop
		// but logs no "Syncing" line: nothing is synchronised.
		g.log.Info(fmt.Sprintf("VRRP_Group(%s) is %s", a.Group, a.To), "from", a.From.String(), "to", a.To.String())
		return
	}
	g.log.Info(fmt.Sprintf("VRRP_Group(%s) Syncing instances to %s state", a.Group, a.To), "from", a.From.String(), "to", a.To.String())
}

// performGroup carries out a group-level action.
func (g *GroupRunner) performGroup(a Action) {
	switch a := a.(type) {
	case SyncGroupNotify:
		if gn, ok := g.members[0].deps.Notify.(GroupNotifier); ok {
			gn.NotifyGroupState(a.Group, a.From, a.To)
		}
	default:
		g.log.Warn("unhandled VRRP group action", "action", fmt.Sprintf("%T", a))
	}
}
