package conf

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ---- vrrp_script ----

func vrrpScriptKeywords() table {
	s := func(d *decoder) *VRRPScript { return d.cfg.VRRPScripts[len(d.cfg.VRRPScripts)-1] }
	return table{
		"script": func(d *decoder, n *Node) {
			if sc := d.commandLine(n); sc != nil {
				s(d).Script = sc.Cmd
			}
		},
		// interval and timeout are whole seconds in keepalived 2.2.7.
		"interval": func(d *decoder, n *Node) {
			v, ok := d.secondsArg(n, 0, 0, 4294)
			switch {
			case !ok:
				if argCount(n) > 0 {
					d.addNode(n, GeneralError, "(%s): vrrp script interval '%s' must be between 1 and 4294 - ignoring", s(d).Name, arg(n, 0))
				}
			case v == 0:
				d.addNode(n, GeneralError, "(%s): vrrp script interval must be greater than 0, setting to 1", s(d).Name)
				s(d).Interval = time.Second
			default:
				s(d).Interval = v
			}
		},
		"timeout": func(d *decoder, n *Node) {
			v, ok := d.secondsArg(n, 0, 0, 4294)
			switch {
			case !ok:
				if argCount(n) > 0 {
					d.addNode(n, GeneralError, "(%s): vrrp script timeout '%s' invalid - ignoring", s(d).Name, arg(n, 0))
				}
			case v == 0:
				d.addNode(n, GeneralError, "(%s): vrrp script timeout must be greater than 0, setting to 1", s(d).Name)
				s(d).Timeout = time.Second
			default:
				s(d).Timeout = v
			}
		},
		"weight": func(d *decoder, n *Node) {
			v, ok := d.intArg(n, 0, -253, 253)
			if !ok {
				if argCount(n) > 0 {
					d.addNode(n, GeneralError, "vrrp_script %s weight %s must be in [-253, 253]", s(d).Name, arg(n, 0))
				}
				return
			}
			s(d).Weight = int(v)
			if arg(n, 1) == "reverse" {
				s(d).WeightReverse = true
			}
		},
		"rise": scriptCount("rise", func(sc *VRRPScript) *int { return &sc.Rise }),
		"fall": scriptCount("fall", func(sc *VRRPScript) *int { return &sc.Fall }),
		"user": func(d *decoder, n *Node) {
			if d.need(n, 0) {
				s(d).User, s(d).Group = arg(n, 0), arg(n, 1)
			}
		},
		"init_fail": func(d *decoder, n *Node) { s(d).InitFail = true },
	}
}

func scriptCount(name string, get func(*VRRPScript) *int) handler {
	return func(d *decoder, n *Node) {
		sc := d.cfg.VRRPScripts[len(d.cfg.VRRPScripts)-1]
		v, ok := d.intArg(n, 0, 1, 2147483647)
		if !ok {
			if argCount(n) > 0 {
				d.addNode(n, GeneralError, "(%s): vrrp script %s value '%s' invalid, defaulting to 1", sc.Name, name, arg(n, 0))
			}
			*get(sc) = 1
			return
		}
		*get(sc) = int(v)
	}
}

func (d *decoder) vrrpScript(n *Node) {
	if !d.need(n, 0) || !d.needBlock(n) {
		return
	}
	sc := &VRRPScript{Name: arg(n, 0), Pos: n.Pos(), Interval: time.Second, Rise: 1, Fall: 1}
	d.cfg.VRRPScripts = append(d.cfg.VRRPScripts, sc)
	d.block(n.Block, d.table("vrrp_script"), &sc.Unsupported)
	if sc.Script == "" {
		d.addNode(n, GeneralError, "No script set for vrrp_script %s - removing", sc.Name)
		d.cfg.VRRPScripts = d.cfg.VRRPScripts[:len(d.cfg.VRRPScripts)-1]
	}
}

// ---- vrrp_track_file ----

