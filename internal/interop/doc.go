// Package interop holds vigil's acceptance tests against Debian's
// keepalived 2.2.7 (issue 3) and the failover benchmark. It has no
// non-test code: everything lives in _test.go files, run with
//
//	go test ./internal/interop/                    # acceptance tests, root only
//	go test -run '^$' -bench Failover -benchtime 3x ./internal/interop/
//
// Each test builds a lab of network namespaces (internal/nettest: a
// bridge and a few hosts), starts the vigil binary (built once in
// TestMain) in one host and keepalived in another, both on the same
// keepalived.conf text, and checks on the hosts' interfaces and on the
// wire that they agree:
//
//   - who holds the VIP, in both orders of priority, and that exactly one
//     node holds it at the end (RFC 3768 §6.4, RFC 5798 §6.4);
//   - VRRPv2 with PASS and AH authentication, VRRPv3 over IPv4 with a
//     centisecond advert_int, VRRPv3 over IPv6 (link-local source,
//     ff02::12), unicast_peer, nopreempt, preempt_delay and the
//     priority-0 advert on SIGTERM (RFC 5798 §6.4.3: the backup waits
//     Skew_Time, not Master_Down_Interval);
//   - that keepalived's log holds no complaint about vigil's adverts
//     (invalid, bad checksum, authentication, mismatch, TTL), and vigil's
//     no dropped advert of keepalived's;
//   - the gratuitous ARPs and unsolicited neighbour advertisements vigil
//     sends as it becomes master, compared with keepalived's
//     (keepalived.conf(5) vrrp_garp_master_repeat, RFC 5798 §6.4.1,
//     RFC 4861 §7.2.6).
//
// BenchmarkFailover measures on the wire, from a capture in the bridge
// namespace with kernel timestamps, the time from the last advert of a
// master killed with SIGKILL to the backup's first advert and first
// gratuitous ARP, with vigil and keepalived as the backup side by side.
//
// TestMain builds ./cmd/vigil once into a temporary directory; set
// VIGIL_BIN to test a binary built elsewhere instead.
//
// The tests need root (they create network namespaces) and skip with the
// reason otherwise; -short skips them. They need the Debian packages
// iproute2, nftables and keepalived.
package interop
