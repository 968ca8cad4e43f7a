package lvs

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/ipvs"
)

// defaultPersistence is keepalived's IPVS_SVC_PERSISTENT_TIMEOUT (360 s),
// used when persistence is forced (port 0, persistence_granularity).
const defaultPersistence = 360

// weightLimit is the largest weight keepalived's real_weight passes on
// (IPVS_WEIGHT_MAX is INT_MAX; vigil's table caps at what ipvsadm shows).
const weightLimit = math.MaxInt32

// Plan is the IPVS side of one configuration: every virtual_server with its
// real servers, sorry server and checkers, and their health state. It is
// pure: methods return the messages and scripts keepalived would log and run
// (as Effects) and Table renders the kernel table the state calls for.
// One goroutine owns a Plan.
type Plan struct {
	Pools   []*Pool
	Targets []*Target
}

// Pool is one virtual_server.
type Pool struct {
	// Name is keepalived's FMT_VS: "[10.0.0.1]:tcp:80", "FWM 7", "[grp]:0".
	Name  string
	cfg   *conf.VirtualServer
	proto ipvs.Protocol // 0 for fwmark-only services
	// services holds every kernel service of the virtual server (groups
	// expand to one per address and fwmark), settings only.
	services []ipvs.Service
	Reals    []*Real
	Sorry    *Real // nil when no sorry_server
	// quorum and hysteresis after keepalived's corrections.
	quorum, hysteresis int64
	// QuorumUp is keepalived's quorum_state_up; SorryIn that the sorry
	// server is in the pool with its weight (s_svr alive).
	QuorumUp, SorryIn bool
	id                string // identity across reloads
	carried           bool   // taken over from the previous configuration
}

// Real is one real_server (or the sorry server) and its health.
type Real struct {
	// Name is keepalived's FMT_RS: "[10.0.0.2]:tcp:80".
	Name    string
	Pool    *Pool
	cfg     *conf.RealServer // nil for the sorry server
	Addr    netip.Addr
	Port    uint16 // after keepalived's port corrections
	Forward ipvs.Forward
	// Weight is the configured weight; Effective the current one
	// (misc_dynamic changes it).
	Weight, Effective int64
	Inhibit           bool
	// Alive is keepalived's rs->alive: in the pool (or, with
	// inhibit_on_failure, at its weight rather than 0).
	Alive    bool
	UThresh  uint32
	LThresh  uint32
	Checkers []*Target
	// Reason is the last failed probe's reason, for status.
	Reason  string
	carried bool
}

// Target is one checker of one real server.
type Target struct {
	ID   int
	Real *Real
	cfg  *conf.Checker
	// Up and HasRun mirror keepalived's checker is_up and has_run.
	Up, HasRun bool
	Alpha      bool
	weight     *int // misc_dynamic weight last reported
}

// Type is the checker keyword (TCP_CHECK, HTTP_GET, ...).
func (t *Target) Type() conf.CheckerType { return t.cfg.Type }

// Effect is something keepalived does beside the table: a log line, and
// possibly a script to run.
type Effect struct {
	Msg    string
	VS, RS string
	Script *conf.Script
}

// NewPlan maps the virtual servers of cfg. Problems keepalived corrects
// (ports, quorum above the total weight, ops without UDP) are corrected the
// same way and reported as diagnostics at the virtual server's position.
// Health starts as at keepalived's start-up: checkers up unless alpha.
func NewPlan(cfg *conf.Config) (*Plan, conf.Diagnostics) {
	var ds conf.Diagnostics
	p := &Plan{}
	groups := map[string]*conf.VirtualServerGroup{}
	for _, g := range cfg.VirtualServerGroups {
		groups[g.Name] = g
	}
	seq := map[string]int{}
	for _, vs := range cfg.VirtualServers {
		pool := newPool(vs, groups, seq, &ds)
		if pool == nil {
			continue
		}
		p.Pools = append(p.Pools, pool)
		for _, r := range pool.Reals {
			for _, c := range r.cfg.Checkers {
				t := &Target{ID: len(p.Targets), Real: r, cfg: c}
				t.Alpha = r.cfg.Alpha || vs.Alpha
				if c.Alpha != nil {
					t.Alpha = *c.Alpha
				}
				t.Up = !t.Alpha
				r.Checkers = append(r.Checkers, t)
				p.Targets = append(p.Targets, t)
			}
		}
	}
	return p, ds
}

