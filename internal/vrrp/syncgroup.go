package vrrp

import (
	"errors"
	"fmt"
	"time"
)

// SyncGroup is keepalived's vrrp_sync_group: instances that change state
// together (keepalived.conf(5), vrrp_sync_group; vrrp_sync.c). Like
// Instance it is pure: no I/O, no clock, no goroutines. Once an instance
// joins a group, step it only through the group.
//
// The rules, as keepalived 2.2.7 applies them:
//   - a member whose master down timer expires becomes MASTER only when
//     every other member also wants MASTER (its own timer expired with no
//     advert since) or the group is already MASTER; then every member
//     becomes MASTER;
//   - a member leaving MASTER for BACKUP takes the others to BACKUP;
//   - a member entering FAULT takes the others to FAULT; the group leaves
//     FAULT, to BACKUP, only when no member is faulty any more.
type SyncGroup struct {
	name      string
	members   []*Instance
	state     State
	allOwners bool // every member is an address owner with state MASTER
}

// MemberAction is an action of one member of a SyncGroup; Member indexes
// the slice given to NewSyncGroup, or is -1 for the group's own
// SyncGroupNotify.
type MemberAction struct {
	Member int
	Action Action
}

// NewSyncGroup groups instances that have not started yet and belong to
// no other group.
func NewSyncGroup(name string, members []*Instance) (*SyncGroup, error) {
	if len(members) == 0 {
		return nil, fmt.Errorf("vrrp_sync_group %s: no member instances: list at least one in group { }", name)
	}
	g := &SyncGroup{name: name, members: members, state: StateInit, allOwners: true}
	var errs []error
	for i, in := range members {
		switch {
		case in == nil:
			errs = append(errs, fmt.Errorf("member %d is nil", i))
			continue
		case in.group != nil:
			errs = append(errs, fmt.Errorf("vrrp_instance %s is already in vrrp_sync_group %s: an instance can be in one group only", in.cfg.Name, in.group.name))
		case in.state != StateInit:
			errs = append(errs, fmt.Errorf("vrrp_instance %s has already started (%v)", in.cfg.Name, in.state))
		}
		for _, other := range members[:i] {
			if other == in {
				errs = append(errs, fmt.Errorf("vrrp_instance %s is listed twice", in.cfg.Name))
			}
		}
		if in.basePrio != PriorityOwner || in.cfg.InitialState != StateMaster {
			g.allOwners = false
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("vrrp_sync_group %s: %w", name, err)
	}
	for _, in := range members {
		in.group = g
	}
	return g, nil
}

// State returns the group's state: INIT before Startup, then the state
// the members were last synchronised to.
func (g *SyncGroup) State() State { return g.state }

// Deadline returns the earliest deadline of the members, zero if none.
func (g *SyncGroup) Deadline() time.Time {
	var d time.Time
	for _, in := range g.members {
		if t := in.Deadline(); !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	return d
}

func (g *SyncGroup) faulted() bool {
	for _, in := range g.members {
		if in.fault {
			return true
		}
	}
	return false
}

// canGoMaster is keepalived vrrp_sync_can_goto_master: prefer BACKUP to
// thrashing, so go MASTER only when everyone wants to.
func (g *SyncGroup) canGoMaster(in *Instance) bool {
	if g.state == StateMaster {
		return true
	}
	for _, m := range g.members {
		if m != in && !m.wantMaster {
			return false
		}
	}
	return true
}

// Step feeds an event to the group. AdvertRecv and TrackChange go to the
// member with index member; Startup, Timeout and Shutdown go to every
// member (member is ignored). The actions come back in order, each with
// its member.
func (g *SyncGroup) Step(now time.Time, member int, ev Event) []MemberAction {
	var out []MemberAction
	add := func(i int, acts []Action) {
		for _, a := range acts {
			out = append(out, MemberAction{Member: i, Action: a})
		}
	}
	switch ev.(type) {
	case Startup, Shutdown:
		// All members move together; no synchronisation needed.
		for i, in := range g.members {
			add(i, in.Step(now, ev))
		}
		to := g.summary()
		if to != g.state {
			out = append(out, MemberAction{Member: -1, Action: SyncGroupNotify{Group: g.name, From: g.state, To: to}})
			g.state = to
		}
		return out
	case Timeout:
		for i, in := range g.members {
			before := in.State()
			if d := in.Deadline(); d.IsZero() || d.After(now) {
				continue
			}
			add(i, in.Step(now, ev))
			out = g.sync(now, i, before, out)
		}
		return out
	}
	if member < 0 || member >= len(g.members) {
		return nil
	}
	in := g.members[member]
	before := in.State()
	add(member, in.Step(now, ev))
	return g.sync(now, member, before, out)
}

// summary is the group state after Startup or Shutdown.
func (g *SyncGroup) summary() State {
	to := g.members[0].State()
	for _, in := range g.members[1:] {
		switch s := in.State(); {
		case s == StateFault || to == StateFault:
			to = StateFault
		case s != to:
			to = StateBackup
		}
	}
	return to
}

// sync propagates member i's transition from before to the others
// (keepalived VRRP_TSM table, vrrp_sync_master/backup/fault).
func (g *SyncGroup) sync(now time.Time, i int, before State, out []MemberAction) []MemberAction {
	after := g.members[i].State()
	if after == before {
		return out
	}
	reason := fmt.Sprintf("sync group %s: %s entered %v", g.name, g.members[i].cfg.Name, after)
	var to State
	switch {
	case after == StateMaster:
		to = StateMaster
	case after == StateFault:
		to = StateFault
	case after == StateBackup && (before == StateMaster || before == StateFault):
		to = StateBackup
	default:
		return out
	}
	if g.state == to {
		return out
	}
	for j, m := range g.members {
		if j == i || m.state == to || m.state == StateStop {
			continue
		}
		var acts []Action
		switch to {
		case StateMaster:
			acts = m.becomeMaster(now, m.state, reason)
		case StateBackup:
			acts = m.becomeBackup(now, m.state, reason)
		case StateFault:
			acts = m.becomeFault(m.state, reason)
		}
		for _, a := range acts {
			out = append(out, MemberAction{Member: j, Action: a})
		}
	}
	out = append(out, MemberAction{Member: -1, Action: SyncGroupNotify{Group: g.name, From: g.state, To: to}})
	g.state = to
	return out
}
