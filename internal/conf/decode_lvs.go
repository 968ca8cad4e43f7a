package conf

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ---- virtual_server_group ----

func (d *decoder) virtualServerGroup(n *Node) {
	if !d.need(n, 0) || !d.needBlock(n) {
		return
	}
	g := &VirtualServerGroup{Name: arg(n, 0), Pos: n.Pos()}
	d.cfg.VirtualServerGroups = append(d.cfg.VirtualServerGroups, g)
	for _, c := range n.Block {
		m := VSGMember{Pos: c.Pos()}
		if c.Key.Text == "fwmark" {
			if v, ok := d.intArg(c, 0, 1, 4294967295); ok {
				m.Fwmark = uint32(v)
				g.Members = append(g.Members, m)
			}
			continue
		}
		// <IPADDR>[-<LAST-OCTET-OR-GROUP>] <PORT>
		first, last, isRange := strings.Cut(c.Key.Text, "-")
		a, ok := parseAddr(first)
		if !ok {
			d.addNode(c, GeneralError, "Invalid virtual server group IP address %s - skipping", c.Key.Text)
			continue
		}
		m.Addr = a
		if isRange {
			end, ok := rangeEnd(a, last)
			if !ok {
				d.addNode(c, GeneralError, "Invalid virtual server group IP address range %s - skipping", c.Key.Text)
				continue
			}
			m.End = end
		}
		if argCount(c) > 0 {
			p, ok := d.intArg(c, 0, 0, 65535)
			if !ok {
				continue
			}
			m.Port = uint16(p)
		}
		g.Members = append(g.Members, m)
	}
}

// rangeEnd computes the end of "A.B.C.D-E" (last byte) or "x::y-z" (last
// 16 bits, hexadecimal), as keepalived.conf(5) describes.
func rangeEnd(a netip.Addr, last string) (netip.Addr, bool) {
	b := a.AsSlice()
	if a.Is4() {
		v, err := strconv.ParseUint(last, 10, 8)
		if err != nil || byte(v) < b[3] {
			return netip.Addr{}, false
		}
		b[3] = byte(v)
		e, _ := netip.AddrFromSlice(b)
		return e, true
	}
	v, err := strconv.ParseUint(last, 16, 16)
	if err != nil || uint16(v) < uint16(b[14])<<8|uint16(b[15]) {
		return netip.Addr{}, false
	}
	b[14], b[15] = byte(v>>8), byte(v)
	e, _ := netip.AddrFromSlice(b)
	return e.WithZone(a.Zone()), true
}

// ---- virtual_server ----

var schedulers = map[string]bool{
	"rr": true, "wrr": true, "lc": true, "wlc": true, "lblc": true, "lblcr": true, "dh": true, "sh": true,
	"sed": true, "nq": true, "fo": true, "ovf": true, "mh": true, "twos": true,
}

// checkerDefaultKeywords adds the timing keywords shared by virtual_server,
// real_server and the checkers to t.
func checkerDefaultKeywords(t table) {
	t["connect_timeout"] = func(d *decoder, n *Node) {
		if v, ok := d.decimalArg(n, 0, 0.000001, 4294.967295); ok {
			d.cd.ConnectTimeout = v
		} else if argCount(n) > 0 {
			d.addNode(n, GeneralError, "connect_timeout %s invalid - ignoring", arg(n, 0))
		}
	}
	t["retry"] = func(d *decoder, n *Node) {
		if v, ok := d.intArg(n, 0, 0, 4294967295); ok {
			d.cd.Retry = intp(int(v))
		} else if argCount(n) > 0 {
			d.addNode(n, GeneralError, "Invalid retry connection value '%s'", arg(n, 0))
		}
	}
	t["delay_before_retry"] = func(d *decoder, n *Node) {
		if v, ok := d.decimalArg(n, 0, 0, 4294); ok {
			d.cd.DelayBeforeRetry = v
		}
	}
	t["warmup"] = func(d *decoder, n *Node) {
		if v, ok := d.decimalArg(n, 0, 0, 4294); ok {
			d.cd.Warmup = durp(v)
		}
	}
	t["delay_loop"] = func(d *decoder, n *Node) {
		// keepalived keeps microseconds in 64 bits.
		v, ok := d.decimalArgText(n, 0, 0.000001, 18446744073709.551614, "[0.000001, 18446744073709.551614]")
		switch {
		case ok:
			d.cd.DelayLoop = v
		case argCount(n) == 0:
		case d.chk != nil:
			d.addNode(n, GeneralError, "delay_loop '%s' is invalid - ignoring", arg(n, 0))
		case d.rs != nil:
			d.addNode(n, GeneralError, "real server delay loop '%s' invalid - ignoring", arg(n, 0))
		default:
			d.addNode(n, GeneralError, "virtual server delay loop '%s' invalid - ignoring", arg(n, 0))
		}
	}
}