func protoOf(p conf.Protocol) ipvs.Protocol {
	switch p {
	case conf.ProtoTCP:
		return ipvs.TCP
	case conf.ProtoUDP:
		return ipvs.UDP
	case conf.ProtoSCTP:
		return ipvs.SCTP
	}
	return 0
}

func fwdOf(k, def conf.LBKind) ipvs.Forward {
	if k == conf.LBKindDefault {
		k = def
	}
	switch k {
	case conf.LBKindDR:
		return ipvs.Direct
	case conf.LBKindTUN:
		return ipvs.Tunnel
	}
	return ipvs.NAT
}

func famOf(a netip.Addr) ipvs.Family {
	if a.Is4() || a.Is4In6() {
		return ipvs.IPv4
	}
	return ipvs.IPv6
}

// trio formats an address as keepalived's inet_sockaddrtotrio.
func trio(a netip.Addr, proto ipvs.Protocol, port uint16) string {
	ps := "none"
	switch proto {
	case ipvs.TCP:
		ps = "tcp"
	case ipvs.UDP:
		ps = "udp"
	case ipvs.SCTP:
		ps = "sctp"
	}
	return "[" + a.String() + "]:" + ps + ":" + strconv.Itoa(int(port))
}

func newPool(vs *conf.VirtualServer, groups map[string]*conf.VirtualServerGroup, seq map[string]int, ds *conf.Diagnostics) *Pool {
	pool := &Pool{cfg: vs, proto: protoOf(vs.Protocol)}
	warn := func(format string, args ...any) { ds.Add(vs.Pos, conf.Warning, format, args...) }
	var g *conf.VirtualServerGroup
	switch {
	case vs.Group != "":
		g = groups[vs.Group]
		if g == nil {
			return nil // conf already reported it
		}
		// keepalived numbers the virtual servers of a group in its
		// names: "[NAME]:SEQ".
		pool.Name = fmt.Sprintf("[%s]:%d", vs.Group, seq[vs.Group])
		seq[vs.Group]++
		pool.id = "group " + vs.Group + " " + pool.proto.String()
	case vs.Fwmark != 0:
		pool.proto = 0
		pool.Name = fmt.Sprintf("FWM %d", vs.Fwmark)
		pool.id = pool.Name
	default:
		pool.Name = trio(vs.Addr, pool.proto, vs.Port)
		pool.id = pool.Name
	}

	// Family: the address, else ip_family, else the sorry/real servers.
	fam := ipvs.Family(0)
	switch {
	case vs.Addr.IsValid():
		fam = famOf(vs.Addr)
	case vs.IPFamily == 4:
		fam = ipvs.IPv4
	case vs.IPFamily == 6:
		fam = ipvs.IPv6
	case vs.PersistenceGranularity != "" && vs.Group == "":
		fam = ipvs.IPv6
		if strings.Contains(vs.PersistenceGranularity, ".") {
			fam = ipvs.IPv4
		}
	}
	if fam == 0 && vs.Group == "" {
		if vs.SorryServer != nil {
			fam = famOf(vs.SorryServer.Addr)
		} else if len(vs.RealServers) > 0 {
			fam = famOf(vs.RealServers[0].Addr)
		}
	}
	if fam == 0 && g != nil {
		for _, m := range g.Members {
			if m.Addr.IsValid() {
				fam = famOf(m.Addr)
				break
			}
		}
	}
	if fam == 0 {
		fam = ipvs.IPv4
	}

	// Service settings shared by every kernel service of the pool.
	base := ipvs.Service{Scheduler: vs.LBAlgo}
	for _, f := range vs.SchedFlags {
		switch f {
		case "flag-1", "sh-fallback", "mh-fallback":
			base.SchedFlags |= ipvs.SchedFlag1
		case "flag-2", "sh-port", "mh-port":
			base.SchedFlags |= ipvs.SchedFlag2
		case "flag-3":
			base.SchedFlags |= ipvs.SchedFlag3
		case "ops":
			base.OnePacket = true
		}
	}
	hasAddrs := vs.Group == "" && vs.Fwmark == 0
	if g != nil {
		for _, m := range g.Members {
			if m.Fwmark == 0 {
				hasAddrs = true
			}
		}
	}
	if base.OnePacket && hasAddrs && pool.proto != ipvs.UDP {
		warn("Virtual server %s: one packet scheduling requires UDP - resetting", pool.Name)
		base.OnePacket = false
	}
	base.Persistence.Timeout = uint32(vs.PersistenceTimeout.Seconds())
	base.Persistence.Engine = vs.PersistenceEngine
	if gs := vs.PersistenceGranularity; gs != "" {
		bits, ok := granularity(gs, fam)
		if !ok {
			warn("Invalid persistence_granularity specified - %s", gs)
		} else {
			base.Persistence.Granularity = bits
			// keepalived: a granularity implies persistence.
			if base.Persistence.Timeout == 0 {
				base.Persistence.Timeout = defaultPersistence
			}
		}
	}
	if base.Persistence.Timeout == 0 && hasAddrs {
		zero := vs.Group == "" && vs.Port == 0
		if g != nil {
			for _, m := range g.Members {
				if m.Fwmark == 0 && m.Port == 0 {
					zero = true
				}
			}
		}
		if zero {
			warn("Virtual server %s: zero port only valid for persistent services - setting", pool.Name)
			base.Persistence.Timeout = defaultPersistence
		}
	}

	// The kernel services.
	add := func(k ipvs.ServiceKey) {
		s := base
		s.Key = k
		pool.services = append(pool.services, s)
	}
	switch {
	case g != nil:
		for _, m := range g.Members {
			if m.Fwmark != 0 {
				add(ipvs.FWMarkKey(fam, m.Fwmark))
				continue
			}
			end := m.End
			if !end.IsValid() {
				end = m.Addr
			}
			for a := m.Addr; a.IsValid() && a.Compare(end) <= 0; a = a.Next() {
				add(ipvs.AddrPortKey(pool.proto, netip.AddrPortFrom(a, m.Port)))
			}
		}
	case vs.Fwmark != 0:
		add(ipvs.FWMarkKey(fam, vs.Fwmark))
	default:
		add(ipvs.AddrPortKey(pool.proto, netip.AddrPortFrom(vs.Addr, vs.Port)))
	}

	// Real servers, with keepalived's corrections.
	seen := map[netip.AddrPort]bool{}
	var weightSum int64
	for _, rc := range vs.RealServers {
		key := netip.AddrPortFrom(rc.Addr, rc.Port)
		if seen[key] {
			warn("VS %s: real server %s is duplicated - removing second rs", pool.Name, trio(rc.Addr, pool.proto, rc.Port))
			continue
		}
		seen[key] = true
		if g == nil && famOf(rc.Addr) != fam {
			// keepalived allows this for TUN on kernels with
			// IPVS_DEST_ATTR_ADDR_FAMILY; the ipvs edge cannot send it.
			warn("VS %s: real server %s is not of the virtual server's address family; vigil cannot program mixed families - skipping",
				pool.Name, trio(rc.Addr, pool.proto, rc.Port))
			continue
		}
		r := &Real{Pool: pool, cfg: rc, Addr: rc.Addr, Port: rc.Port,
			Forward: fwdOf(rc.LBKind, vs.LBKind), Weight: int64(rc.Weight),
			UThresh: rc.UThreshold, LThresh: rc.LThreshold}
		r.Effective = r.Weight
		r.Inhibit = vs.InhibitOnFailure
		if rc.InhibitOnFailure != nil {
			r.Inhibit = *rc.InhibitOnFailure
		}
		r.Port = fixPort(vs, g, r.Forward, r.Port, func(format string, args ...any) {
			warn(format, append([]any{pool.Name, trio(rc.Addr, pool.proto, rc.Port)}, args...)...)
		})
		r.Name = trio(r.Addr, pool.proto, r.Port)
		weightSum += r.Weight
		pool.Reals = append(pool.Reals, r)
	}
	if ss := vs.SorryServer; ss != nil {
		r := &Real{Pool: pool, Addr: ss.Addr, Port: ss.Port, Forward: fwdOf(ss.LBKind, vs.LBKind),
			Weight: 1, Effective: 1, Inhibit: ss.Inhibit}
		r.Port = fixPort(vs, g, r.Forward, r.Port, func(string, ...any) {
			warn("WARNING - virtual server %s and sorry server ports don't match - resetting", pool.Name)
		})
		r.Name = trio(r.Addr, pool.proto, r.Port)
		for _, o := range pool.Reals {
			if o.Addr == r.Addr && o.Port == r.Port && o.Inhibit != r.Inhibit {
				warn("Virtual server %s: real server %s matches sorry server, but inhibit setting differs", pool.Name, o.Name)
				r.Inhibit = o.Inhibit
			}
		}
		pool.Sorry = r
	}

	pool.quorum, pool.hysteresis = int64(vs.Quorum), int64(vs.Hysteresis)
	if pool.quorum > weightSum {
		warn("Warning - quorum %d for %s exceeds total weight of real servers %d, reducing quorum to %d", pool.quorum, pool.Name, weightSum, weightSum)
		pool.quorum = weightSum
	}
	if pool.hysteresis >= pool.quorum && pool.hysteresis > 0 {
		h := max(pool.quorum-1, 0)
		warn("Virtual server %s: hysteresis %d >= quorum %d; setting hysteresis to %d", pool.Name, pool.hysteresis, pool.quorum, h)
		pool.hysteresis = h
	}
	if vs.HASuspend && (vs.Fwmark != 0 || (g != nil && hasFwmark(g))) {
		warn("Virtual server %s: cannot use ha_suspend with fwmarks - clearing ha_suspend", pool.Name)
	}
	return pool
}