func trackFileKeywords() table {
	f := func(d *decoder) *TrackFile { return d.cfg.VRRPTrackFiles[len(d.cfg.VRRPTrackFiles)-1] }
	return table{
		"file": func(d *decoder, n *Node) {
			if d.need(n, 0) {
				f(d).File = arg(n, 0)
			}
		},
		"weight": func(d *decoder, n *Node) {
			v, ok := d.intArg(n, 0, -254, 254)
			if !ok {
				return
			}
			f(d).Weight = int(v)
			f(d).WeightReverse = arg(n, 1) == "reverse"
		},
		"init_file": func(d *decoder, n *Node) {
			in := &InitFile{}
			for i := 0; i < argCount(n); i++ {
				if arg(n, i) == "overwrite" {
					in.Overwrite = true
					continue
				}
				if v, ok := d.intArg(n, i, -2147483648, 2147483647); ok {
					in.Value = int(v)
				}
			}
			f(d).InitFile = in
		},
	}
}

func (d *decoder) trackFile(n *Node) {
	if !d.need(n, 0) || !d.needBlock(n) {
		return
	}
	tf := &TrackFile{Name: arg(n, 0), Pos: n.Pos(), Weight: 1}
	d.cfg.VRRPTrackFiles = append(d.cfg.VRRPTrackFiles, tf)
	d.block(n.Block, d.table("track_file"), &tf.Unsupported)
	if tf.File == "" {
		d.addNode(n, GeneralError, "No file set for track_file %s - removing", tf.Name)
		d.cfg.VRRPTrackFiles = d.cfg.VRRPTrackFiles[:len(d.cfg.VRRPTrackFiles)-1]
	}
}

// ---- track lists shared by vrrp_instance and vrrp_sync_group ----

// trackList reads a track_interface/track_script/track_file block: one
// name per line, with an optional "weight N [reverse]".
func (d *decoder) trackList(n *Node, what, owner string, lo, hi int64) []TrackRef {
	if !d.needBlock(n) {
		return nil
	}
	var refs []TrackRef
	seen := map[string]bool{}
	for _, c := range n.Block {
		r := TrackRef{Name: c.Key.Text, Pos: c.Pos()}
		if seen[r.Name] {
			d.addNode(c, GeneralError, "(%s) duplicate %s %s - ignoring", owner, n.Key.Text, r.Name)
			continue
		}
		seen[r.Name] = true
		for i := 0; i < argCount(c); i++ {
			switch arg(c, i) {
			case "weight":
				v, ok := d.intArg(c, i+1, lo-1, hi+1)
				if ok && (v < lo || v > hi) {
					ok = false
				}
				if !ok {
					d.addNode(c, GeneralError, "(%s) %s %s: weight must be between [%d..%d] inclusive, ignoring...", owner, what, r.Name, lo, hi)
					i++
					continue
				}
				r.Weight = intp(int(v))
				i++
			case "reverse":
				r.Reverse = true
			case "noweight":
				r.Weight = intp(0)
			default:
				d.addNode(c, GeneralError, "(%s) unknown option '%s' for %s %s", owner, arg(c, i), what, r.Name)
			}
		}
		refs = append(refs, r)
	}
	return refs
}

// notifyKeywords adds the notify* keywords to t for the Notify returned by get.
func notifyKeywords(t table, get func(d *decoder) *Notify) {
	sc := func(set func(nt *Notify, s *Script)) handler {
		return func(d *decoder, n *Node) {
			if s := d.script(n); s != nil {
				set(get(d), s)
			}
		}
	}
	t["notify_master"] = sc(func(nt *Notify, s *Script) { nt.Master = s })
	t["notify_backup"] = sc(func(nt *Notify, s *Script) { nt.Backup = s })
	t["notify_fault"] = sc(func(nt *Notify, s *Script) { nt.Fault = s })
	t["notify_stop"] = sc(func(nt *Notify, s *Script) { nt.Stop = s })
	t["notify_deleted"] = sc(func(nt *Notify, s *Script) { nt.Deleted = s })
	t["notify"] = sc(func(nt *Notify, s *Script) { nt.Any = s })
	t["notify_master_rx_lower_pri"] = sc(func(nt *Notify, s *Script) { nt.MasterRxLowerPri = s })
	t["notify_priority_changes"] = optFlag(func(d *decoder) **bool { return &get(d).PriorityChanges })
}

// ---- vrrp_sync_group ----

