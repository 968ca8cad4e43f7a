package conf

import (
	"net/netip"
	"strings"
	"time"
)

// Defaults from keepalived.conf(5), "Global definitions".
var (
	defaultMcastGroup4 = netip.MustParseAddr("224.0.0.18")
	defaultMcastGroup6 = netip.MustParseAddr("ff02::12")
)

func defaultGlobal() GlobalDefs {
	return GlobalDefs{
		SMTPConnectTimeout:          30 * time.Second,
		VRRPMcastGroup4:             defaultMcastGroup4,
		VRRPMcastGroup6:             defaultMcastGroup6,
		VRRPVersion:                 2,
		VRRPGarpMasterDelay:         5 * time.Second,
		VRRPGarpMasterRepeat:        5,
		VRRPGarpLowerPrioRepeat:     0,
		VRRPGarpMasterRefreshRepeat: 1,
	}
}

// globalKeywords is the global_defs table. Keywords keepalived.conf(5)
// documents but vigil does not implement are listed as unsupported.
func globalKeywords() table {
	g := func(d *decoder) *GlobalDefs { return &d.cfg.Global }
	t := table{
		"notification_email": func(d *decoder, n *Node) {
			if !d.needBlock(n) {
				return
			}
			for _, c := range n.Block {
				g(d).NotificationEmail = append(g(d).NotificationEmail, c.Key.Text)
			}
		},
		"notification_email_from": str(func(d *decoder) *string { return &g(d).NotificationEmailFrom }),
		"smtp_server":             (*decoder).smtpServer,
		"smtp_helo_name":          str(func(d *decoder) *string { return &g(d).SMTPHeloName }),
		"smtp_connect_timeout": func(d *decoder, n *Node) {
			if v, ok := d.secondsArg(n, 0, 0, 4294); ok {
				g(d).SMTPConnectTimeout = v
			} else if argCount(n) > 0 {
				d.addNode(n, GeneralError, "smtp_connect_timeout '%s' must be in [0, 4294] - ignoring", arg(n, 0))
			}
		},
		"smtp_alert":         optFlag(func(d *decoder) **bool { return &g(d).SMTPAlert }),
		"smtp_alert_vrrp":    optFlag(func(d *decoder) **bool { return &g(d).SMTPAlertVRRP }),
		"smtp_alert_checker": optFlag(func(d *decoder) **bool { return &g(d).SMTPAlertChecker }),
		"no_email_faults":    setFlag(func(d *decoder) *bool { return &g(d).NoEmailFaults }),
		"router_id": func(d *decoder, n *Node) {
			if argCount(n) == 0 {
				d.addNode(n, GeneralError, "routerid name missing - ignoring")
				return
			}
			g(d).RouterID = arg(n, 0)
		},
		"default_interface":  str(func(d *decoder) *string { return &g(d).DefaultInterface }),
		"dynamic_interfaces": setFlag(func(d *decoder) *bool { return &g(d).DynamicInterfaces }),
		"vrrp_mcast_group4":  mcastGroup(4),
		"vrrp_mcast_group6":  mcastGroup(6),
		"vrrp_version": func(d *decoder, n *Node) {
			if v, ok := d.intArg(n, 0, 2, 3); ok {
				g(d).VRRPVersion = int(v)
			} else {
				d.addNode(n, GeneralError, "VRRP Error: Version must be either 2 or 3")
			}
		},
		"vrrp_strict":            setFlag(func(d *decoder) *bool { return &g(d).VRRPStrict }),
		"vrrp_garp_master_delay": garpDelay(func(d *decoder) *time.Duration { return &g(d).VRRPGarpMasterDelay }),
		"vrrp_garp_master_refresh": func(d *decoder, n *Node) {
			if v, ok := d.secondsArg(n, 0, 0, 4294); ok {
				g(d).VRRPGarpMasterRefresh = v
			} else if argCount(n) > 0 {
				d.addNode(n, GeneralError, "Invalid vrrp_garp_master_refresh '%s' - ignoring", arg(n, 0))
			}
		},
		"vrrp_garp_lower_prio_delay":      garpDelay(func(d *decoder) *time.Duration { return &g(d).VRRPGarpLowerPrioDelay }),
		"vrrp_garp_master_repeat":         garpRepeat(func(d *decoder) *int { return &g(d).VRRPGarpMasterRepeat }),
		"vrrp_garp_master_refresh_repeat": garpRepeat(func(d *decoder) *int { return &g(d).VRRPGarpMasterRefreshRepeat }),
		"vrrp_garp_lower_prio_repeat":     garpRepeat(func(d *decoder) *int { return &g(d).VRRPGarpLowerPrioRepeat }),
		"vrrp_garp_interval":              garpInterval(func(d *decoder) *time.Duration { return &g(d).VRRPGarpInterval }),
		"vrrp_gna_interval":               garpInterval(func(d *decoder) *time.Duration { return &g(d).VRRPGnaInterval }),
		"vrrp_min_garp":                   setFlag(func(d *decoder) *bool { return &g(d).VRRPMinGarp }),
		"vrrp_lower_prio_no_advert":       optFlag(func(d *decoder) **bool { return &g(d).VRRPLowerPrioNoAdvert }),
		"vrrp_higher_prio_send_advert":    optFlag(func(d *decoder) **bool { return &g(d).VRRPHigherPrioSendAdvert }),
		"vrrp_skip_check_adv_addr":        setFlag(func(d *decoder) *bool { return &g(d).VRRPSkipCheckAdvAddr }),
		"vrrp_check_unicast_src":          setFlag(func(d *decoder) *bool { return &g(d).VRRPCheckUnicastSrc }),
		"vrrp_startup_delay": func(d *decoder, n *Node) {
			if v, ok := d.decimalArg(n, 0, 0, 3600); ok {
				g(d).VRRPStartupDelay = v
			}
		},
		"enable_script_security": setFlag(func(d *decoder) *bool { return &g(d).EnableScriptSecurity }),
		"script_user": func(d *decoder, n *Node) {
			if d.need(n, 0) {
				g(d).ScriptUser = arg(n, 0)
				g(d).ScriptGroup = arg(n, 1)
			}
		},
		"notify_fifo":             fifoFile(func(d *decoder) **FIFO { return &g(d).NotifyFIFO }),
		"notify_fifo_script":      fifoScript(func(d *decoder) **FIFO { return &g(d).NotifyFIFO }),
		"vrrp_notify_fifo":        fifoFile(func(d *decoder) **FIFO { return &g(d).VRRPNotifyFIFO }),
		"vrrp_notify_fifo_script": fifoScript(func(d *decoder) **FIFO { return &g(d).VRRPNotifyFIFO }),
		"lvs_flush":               setFlag(func(d *decoder) *bool { return &g(d).LVSFlush }),
		"lvs_flush_onstop":        alias(lvsFlushOnStop),
		"lvs_flush_on_stop":       alias(lvsFlushOnStop),
	}
	for _, k := range []string{
		"bfd_cpu_affinity", "bfd_no_swap", "bfd_priority", "bfd_process_name", "bfd_rlimit_rttime", "bfd_rt_priority",
		"checker_cpu_affinity", "checker_log_all_failures", "checker_no_swap", "checker_priority", "checker_process_name",
		"checker_rlimit_rttime", "checker_rt_priority", "child_wait_time", "config_save_dir", "data_use_instance",
		"dbus_service_name", "disable_local_igmp", "enable_dbus", "enable_snmp_checker", "enable_snmp_rfc",
		"enable_snmp_rfcv2", "enable_snmp_rfcv3", "enable_snmp_vrrp", "enable_snmp_keepalived", "enable_traps",
		"fifo_write_vrrp_states_on_reload", "include_check", "instance", "linkbeat_use_polling", "log_unknown_vrids",
		"lvs_netlink_cmd_rcv_bufs", "lvs_netlink_cmd_rcv_bufs_force", "lvs_netlink_monitor_rcv_bufs",
		"lvs_netlink_monitor_rcv_bufs_force", "lvs_notify_fifo", "lvs_notify_fifo_script", "lvs_sync_daemon",
		"lvs_timeouts", "max_auto_priority", "min_auto_priority_delay", "namespace_with_ipsets", "net_namespace",
		"net_namespace_ipvs", "nftables", "nftables_counters", "nftables_ifindex", "nftables_ipvs",
		"nftables_ipvs_priority", "nftables_ipvs_start_fwmark", "nftables_priority", "no_checker_emails",
		"process_monitor_rcv_bufs", "process_monitor_rcv_bufs_force",
		"process_name", "process_names", "random_seed", "reload_check_config", "reload_file", "reload_repeat",
		"reload_time_file", "rs_init_notifies", "shutdown_script", "shutdown_script_timeout", "snmp_socket",
		"startup_script", "startup_script_timeout", "tmp_config_directory", "umask", "use_pid_dir",
		"vmac_addr_prefix", "vmac_prefix", "vrrp_cpu_affinity", "vrrp_down_timer_adverts", "vrrp_garp_extra_if",
		"vrrp_ipsets", "vrrp_iptables", "vrrp_netlink_cmd_rcv_bufs", "vrrp_netlink_cmd_rcv_bufs_force",
		"vrrp_netlink_monitor_rcv_bufs", "vrrp_netlink_monitor_rcv_bufs_force", "vrrp_no_swap",
		"vrrp_notify_priority_changes", "vrrp_priority",
		"vrrp_process_name", "vrrp_rlimit_rttime", "vrrp_rt_priority", "vrrp_rx_bufs_multiplier",
		"vrrp_rx_bufs_policy",
	} {
		t[k] = unsupported
	}
	return t
}

