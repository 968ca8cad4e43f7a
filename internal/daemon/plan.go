package daemon

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/vrrp"
)

// instancePlan is everything the daemon derives from one vrrp_instance
// before it touches the machine. The advert source address is only known
// once the socket is open (the interface's primary address), so
// withSource completes the plan then.
type instancePlan struct {
	Name   string
	Conn   vrrp.ConnConfig
	Runner vrrp.RunnerConfig
	// Warnings are keepalived's silent corrections (vrrp.Normalize),
	// logged when the instance starts.
	Warnings []string
}

// planVRRP maps the typed configuration onto runner configurations, one
// per vrrp_instance, applying the global_defs defaults that keepalived
// applies to each instance.
func planVRRP(c *conf.Config) ([]instancePlan, error) {
	var plans []instancePlan
	for _, vi := range c.Instances {
		p, err := planInstance(&c.Global, vi)
		if err != nil {
			return nil, fmt.Errorf("%s: vrrp_instance %s: %w", vi.Pos, vi.Name, err)
		}
		plans = append(plans, p)
	}
	return plans, nil
}

func planInstance(g *conf.GlobalDefs, vi *conf.VRRPInstance) (instancePlan, error) {
	fam := vrrp.FamilyIPv4
	if vi.Family() == 6 {
		fam = vrrp.FamilyIPv6
	}
	version := uint8(2)
	switch {
	case vi.Version != 0:
		version = uint8(vi.Version)
	case g.VRRPVersion != 0:
		version = uint8(g.VRRPVersion)
	}
	if fam == vrrp.FamilyIPv6 {
		// keepalived: IPv6 instances are always VRRPv3 (RFC 5798).
		version = 3
	}
	prio := vi.Priority
	if prio == 0 {
		// keepalived: no priority means 255 with state MASTER, else 100.
		prio = 100
		if vi.State == conf.StateMaster {
			prio = vrrp.PriorityOwner
		}
	}
	advInt := vi.AdvertInt
	if advInt == 0 {
		advInt = time.Second
	}
	if vi.Interface == "" {
		return instancePlan{}, fmt.Errorf("no interface")
	}

	ic := vrrp.InstanceConfig{
		Name: vi.Name, VRID: vi.VRID, Version: version, Family: fam,
		Priority: prio, AdvertInterval: advInt,
		NoPreempt: vi.NoPreempt, PreemptDelay: vi.PreemptDelay,
		Accept: boolOr(vi.Accept, !(vi.Strict || g.VRRPStrict)),
		// keepalived: strict mode implies lower_prio_no_advert.
		LowerPrioNoAdvert:    boolOr(vi.LowerPrioNoAdvert, boolOr(g.VRRPLowerPrioNoAdvert, vi.Strict || g.VRRPStrict)),
		HigherPrioSendAdvert: boolOr(vi.HigherPrioSendAdvert, boolOr(g.VRRPHigherPrioSendAdvert, false)),
		GARP: vrrp.GARPConfig{
			MasterDelay:         durOr(vi.GarpMasterDelay, g.VRRPGarpMasterDelay),
			MasterRepeat:        intOr(vi.GarpMasterRepeat, g.VRRPGarpMasterRepeat),
			LowerPrioDelay:      durOr(vi.GarpLowerPrioDelay, g.VRRPGarpLowerPrioDelay),
			LowerPrioRepeat:     intOr(vi.GarpLowerPrioRepeat, g.VRRPGarpLowerPrioRepeat),
			MasterRefresh:       durOr(vi.GarpMasterRefresh, g.VRRPGarpMasterRefresh),
			MasterRefreshRepeat: intOr(vi.GarpMasterRefreshRepeat, g.VRRPGarpMasterRefreshRepeat),
		},
	}
	switch vi.State {
	case conf.StateMaster:
		ic.InitialState = vrrp.StateMaster
	case conf.StateBackup:
		ic.InitialState = vrrp.StateBackup
	}

	var kernelVIPs []vrrp.VIP
	for _, v := range vi.VIPs {
		ic.VIPs = append(ic.VIPs, v.Prefix.Addr())
		kv, err := kernelVIP(v, vi.Interface)
		if err != nil {
			return instancePlan{}, err
		}
		kernelVIPs = append(kernelVIPs, kv)
	}
	for _, v := range vi.ExcludedVIPs {
		ic.ExcludedVIPs = append(ic.ExcludedVIPs, v.Prefix.Addr())
		kv, err := kernelVIP(v, vi.Interface)
		if err != nil {
			return instancePlan{}, err
		}
		kernelVIPs = append(kernelVIPs, kv)
	}
	var routes []vrrp.VirtualRoute
	for _, r := range vi.Routes {
		vr, err := kernelRoute(r)
		if err != nil {
			return instancePlan{}, err
		}
		routes = append(routes, vr)
	}
	warns := ic.Normalize()

	cc := vrrp.ConnConfig{Interface: vi.Interface, Family: fam, UnicastTTL: vi.UnicastTTL}
	switch {
	case vi.UnicastSrcIP.IsValid():
		cc.Src = vi.UnicastSrcIP
	case vi.McastSrcIP.IsValid():
		cc.Src = vi.McastSrcIP
	}
	for _, p := range vi.UnicastPeers {
		cc.Peers = append(cc.Peers, p.Addr)
	}
	switch {
	case vi.McastDstIP.IsValid():
		cc.Group = vi.McastDstIP
	case fam == vrrp.FamilyIPv4 && g.VRRPMcastGroup4.IsValid():
		cc.Group = g.VRRPMcastGroup4
	case fam == vrrp.FamilyIPv6 && g.VRRPMcastGroup6.IsValid():
		cc.Group = g.VRRPMcastGroup6
	}
	dsts := cc.Peers
	if len(dsts) == 0 {
		dsts = []netip.Addr{cc.Group}
		if !cc.Group.IsValid() {
			dsts = []netip.Addr{vrrp.GroupIPv4}
			if fam == vrrp.FamilyIPv6 {
				dsts = []netip.Addr{vrrp.GroupIPv6}
			}
		}
	}

	exp := vrrp.Expect{
		Version: version, VRID: vi.VRID, Interval: advInt, Addrs: ic.VIPs,
		SkipAddrCheck:   boolOr(vi.SkipCheckAdvAddr, g.VRRPSkipCheckAdvAddr),
		Unicast:         len(cc.Peers) > 0,
		Peers:           cc.Peers,
		CheckUnicastSrc: vi.CheckUnicastSrc || g.VRRPCheckUnicastSrc,
	}
	var key [8]byte
	if vi.Auth != nil && version == 2 {
		switch vi.Auth.Type {
		case conf.AuthPass:
			exp.AuthType = vrrp.AuthPass
		case conf.AuthAH:
			exp.AuthType = vrrp.AuthAH
			cc.Protocol = vrrp.ProtocolAH
		}
		key = vrrp.AuthKey(vi.Auth.Pass)
		exp.AuthData = key
	}
	garpInt := g.VRRPGarpInterval
	if fam == vrrp.FamilyIPv6 {
		garpInt = g.VRRPGnaInterval
	}
	return instancePlan{
		Name: vi.Name,
		Conn: cc,
		Runner: vrrp.RunnerConfig{
			Instance: ic, Interface: vi.Interface, VIPs: kernelVIPs, Routes: routes,
			Src: cc.Src, Dsts: dsts, Expect: exp, AuthPass: key, GARPInterval: garpInt,
		},
		Warnings: warns,
	}, nil
}

