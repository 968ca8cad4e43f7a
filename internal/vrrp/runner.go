package vrrp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The runner's edges: narrow interfaces over the sockets and netlink, so
// that tests drive the runner with recording fakes (style §2).

// PacketConn moves raw VRRP datagrams; *Conn implements it.
type PacketConn interface {
	ReadPacket(ctx context.Context) (Packet, error)
	WritePacket(payload []byte, dst netip.Addr) error
}

// PacketStream is a PacketConn that already delivers its packets on a
// channel (the daemon's shared-socket mux). A lone instance's runner
// selects on it directly instead of starting a reader goroutine, which
// saves a goroutine and a hand-off per packet.
type PacketStream interface {
	Packets() <-chan Packet
	// Failed is closed when the source stops for good; Err says why.
	Failed() <-chan struct{}
	Err() error
}

// DatagramWriter sends a whole IPv4 datagram (IP_HDRINCL), needed for AH,
// whose ICV covers the IP header. *Conn implements it.
type DatagramWriter interface {
	WriteDatagram(datagram []byte) error
}

// AddrManager adds and removes virtual addresses and routes; *Addrs
// implements it.
type AddrManager interface {
	AddVIP(ctx context.Context, v VIP) error
	DelVIP(ctx context.Context, v VIP) error
	AddRoute(ctx context.Context, r VirtualRoute) error
	DelRoute(ctx context.Context, r VirtualRoute) error
	List(ctx context.Context, dev string) ([]netip.Prefix, error)
}

// AddrAnnouncer sends one gratuitous ARP or unsolicited NA; *Announcer
// implements it.
type AddrAnnouncer interface {
	Announce(vip netip.Addr) error
}

// Notifier receives state transitions for notify scripts, FIFOs and mail.
// It must not block.
type Notifier interface {
	NotifyState(instance string, from, to State, priority uint8)
}

// EventNotifier is implemented by a Notifier that also wants keepalived's
// non-state events: a master hearing a lower priority advert
// (notify_master_rx_lower_pri) and effective priority changes
// (notify_priority_changes, FIFO lines MASTER_PRIORITY/BACKUP_PRIORITY).
type EventNotifier interface {
	NotifyMasterRxLowerPrio(instance string, priority uint8)
	NotifyPriorityChange(instance string, state State, priority uint8)
}

// RunnerConfig is everything a Runner needs beyond its Instance.
type RunnerConfig struct {
	Instance InstanceConfig
	// Interface is the instance's interface, for logs and stale-VIP cleanup.
	Interface string
	// VIPs are the kernel view of Instance.VIPs and ExcludedVIPs (dev,
	// label, scope, mask), one per address.
	VIPs   []VIP
	Routes []VirtualRoute
	// Src is the advert source address (the interface's primary
	// address, mcast_src_ip or unicast_src_ip).
	Src netip.Addr
	// Dsts are where adverts go: the multicast group, or each unicast peer.
	Dsts []netip.Addr
	// Expect is what received adverts are checked against.
	Expect Expect
	// AuthPass is the auth_pass key for PASS and AH (VRRPv2).
	AuthPass [8]byte
	// GARPInterval spaces announcements (vrrp_garp_interval /
	// vrrp_gna_interval); 0 sends them back to back.
	GARPInterval time.Duration
}

// RunnerDeps are the edges a Runner drives.
type RunnerDeps struct {
	Conn     PacketConn
	Addrs    AddrManager   // nil: VIPs are not touched (tests, -V)
	Announce AddrAnnouncer // nil: no GARP/NA
	Notify   Notifier      // nil: none
	// Filter drops traffic to and from the VIPs while this instance is
	// master in no_accept mode (keepalived no_accept, vrrp_strict); nil:
	// not enforced. One *NFTFilter serves every runner in a namespace.
	Filter AcceptFilter
	Now    func() time.Time
}

// Stats are a runner's counters; safe to read from any goroutine.
type Stats struct {
	AdvertsSent     atomic.Uint64
	AdvertsReceived atomic.Uint64
	Transitions     atomic.Uint64
	Drops           [numDropReasons]atomic.Uint64
	// Foreign counts adverts of other VRIDs seen on the shared socket,
	// which are not drops of this instance.
	Foreign atomic.Uint64
	// keepalived's SIGUSR2 counters.
	BecameMaster         atomic.Uint64
	ReleasedMaster       atomic.Uint64
	PriorityZeroSent     atomic.Uint64
	PriorityZeroReceived atomic.Uint64
}