func hasFwmark(g *conf.VirtualServerGroup) bool {
	for _, m := range g.Members {
		if m.Fwmark != 0 {
			return true
		}
	}
	return false
}

// fixPort applies keepalived's real/sorry server port rules
// (check_data.c validate_check_config): NAT keeps its port, taking the
// virtual server's when it has none; DR and TUN use the virtual server's
// port (0 for fwmark). In groups the per-entry port is applied per service
// (destPort), so the configured port is kept.
func fixPort(vs *conf.VirtualServer, g *conf.VirtualServerGroup, fwd ipvs.Forward, port uint16, warn func(string, ...any)) uint16 {
	if g != nil {
		return port
	}
	if fwd == ipvs.NAT {
		if vs.Fwmark == 0 && port == 0 {
			return vs.Port
		}
		return port
	}
	if vs.Fwmark != 0 {
		if port != 0 {
			warn("WARNING - fwmark virtual server %s, real server %s has port specified - clearing")
		}
		return 0
	}
	if port != 0 && port != vs.Port {
		warn("WARNING - virtual server %s and real server %s ports don't match - resetting")
	}
	return vs.Port
}

// granularity parses persistence_granularity: a dotted netmask for IPv4,
// a prefix length for IPv6. It returns the prefix length.
func granularity(s string, fam ipvs.Family) (int, bool) {
	if fam == ipvs.IPv6 {
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 1 && n <= 128
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return 0, false
	}
	b := a.As4()
	m := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for m&0x80000000 != 0 {
		n++
		m <<= 1
	}
	if m != 0 {
		return 0, false // not contiguous: the table model has prefix lengths only
	}
	return n, true
}