func syncGroupKeywords() table {
	t := table{
		"group": func(d *decoder, n *Node) {
			if !d.needBlock(n) {
				return
			}
			d.sg.hasGroup = true
			for _, c := range n.Block {
				d.sg.Group = append(d.sg.Group, TrackRef{Name: c.Key.Text, Pos: c.Pos()})
			}
		},
		"track_interface": func(d *decoder, n *Node) {
			d.sg.TrackInterface = append(d.sg.TrackInterface, d.trackList(n, "track interface", d.sg.Name, -254, 254)...)
		},
		"track_script": func(d *decoder, n *Node) {
			d.sg.TrackScript = append(d.sg.TrackScript, d.trackList(n, "track script", d.sg.Name, -253, 253)...)
		},
		"track_file": func(d *decoder, n *Node) {
			d.sg.TrackFile = append(d.sg.TrackFile, d.trackList(n, "track file", d.sg.Name, -254, 254)...)
		},
		"smtp_alert":                 optFlag(func(d *decoder) **bool { return &d.sg.SMTPAlert }),
		"global_tracking":            deprecated("(global_tracking) global_tracking is deprecated. Use track_interface/script/file/bfd/process on each vrrp instance instead", setFlag(func(d *decoder) *bool { return &d.sg.GlobalTracking })),
		"sync_group_tracking_weight": setFlag(func(d *decoder) *bool { return &d.sg.TrackingWeight }),
		"track_process":              unsupported,
		"track_bfd":                  unsupported,
	}
	notifyKeywords(t, func(d *decoder) *Notify { return &d.sg.Notify })
	return t
}

func (d *decoder) syncGroup(n *Node) {
	if !d.need(n, 0) || !d.needBlock(n) {
		return
	}
	d.sg = &SyncGroup{Name: arg(n, 0), Pos: n.Pos()}
	d.cfg.SyncGroups = append(d.cfg.SyncGroups, d.sg)
	d.block(n.Block, d.table("sync_group"), &d.sg.Unsupported)
	d.sg = nil
}

// ---- vrrp_instance ----

