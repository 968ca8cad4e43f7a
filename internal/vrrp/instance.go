package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Family is the address family of a VRRP instance.
type Family uint8

// Address families. The values are the IP version numbers.
const (
	FamilyIPv4 Family = 4
	FamilyIPv6 Family = 6
)

// String returns "IPv4" or "IPv6".
func (f Family) String() string {
	switch f {
	case FamilyIPv4:
		return "IPv4"
	case FamilyIPv6:
		return "IPv6"
	}
	return fmt.Sprintf("Family(%d)", uint8(f))
}

// GARPConfig holds keepalived's gratuitous ARP / unsolicited NA settings of
// one instance (keepalived.conf(5), vrrp_instance garp_*). Zero values mean
// zero: use DefaultGARP for keepalived's defaults.
type GARPConfig struct {
	// MasterDelay is garp_master_delay: after becoming master, send a
	// second set of MasterRepeat announcements this much later; 0 for no
	// second set.
	MasterDelay time.Duration
	// MasterRepeat is garp_master_repeat: announcements per address sent
	// on becoming master.
	MasterRepeat int
	// LowerPrioDelay is garp_lower_prio_delay: after a master receives a
	// lower priority advert, send a second set this much later.
	LowerPrioDelay time.Duration
	// LowerPrioRepeat is garp_lower_prio_repeat: announcements per address
	// sent when a master receives a lower priority advert; 0 for none.
	LowerPrioRepeat int
	// MasterRefresh is garp_master_refresh: while master, re-announce at
	// the first advert at least this long after the previous refresh; 0
	// for never.
	MasterRefresh time.Duration
	// MasterRefreshRepeat is garp_master_refresh_repeat.
	MasterRefreshRepeat int
}

// DefaultGARP returns keepalived 2.2.7's defaults: 5 announcements at once
// and 5 more 5 s later, the same after a lower priority advert, and no
// periodic refresh (1 announcement per refresh when one is configured).
func DefaultGARP() GARPConfig {
	return GARPConfig{
		MasterDelay:         5 * time.Second,
		MasterRepeat:        5,
		LowerPrioDelay:      5 * time.Second,
		LowerPrioRepeat:     5,
		MasterRefreshRepeat: 1,
	}
}

// InstanceConfig is what the state machine needs of a vrrp_instance block.
// The conf package fills it; Normalize applies keepalived's silent
// corrections and NewInstance rejects what is still inconsistent.
type InstanceConfig struct {
	Name    string // vrrp_instance name, for messages
	VRID    uint8  // virtual_router_id, 1-255
	Version uint8  // version, 2 or 3
	Family  Family // of the VIPs and of PrimaryAddr

	// Priority is the configured (base) priority, 1-255; 255 is the
	// address owner.
	Priority uint8
	// AdvertInterval is advert_int: whole seconds 1-255 for v2,
	// a multiple of 10ms between 10ms and 40.95s for v3.
	AdvertInterval time.Duration
	// InitialState is keepalived's "state MASTER|BACKUP". StateInit means
	// unset; Normalize derives it from Priority as keepalived does.
	InitialState State
	// NoPreempt is nopreempt (RFC 5798 Preempt_Mode false). keepalived
	// only honours it with state BACKUP and priority < 255.
	NoPreempt bool
	// PreemptDelay is preempt_delay, 0 to 1000s: a backup keeps accepting
	// a lower priority master's adverts this long before it preempts.
	PreemptDelay time.Duration
	// Accept is accept/no_accept (RFC 5798 Accept_Mode). The owner
	// always accepts.
	Accept bool
	// PrimaryAddr is the address adverts are sent from (the interface's
	// primary address or mcast_src_ip / unicast_src_ip), used for the
	// RFC 5798 §6.4.3 tie-break between equal priorities.
	PrimaryAddr netip.Addr
	// VIPs are virtual_ipaddress: advertised, added and announced.
	VIPs []netip.Addr
	// ExcludedVIPs are virtual_ipaddress_excluded: added and announced,
	// not advertised. They may be of either family.
	ExcludedVIPs []netip.Addr
	// GARP holds the garp_* settings.
	GARP GARPConfig
	// LowerPrioNoAdvert is lower_prio_no_advert: a master that receives a
	// lower priority advert does not answer with an advert of its own.
	LowerPrioNoAdvert bool
	// HigherPrioSendAdvert is higher_prio_send_advert: a master that
	// receives a higher priority advert sends one last advert before it
	// becomes backup.
	HigherPrioSendAdvert bool
	// DownTimerAdverts is down_timer_adverts, 1-100; 0 means 3.
	DownTimerAdverts int
}