// realWeight is keepalived's real_weight: the effective weight clamped to
// what IPVS takes.
func realWeight(w int64) int64 { return min(max(w, 0), weightLimit) }

// failed is keepalived's num_failed_checkers.
func (r *Real) failed() int {
	n := 0
	for _, t := range r.Checkers {
		if !t.Up {
			n++
		}
	}
	return n
}

func (p *Pool) liveWeight() int64 {
	var sum int64
	for _, r := range p.Reals {
		if r.Alive {
			sum += realWeight(r.Effective)
		}
	}
	return sum
}

// Start sets the state keepalived has once it has programmed IPVS at
// start-up (ipwrapper.c init_service_vs): real servers with no failed
// checker (no alpha checker) are alive; quorum is computed, and the sorry
// server goes in when it is not met.
func (p *Plan) Start() []Effect {
	var out []Effect
	for _, pool := range p.Pools {
		for _, r := range pool.Reals {
			r.Alive = r.failed() == 0
		}
		pool.QuorumUp = false // set_quorum_states runs before any rs is alive
		out = append(out, pool.updateQuorum(true)...)
	}
	return out
}

// updateQuorum is keepalived's update_quorum_state.
func (p *Pool) updateQuorum(init bool) []Effect {
	var out []Effect
	ws := p.liveWeight()
	threshold := p.quorum + p.hysteresis
	if p.QuorumUp {
		threshold = p.quorum - p.hysteresis
	}
	vs := p.cfg
	switch {
	case !p.QuorumUp && ws >= threshold:
		p.QuorumUp = true
		out = append(out, Effect{VS: p.Name, Msg: fmt.Sprintf("Gained quorum %d+%d=%d <= %d for VS %s", p.quorum, p.hysteresis, threshold, ws, p.Name)})
		if p.Sorry != nil && p.SorryIn {
			verb := "Removing"
			if p.Sorry.Inhibit {
				verb = "Disabling"
			}
			out = append(out, Effect{VS: p.Name, RS: p.Sorry.Name, Msg: fmt.Sprintf("%s sorry server %s from VS %s", verb, p.Sorry.Name, p.Name)})
			p.SorryIn = false
			out = append(out, Effect{VS: p.Name, Msg: "Adding alive servers to the pool for VS " + p.Name})
		}
		out = append(out, Effect{VS: p.Name, Msg: "quorum up script", Script: vs.QuorumUp})
	case (p.QuorumUp && (ws == 0 || ws < threshold)) || (init && !p.QuorumUp && p.Sorry != nil && !p.SorryIn):
		p.QuorumUp = false
		what := "Lost quorum"
		if init {
			what = "Starting with quorum down"
		}
		out = append(out, Effect{VS: p.Name, Msg: fmt.Sprintf("%s %d-%d=%d > %d for VS %s", what, p.quorum, p.hysteresis, threshold, ws, p.Name)})
		if p.Sorry != nil && !p.SorryIn {
			verb := "Adding"
			if p.Sorry.Inhibit {
				verb = "Enabling"
			}
			out = append(out, Effect{VS: p.Name, RS: p.Sorry.Name, Msg: fmt.Sprintf("%s sorry server %s to VS %s", verb, p.Sorry.Name, p.Name)})
			out = append(out, Effect{VS: p.Name, Msg: "Removing alive servers from the pool for VS " + p.Name})
			p.SorryIn = true
		}
		out = append(out, Effect{VS: p.Name, Msg: "quorum down script", Script: vs.QuorumDown})
	}
	// Script effects with no script are bookkeeping only.
	kept := out[:0]
	for _, e := range out {
		if strings.HasSuffix(e.Msg, " script") && e.Script == nil {
			continue
		}
		kept = append(kept, e)
	}
	return kept
}

