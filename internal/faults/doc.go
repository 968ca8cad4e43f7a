// Package faults is vigil's fault suite: two (or three) lab nodes in
// network namespaces (internal/nettest) running the vigil binary, and
// the faults an HA pair must survive, each test asserting the end state
// (who holds each VIP, both processes alive, no goroutine left behind by
// the fault, from the go_goroutines gauge of vigil's --metrics endpoint):
//
//   - the master killed with SIGKILL (no priority-0 advert);
//   - the master's link cut, then restored;
//   - a partition (nftables drops VRRP both ways): both become master;
//     after the heal exactly one master within one advert interval, and
//     the loser removes its VIPs (RFC 5798 §6.4.3: a master receiving a
//     higher priority advert becomes backup);
//   - a flapping link, 10 toggles a second for 10 s;
//   - a peer flooding 10,000 bad adverts a second (bad checksum, wrong
//     password) from a raw socket in a third namespace: drops counted in
//     vigil_vrrp_drops_total, CPU bounded, the election unaffected;
//   - SIGHUP while the backup waits out Master_Down_Interval.
//
// It has no non-test code. The tests need root (they create namespaces),
// iproute2 and nftables; they skip with the reason otherwise and in
// -short mode. TestMain builds ./cmd/vigil once; set VIGIL_BIN to test a
// binary built elsewhere.
//
//	go test ./internal/faults/
package faults
