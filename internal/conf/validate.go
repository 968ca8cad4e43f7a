package conf

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// validate checks what keepalived checks once the whole file is read:
// defaults that depend on other keywords, cross references between
// blocks, and the interfaces named. Each finding names the Pos of the
// offending node; the wording is keepalived 2.2.7's.
func (d *decoder) validate() {
	d.validateInstances()
	d.validateSyncGroups()
	d.validateVirtualServers()
	d.validateInterfaces()
	d.validateScriptSecurity()
	d.validateScriptsFound()
}

// validateScriptsFound disables vrrp_scripts whose command keepalived
// cannot find or run ("Disabling track script X since not found/
// accessible"). Like the security check it needs ScriptExecutable.
func (d *decoder) validateScriptsFound() {
	if d.opts.ScriptExecutable == nil {
		return
	}
	for _, s := range d.cfg.VRRPScripts {
		cmd, _, _ := strings.Cut(strings.TrimSpace(s.Script), " ")
		if !d.opts.ScriptExecutable(cmd) {
			d.add(s.Pos, GeneralError, "Disabling track script %s since not found/accessible", s.Name)
		}
	}
}

// validateScriptSecurity reports keepalived's "SECURITY VIOLATION": scripts
// that would run as root because neither enable_script_security nor
// script_user is set (keepalived's default user keepalived_script rarely
// exists, and then it falls back to root). keepalived only counts scripts
// it finds executable, so the check needs DecodeOptions.ScriptExecutable.
func (d *decoder) validateScriptSecurity() {
	g := &d.cfg.Global
	if d.opts.ScriptExecutable == nil || g.EnableScriptSecurity || g.ScriptUser != "" {
		return
	}
	for _, s := range d.scripts() {
		if s.User != "" && s.User != "root" {
			continue // runs unprivileged
		}
		cmd, _, _ := strings.Cut(strings.TrimSpace(s.Cmd), " ")
		if cmd != "" && d.opts.ScriptExecutable(cmd) {
			d.add(Pos{}, SecurityError, "SECURITY VIOLATION - scripts are being executed but script_security not enabled.")
			return
		}
	}
}

// scripts lists every script of the configuration.
func (d *decoder) scripts() []*Script {
	var out []*Script
	addNotify := func(n *Notify) {
		for _, s := range []*Script{n.Master, n.Backup, n.Fault, n.Stop, n.Deleted, n.Any, n.MasterRxLowerPri} {
			if s != nil {
				out = append(out, s)
			}
		}
	}
	for _, s := range d.cfg.VRRPScripts {
		out = append(out, &Script{Cmd: s.Script, User: s.User, Pos: s.Pos})
	}
	for _, vi := range d.cfg.Instances {
		addNotify(&vi.Notify)
	}
	for _, sg := range d.cfg.SyncGroups {
		addNotify(&sg.Notify)
	}
	for _, vs := range d.cfg.VirtualServers {
		for _, s := range []*Script{vs.QuorumUp, vs.QuorumDown} {
			if s != nil {
				out = append(out, s)
			}
		}
		for _, rs := range vs.RealServers {
			for _, s := range []*Script{rs.NotifyUp, rs.NotifyDown} {
				if s != nil {
					out = append(out, s)
				}
			}
			for _, c := range rs.Checkers {
				if c.MiscPath != nil {
					out = append(out, c.MiscPath)
				}
			}
		}
	}
	return out
}