func lbKind(d *decoder, n *Node, what string) (LBKind, bool) {
	if !d.need(n, 0) {
		return 0, false
	}
	switch arg(n, 0) {
	case "NAT":
		return LBKindNAT, true
	case "DR":
		return LBKindDR, true
	case "TUN":
		return LBKindTUN, true
	}
	d.addNode(n, GeneralError, "PARSER : unknown [%s] routing method for %s.", arg(n, 0), what)
	return 0, false
}

func virtualServerKeywords() table {
	vs := func(d *decoder) *VirtualServer { return d.vs }
	t := table{
		"lb_algo": func(d *decoder, n *Node) {
			if !d.need(n, 0) {
				return
			}
			if !schedulers[arg(n, 0)] {
				d.addNode(n, GeneralError, "Invalid lvs_scheduler '%s' - ignoring", arg(n, 0))
				return
			}
			d.vs.LBAlgo = arg(n, 0)
		},
		"lb_kind": func(d *decoder, n *Node) {
			if k, ok := lbKind(d, n, "virtual server"); ok {
				d.vs.LBKind = k
			}
		},
		"protocol": func(d *decoder, n *Node) {
			if !d.need(n, 0) {
				return
			}
			switch strings.ToUpper(arg(n, 0)) {
			case "TCP":
				d.vs.Protocol = ProtoTCP
			case "UDP":
				d.vs.Protocol = ProtoUDP
			case "SCTP":
				d.vs.Protocol = ProtoSCTP
			default:
				d.addNode(n, GeneralError, "Unknown protocol %s - ignoring", arg(n, 0))
			}
		},
		"ip_family": func(d *decoder, n *Node) {
			switch arg(n, 0) {
			case "inet":
				d.vs.IPFamily = 4
			case "inet6":
				d.vs.IPFamily = 6
			default:
				d.addNode(n, GeneralError, "unknown address family %s", arg(n, 0))
			}
		},
		"persistence_timeout": func(d *decoder, n *Node) {
			if argCount(n) == 0 {
				d.vs.PersistenceTimeout = 6 * time.Minute // keepalived.conf(5): default 360 s
				return
			}
			if v, ok := d.secondsArg(n, 0, 1, 86400*31); ok {
				d.vs.PersistenceTimeout = v
			} else {
				d.addNode(n, GeneralError, "persistence_timeout invalid")
			}
		},
		"persistence_granularity": str(func(d *decoder) *string { return &vs(d).PersistenceGranularity }),
		"persistence_engine":      str(func(d *decoder) *string { return &vs(d).PersistenceEngine }),
		"ha_suspend":              setFlag(func(d *decoder) *bool { return &vs(d).HASuspend }),
		"virtualhost":             str(func(d *decoder) *string { return &vs(d).Virtualhost }),
		"alpha":                   setFlag(func(d *decoder) *bool { return &vs(d).Alpha }),
		"omega":                   setFlag(func(d *decoder) *bool { return &vs(d).Omega }),
		"weight": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 0, 2147483647); ok {
				w := int(v)
				d.vs.Weight = &w
			}
		},
		"quorum": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 1, 4294967295); ok {
				d.vs.Quorum = uint32(v)
			} else if argCount(n) > 0 {
				d.addNode(n, GeneralError, "Invalid quorum %s - must be at least 1; using 1", arg(n, 0))
			}
		},
		"hysteresis": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 0, 4294967295); ok {
				d.vs.Hysteresis = uint32(v)
			}
		},
		"quorum_up":          func(d *decoder, n *Node) { d.vs.QuorumUp = d.script(n) },
		"quorum_down":        func(d *decoder, n *Node) { d.vs.QuorumDown = d.script(n) },
		"inhibit_on_failure": setFlag(func(d *decoder) *bool { return &vs(d).InhibitOnFailure }),
		"smtp_alert":         optFlag(func(d *decoder) **bool { return &vs(d).SMTPAlert }),
		"sorry_server":       (*decoder).sorryServer,
		"sorry_server_inhibit": func(d *decoder, n *Node) {
			if d.vs.SorryServer != nil {
				d.vs.SorryServer.Inhibit = true
			}
		},
		"sorry_server_lvs_method": func(d *decoder, n *Node) {
			if k, ok := lbKind(d, n, "sorry server"); ok && d.vs.SorryServer != nil {
				d.vs.SorryServer.LBKind = k
			}
		},
		"real_server": (*decoder).realServer,
		// scheduler flags
		"flag-1": schedFlag, "flag-2": schedFlag, "flag-3": schedFlag,
		"sh-port": schedFlag, "sh-fallback": schedFlag, "mh-port": schedFlag, "mh-fallback": schedFlag,
		"ops":       schedFlag,
		"snmp_name": unsupported,
	}
	// keepalived.conf(5) documents lvs_sched and lvs_method; keepalived
	// 2.2.7 still accepts the older lb_algo and lb_kind without comment.
	t["lvs_sched"] = alias(t["lb_algo"])
	t["lvs_method"] = alias(t["lb_kind"])
	checkerDefaultKeywords(t)
	return t
}

