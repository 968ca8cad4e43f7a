// Package nettest is vigil's network-namespace test lab. It is imported
// only by tests.
//
// A Lab is a bridge namespace (multicast snooping off, so 224.0.0.18 and
// ff02::12 reach every port) and n host namespaces, each with an eth0 veth
// plugged into the bridge and the addresses 10.99.X.(10+i)/24 and
// fd00:99:X::(10+i)/64, X picked per lab. Everything a lab creates is
// deleted in t.Cleanup, also when the test fails.
//
// Beside the topology the package runs commands and Go code inside a host
// namespace (Host.Run, Host.Do), launches Debian's keepalived as a peer
// (StartKeepalived, WaitLog), captures frames from an AF_PACKET socket
// (StartCapture), cuts links and drops VRRP with nftables.
//
// The package does not decide whether a test may run as root: tests call
// RequireRoot, which probes by creating a network namespace and skips with
// the reason when that fails. NewLab also skips in -short mode.
//
// Needs the Debian packages iproute2 (ip), nftables (nft, only for
// DropVRRP) and keepalived (only for StartKeepalived).
package nettest