// lvsFlushOnStop reads "lvs_flush_on_stop [VS]" (keepalived also accepts
// the undocumented spelling lvs_flush_onstop).
func lvsFlushOnStop(d *decoder, n *Node) {
	switch {
	case argCount(n) == 0:
		d.cfg.Global.LVSFlushOnStop = "all"
	case arg(n, 0) == "VS":
		d.cfg.Global.LVSFlushOnStop = "VS"
	default:
		d.addNode(n, GeneralError, "Unknown lvs_flush_on_stop type %s", arg(n, 0))
	}
}

func (d *decoder) globalDefs(n *Node) {
	d.cfg.Global.Pos = n.Pos()
	if !d.needBlock(n) {
		return
	}
	d.block(n.Block, d.table("global"), &d.cfg.Global.Unsupported)
}

// smtpServer reads "smtp_server <IPADDR> [<PORT>]" (default port 25).
// keepalived 2.2.7 accepts only an address, not a host name.
func (d *decoder) smtpServer(n *Node) {
	if !d.need(n, 0) {
		return
	}
	bad := func() { d.addNode(n, GeneralError, "Invalid smtp server %s", strings.Join(argsText(n), " ")) }
	port := uint16(25)
	if argCount(n) > 1 {
		p, ok := d.intArg(n, 1, 1, 65535)
		if !ok {
			bad()
			return
		}
		port = uint16(p)
	}
	a, ok := parseAddr(arg(n, 0))
	if !ok {
		bad()
		return
	}
	d.cfg.Global.SMTPServer = netip.AddrPortFrom(a, port)
}

