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
// servers add vigil_ipvs_real_server_up and vigil_ipvs_real_server_weight
// with the labels virtual_server and real_server. Checker metrics belong in
// the same Collector, read from the same Source.
package metrics