// withSource completes a plan with the advert source the socket chose.
func (p instancePlan) withSource(src netip.Addr) vrrp.RunnerConfig {
	rc := p.Runner
	rc.Src = src
	rc.Instance.PrimaryAddr = src
	rc.Expect.Own = append(rc.Expect.Own, src)
	return rc
}

// kernelVIP turns a virtual_ipaddress line into what netlink gets.
func kernelVIP(v conf.VIP, iface string) (vrrp.VIP, error) {
	kv := vrrp.VIP{Prefix: v.Prefix, Dev: v.Dev, Label: v.Label, Broadcast: v.Brd,
		DAD: v.NoDAD, NoPrefixRoute: v.NoPrefixRoute}
	if kv.Dev == "" {
		kv.Dev = iface
	}
	s, err := scope(v.Scope)
	if err != nil {
		return vrrp.VIP{}, fmt.Errorf("virtual_ipaddress %s: %w", v.Prefix, err)
	}
	kv.Scope = s
	return kv, nil
}

func kernelRoute(r conf.Route) (vrrp.VirtualRoute, error) {
	vr := vrrp.VirtualRoute{Dst: r.Dst, Src: r.Src, Via: r.Via, Dev: r.Dev, Metric: int(r.Metric),
		Blackhole: r.Type == "blackhole"}
	if r.Table != "" {
		t, err := strconv.Atoi(r.Table)
		if err != nil {
			switch r.Table {
			case "main":
				t = 254
			case "local":
				t = 255
			default:
				return vr, fmt.Errorf("virtual_routes %s: table %q: use a number", r.Dst, r.Table)
			}
		}
		vr.Table = t
	}
	s, err := scope(r.Scope)
	if err != nil {
		return vr, fmt.Errorf("virtual_routes %s: %w", r.Dst, err)
	}
	vr.Scope = s
	return vr, nil
}

// scope maps ip(8)'s scope names (rtnetlink RT_SCOPE_*) to numbers.
func scope(s string) (uint8, error) {
	switch s {
	case "", "global", "universe":
		return 0, nil
	case "site":
		return 200, nil
	case "link":
		return 253, nil
	case "host":
		return 254, nil
	case "nowhere":
		return 255, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("scope %q: want global, site, link, host, nowhere or 0-255", s)
	}
	return uint8(n), nil
}

func boolOr(p *bool, def bool) bool {
	if p != nil {
		return *p
	}
	return def
}

func durOr(p *time.Duration, def time.Duration) time.Duration {
	if p != nil {
		return *p
	}
	return def
}

func intOr(p *int, def int) int {
	if p != nil {
		return *p
	}
	return def
}