func instanceKeywords() table {
	vi := func(d *decoder) *VRRPInstance { return d.vi }
	t := table{
		"state": func(d *decoder, n *Node) {
			if !d.need(n, 0) {
				return
			}
			switch arg(n, 0) {
			case "MASTER":
				d.vi.State = StateMaster
			case "BACKUP":
				d.vi.State = StateBackup
			default:
				d.addNode(n, GeneralError, "(%s) unknown state '%s', defaulting to BACKUP", d.vi.Name, arg(n, 0))
				d.vi.State = StateBackup
			}
		},
		"interface": func(d *decoder, n *Node) {
			if d.need(n, 0) {
				d.vi.Interface = arg(n, 0)
				d.vi.IfacePos = n.Pos()
			}
		},
		"virtual_router_id": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 1, 255); ok {
				d.vi.VRID = uint8(v)
			} else if argCount(n) > 0 {
				d.addNode(n, GeneralError, "(%s): VRID '%s' not valid - must be between 1 & 255", d.vi.Name, arg(n, 0))
			}
		},
		"priority": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 1, 255); ok {
				d.vi.Priority = uint8(v)
			} else if argCount(n) > 0 {
				d.addNode(n, GeneralError, "(%s) Priority not valid! must be between 1 & 255. Using default 100", d.vi.Name)
				d.vi.Priority = 100
			}
		},
		"advert_int": func(d *decoder, n *Node) {
			if v, ok := d.decimalArg(n, 0, 0.01, 255); ok {
				d.vi.AdvertInt = v
			} else if argCount(n) > 0 {
				d.addNode(n, GeneralError, "(%s) Advert interval (%s) not valid! Must be > 0 - ignoring", d.vi.Name, arg(n, 0))
			}
		},
		"version": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 2, 3); ok {
				d.vi.Version = int(v)
			} else if argCount(n) > 0 {
				d.addNode(n, GeneralError, "(%s): Version must be either 2 or 3", d.vi.Name)
			}
		},
		"authentication":             (*decoder).authentication,
		"virtual_ipaddress":          func(d *decoder, n *Node) { d.vi.VIPs = append(d.vi.VIPs, d.vipList(n, true)...) },
		"virtual_ipaddress_excluded": func(d *decoder, n *Node) { d.vi.ExcludedVIPs = append(d.vi.ExcludedVIPs, d.vipList(n, false)...) },
		"virtual_routes":             func(d *decoder, n *Node) { d.vi.Routes = append(d.vi.Routes, d.routeList(n, false)...) },
		"virtual_rules":              func(d *decoder, n *Node) { d.vi.Rules = append(d.vi.Rules, d.routeList(n, true)...) },
		"mcast_src_ip":               srcIP(func(v *VRRPInstance) *netip.Addr { return &v.McastSrcIP }),
		"unicast_src_ip":             srcIP(func(v *VRRPInstance) *netip.Addr { return &v.UnicastSrcIP }),
		"mcast_dst_ip":               srcIP(func(v *VRRPInstance) *netip.Addr { return &v.McastDstIP }),
		"unicast_peer":               (*decoder).unicastPeers,
		"unicast_ttl": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 0, 255); ok {
				d.vi.unicast = true
				d.vi.UnicastTTL = int(v)
			} else if argCount(n) > 0 {
				d.addNode(n, GeneralError, "(%s): TTL '%s' not valid - must be between 0 & 255", d.vi.Name, arg(n, 0))
			}
		},
		"track_interface": func(d *decoder, n *Node) {
			d.vi.TrackInterface = append(d.vi.TrackInterface, d.trackList(n, "track interface", d.vi.Name, -254, 254)...)
		},
		"track_script": func(d *decoder, n *Node) {
			d.vi.TrackScript = append(d.vi.TrackScript, d.trackList(n, "track script", d.vi.Name, -253, 253)...)
		},
		"track_file": func(d *decoder, n *Node) {
			d.vi.TrackFile = append(d.vi.TrackFile, d.trackList(n, "track file", d.vi.Name, -254, 254)...)
		},
		"dont_track_primary": setFlag(func(d *decoder) *bool { return &vi(d).DontTrackPrimary }),
		"nopreempt":          setFlag(func(d *decoder) *bool { return &vi(d).NoPreempt }),
		"preempt": func(d *decoder, n *Node) {
			d.vi.NoPreempt = false
		},
		"preempt_delay": func(d *decoder, n *Node) {
			if v, ok := d.decimalArg(n, 0, 0, 1000); ok {
				d.vi.PreemptDelay = v
			} else if argCount(n) > 0 {
				d.addNode(n, GeneralError, "(%s) Preempt_delay not valid! must be between 0-1000", d.vi.Name)
			}
		},
		"accept":              func(d *decoder, n *Node) { d.vi.Accept = boolp(true) },
		"no_accept":           func(d *decoder, n *Node) { d.vi.Accept = boolp(false) },
		"strict_mode":         func(d *decoder, n *Node) { d.vi.Strict, _ = d.boolArg(n, 0) },
		"skip_check_adv_addr": optFlag(func(d *decoder) **bool { return &vi(d).SkipCheckAdvAddr }),
		"check_unicast_src":   setFlag(func(d *decoder) *bool { return &vi(d).CheckUnicastSrc }),
		"promote_secondaries": setFlag(func(d *decoder) *bool { return &vi(d).PromoteSecondaries }),
		"use_vmac": func(d *decoder, n *Node) {
			name := arg(n, 0)
			d.vi.UseVMAC = &name
		},
		"smtp_alert":                 optFlag(func(d *decoder) **bool { return &vi(d).SMTPAlert }),
		"lower_prio_no_advert":       optFlag(func(d *decoder) **bool { return &vi(d).LowerPrioNoAdvert }),
		"higher_prio_send_advert":    optFlag(func(d *decoder) **bool { return &vi(d).HigherPrioSendAdvert }),
		"garp_master_delay":          instGarpDelay(func(v *VRRPInstance) **time.Duration { return &v.GarpMasterDelay }),
		"garp_master_refresh":        instGarpDelay(func(v *VRRPInstance) **time.Duration { return &v.GarpMasterRefresh }),
		"garp_lower_prio_delay":      instGarpDelay(func(v *VRRPInstance) **time.Duration { return &v.GarpLowerPrioDelay }),
		"garp_master_repeat":         instGarpRepeat(func(v *VRRPInstance) **int { return &v.GarpMasterRepeat }),
		"garp_master_refresh_repeat": instGarpRepeat(func(v *VRRPInstance) **int { return &v.GarpMasterRefreshRepeat }),
		"garp_lower_prio_repeat":     instGarpRepeat(func(v *VRRPInstance) **int { return &v.GarpLowerPrioRepeat }),
		"lvs_sync_daemon_interface": func(d *decoder, n *Node) {
			d.addNode(n, Deprecated, "(%s) Specifying lvs_sync_daemon_interface against a vrrp is deprecated. Please use global lvs_sync_daemon", d.vi.Name)
			unsupported(d, n)
		},
		"native_ipv6":           unsupported,
		"vrf":                   unsupported,
		"use_vmac_addr":         unsupported,
		"vmac_xmit_base":        unsupported,
		"use_ipvlan":            unsupported,
		"track_src_ip":          unsupported,
		"track_process":         unsupported,
		"track_bfd":             unsupported,
		"unicast_fault_no_peer": unsupported,
		"old_unicast_checksum":  unsupported,
		"garp_extra_if":         unsupported,
		"garp_extra_if_vmac":    unsupported,
		"down_timer_adverts":    unsupported,
		"debug":                 unsupported,
		"kernel_rx_buf_size":    unsupported,
		"linkbeat_use_polling":  unsupported,
	}
	notifyKeywords(t, func(d *decoder) *Notify { return &d.vi.Notify })
	return t
}