// Snapshot is a runner's state as `vigil status` shows it.
type Snapshot struct {
	Name       string
	VRID       uint8
	Interface  string
	Group      string // vrrp_sync_group, "" if none
	State      State
	Priority   uint8
	BasePrio   uint8
	VIPs       []netip.Addr
	LastMaster netip.Addr // source of the last accepted advert
	LastPrio   uint8
	Since      time.Time // of the last transition
}

// Runner is one VRRP instance's edges and published state: its socket,
// addresses, announcer, receive checks, counters and snapshot. The
// goroutine that owns its Instance and timer is a GroupRunner's: NewRunner
// gives a lone instance a group of its own, and Run runs that; members of
// a vrrp_sync_group are run by their GroupRunner.
type Runner struct {
	cfg  RunnerConfig
	deps RunnerDeps
	log  *slog.Logger
	in   *Instance

	Stats Stats
	snap  atomic.Pointer[Snapshot]

	group *GroupRunner // the loop that steps this runner's instance
	index int          // in group.members

	// Owned by the group's goroutine.
	ahSeq   uint32
	ipID    uint16
	vipList []netip.Addr   // the snapshot's VIPs, built once
	wg      sync.WaitGroup // announcement goroutines
}

// NewRunner builds the runner of an instance that is in no
// vrrp_sync_group; nothing runs until Run.
func NewRunner(cfg RunnerConfig, deps RunnerDeps, log *slog.Logger) (*Runner, error) {
	r, err := newMember(cfg, deps, log)
	if err != nil {
		return nil, err
	}
	newGroupRunner("", []*Runner{r}, nil, r.deps.Now, log)
	return r, nil
}