// Normalize applies the corrections keepalived 2.2.7 makes to an instance
// after parsing (vrrp.c, vrrp_complete_instance), and returns one message
// per correction for the caller to report as a warning:
//
//   - no state: MASTER if priority is 255, else BACKUP;
//   - nopreempt with priority 255, or with state MASTER: nopreempt cleared;
//   - preempt_delay with state MASTER or with nopreempt: delay cleared;
//   - down_timer_adverts unset: 3.
func (c *InstanceConfig) Normalize() []string {
	var warns []string
	if c.InitialState == StateInit {
		c.InitialState = StateBackup
		if c.Priority == PriorityOwner {
			c.InitialState = StateMaster
		}
	}
	if c.NoPreempt && c.Priority == PriorityOwner {
		c.NoPreempt = false
		warns = append(warns, fmt.Sprintf("(%s) nopreempt is incompatible with priority 255 - clearing nopreempt", c.Name))
	}
	if c.InitialState == StateMaster {
		if c.NoPreempt {
			c.NoPreempt = false
			warns = append(warns, fmt.Sprintf("(%s) nopreempt does not work with initial state MASTER - clearing nopreempt; use state BACKUP", c.Name))
		}
		if c.PreemptDelay != 0 {
			c.PreemptDelay = 0
			warns = append(warns, fmt.Sprintf("(%s) preempt_delay does not work with initial state MASTER - clearing preempt_delay; use state BACKUP", c.Name))
		}
	}
	if c.PreemptDelay != 0 && c.NoPreempt {
		c.PreemptDelay = 0
		warns = append(warns, fmt.Sprintf("(%s) preempt_delay is incompatible with nopreempt - clearing preempt_delay", c.Name))
	}
	if c.DownTimerAdverts == 0 {
		c.DownTimerAdverts = defaultDownTimerAdverts
	}
	return warns
}

// validate reports every inconsistency of c, each saying what to fix.
func (c *InstanceConfig) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if c.VRID == 0 {
		bad("virtual_router_id 0 out of range 1-255")
	}
	if c.Version != 2 && c.Version != 3 {
		bad("version %d unsupported: use 2 or 3", c.Version)
	}
	if c.Family != FamilyIPv4 && c.Family != FamilyIPv6 {
		bad("address family %d unsupported: use IPv4 or IPv6", c.Family)
	}
	if c.Version == 2 && c.Family == FamilyIPv6 {
		bad("VRRP version 2 cannot carry IPv6 addresses: use version 3")
	}
	if c.Priority == 0 {
		bad("priority 0 out of range 1-255 (0 is reserved for a stopping master)")
	}
	switch c.Version {
	case 2:
		if c.AdvertInterval < time.Second || c.AdvertInterval > 255*time.Second || c.AdvertInterval%time.Second != 0 {
			bad("advert_int %v invalid for VRRPv2: use whole seconds from 1 to 255", c.AdvertInterval)
		}
	case 3:
		if c.AdvertInterval < 10*time.Millisecond || c.AdvertInterval > 4095*10*time.Millisecond || c.AdvertInterval%(10*time.Millisecond) != 0 {
			bad("advert_int %v invalid for VRRPv3: use a multiple of 0.01s from 0.01 to 40.95", c.AdvertInterval)
		}
	}
	switch c.InitialState {
	case StateInit:
		bad("initial state unset: call Normalize, or set state MASTER or BACKUP")
	case StateBackup, StateMaster:
	default:
		bad("initial state %v invalid: use MASTER or BACKUP", c.InitialState)
	}
	if c.NoPreempt && c.InitialState == StateMaster {
		bad("nopreempt requires state BACKUP")
	}
	if c.NoPreempt && c.Priority == PriorityOwner {
		bad("nopreempt is incompatible with priority 255")
	}
	if c.PreemptDelay < 0 || c.PreemptDelay > 1000*time.Second {
		bad("preempt_delay %v out of range 0-1000s", c.PreemptDelay)
	}
	if c.PreemptDelay != 0 && (c.NoPreempt || c.InitialState == StateMaster) {
		bad("preempt_delay requires state BACKUP without nopreempt")
	}
	if c.DownTimerAdverts < 0 || c.DownTimerAdverts > 100 {
		bad("down_timer_adverts %d out of range 1-100", c.DownTimerAdverts)
	}
	if !c.PrimaryAddr.IsValid() {
		bad("primary address unset: the tie-break between equal priorities needs the address adverts are sent from")
	} else if !c.Family.holds(c.PrimaryAddr) {
		bad("primary address %v is not %v", c.PrimaryAddr, c.Family)
	}
	if c.Version == 3 && len(c.VIPs) == 0 {
		bad("no virtual_ipaddress: VRRPv3 requires at least one")
	}
	if len(c.VIPs) > 255 {
		bad("%d virtual_ipaddress entries: an advert carries at most 255", len(c.VIPs))
	}
	for _, a := range c.VIPs {
		if !c.Family.holds(a) {
			bad("virtual_ipaddress %v is not %v like the instance: move it to virtual_ipaddress_excluded", a, c.Family)
		}
	}
	for _, a := range c.ExcludedVIPs {
		if !a.IsValid() {
			bad("virtual_ipaddress_excluded holds an invalid address")
		}
	}
	g := c.GARP
	if g.MasterDelay < 0 || g.LowerPrioDelay < 0 || g.MasterRefresh < 0 {
		bad("garp delays must not be negative")
	}
	if g.MasterRepeat < 0 || g.LowerPrioRepeat < 0 || g.MasterRefreshRepeat < 0 {
		bad("garp repeat counts must not be negative")
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("vrrp_instance %s: %w", c.Name, err)
	}
	return nil
}