func (d *decoder) instance(n *Node) {
	if argCount(n) == 0 {
		d.addNode(n, GeneralError, "vrrp_instance must have a name")
		return
	}
	if !d.needBlock(n) {
		return
	}
	d.vi = &VRRPInstance{Name: arg(n, 0), Pos: n.Pos(), AdvertInt: time.Second}
	d.cfg.Instances = append(d.cfg.Instances, d.vi)
	d.block(n.Block, d.table("instance"), &d.vi.Unsupported)
	d.vi = nil
}

func authKeywords() table {
	return table{
		"auth_type": func(d *decoder, n *Node) {
			if !d.need(n, 0) {
				return
			}
			switch arg(n, 0) {
			case "PASS":
				d.vi.Auth.Type = AuthPass
			case "AH":
				d.vi.Auth.Type = AuthAH
			default:
				d.addNode(n, GeneralError, "(%s) unknown authentication type '%s'", d.vi.Name, arg(n, 0))
			}
		},
		"auth_pass": func(d *decoder, n *Node) {
			if !d.need(n, 0) {
				return
			}
			p := arg(n, 0)
			if len(p) > 8 {
				d.addNode(n, Warning, "Truncating auth_pass to 8 characters")
				p = p[:8]
			}
			d.vi.Auth.Pass = p
		},
	}
}

func (d *decoder) authentication(n *Node) {
	if !d.needBlock(n) {
		return
	}
	d.vi.Auth = &Authentication{Pos: n.Pos()}
	d.block(n.Block, d.table("auth"), &d.vi.Unsupported)
}

func srcIP(get func(v *VRRPInstance) *netip.Addr) handler {
	return func(d *decoder, n *Node) {
		if !d.need(n, 0) {
			return
		}
		a, ok := parseAddr(arg(n, 0))
		if !ok {
			d.addNode(n, GeneralError, "(%s) %s %s is not a valid IP address - ignoring", d.vi.Name, n.Key.Text, arg(n, 0))
			return
		}
		if n.Key.Text != "mcast_dst_ip" {
			d.vi.setFamily(a)
		}
		if n.Key.Text == "unicast_src_ip" {
			d.vi.unicast = true
		}
		*get(d.vi) = a
	}
}

func instGarpDelay(get func(v *VRRPInstance) **time.Duration) handler {
	return func(d *decoder, n *Node) {
		if v, ok := d.secondsArg(n, 0, 0, 4294); ok {
			*get(d.vi) = durp(v)
		} else if argCount(n) > 0 {
			d.addNode(n, GeneralError, "(%s): %s '%s' invalid - ignoring", d.vi.Name, n.Key.Text, arg(n, 0))
		}
	}
}

func instGarpRepeat(get func(v *VRRPInstance) **int) handler {
	return func(d *decoder, n *Node) {
		if v, ok := d.intArg(n, 0, 0, 2147483647); ok {
			*get(d.vi) = intp(int(v))
		} else if argCount(n) > 0 {
			d.addNode(n, GeneralError, "(%s): %s '%s' invalid - ignoring", d.vi.Name, n.Key.Text, arg(n, 0))
		}
	}
}