// newMember checks cfg and deps and builds a runner that belongs to no
// group yet.
func newMember(cfg RunnerConfig, deps RunnerDeps, log *slog.Logger) (*Runner, error) {
	in, err := NewInstance(cfg.Instance)
	if err != nil {
		return nil, err
	}
	if deps.Conn == nil {
		return nil, fmt.Errorf("(%s) vrrp runner: no connection", cfg.Instance.Name)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if len(cfg.Dsts) == 0 {
		return nil, fmt.Errorf("(%s) no advert destination", cfg.Instance.Name)
	}
	r := &Runner{cfg: cfg, deps: deps, log: log, in: in}
	r.publish(time.Time{}, netip.Addr{}, 0)
	return r, nil
}

// Name returns the instance name.
func (r *Runner) Name() string { return r.cfg.Instance.Name }

// Group returns the runner's vrrp_sync_group, nil for a lone instance.
func (r *Runner) Group() *GroupRunner {
	if r.group == nil || r.group.sg == nil {
		return nil
	}
	return r.group
}

// Loop returns the GroupRunner that steps this runner's instance: its
// vrrp_sync_group's, or a group of its own for a lone instance (what an
// Engine runs).
func (r *Runner) Loop() *GroupRunner { return r.group }

// Snapshot returns the latest published state.
func (r *Runner) Snapshot() Snapshot { return *r.snap.Load() }

// Track delivers a tracking change (weight, fault) to the instance. It
// never blocks for long: the group's loop drains the channel. For a
// sync group member the group applies it (keepalived: a member's fault
// takes the whole group to FAULT).
func (r *Runner) Track(ctx context.Context, tc TrackChange) {
	if eg := r.group.eg.Load(); eg != nil {
		eg.post(r.index, tc)
		return
	}
	select {
	case r.group.events <- memberEvent{member: r.index, ev: tc}:
	case <-ctx.Done():
	}
}

// Run runs a lone instance until ctx is done, then shuts it down
// (priority-0 advert if master, VIPs removed) and returns once that is
// finished; likewise, after the shutdown, when its socket fails. A sync
// group member is run by its GroupRunner's Run instead.
func (r *Runner) Run(ctx context.Context) error {
	if g := r.Group(); g != nil {
		return fmt.Errorf("(%s) is a member of vrrp_sync_group %s: run the group, not the instance", r.Name(), g.Name())
	}
	return r.group.Run(ctx)
}

// receive decodes and validates one datagram, counting a drop by reason,
// and returns the event for an accepted advert.
func (r *Runner) receive(p Packet) (AdvertRecv, bool) {
	adv, rx, err := r.decode(p)
	if err == nil {
		want := r.cfg.Expect
		want.AHSeq = r.ahSeq
		err = Validate(adv, rx, want)
	}
	if err != nil {
		reason, _ := ReasonOf(err)
		if reason == DropWrongVRID {
			r.Stats.Foreign.Add(1)
			return AdvertRecv{}, false
		}
		if reason < numDropReasons {
			r.Stats.Drops[reason].Add(1)
		}
		r.log.Debug("VRRP packet dropped", "from", p.Src, "reason", reason.String(), "err", err)
		return AdvertRecv{}, false
	}
	if rx.AH != nil {
		r.ahSeq = rx.AH.Seq
	}
	r.Stats.AdvertsReceived.Add(1)
	if adv.Priority == PriorityStop {
		r.Stats.PriorityZeroReceived.Add(1)
	}
	return AdvertRecv{Src: rx.Src, Adv: adv}, true
}

func (r *Runner) decode(p Packet) (Advert, RxMeta, error) {
	rx := RxMeta{Src: p.Src, Dst: p.Dst, TTL: p.TTL}
	if p.Datagram != nil {
		ip, err := DecodeIPv4(p.Datagram)
		if err != nil {
			return Advert{}, rx, err
		}
		rx.Src, rx.Dst, rx.TTL = ip.IP.Src, ip.IP.Dst, int(ip.IP.TTL)
		if ip.AH != nil {
			if err := VerifyAH(p.Datagram, r.cfg.AuthPass, r.cfg.Expect.Unicast); err != nil {
				return Advert{}, rx, err
			}
			rx.AH = ip.AH
		}
		return ip.Advert, rx, nil
	}
	adv, err := DecodeAdvert(p.Payload, p.Src, p.Dst)
	return adv, rx, err
}

func (r *Runner) publish(since time.Time, lastFrom netip.Addr, lastPrio uint8) {
	c := r.cfg.Instance
	var group string
	if g := r.Group(); g != nil {
		group = g.Name()
	}
	// Most steps (an advert from the same master, a timer) change
	// nothing visible: keep the published value and allocate nothing.
	if old := r.snap.Load(); old != nil && old.Group == group && old.State == r.in.State() &&
		old.Priority == r.in.Priority() && old.LastMaster == lastFrom && old.LastPrio == lastPrio && old.Since.Equal(since) {
		return
	}
	vips := r.vipList
	if vips == nil {
		vips = slices.Concat(c.VIPs, c.ExcludedVIPs)
		r.vipList = vips
	}
	r.snap.Store(&Snapshot{
		Name: c.Name, VRID: c.VRID, Interface: r.cfg.Interface, Group: group,
		State: r.in.State(), Priority: r.in.Priority(), BasePrio: c.Priority,
		VIPs: vips, LastMaster: lastFrom, LastPrio: lastPrio, Since: since,
	})
}

func (r *Runner) perform(ctx context.Context, now time.Time, a Action) {
	name := r.Name()
	switch a := a.(type) {
	case SendAdvert:
		if err := r.sendAdvert(a.Priority); err != nil {
			r.log.Warn(fmt.Sprintf("(%s) failed to send advert", name), "err", err)
		}
	case AddVIPs:
		// keepalived sets the drop rule before the VIPs ("setting firewall
		// drop rule", then "setting VIPs"): no packet reaches an
		// unfiltered VIP.
		if !a.Accept {
			r.block(ctx, a.Addrs)
		}
		r.addVIPs(ctx, a.Addrs)
	case DelVIPs:
		// ...and removes it once the VIPs are gone ("removing VIPs", then
		// "removing firewall drop rule").
		r.delVIPs(ctx, a.Addrs)
		r.unblock(ctx, a.Addrs)
	case Announce:
		r.announce(ctx, a)
	case Notify:
		r.Stats.Transitions.Add(1)
		if a.To == StateMaster {
			r.Stats.BecameMaster.Add(1)
		}
		if a.From == StateMaster {
			r.Stats.ReleasedMaster.Add(1)
		}
		if r.deps.Notify != nil {
			r.deps.Notify.NotifyState(name, a.From, a.To, r.in.Priority())
		}
	case PriorityChanged:
		r.log.Info(fmt.Sprintf("(%s) Changing effective priority from %d to %d", name, a.From, a.To))
		if en, ok := r.deps.Notify.(EventNotifier); ok {
			en.NotifyPriorityChange(name, r.in.State(), a.To)
		}
	case MasterRxLowerPrio:
		r.log.Info(fmt.Sprintf("(%s) Master received advert from %s with lower priority %d, ours %d, forcing new election",
			name, a.Src, a.Priority, r.in.Priority()))
		if en, ok := r.deps.Notify.(EventNotifier); ok {
			en.NotifyMasterRxLowerPrio(name, r.in.Priority())
		}
	default:
		r.log.Warn("unhandled VRRP action", "action", fmt.Sprintf("%T", a))
	}
}

// logTransition uses keepalived's wording so operators' greps keep working.
func (r *Runner) logTransition(n Notify) {
	name := r.Name()
	switch n.To {
	case StateMaster:
		r.log.Info(fmt.Sprintf("(%s) Entering MASTER STATE", name), "from", n.From.String(), "reason", n.Reason)
	case StateBackup:
		r.log.Info(fmt.Sprintf("(%s) Entering BACKUP STATE", name), "from", n.From.String(), "reason", n.Reason)
	case StateFault:
		r.log.Info(fmt.Sprintf("(%s) Entering FAULT STATE", name), "from", n.From.String(), "reason", n.Reason)
	case StateStop:
		r.log.Info(fmt.Sprintf("(%s) Stopped", name), "from", n.From.String())
	default:
		r.log.Info(fmt.Sprintf("(%s) Entering %s STATE", name, n.To), "from", n.From.String(), "reason", n.Reason)
	}
}

func (r *Runner) sendAdvert(prio uint8) error {
	adv := r.in.Advert(prio)
	if adv.Version == 2 {
		adv.AuthType = r.cfg.Expect.AuthType
		if adv.AuthType == AuthPass {
			adv.AuthData = r.cfg.AuthPass
		}
	}
	var errs []error
	for _, dst := range r.cfg.Dsts {
		var err error
		if adv.AuthType == AuthAH {
			err = r.sendAH(adv, dst)
		} else {
			var b []byte
			b, err = adv.Marshal(r.cfg.Src, dst)
			if err == nil {
				err = r.deps.Conn.WritePacket(b, dst)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("to %s: %w", dst, err))
			continue
		}
		r.Stats.AdvertsSent.Add(1)
		if prio == PriorityStop {
			r.Stats.PriorityZeroSent.Add(1)
		}
	}
	return errors.Join(errs...)
}

// sendAH builds the whole IPv4 datagram, because the AH ICV covers the IP
// header (keepalived auth_type AH).
func (r *Runner) sendAH(adv Advert, dst netip.Addr) error {
	w, ok := r.deps.Conn.(DatagramWriter)
	if !ok {
		return errors.New("auth_type AH needs a raw IPv4 socket")
	}
	r.ahSeq++
	r.ipID++
	ttl := uint8(RequiredTTL)
	p := IPv4Packet{
		IP:     IPv4Header{TOS: TOSNetworkControl, ID: r.ipID, TTL: ttl, Protocol: ProtocolAH, Src: r.cfg.Src, Dst: dst},
		AH:     &AH{SPI: SPIFor(r.cfg.Src), Seq: r.ahSeq},
		Advert: adv,
	}
	b, err := p.Marshal()
	if err != nil {
		return err
	}
	if err := SignAH(b, r.cfg.AuthPass, r.cfg.Expect.Unicast); err != nil {
		return err
	}
	return w.WriteDatagram(b)
}

func (r *Runner) vip(a netip.Addr) VIP {
	for _, v := range r.cfg.VIPs {
		if v.Prefix.Addr() == a {
			return v
		}
	}
	p, _ := VIPPrefix(a, -1)
	return VIP{Prefix: p, Dev: r.cfg.Interface}
}

func (r *Runner) addVIPs(ctx context.Context, addrs []netip.Addr) {
	if r.deps.Addrs == nil {
		return
	}
	for _, a := range addrs {
		v := r.vip(a)
		if err := r.deps.Addrs.AddVIP(ctx, v); err != nil {
			r.log.Error(fmt.Sprintf("(%s) cannot add VIP", r.Name()), "vip", v.Prefix, "iface", v.Dev, "err", err)
		}
	}
	for _, rt := range r.cfg.Routes {
		if err := r.deps.Addrs.AddRoute(ctx, rt); err != nil {
			r.log.Error(fmt.Sprintf("(%s) cannot add route", r.Name()), "route", rt.String(), "err", err)
		}
	}
}

func (r *Runner) delVIPs(ctx context.Context, addrs []netip.Addr) {
	if r.deps.Addrs == nil {
		return
	}
	for _, rt := range r.cfg.Routes {
		if err := r.deps.Addrs.DelRoute(ctx, rt); err != nil {
			r.log.Warn(fmt.Sprintf("(%s) cannot remove route", r.Name()), "route", rt.String(), "err", err)
		}
	}
	for _, a := range addrs {
		v := r.vip(a)
		if err := r.deps.Addrs.DelVIP(ctx, v); err != nil {
			r.log.Warn(fmt.Sprintf("(%s) cannot remove VIP", r.Name()), "vip", v.Prefix, "iface", v.Dev, "err", err)
		}
	}
}

// cleanStale removes configured VIPs left on the interfaces by an earlier
// run that did not stop cleanly, as keepalived does at startup: the
// instance adds them again if it becomes master.
func (r *Runner) cleanStale(ctx context.Context) {
	if r.deps.Addrs == nil {
		return
	}
	devs := map[string][]VIP{}
	for _, v := range r.cfg.VIPs {
		devs[v.Dev] = append(devs[v.Dev], v)
	}
	for dev, vips := range devs {
		have, err := r.deps.Addrs.List(ctx, dev)
		if err != nil {
			r.log.Warn(fmt.Sprintf("(%s) cannot list addresses", r.Name()), "iface", dev, "err", err)
			continue
		}
		for _, v := range PresentVIPs(vips, have) {
			r.log.Info(fmt.Sprintf("(%s) removing stale VIP %s", r.Name(), v.Prefix), "iface", dev)
			if err := r.deps.Addrs.DelVIP(ctx, v); err != nil {
				r.log.Warn(fmt.Sprintf("(%s) cannot remove stale VIP", r.Name()), "vip", v.Prefix, "err", err)
			}
		}
	}
}

// announce sends Repeat rounds of GARP/NA. With an interval the rounds go
// out from a goroutine the runner waits for on return.
func (r *Runner) announce(ctx context.Context, a Announce) {
	if r.deps.Announce == nil {
		return
	}
	r.log.Info(fmt.Sprintf("(%s) Sending/queueing gratuitous ARPs on %s for %d addresses", r.Name(), r.cfg.Interface, len(a.Addrs)))
	once := func() {
		for _, addr := range a.Addrs {
			if err := r.deps.Announce.Announce(addr); err != nil {
				r.log.Warn(fmt.Sprintf("(%s) announcement failed", r.Name()), "vip", addr, "err", err)
			}
		}
	}
	if r.cfg.GARPInterval <= 0 {
		for range a.Repeat {
			once()
		}
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.cfg.GARPInterval)
		defer t.Stop()
		for i := range a.Repeat {
			if i > 0 {
				select {
				case <-t.C:
				case <-ctx.Done():
					return
				}
			}
			once()
		}
	}()
}