func (d *decoder) validateInstances() {
	scripts := map[string]bool{}
	for _, s := range d.cfg.VRRPScripts {
		scripts[s.Name] = true
	}
	files := map[string]bool{}
	for _, f := range d.cfg.VRRPTrackFiles {
		files[f.Name] = true
	}
	type vridKey struct {
		vrid   uint8
		family int
		iface  string
	}
	seen := map[vridKey]*VRRPInstance{}
	for _, vi := range d.cfg.Instances {
		if vi.VRID == 0 {
			d.add(vi.Pos, GeneralError, "(%s) the virtual router id must be set", vi.Name)
		}
		if len(vi.VIPs) == 0 {
			// keepalived counts this as an error even with excluded VIPs;
			// an IPv6 instance cannot run without one.
			need := "sensible"
			if vi.Family() == 6 {
				need = "required"
			}
			d.add(vi.Pos, GeneralError, "(%s) No VIP specified; at least one is %s", vi.Name, need)
		}
		if vi.Interface == "" && len(vi.UnicastPeers) == 0 {
			ifp := d.cfg.Global.DefaultInterface
			if ifp == "" || (d.opts.InterfaceExists != nil && !d.opts.InterfaceExists(ifp)) {
				d.add(vi.Pos, GeneralError, "(%s) Unknown interface!", vi.Name)
			}
		}
		// keepalived.conf(5): with no priority, an instance whose initial
		// state is MASTER is the address owner (255); otherwise 100.
		if vi.Priority == 0 {
			vi.Priority = 100
			if vi.State == StateMaster {
				vi.Priority = 255
			}
		}
		if vi.NoPreempt && vi.Priority == 255 {
			d.add(vi.Pos, GeneralError, "(%s) nopreempt is incompatible with priority 255. resetting nopreempt", vi.Name)
			vi.NoPreempt = false
		}
		if vi.NoPreempt && vi.PreemptDelay != 0 {
			d.add(vi.Pos, GeneralError, "(%s) preempt_delay is incompatible with nopreempt mode - resetting", vi.Name)
			vi.PreemptDelay = 0
		}
		if vi.State == StateMaster && vi.Auth != nil && vi.Auth.Type == AuthAH {
			d.add(vi.Pos, GeneralError, "(%s) Initial state master is incompatible with AH authentication - clearing", vi.Name)
			vi.State = StateBackup
		}
		if vi.Priority == 255 && vi.State == StateBackup {
			d.add(vi.Pos, Warning, "(%s) priority 255 with state BACKUP: the instance owns its addresses and will become MASTER - use state MASTER, or a priority below 255 for a backup", vi.Name)
		}
		version := vi.Version
		if version == 0 {
			version = d.cfg.Global.VRRPVersion
		}
		d.checkAdvertInt(vi, version)
		if len(vi.UnicastPeers) == 0 && vi.unicast {
			d.add(vi.Pos, GeneralError, "(%s) A unicast keyword has been specified without any unicast peers. Defaulting to multicast. This usage is deprecated - please update your configuration.", vi.Name)
		}
		var own []TrackRef
		for _, t := range vi.TrackInterface {
			if t.Name == vi.Interface {
				d.add(t.Pos, GeneralError, "(%s) Ignoring track_interface %s since own interface", vi.Name, t.Name)
				continue
			}
			own = append(own, t)
		}
		vi.TrackInterface = own
		vi.TrackScript = d.resolve(vi.TrackScript, scripts, func(r TrackRef) string {
			return fmt.Sprintf("(%s) track script %s not found, ignoring...", vi.Name, r.Name)
		})
		vi.TrackFile = d.resolve(vi.TrackFile, files, func(r TrackRef) string {
			return fmt.Sprintf("(%s) track file %s not found, ignoring...", vi.Name, r.Name)
		})
		if vi.VRID != 0 {
			k := vridKey{vi.VRID, vi.Family(), vi.Interface}
			if other, dup := seen[k]; dup {
				d.add(vi.Pos, GeneralError, "%s and %s both use VRID %d with IPv%d on interface %s", other.Name, vi.Name, vi.VRID, vi.Family(), vi.Interface)
			} else {
				seen[k] = vi
			}
		}
	}
}