// setAlive is keepalived's perform_svr_state.
func (r *Real) setAlive(alive bool) []Effect {
	if r.Alive == alive {
		return nil
	}
	p := r.Pool
	var msg string
	switch {
	case alive && r.Inhibit:
		msg = "Enabling service %s of VS %s"
	case alive:
		msg = "Adding service %s to VS %s"
	case r.Inhibit:
		msg = "Disabling service %s of VS %s"
	default:
		msg = "Removing service %s from VS %s"
	}
	out := []Effect{{VS: p.Name, RS: r.Name, Msg: fmt.Sprintf(msg, r.Name, p.Name)}}
	r.Alive = alive
	s := r.cfg.NotifyDown
	if alive {
		s = r.cfg.NotifyUp
	}
	if s != nil {
		out = append(out, Effect{VS: p.Name, RS: r.Name, Msg: "notify script", Script: s})
	}
	return append(out, p.updateQuorum(false)...)
}

// Observe applies a checker report (the scheduler's Event): keepalived's
// update_svr_checker_state, preceded for misc_dynamic by update_svr_wgt.
// weight is the misc_dynamic weight (nil: the configured one); it is
// only looked at while up.
func (p *Plan) Observe(id int, up bool, weight *int) []Effect {
	t := p.Targets[id]
	r := t.Real
	var out []Effect
	if up && t.cfg.MiscDynamic && !sameWeight(t.weight, weight) {
		t.weight = weight
		eff := r.Weight
		if weight != nil {
			eff = int64(*weight)
		}
		out = append(out, r.setWeight(eff)...)
	}
	first := !t.HasRun
	t.HasRun = true
	if t.Up == up {
		if first && (t.Alpha || !up) {
			out = append(out, r.notify(r.Alive)...)
		}
		return out
	}
	if up {
		if r.failed() <= 1 {
			out = append(out, r.setAlive(true)...)
		}
	} else if r.failed() == 0 {
		out = append(out, r.setAlive(false)...)
	}
	t.Up = up
	return out
}