func (d *decoder) unicastPeers(n *Node) {
	if !d.needBlock(n) {
		return
	}
	d.vi.unicast = true
	for _, c := range n.Block {
		a, ok := parseAddr(c.Key.Text)
		if !ok {
			d.addNode(c, GeneralError, "Configuration error: VRRP instance[%s] malformed unicast peer address[%s]. Skipping...", d.vi.Name, c.Key.Text)
			continue
		}
		if !d.vi.setFamily(a) {
			d.addNode(c, GeneralError, "Configuration error: VRRP instance[%s] and unicast peer address[%s] MUST be of the same family !!! Skipping...", d.vi.Name, c.Key.Text)
			continue
		}
		p := UnicastPeer{Addr: a, Pos: c.Pos()}
		for i := 0; i < argCount(c); i += 2 {
			switch arg(c, i) {
			case "min_ttl":
				if v, ok := d.intArg(c, i+1, 0, 255); ok {
					p.MinTTL = int(v)
				}
			case "max_ttl":
				if v, ok := d.intArg(c, i+1, 0, 255); ok {
					p.MaxTTL = int(v)
				}
			default:
				d.addNode(c, GeneralError, "Unknown unicast_peer option '%s'", arg(c, i))
			}
		}
		d.vi.UnicastPeers = append(d.vi.UnicastPeers, p)
	}
}

var validScopes = map[string]bool{"site": true, "link": true, "host": true, "nowhere": true, "global": true}

// vipList reads a virtual_ipaddress(_excluded) block. In virtual_ipaddress
// all addresses must share the family of the first one (keepalived: the
// adverts carry one family); the excluded list may mix.
func (d *decoder) vipList(n *Node, sameFamily bool) []VIP {
	if !d.needBlock(n) {
		return nil
	}
	var out []VIP
	for _, c := range n.Block {
		v, ok := d.vip(c)
		if !ok {
			continue
		}
		if sameFamily && !d.vi.setFamily(v.Prefix.Addr()) {
			d.addNode(c, GeneralError, "(%s): address family must match VRRP instance [%s] - ignoring", d.vi.Name, c.Key.Text)
			continue
		}
		out = append(out, v)
	}
	return out
}

// vip parses one address line.
func (d *decoder) vip(c *Node) (VIP, bool) {
	v := VIP{Pos: c.Pos()}
	text := c.Key.Text
	p, bad := parsePrefix(text)
	switch bad {
	case "addr":
		d.addNode(c, GeneralError, "VRRP parsed invalid IP %s. skipping IP...", text)
		return v, false
	case "len":
		_, bits, _ := strings.Cut(text, "/")
		d.addNode(c, InvalidNumber, "number '%s' outside range [0, %d]", bits, p.Addr().BitLen())
		d.addNode(c, GeneralError, "Invalid address prefix len %s for address %s - using %d", bits, text, p.Addr().BitLen())
	}
	v.Prefix = p
	addr := p.Addr().String()
	for i := 0; i < argCount(c); i++ {
		k := arg(c, i)
		val := func() (string, bool) {
			if i+1 >= argCount(c) {
				d.addNode(c, GeneralError, "Missing value for '%s' of address %s - ignoring", k, addr)
				return "", false
			}
			i++
			return arg(c, i), true
		}
		switch k {
		case "brd", "broadcast":
			if s, ok := val(); ok {
				if a, ok := parseAddr(s); ok {
					v.Brd = a
				} else {
					d.addNode(c, GeneralError, "Invalid broadcast address %s for %s - ignoring", s, addr)
				}
			}
		case "dev":
			if s, ok := val(); ok {
				v.Dev = s
			}
		case "scope":
			if s, ok := val(); ok {
				if validScopes[s] || isUint(s) {
					v.Scope = s
				} else {
					d.addNode(c, GeneralError, "Invalid scope '%s' specified for %s - ignoring", s, addr)
				}
			}
		case "label":
			if s, ok := val(); ok {
				v.Label = s
			}
		case "peer":
			if s, ok := val(); ok {
				a, ok := parseAddr(s)
				if !ok {
					// keepalived drops the whole address line.
					d.addNode(c, GeneralError, "Invalid peer address %s", s)
					d.addNode(c, GeneralError, "VRRP parsed invalid IP %s. skipping IP...", s)
					return v, false
				}
				v.Peer = a
			}
		case "preferred_lft":
			if s, ok := val(); ok {
				v.PreferredLft = s
			}
		case "track_group":
			if s, ok := val(); ok {
				v.TrackGroup = s
			}
		case "home":
			v.Home = true
		case "-nodad": // keepalived 2.2.7 does not accept "nodad"
			v.NoDAD = true
		case "noprefixroute":
			v.NoPrefixRoute = true
		case "mngtmpaddr":
			v.MngTmpAddr = true
		case "autojoin":
			v.AutoJoin = true
		case "no_track":
			v.NoTrack = true
		case "use_vmac":
			v.UseVMAC = true
		default:
			d.addNode(c, GeneralError, "Unknown configuration entry '%s' for ip address - ignoring", k)
		}
	}
	return v, true
}