// schedFlag records a scheduler flag. keepalived 2.2.7 accepts sh-* only
// with lb_algo sh, and mh-* with sh or mh, checking the lb_algo given so
// far (its message names sh for both).
func schedFlag(d *decoder, n *Node) {
	k := n.Key.Text
	if (strings.HasPrefix(k, "sh-") && d.vs.LBAlgo != "sh") ||
		(strings.HasPrefix(k, "mh-") && d.vs.LBAlgo != "sh" && d.vs.LBAlgo != "mh") {
		d.addNode(n, GeneralError, "%s only applies to sh scheduler - ignoring", k)
		return
	}
	d.vs.SchedFlags = append(d.vs.SchedFlags, k)
}

func (d *decoder) sorryServer(n *Node) {
	if !d.need(n, 0) {
		return
	}
	a, ok := parseAddr(arg(n, 0))
	if !ok {
		d.addNode(n, GeneralError, "Invalid sorry_server IP address %s - ignoring", arg(n, 0))
		return
	}
	ss := &SorryServer{Addr: a, Pos: n.Pos()}
	if argCount(n) > 1 {
		p, ok := d.intArg(n, 1, 0, 65535)
		if !ok {
			return
		}
		ss.Port = uint16(p)
	}
	d.vs.SorryServer = ss
}

// vsName renders a virtual server as keepalived's messages do.
func vsName(vs *VirtualServer) string {
	switch {
	case vs.Group != "":
		return fmt.Sprintf("[%s]:%d", vs.Group, vs.Port)
	case vs.Fwmark != 0:
		return fmt.Sprintf("FWM %d", vs.Fwmark)
	}
	proto := "none"
	switch vs.Protocol {
	case ProtoTCP:
		proto = "tcp"
	case ProtoUDP:
		proto = "udp"
	case ProtoSCTP:
		proto = "sctp"
	}
	return fmt.Sprintf("[%s]:%s:%d", vs.Addr, proto, vs.Port)
}

// virtualServer reads "virtual_server IP PORT", "virtual_server fwmark N"
// or "virtual_server group NAME". keepalived skips the whole block when the
// address or port is invalid.
func (d *decoder) virtualServer(n *Node) {
	if !d.need(n, 0) || !d.needBlock(n) {
		return
	}
	vs := &VirtualServer{Pos: n.Pos(), Quorum: 1}
	vs.DelayLoop = 60 * time.Second
	switch arg(n, 0) {
	case "group":
		if !d.need(n, 1) {
			return
		}
		vs.Group = arg(n, 1)
	case "fwmark":
		v, ok := d.intArg(n, 1, 1, 4294967295)
		if !ok {
			d.addNode(n, GeneralError, "virtual server fwmark '%s' invalid - skipping", arg(n, 1))
			return
		}
		vs.Fwmark = uint32(v)
	default:
		a, ok := parseAddr(arg(n, 0))
		if !ok {
			d.addNode(n, GeneralError, "Invalid virtual server IP address/port %s/%s - skipping", arg(n, 0), arg(n, 1))
			return
		}
		vs.Addr = a
		if argCount(n) > 1 {
			// keepalived 2.2.7 reports ports outside [1, 65535] but
			// accepts a literal 0 (and then forces persistence: "zero
			// port only valid for persistent services - setting").
			p, ok := int64(0), arg(n, 1) == "0"
			if !ok {
				p, ok = d.intArg(n, 1, 1, 65535)
			}
			if !ok {
				d.addNode(n, GeneralError, "Invalid virtual server IP address/port %s/%s - skipping", arg(n, 0), arg(n, 1))
				return
			}
			vs.Port = uint16(p)
		}
	}
	d.cfg.VirtualServers = append(d.cfg.VirtualServers, vs)
	d.vs, d.cd = vs, &vs.CheckerDefaults
	d.block(n.Block, d.table("vs"), &vs.Unsupported)
	d.vs, d.cd = nil, nil
}