// mcastGroup reads vrrp_mcast_group4/6, which must be a multicast address
// of the right family; keepalived skips anything else.
func mcastGroup(family int) handler {
	return func(d *decoder, n *Node) {
		if !d.need(n, 0) {
			return
		}
		a, ok := parseAddr(arg(n, 0))
		if !ok || (family == 4) != a.Is4() {
			d.addNode(n, GeneralError, "Can't parse %s [%s]. Skipping", n.Key.Text, arg(n, 0))
			return
		}
		if !a.IsMulticast() {
			d.addNode(n, GeneralError, "%s [%s] is not multicast. Skipping", n.Key.Text, arg(n, 0))
			return
		}
		if family == 4 {
			d.cfg.Global.VRRPMcastGroup4 = a
		} else {
			d.cfg.Global.VRRPMcastGroup6 = a
		}
	}
}

// garpDelay reads a GARP delay in whole seconds, [0, 4294] as keepalived.
func garpDelay(get func(d *decoder) *time.Duration) handler {
	return func(d *decoder, n *Node) {
		if v, ok := d.secondsArg(n, 0, 0, 4294); ok {
			*get(d) = v
		} else if argCount(n) > 0 {
			d.addNode(n, GeneralError, "%s '%s' invalid - ignoring", n.Key.Text, arg(n, 0))
		}
	}
}

// garpRepeat reads a GARP repeat count.
func garpRepeat(get func(d *decoder) *int) handler {
	return func(d *decoder, n *Node) {
		if v, ok := d.intArg(n, 0, 0, 2147483647); ok {
			*get(d) = int(v)
		} else if argCount(n) > 0 {
			d.addNode(n, GeneralError, "%s '%s' invalid - ignoring", n.Key.Text, arg(n, 0))
		}
	}
}

// garpInterval reads a decimal number of seconds between GARPs/NAs.
func garpInterval(get func(d *decoder) *time.Duration) handler {
	return func(d *decoder, n *Node) {
		if v, ok := d.decimalArg(n, 0, 0, 4294); ok {
			*get(d) = v
		} else if argCount(n) > 0 {
			d.addNode(n, GeneralError, "%s '%s' invalid - ignoring", n.Key.Text, arg(n, 0))
		}
	}
}

// fifoFile reads "notify_fifo FILE [username [groupname]]".
func fifoFile(get func(*decoder) **FIFO) handler {
	return func(d *decoder, n *Node) {
		if !d.need(n, 0) {
			return
		}
		f := *get(d)
		if f == nil {
			f = &FIFO{}
			*get(d) = f
		}
		f.Path, f.User, f.Group, f.Pos = arg(n, 0), arg(n, 1), arg(n, 2), n.Pos()
	}
}

// fifoScript reads "notify_fifo_script STRING [username [groupname]]".
func fifoScript(get func(*decoder) **FIFO) handler {
	return func(d *decoder, n *Node) {
		s := d.script(n)
		if s == nil {
			return
		}
		f := *get(d)
		if f == nil {
			f = &FIFO{Pos: n.Pos()}
			*get(d) = f
		}
		f.Script = s
	}
}
