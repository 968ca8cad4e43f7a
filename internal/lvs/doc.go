// Package lvs runs keepalived's virtual_server blocks: it maps the typed
// configuration onto the IPVS table (internal/ipvs) and the health
// checkers (internal/check), keeps each real server's health, quorum and
// sorry server state as keepalived 2.2.7 does (check/ipwrapper.c), and on
// every change applies only the difference to the kernel through the
// ipvs Reconciler.
//
// Layers:
//
//   - plan.go (pure): NewPlan maps conf.Config to Pools, Reals and
//     Targets; Start, Observe and restart are keepalived's
//     init_service_vs, update_svr_checker_state/perform_svr_state,
//     update_quorum_state and update_svr_wgt, returning the log lines and
//     scripts as Effects; Table renders the desired ipvs.Table.
//   - checkers.go (pure): a Target's check.Timing, check.Conn and
//     check.Checker from the checker, real server and virtual server
//     keywords.
//   - manager.go: Manager owns a Plan, a check.Scheduler and an
//     ipvs.Reconciler; New/Run/Reload/RealServers, and IPVSOps and the
//     probe counters in RealServers (counters.go) for internal/metrics.
//
// keepalived.conf(5) "LVS CONFIGURATION". Not done: ha_suspend (checkers
// are never suspended), the tun_type/tun_port/tun_flags arguments of
// lb_kind TUN (internal/conf does not keep them), track_file weights of
// real servers, smtp_alert mails, notify_fifo lines, PING/UDP/FILE/BFD
// checkers (internal/conf keeps them as unsupported).
package lvs
