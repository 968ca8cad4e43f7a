// Package status is vigil's local observability: a control socket that
// answers `vigil status` and `vigil explain`, the client and table
// formatter behind those commands, and keepalived-compatible state dumps.
//
// The control socket is a unix socket (default /run/vigil/vigil.sock, mode
// 0600) served with net/http:
//
//	GET /v1/status             Report: every instance, its counters, real servers
//	GET /v1/explain/{instance} Explanation: why the instance is in its state
//
// The dumps reproduce what keepalived 2.2.7 writes on its signals, for the
// fields vigil has, so that operators' scripts keep parsing them:
//
//	SIGUSR1          /tmp/keepalived.data   WriteData  ("------< VRRP Topology >------")
//	SIGUSR2          /tmp/keepalived.stats  WriteStats (per-instance counter blocks)
//	SIGRTMIN+2 (36)  /tmp/keepalived.json   WriteJSON  (keepalived --enable-json schema)
//
// (keepalived --signum=DATA, STATS and JSON print 10, 12 and 36 on Linux.)
// Lines keepalived prints for settings vigil does not model (garp timers,
// sockpool, interfaces, global definitions other than the router id) are
// left out rather than invented.
//
// The package reads state through Source, a small interface the daemon
// implements; Runners adapts a list of *vrrp.Runner. It does not touch the
// VRRP core and never logs from the pure parts (explanations, formatting).
//
// RFC references in explanations: RFC 5798 §6.4 (state machine), RFC 3768
// §6.4 for VRRPv2.
package status