func (r *Real) notify(alive bool) []Effect {
	s := r.cfg.NotifyDown
	if alive {
		s = r.cfg.NotifyUp
	}
	if s == nil {
		return nil
	}
	return []Effect{{VS: r.Pool.Name, RS: r.Name, Msg: "notify script", Script: s}}
}

// setWeight is keepalived's update_svr_wgt.
func (r *Real) setWeight(eff int64) []Effect {
	old, nw := realWeight(r.Effective), realWeight(eff)
	r.Effective = eff
	if old == nw {
		return nil
	}
	in := ""
	if !r.Alive {
		in = "in"
	}
	out := []Effect{{VS: r.Pool.Name, RS: r.Name, Msg: fmt.Sprintf("Changing weight from %d to %d for %sactive service %s of VS %s", old, nw, in, r.Name, r.Pool.Name)}}
	return append(out, r.Pool.updateQuorum(false)...)
}

func sameWeight(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Table renders the kernel table the current state calls for:
//   - a real server is in its services while alive, at its effective
//     weight; when it is not, it is left out, or kept at weight 0 with
//     inhibit_on_failure;
//   - while the sorry server is in (quorum lost), alive real servers are
//     out (weight 0 with inhibit_on_failure) and the sorry server is in at
//     weight 1; with sorry_server_inhibit it stays at weight 0 otherwise.
func (p *Plan) Table() ipvs.Table {
	var t ipvs.Table
	for _, pool := range p.Pools {
		for _, svc := range pool.services {
			s := svc
			s.Dests = pool.dests(s.Key)
			t = append(t, s)
		}
	}
	return t
}

func (p *Pool) dests(k ipvs.ServiceKey) []ipvs.Destination {
	var out []ipvs.Destination
	idx := map[ipvs.DestKey]int{}
	put := func(r *Real, w int64) {
		if famOf(r.Addr) != k.Family {
			return // the kernel takes the service's family: see ipvs.Validate
		}
		d := ipvs.Destination{Addr: r.Addr, Port: p.destPort(r, k), Forward: r.Forward, Weight: int(realWeight(w)),
			UpperThreshold: r.UThresh, LowerThreshold: r.LThresh}
		if i, ok := idx[d.Key()]; ok {
			out[i] = d
			return
		}
		idx[d.Key()] = len(out)
		out = append(out, d)
	}
	for _, r := range p.Reals {
		in := r.Alive && !p.SorryIn
		switch {
		case in:
			put(r, r.Effective)
		case r.Inhibit:
			put(r, 0)
		}
	}
	if s := p.Sorry; s != nil {
		switch {
		case p.SorryIn:
			put(s, s.Effective)
		case s.Inhibit:
			if _, dup := idx[ipvs.DestKey{Addr: s.Addr, Port: p.destPort(s, k)}]; !dup {
				put(s, 0)
			}
		}
	}
	return out
}

// destPort is the destination port in service k: keepalived's ipvs_cmd
// sends the service's port for DR and TUN (0 for fwmark services).
func (p *Pool) destPort(r *Real, k ipvs.ServiceKey) uint16 {
	if r.Forward == ipvs.NAT {
		return r.Port
	}
	return k.Port
}