func isUint(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

var routeTypes = map[string]bool{"blackhole": true, "unreachable": true, "prohibit": true, "throw": true, "local": true, "broadcast": true, "anycast": true, "multicast": true, "unicast": true, "nat": true}

// routeList reads virtual_routes/static_routes (or, with rules set,
// virtual_rules/static_rules) lines: the line is kept whole in Args and
// the common fields are decoded. keepalived gives rules without a
// priority descending ones from 16384, and complains about it.
func (d *decoder) routeList(n *Node, rules bool) []Route {
	if !d.needBlock(n) {
		return nil
	}
	var out []Route
	for _, c := range n.Block {
		words := append([]string{c.Key.Text}, argsText(c)...)
		r := Route{Args: words, Pos: c.Pos()}
		invalid := false
		for i := 0; i < len(words); i++ {
			w := words[i]
			next := func() string {
				if i+1 < len(words) {
					i++
					return words[i]
				}
				return ""
			}
			switch w {
			case "src":
				if a, ok := parseAddr(next()); ok {
					r.Src = a
				}
			case "to", "from":
				a := next()
				p, bad := parsePrefix(a)
				if bad != "" {
					d.addNode(c, GeneralError, "VRRP parsed invalid IP %s. skipping IP...", a)
					kind := "route"
					if rules {
						kind = "rule"
					}
					d.addNode(c, GeneralError, "Invalid %s %s address %s", kind, w, a)
					r.Dst = netip.Prefix{}
					invalid = true
					continue
				}
				r.Dst = p
			case "via", "gw":
				if w == "gw" {
					d.addNode(c, Deprecated, "\"gw\" for routes is deprecated. Please use \"via\"")
				}
				if a, ok := parseAddr(next()); ok {
					r.Via = a
				}
			case "or":
				d.addNode(c, Deprecated, "\"or\" for routes is deprecated. Please use \"nexthop\"")
				if a, ok := parseAddr(next()); ok {
					r.Or = a
				}
			case "dev", "oif":
				r.Dev = next()
			case "table":
				r.Table = next()
			case "metric":
				if m, err := strconv.ParseUint(next(), 10, 32); err == nil {
					r.Metric = uint32(m)
				}
			case "priority", "preference", "pref":
				if m, err := strconv.ParseUint(next(), 10, 32); err == nil {
					v := uint32(m)
					r.Priority = &v
				}
			case "scope":
				r.Scope = next()
			case "no_track":
				r.NoTrack = true
			default:
				if routeTypes[w] && i == 0 {
					r.Type = w
					continue
				}
				if !r.Dst.IsValid() {
					if p, bad := parsePrefix(w); bad == "" {
						r.Dst = p
						continue
					}
				}
				// Other options (mtu, realms, …) stay in Args.
				if i+1 < len(words) && !isKnownRouteFlag(w) {
					i++
				}
			}
		}
		if invalid {
			continue
		}
		if rules && r.Priority == nil {
			v := d.nextRulePrio()
			r.Priority = &v
			d.addNode(c, GeneralError, "Rule has no preference specified - setting to %d. This is probably not what you want.", v)
		}
		if !rules && r.Dev == "" && !r.NoTrack {
			d.addNode(c, GeneralError, "Warning - cannot track route %s with no interface specified, not tracking", r.Dst)
			r.NoTrack = true
		}
		out = append(out, r)
	}
	return out
}

// nextRulePrio hands out keepalived's default rule priorities: 16384, then
// one less for each further rule without a priority.
func (d *decoder) nextRulePrio() uint32 {
	if d.rulePrio == 0 {
		d.rulePrio = 16384
	} else {
		d.rulePrio--
	}
	return d.rulePrio
}

func isKnownRouteFlag(w string) bool {
	switch w {
	case "onlink", "inet6", "inet", "l3mdev", "invert", "no_track":
		return true
	}
	return false
}

func argsText(n *Node) []string {
	s := make([]string, len(n.Args))
	for i, a := range n.Args {
		s[i] = a.Text
	}
	return s
}