// checkAdvertInt applies keepalived's rounding: VRRPv2 adverts carry whole
// seconds (RFC 3768 §5.3.7), VRRPv3 centiseconds (RFC 5798 §5.2.7).
func (d *decoder) checkAdvertInt(vi *VRRPInstance, version int) {
	secs := vi.AdvertInt.Seconds()
	switch version {
	case 2:
		if vi.AdvertInt%time.Second != 0 {
			d.add(vi.Pos, GeneralError, "(%s) VRRPv2 advertisement interval %fs must be an integer. rounding", vi.Name, secs)
			r := math.Round(secs)
			if r < 1 {
				r = 1
			}
			vi.AdvertInt = time.Duration(r) * time.Second
		}
	case 3:
		if vi.AdvertInt%(10*time.Millisecond) != 0 {
			d.add(vi.Pos, GeneralError, "(%s) VRRPv3 advertisement interval %fs must be in units of 10ms - rounding", vi.Name, secs)
			vi.AdvertInt = vi.AdvertInt.Round(10 * time.Millisecond)
		}
	}
}

// resolve drops the references whose name is not in known, reporting each.
func (d *decoder) resolve(refs []TrackRef, known map[string]bool, msg func(TrackRef) string) []TrackRef {
	var out []TrackRef
	for _, r := range refs {
		if !known[r.Name] {
			d.add(r.Pos, GeneralError, "%s", msg(r))
			continue
		}
		out = append(out, r)
	}
	return out
}

func (d *decoder) validateSyncGroups() {
	byName := map[string]*VRRPInstance{}
	for _, vi := range d.cfg.Instances {
		byName[vi.Name] = vi
	}
	scripts := map[string]bool{}
	for _, s := range d.cfg.VRRPScripts {
		scripts[s.Name] = true
	}
	inGroup := map[string]string{}
	var keep []*SyncGroup
	for _, sg := range d.cfg.SyncGroups {
		if len(sg.Group) == 0 {
			if sg.hasGroup {
				d.add(sg.Pos, Warning, "Warning - sync group %s has empty group block", sg.Name)
			}
			d.add(sg.Pos, GeneralError, "Sync group %s has no virtual router(s). removing", sg.Name)
			continue
		}
		var members []TrackRef
		for _, m := range sg.Group {
			if _, ok := byName[m.Name]; !ok {
				d.add(m.Pos, GeneralError, "Virtual router %s specified in sync group %s doesn't exist - ignoring", m.Name, sg.Name)
				continue
			}
			if g, ok := inGroup[m.Name]; ok && g != sg.Name {
				d.add(m.Pos, GeneralError, "Virtual router %s cannot exist in more than one sync group; ignoring %s", m.Name, sg.Name)
				continue
			}
			inGroup[m.Name] = sg.Name
			members = append(members, m)
		}
		sg.Group = members
		switch len(members) {
		case 0:
			d.add(sg.Pos, GeneralError, "Sync group %s, no matching virtual router found in group declaration - removing", sg.Name)
			continue
		case 1:
			d.add(sg.Pos, GeneralError, "Sync group %s has only 1 virtual router(s) - this probably isn't what you want", sg.Name)
		}
		for _, m := range members {
			vi := byName[m.Name]
			for _, t := range sg.TrackInterface {
				for _, it := range vi.TrackInterface {
					if it.Name == t.Name {
						d.add(it.Pos, GeneralError, "(%s) track_interface %s is configured on VRRP instance and sync group. Remove vrrp instance or sync group config", vi.Name, t.Name)
					}
				}
				if t.Name == vi.Interface {
					d.add(t.Pos, GeneralError, "(%s) track_interface %s is configured on VRRP instance and sync group. Remove vrrp instance or sync group config", vi.Name, t.Name)
				}
			}
		}
		sg.TrackScript = d.resolve(sg.TrackScript, scripts, func(r TrackRef) string {
			return fmt.Sprintf("(%s) track script %s not found, ignoring...", sg.Name, r.Name)
		})
		keep = append(keep, sg)
	}
	d.cfg.SyncGroups = keep
}

