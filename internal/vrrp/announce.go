package vrrp

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

// AllNodes is the IPv6 all-nodes group unsolicited neighbour
// advertisements go to (RFC 4861 §7.2.6).
var AllNodes = netip.MustParseAddr("ff02::1")

// garpFrame builds the gratuitous ARP keepalived 2.2.7 sends for an IPv4
// VIP, as captured in shared/captures: an ARP *request* from the
// interface's MAC to the Ethernet broadcast, sender and target protocol
// address both the VIP, target hardware address ff:ff:ff:ff:ff:ff
// (RFC 5227 §3 announcement form, RFC 5798 §6.4.1 gratuitous ARP).
func garpFrame(hw net.HardwareAddr, vip netip.Addr) ([]byte, error) {
	if !vip.Is4() {
		return nil, fmt.Errorf("gratuitous ARP for %v: not an IPv4 address", vip)
	}
	p, err := arp.NewPacket(arp.OperationRequest, hw, vip, ethernet.Broadcast, vip)
	if err != nil {
		return nil, fmt.Errorf("gratuitous ARP for %v from %v: %w", vip, hw, err)
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("gratuitous ARP for %v: %w", vip, err)
	}
	// The Ethernet header by hand: ethernet.Frame pads to 60 octets, and
	// keepalived leaves a 42-octet frame for the driver to pad.
	f := make([]byte, 0, 14+len(pb))
	f = append(f, ethernet.Broadcast...)
	f = append(f, hw...)
	f = append(f, byte(ethernet.EtherTypeARP>>8), byte(ethernet.EtherTypeARP&0xff))
	return append(f, pb...), nil
}

// unsolicitedNA builds the ICMPv6 message of the unsolicited neighbour
// advertisement keepalived 2.2.7 sends for an IPv6 VIP (RFC 4861 §7.2.6),
// as captured in shared/captures: from the VIP itself to ff02::1, hop
// limit 255, Override set, Solicited clear, target the VIP, with a
// *target* link-layer address option (type 2) carrying the interface's MAC.
// Router is set when the node forwards IPv6 (RFC 4861 §4.4). The checksum
// is filled in for src = vip, dst = ff02::1.
func unsolicitedNA(hw net.HardwareAddr, vip netip.Addr, router bool) ([]byte, error) {
	if !vip.Is6() || vip.Is4In6() {
		return nil, fmt.Errorf("neighbour advertisement for %v: not an IPv6 address", vip)
	}
	m := &ndp.NeighborAdvertisement{
		Router:        router,
		Override:      true,
		TargetAddress: vip.WithZone(""),
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: hw}},
	}
	b, err := ndp.MarshalMessageChecksum(m, vip.WithZone(""), AllNodes)
	if err != nil {
		return nil, fmt.Errorf("neighbour advertisement for %v: %w", vip, err)
	}
	return b, nil
}