func (f Family) holds(a netip.Addr) bool {
	switch f {
	case FamilyIPv4:
		return a.Is4()
	case FamilyIPv6:
		return a.Is6() && !a.Is4In6()
	}
	return false
}

// Instance is one VRRP instance's state machine (RFC 3768, RFC 5798, with
// keepalived 2.2.7's behaviour where the RFCs leave room). It performs no
// I/O, starts no goroutines and never reads the clock: callers pass now,
// carry out the returned actions in order, and call Step(now, Timeout{})
// once now reaches Deadline(). Other events never fire due timers, so a
// runner delivers the Timeout first when both are pending. An instance
// that has joined a SyncGroup is stepped through the group only.
type Instance struct {
	cfg InstanceConfig

	state       State
	basePrio    uint8 // cfg.Priority, lowered to 254 on an owner conflict
	trackWeight int
	effPrio     uint8
	fault       bool

	// masterAdverInt is RFC 5798 Master_Adver_Interval: learned from the
	// master's adverts in v3, always the local interval in v2.
	masterAdverInt time.Duration

	// Backup: when the master is declared down (RFC Master_Down_Timer).
	masterDownAt time.Time
	// Backup with preempt_delay: when lower priority adverts stop holding
	// us back (keepalived preempt_time); zero while not counting.
	preemptAt time.Time

	// Master: next advert (RFC Adver_Timer).
	advertAt time.Time
	// Master: the second set of GARPs after becoming master.
	garpDelayAt time.Time
	// Master: second sets of GARPs after lower priority adverts, oldest
	// first (keepalived arms one timer per lower priority advert).
	lowerPrioGARPAt []time.Time
	// Master: garp_master_refresh is due at the first advert at or after
	// this time.
	garpRefreshAt time.Time

	// group is the sync group holding this instance, nil if none.
	group *SyncGroup
	// wantMaster is keepalived's wantstate MASTER: the master down timer
	// has expired (or we are master) and no advert has since held us
	// back. A sync group only goes master when all members want to.
	wantMaster bool
}