func (d *decoder) validateVirtualServers() {
	groups := map[string]*VirtualServerGroup{}
	for _, g := range d.cfg.VirtualServerGroups {
		groups[g.Name] = g
	}
	var keep []*VirtualServer
	for _, vs := range d.cfg.VirtualServers {
		if len(vs.RealServers) == 0 {
			d.add(vs.Pos, GeneralError, "Virtual server %s has no real servers - ignoring", vsName(vs))
			continue
		}
		if g := groups[vs.Group]; g != nil && vs.IPFamily == 0 {
			var v4, v6, fwm bool
			for _, m := range g.Members {
				switch {
				case m.Fwmark != 0:
					fwm = true
				case m.Addr.Is4():
					v4 = true
				default:
					v6 = true
				}
			}
			if v4 && v6 && fwm {
				d.add(vs.Pos, GeneralError, "virtual server group %s cannot have IPv4, IPv6 and fwmark without family - removing", g.Name)
				continue
			}
		}
		if vs.Group != "" && groups[vs.Group] == nil {
			// keepalived 2.2.7 -t accepts this silently (exit 0) and
			// never configures the service. vigil drops it too and says
			// so with a Warning, which does not fail the check.
			d.add(vs.Pos, Warning, "virtual_server group %s is not defined by any virtual_server_group - virtual server ignored", vs.Group)
			continue
		}
		// keepalived 2.2.7 reports these defaults as configuration errors;
		// the protocol defaults to UDP, not TCP.
		if vs.Fwmark == 0 && vs.Protocol == ProtoDefault {
			d.add(vs.Pos, GeneralError, "Virtual server %s: no protocol set - defaulting to UDP", vsName(vs))
			vs.Protocol = ProtoUDP
		}
		if vs.LBAlgo == "" {
			d.add(vs.Pos, GeneralError, "Virtual server %s: no scheduler set, setting default 'wlc'", vsName(vs))
			vs.LBAlgo = "wlc"
		}
		if vs.LBKind == LBKindDefault {
			d.add(vs.Pos, GeneralError, "Virtual server %s: no forwarding method set, setting default NAT", vsName(vs))
			vs.LBKind = LBKindNAT
		}
		if vs.Fwmark != 0 && vs.Protocol != ProtoDefault {
			d.add(vs.Pos, GeneralError, "Warning: Virtual server %s: protocol specified for fwmark - protocol will be ignored", vsName(vs))
			vs.Protocol = ProtoDefault
		}
		keep = append(keep, vs)
	}
	d.cfg.VirtualServers = keep
}

// validateInterfaces reports the interfaces that do not exist, as keepalived
// -t does: one line per use, then one summary line (CONFIG_BAD_IF).
func (d *decoder) validateInterfaces() {
	exists := d.opts.InterfaceExists
	if exists == nil {
		return
	}
	bad := false
	check := func(name string, pos Pos, format string, args ...any) {
		if name == "" || exists(name) {
			return
		}
		bad = true
		d.add(pos, BadIf, format, args...)
	}
	for _, vi := range d.cfg.Instances {
		check(vi.Interface, vi.IfacePos, "WARNING - interface %s for vrrp_instance %s doesn't exist", vi.Interface, vi.Name)
		for _, t := range vi.TrackInterface {
			check(t.Name, t.Pos, "(%s) tracked interface %s doesn't exist", vi.Name, t.Name)
		}
		for _, list := range [][]VIP{vi.VIPs, vi.ExcludedVIPs} {
			for _, v := range list {
				check(v.Dev, v.Pos, "WARNING - interface %s for ip address %s doesn't exist", v.Dev, v.Prefix.Addr())
			}
		}
		for _, r := range vi.Routes {
			check(r.Dev, r.Pos, "WARNING - interface %s for VROUTE nexthop doesn't exist", r.Dev)
		}
	}
	for _, v := range d.cfg.StaticIPAddresses {
		check(v.Dev, v.Pos, "WARNING - interface %s for ip address %s doesn't exist", v.Dev, v.Prefix.Addr())
	}
	for _, r := range d.cfg.StaticRoutes {
		check(r.Dev, r.Pos, "WARNING - interface %s for VROUTE nexthop doesn't exist", r.Dev)
	}
	for _, sg := range d.cfg.SyncGroups {
		for _, t := range sg.TrackInterface {
			check(t.Name, t.Pos, "(%s) tracked interface %s doesn't exist", sg.Name, t.Name)
		}
	}
	if bad {
		d.add(Pos{}, BadIf, "Non-existent interface specified in configuration")
	}
}