// filterAddrs gives IPv6 link-local VIPs their interface as zone, as
// AcceptFilter wants them.
func (r *Runner) filterAddrs(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, len(addrs))
	for i, a := range addrs {
		out[i] = FilterAddr(r.vip(a))
	}
	return out
}

// block drops traffic to and from the VIPs (no_accept).
func (r *Runner) block(ctx context.Context, addrs []netip.Addr) {
	if r.deps.Filter == nil {
		return
	}
	r.log.Info(fmt.Sprintf("(%s) setting firewall drop rule", r.Name()))
	if err := r.deps.Filter.Block(ctx, r.filterAddrs(addrs)); err != nil {
		r.log.Error(fmt.Sprintf("(%s) cannot set firewall drop rule", r.Name()), "err", err)
	}
}

// unblock lifts block. The filter ignores VIPs it never blocked, so this
// runs on every DelVIPs, whatever the accept mode was.
func (r *Runner) unblock(ctx context.Context, addrs []netip.Addr) {
	if r.deps.Filter == nil {
		return
	}
	if !r.in.Accept() {
		r.log.Info(fmt.Sprintf("(%s) removing firewall drop rule", r.Name()))
	}
	if err := r.deps.Filter.Unblock(ctx, r.filterAddrs(addrs)); err != nil {
		r.log.Warn(fmt.Sprintf("(%s) cannot remove firewall drop rule", r.Name()), "err", err)
	}
}