// ---- real_server ----

func realServerKeywords() table {
	rs := func(d *decoder) *RealServer { return d.rs }
	t := table{
		"weight": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 0, 2147483647); ok {
				d.rs.Weight = int(v)
			} else if argCount(n) > 0 {
				d.addNode(n, GeneralError, "Real server weight %s is outside range 0-2147483647", arg(n, 0))
			}
		},
		// Only lvs_method inside real_server: keepalived 2.2.7 reports
		// lb_kind there as an unknown keyword.
		"lvs_method": func(d *decoder, n *Node) {
			if k, ok := lbKind(d, n, "real server"); ok {
				d.rs.LBKind = k
			}
		},
		"notify_up":   func(d *decoder, n *Node) { d.rs.NotifyUp = d.script(n) },
		"notify_down": func(d *decoder, n *Node) { d.rs.NotifyDown = d.script(n) },
		"uthreshold": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 0, 4294967295); ok {
				d.rs.UThreshold = uint32(v)
			}
		},
		"lthreshold": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 0, 4294967295); ok {
				d.rs.LThreshold = uint32(v)
			}
		},
		"inhibit_on_failure": optFlag(func(d *decoder) **bool { return &rs(d).InhibitOnFailure }),
		"virtualhost":        str(func(d *decoder) *string { return &rs(d).Virtualhost }),
		"alpha":              setFlag(func(d *decoder) *bool { return &rs(d).Alpha }),
		"smtp_alert":         optFlag(func(d *decoder) **bool { return &rs(d).SMTPAlert }),
		"HTTP_GET":           checkerBlock(HTTPGet),
		"SSL_GET":            checkerBlock(SSLGet),
		"TCP_CHECK":          checkerBlock(TCPCheck),
		"SMTP_CHECK":         checkerBlock(SMTPCheck),
		"MISC_CHECK":         checkerBlock(MiscCheck),
		"DNS_CHECK":          checkerBlock(DNSCheck),
		"PING_CHECK":         unsupported,
		"UDP_CHECK":          unsupported,
		"FILE_CHECK":         unsupported,
		"BFD_CHECK":          unsupported,
		"snmp_name":          unsupported,
	}
	checkerDefaultKeywords(t)
	return t
}

func (d *decoder) realServer(n *Node) {
	if !d.need(n, 0) || !d.needBlock(n) {
		return
	}
	a, ok := parseAddr(arg(n, 0))
	if !ok {
		d.addNode(n, GeneralError, "Invalid real server ip address/port %s/%s - skipping", arg(n, 0), arg(n, 1))
		return
	}
	rs := &RealServer{Pos: n.Pos(), Addr: a, Weight: 1}
	if d.vs.Weight != nil {
		rs.Weight = *d.vs.Weight
	}
	if argCount(n) > 1 {
		p, ok := d.intArg(n, 1, 0, 65535)
		if !ok {
			d.addNode(n, GeneralError, "Invalid real server ip address/port %s/%s - skipping", arg(n, 0), arg(n, 1))
			return
		}
		rs.Port = uint16(p)
	}
	d.vs.RealServers = append(d.vs.RealServers, rs)
	savedCD := d.cd
	d.rs, d.cd = rs, &rs.CheckerDefaults
	d.block(n.Block, d.table("rs"), &rs.Unsupported)
	d.rs, d.cd = nil, savedCD
}
