// Package metrics is vigil's opt-in Prometheus endpoint. A Collector reads
// the same status.Source as the control socket at scrape time, so metrics
// never disagree with `vigil status`, and registers only on a registry of
// its own (no global registry, no init).
//
// VRRP series carry the labels instance, vrid and iface:
//
//	vigil_vrrp_state{state}              1 for the current state, 0 for the others
//	vigil_vrrp_priority                  effective priority
//	vigil_vrrp_base_priority             configured priority
//	vigil_vrrp_master_priority           priority of the last accepted advert
//	vigil_vrrp_last_transition_timestamp_seconds
//	vigil_vrrp_adverts_sent_total
//	vigil_vrrp_adverts_received_total
//	vigil_vrrp_foreign_adverts_total     adverts of other VRIDs on the socket
//	vigil_vrrp_transitions_total
//	vigil_vrrp_drops_total{reason}       one series per vrrp.DropReason label
//
// When the source also implements status.RealServerSource, IPVS real
// servers add, with the labels virtual_server and real_server:
//
//	vigil_ipvs_real_server_up            1 while the checks pass
//	vigil_ipvs_real_server_weight        weight in the IPVS table
//	vigil_check_runs_total               probes run (all the real server's checkers)
//	vigil_check_failures_total           probes that failed
//	vigil_check_latency_seconds          duration of the last probe (once one ran)
//
// The check series exist only for real servers with a checker (not for
// sorry servers). When the source implements IPVSSource (the daemon with
// lvs.Manager):
//
//	vigil_ipvs_ops_total{op}             netlink operations applied: add_service,
//	                                     edit_service, delete_service, add_destination,
//	                                     edit_destination, delete_destination
//	vigil_ipvs_op_errors_total           operations the kernel refused
package metrics