// NewInstance validates cfg and returns an instance in INIT. Call
// cfg.Normalize first to apply keepalived's corrections.
func NewInstance(cfg InstanceConfig) (*Instance, error) {
	cfg.VIPs = slices.Clone(cfg.VIPs)
	cfg.ExcludedVIPs = slices.Clone(cfg.ExcludedVIPs)
	if cfg.DownTimerAdverts == 0 {
		cfg.DownTimerAdverts = defaultDownTimerAdverts
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	in := &Instance{
		cfg:            cfg,
		state:          StateInit,
		basePrio:       cfg.Priority,
		masterAdverInt: cfg.AdvertInterval,
	}
	in.effPrio = in.computePrio()
	return in, nil
}

// State returns the current state.
func (in *Instance) State() State { return in.state }

// Priority returns the effective priority: the configured priority plus
// the tracking weight, kept within 1-254, except that an address owner's
// 255 never changes (keepalived vrrp_set_effective_priority).
func (in *Instance) Priority() uint8 { return in.effPrio }

// Accept reports whether the instance accepts packets addressed to its
// VIPs while master: accept mode, or the address owner (RFC 5798 §6.4.3).
func (in *Instance) Accept() bool {
	return in.cfg.Accept || in.basePrio == PriorityOwner
}

// MasterAdverInterval returns RFC 5798 Master_Adver_Interval.
func (in *Instance) MasterAdverInterval() time.Duration { return in.masterAdverInt }

// Advert returns the advertisement to send for a SendAdvert action.
func (in *Instance) Advert(prio uint8) Advert {
	return Advert{
		Version:  in.cfg.Version,
		VRID:     in.cfg.VRID,
		Priority: prio,
		Interval: in.cfg.AdvertInterval,
		Addrs:    slices.Clone(in.cfg.VIPs),
	}
}

// Deadline returns the time at which the instance wants a Timeout event,
// or the zero time when it waits for nothing (INIT, FAULT, STOP).
func (in *Instance) Deadline() time.Time {
	var d time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	switch in.state {
	case StateBackup:
		earliest(in.masterDownAt)
	case StateMaster:
		earliest(in.advertAt)
		earliest(in.garpDelayAt)
		if len(in.lowerPrioGARPAt) > 0 {
			earliest(in.lowerPrioGARPAt[0])
		}
	}
	return d
}

// Step feeds one event to the instance at time now and returns the actions
// the caller must perform, in order.
func (in *Instance) Step(now time.Time, ev Event) []Action {
	if in.state == StateStop {
		return nil
	}
	switch ev := ev.(type) {
	case Startup:
		return in.startup(now)
	case AdvertRecv:
		return in.recv(now, ev)
	case Timeout:
		return in.timeout(now, ev.Early)
	case TrackChange:
		return in.track(now, ev)
	case Shutdown:
		return in.shutdown()
	}
	return nil
}

// allAddrs returns the VIPs and eVIPs, the addresses that are added,
// removed and announced.
func (in *Instance) allAddrs() []netip.Addr {
	return slices.Concat(in.cfg.VIPs, in.cfg.ExcludedVIPs)
}

func (in *Instance) computePrio() uint8 {
	// keepalived vrrp_set_effective_priority: the owner's priority is
	// never changed by tracking; others stay within 1-254 so that
	// tracking can neither stop them (0) nor make them owner (255).
	if in.basePrio == PriorityOwner {
		return PriorityOwner
	}
	p := int(in.basePrio) + in.trackWeight
	return uint8(min(max(p, 1), int(PriorityOwner)-1))
}

func (in *Instance) skew() time.Duration {
	return skewTime(in.cfg.Version, in.effPrio, in.masterAdverInt)
}

func (in *Instance) downInterval() time.Duration {
	return masterDownInterval(in.cfg.Version, in.effPrio, in.masterAdverInt, in.cfg.DownTimerAdverts)
}

// learnInterval records the master's advert interval (RFC 5798 §6.4.2:
// "Set Master_Adver_Interval to Adver Interval contained in the
// ADVERTISEMENT"). VRRPv2 has no such variable: all routers share one
// interval, and the receive path drops adverts that disagree.
func (in *Instance) learnInterval(adv Advert) {
	if in.cfg.Version == 3 && adv.Interval > 0 {
		in.masterAdverInt = adv.Interval
	}
}

func (in *Instance) clearMasterTimers() {
	in.advertAt = time.Time{}
	in.garpDelayAt = time.Time{}
	in.lowerPrioGARPAt = nil
	in.garpRefreshAt = time.Time{}
}

// startup leaves INIT (RFC 5798 §6.4.1; keepalived vrrp_init_state).
func (in *Instance) startup(now time.Time) []Action {
	if in.state != StateInit {
		return nil
	}
	if in.fault || (in.group != nil && in.group.faulted()) {
		in.state = StateFault
		reason := "tracked object down at startup"
		if !in.fault {
			reason = fmt.Sprintf("sync group %s member down at startup", in.group.name)
		}
		return []Action{Notify{From: StateInit, To: StateFault, Reason: reason}}
	}
	// RFC 5798 §6.4.1: the owner (priority 255) becomes master at once.
	// keepalived does so only with "state MASTER" (the default for 255);
	// an owner configured "state BACKUP" waits like any backup.
	// In a sync group, only when every member is such an owner
	// (keepalived vrrp_sync_set_group).
	owner := in.basePrio == PriorityOwner && in.cfg.InitialState == StateMaster
	if owner && (in.group == nil || in.group.allOwners) {
		return in.becomeMaster(now, StateInit, "address owner at startup")
	}
	// Everyone else, including "state MASTER" below 255, starts as a
	// backup and waits Master_Down_Interval for a master's advert
	// (keepalived.conf(5): "wait between 3 and 4 advert intervals").
	// Sync group members with state MASTER too: at first start
	// keepalived 2.2.7 resets them to BACKUP (vrrp_complete_init), so
	// they wait the full Master_Down_Interval like everyone else (seen
	// with the real binary: both members MASTER after 3.6 s).
	return in.becomeBackup(now, StateInit, "startup")
}

// becomeBackup enters BACKUP from INIT, FAULT or MASTER and arms the
// master down timer (RFC 5798 §6.4.1 / §6.4.3 "transition to Backup").
func (in *Instance) becomeBackup(now time.Time, from State, reason string) []Action {
	var acts []Action
	if from == StateMaster {
		acts = append(acts, DelVIPs{Addrs: in.allAddrs()})
		in.clearMasterTimers()
	} else {
		// Out of INIT or FAULT nothing was learned that still holds.
		in.masterAdverInt = in.cfg.AdvertInterval
	}
	in.state = StateBackup
	in.wantMaster = false
	in.preemptAt = time.Time{}
	in.masterDownAt = now.Add(in.downInterval())
	return append(acts, Notify{From: from, To: StateBackup, Reason: reason})
}

// becomeMaster enters MASTER (RFC 5798 §6.4.1 / §6.4.2 "transition to
// Master"; keepalived vrrp_state_goto_master). The advert goes first so
// that the old master drops the VIPs before our GARPs arrive.
func (in *Instance) becomeMaster(now time.Time, from State, reason string) []Action {
	in.state = StateMaster
	in.wantMaster = true
	in.masterDownAt = time.Time{}
	in.preemptAt = time.Time{}
	in.masterAdverInt = in.cfg.AdvertInterval
	in.advertAt = now.Add(in.cfg.AdvertInterval)
	g := in.cfg.GARP
	acts := []Action{
		SendAdvert{Priority: in.effPrio},
		AddVIPs{Addrs: in.allAddrs(), Accept: in.Accept()},
	}
	acts = in.announce(acts, g.MasterRepeat)
	in.garpDelayAt = time.Time{}
	if g.MasterDelay > 0 && g.MasterRepeat > 0 {
		in.garpDelayAt = now.Add(g.MasterDelay)
	}
	in.garpRefreshAt = time.Time{}
	if g.MasterRefresh > 0 {
		in.garpRefreshAt = now.Add(g.MasterRefresh)
	}
	in.lowerPrioGARPAt = nil
	return append(acts, Notify{From: from, To: StateMaster, Reason: reason})
}

// becomeFault enters FAULT (keepalived down_instance). A master first
// tells the backups to take over at once (priority 0), then releases its
// addresses, as vrrp_state_leave_master does with wantstate FAULT.
func (in *Instance) becomeFault(from State, reason string) []Action {
	var acts []Action
	if from == StateMaster {
		acts = append(acts, SendAdvert{Priority: PriorityStop}, DelVIPs{Addrs: in.allAddrs()})
	}
	in.clearMasterTimers()
	in.masterDownAt = time.Time{}
	in.preemptAt = time.Time{}
	in.state = StateFault
	in.wantMaster = false
	return append(acts, Notify{From: from, To: StateFault, Reason: reason})
}

func (in *Instance) announce(acts []Action, repeat int) []Action {
	addrs := in.allAddrs()
	if repeat <= 0 || len(addrs) == 0 {
		return acts
	}
	return append(acts, Announce{Addrs: addrs, Repeat: repeat})
}

// timeout fires every timer that is due at now, earliest first.
func (in *Instance) timeout(now time.Time, early time.Duration) []Action {
	var acts []Action
	// Each pass fires one timer and either clears it or moves it past
	// now (every interval is positive), so the loop ends; early is kept
	// below the shortest interval (advert_int / 200 from the Engine).
	for {
		d := in.Deadline()
		limit := now
		if in.state == StateMaster && early > 0 && early < in.cfg.AdvertInterval {
			limit = now.Add(early)
		}
		if d.IsZero() || d.After(limit) {
			break
		}
		acts = append(acts, in.fire(now, d)...)
	}
	return acts
}

func (in *Instance) fire(now, due time.Time) []Action {
	switch in.state {
	case StateBackup:
		// RFC 5798 §6.4.2: "If the Master_Down_Timer fires".
		in.wantMaster = true
		if in.group != nil && !in.group.canGoMaster(in) {
			// keepalived vrrp_sync_can_goto_master: wait in
			// BACKUP until every member of the group wants
			// MASTER, re-arming the timer meanwhile.
			in.masterDownAt = now.Add(in.downInterval())
			return nil
		}
		return in.becomeMaster(now, StateBackup, "master down timer expired")
	case StateMaster:
		g := in.cfg.GARP
		switch {
		case due.Equal(in.garpDelayAt):
			in.garpDelayAt = time.Time{}
			return in.announce(nil, g.MasterRepeat)
		case len(in.lowerPrioGARPAt) > 0 && due.Equal(in.lowerPrioGARPAt[0]):
			in.lowerPrioGARPAt = in.lowerPrioGARPAt[1:]
			return in.announce(nil, g.LowerPrioRepeat)
		default:
			// RFC 5798 §6.4.3: "If the Adver_Timer fires".
			acts := []Action{SendAdvert{Priority: in.effPrio}}
			// keepalived checks garp_master_refresh only when it
			// sends an advert (vrrp_state_master_tx).
			if g.MasterRefresh > 0 && !now.Before(in.garpRefreshAt) {
				acts = in.announce(acts, g.MasterRefreshRepeat)
				in.garpRefreshAt = now.Add(g.MasterRefresh)
			}
			in.advertAt = now.Add(in.cfg.AdvertInterval)
			return acts
		}
	}
	return nil
}

func (in *Instance) recv(now time.Time, ev AdvertRecv) []Action {
	adv := ev.Adv
	// The receive path has validated the packet; these checks only keep
	// a misrouted advert from moving the wrong instance.
	if adv.VRID != in.cfg.VRID || adv.Version != in.cfg.Version {
		return nil
	}
	switch in.state {
	case StateBackup:
		return in.backupRecv(now, ev)
	case StateMaster:
		return in.masterRecv(now, ev)
	}
	// keepalived ignores adverts in INIT and FAULT.
	return nil
}

// backupRecv is RFC 5798 §6.4.2 "If an ADVERTISEMENT is received", with
// keepalived's preempt_delay (vrrp_state_backup).
func (in *Instance) backupRecv(now time.Time, ev AdvertRecv) []Action {
	prio := ev.Adv.Priority
	if prio == PriorityStop {
		// The master is stopping: take over after Skew_Time only, so
		// that the highest priority backup wins.
		in.masterDownAt = now.Add(in.skew())
		return nil
	}
	delaying := in.cfg.PreemptDelay > 0 && (in.preemptAt.IsZero() || in.preemptAt.After(now))
	if !in.cfg.NoPreempt && prio < in.effPrio && !delaying {
		// Preempt: discard the advert; the master down timer, left
		// running, makes us master.
		return nil
	}
	in.learnInterval(ev.Adv)
	in.masterDownAt = now.Add(in.downInterval())
	in.wantMaster = false
	if in.cfg.PreemptDelay > 0 {
		switch {
		case prio >= in.effPrio:
			in.preemptAt = time.Time{}
		case in.preemptAt.IsZero():
			in.preemptAt = now.Add(in.cfg.PreemptDelay)
		}
	}
	return nil
}

// masterRecv is RFC 5798 §6.4.3 "If an ADVERTISEMENT is received", as
// keepalived 2.2.7 does it (vrrp_state_master_rx).
func (in *Instance) masterRecv(now time.Time, ev AdvertRecv) []Action {
	prio := ev.Adv.Priority
	cmp := ev.Src.Unmap().Compare(in.cfg.PrimaryAddr.Unmap())
	higher := prio > in.effPrio || (prio == in.effPrio && cmp > 0)

	var acts []Action
	if prio == PriorityStop || (in.cfg.HigherPrioSendAdvert && higher) {
		acts = append(acts, SendAdvert{Priority: in.effPrio})
		if prio == PriorityStop {
			// Another master is stopping: answer at once so the
			// backups do not take over (RFC 5798 §6.4.3).
			in.resetAdvertTimer(now)
			return acts
		}
	}

	if prio == in.effPrio && in.effPrio == PriorityOwner && cmp != 0 {
		// Two address owners: keepalived reports a configuration
		// error and steps down to 254 so that one of them wins.
		old := in.effPrio
		in.basePrio = PriorityOwner - 1
		in.effPrio = in.computePrio()
		acts = append(acts, PriorityChanged{From: old, To: in.effPrio})
		higher = true
	}

	switch {
	case higher:
		in.learnInterval(ev.Adv)
		reason := fmt.Sprintf("higher priority %d advert from %v", prio, ev.Src)
		if prio == in.effPrio {
			reason = fmt.Sprintf("equal priority %d advert from higher address %v", prio, ev.Src)
		}
		return append(acts, in.becomeBackup(now, StateMaster, reason)...)
	case prio < in.effPrio || (prio == in.effPrio && cmp < 0):
		// A lower priority router thinks it is master: keepalived
		// (unless lower_prio_no_advert) forces a new election with an
		// advert, and refreshes the neighbours' ARP caches.
		if !in.cfg.LowerPrioNoAdvert {
			acts = append(acts, SendAdvert{Priority: in.effPrio})
		}
		g := in.cfg.GARP
		if g.LowerPrioRepeat > 0 {
			acts = in.announce(acts, g.LowerPrioRepeat)
			if g.LowerPrioDelay > 0 {
				in.lowerPrioGARPAt = append(in.lowerPrioGARPAt, now.Add(g.LowerPrioDelay))
			}
		}
		acts = append(acts, MasterRxLowerPrio{Src: ev.Src, Priority: prio})
	}
	// Equal priority from our own address: keepalived only warns.
	in.resetAdvertTimer(now)
	return acts
}

// resetAdvertTimer restarts the advert timer after a received advert, as
// keepalived does unless lower_prio_no_advert is set (it then keeps the
// running timer even when it has just sent an advert).
func (in *Instance) resetAdvertTimer(now time.Time) {
	if !in.cfg.LowerPrioNoAdvert {
		in.advertAt = now.Add(in.cfg.AdvertInterval)
	}
}

// track applies a tracking update: first the priority (keepalived
// vrrp_set_effective_priority), then FAULT entry or exit (down_instance,
// try_up_instance).
func (in *Instance) track(now time.Time, ev TrackChange) []Action {
	var acts []Action
	in.trackWeight = ev.Weight
	if p := in.computePrio(); p != in.effPrio {
		oldDown := in.downInterval()
		acts = append(acts, PriorityChanged{From: in.effPrio, To: p})
		in.effPrio = p
		if in.state == StateBackup {
			// keepalived moves the running master down timer by the
			// change of Master_Down_Interval (the skew part).
			in.masterDownAt = in.masterDownAt.Add(in.downInterval() - oldDown)
		}
		// A master just advertises the new priority at its next
		// advert; a backup with a higher priority now will preempt.
	}
	switch {
	case ev.Fault && !in.fault:
		in.fault = true
		if in.state == StateBackup || in.state == StateMaster {
			acts = append(acts, in.becomeFault(in.state, "tracked object down")...)
		}
	case !ev.Fault && in.fault:
		in.fault = false
		if in.state == StateFault && (in.group == nil || !in.group.faulted()) {
			// Every instance, the owner included, comes back as a
			// backup and waits Master_Down_Interval (keepalived
			// try_up_instance: down_instance has set wantstate to
			// FAULT, so the owner's fast path does not apply;
			// observed with keepalived 2.2.7).
			// In a sync group, the last member to recover brings
			// the others back too (keepalived try_up_instance).
			acts = append(acts, in.becomeBackup(now, StateFault, "tracked objects up")...)
		}
	}
	return acts
}

// shutdown is RFC 5798 §6.4.3 "If a Shutdown event is received": a master
// sends priority 0 and releases the addresses; keepalived then notifies
// STOP for every instance.
func (in *Instance) shutdown() []Action {
	var acts []Action
	if in.state == StateMaster {
		acts = append(acts, SendAdvert{Priority: PriorityStop}, DelVIPs{Addrs: in.allAddrs()})
	}
	from := in.state
	in.clearMasterTimers()
	in.masterDownAt = time.Time{}
	in.preemptAt = time.Time{}
	in.state = StateStop
	return append(acts, Notify{From: from, To: StateStop, Reason: "shutdown"})
}
