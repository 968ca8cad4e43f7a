package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
)

// Well-known VRRP multicast groups (RFC 5798 §5.1.1.2, §5.1.2.2).
var (
	GroupIPv4 = netip.AddrFrom4([4]byte{224, 0, 0, 18})
	GroupIPv6 = netip.MustParseAddr("ff02::12")
)

// TOSNetworkControl is the IPv4 TOS / IPv6 traffic class keepalived
// sends adverts with (0xc0, precedence "internetwork control"), seen in
// the 2.2.7 captures.
const TOSNetworkControl = 0xc0

// ConnConfig says how to open a VRRP socket on one interface
// (keepalived.conf(5) vrrp_instance: interface, mcast_src_ip /
// unicast_src_ip, unicast_peer, unicast_ttl, vrrp_mcast_group4/6).
type ConnConfig struct {
	// Interface is the name of the interface the socket is bound to
	// (SO_BINDTODEVICE) and joins the group on.
	Interface string
	// Family is FamilyIPv4 or FamilyIPv6.
	Family Family
	// Protocol is ProtocolVRRP (0 means that) or, IPv4 only,
	// ProtocolAH for keepalived's auth_type AH.
	Protocol int
	// Group is the multicast group to join and send to; zero means
	// 224.0.0.18 or ff02::12. Ignored in unicast mode.
	Group netip.Addr
	// Src is the source address of adverts (unicast_src_ip or
	// mcast_src_ip). Zero means the interface's primary IPv4 address, or
	// its IPv6 link-local address (RFC 5798 §5.1.2.1).
	Src netip.Addr
	// Peers switches to unicast mode (unicast_peer) when not empty: no
	// group is joined and the runner sends to each peer.
	Peers []netip.Addr
	// UnicastTTL is the TTL / hop limit of unicast adverts (unicast_ttl);
	// 0 means 255. Multicast adverts always go with 255 (RFC 5798 §5.1.1.3).
	UnicastTTL int
}

// Unicast reports whether the config is in unicast mode.
func (c ConnConfig) Unicast() bool { return len(c.Peers) > 0 }

// normalize fills in defaults and checks the config against itself.
func (c ConnConfig) normalize() (ConnConfig, error) {
	if c.Interface == "" {
		return c, errors.New("VRRP socket: no interface")
	}
	if c.Protocol == 0 {
		c.Protocol = ProtocolVRRP
	}
	switch {
	case c.Protocol == ProtocolVRRP:
	case c.Protocol == ProtocolAH && c.Family == FamilyIPv4:
	default:
		return c, fmt.Errorf("VRRP socket on %s: IP protocol %d not supported for %v (want %d, or %d with IPv4)",
			c.Interface, c.Protocol, c.Family, ProtocolVRRP, ProtocolAH)
	}
	want := func(a netip.Addr) bool {
		return a.Is4() && c.Family == FamilyIPv4 || a.Is6() && !a.Is4In6() && c.Family == FamilyIPv6
	}
	switch c.Family {
	case FamilyIPv4:
		if !c.Group.IsValid() {
			c.Group = GroupIPv4
		}
	case FamilyIPv6:
		if !c.Group.IsValid() {
			c.Group = GroupIPv6
		}
	default:
		return c, fmt.Errorf("VRRP socket on %s: family %v, want inet or inet6", c.Interface, c.Family)
	}
	if !want(c.Group) || !c.Group.IsMulticast() {
		return c, fmt.Errorf("VRRP socket on %s: multicast group %v is not an %v multicast address", c.Interface, c.Group, c.Family)
	}
	if c.Src.IsValid() && !want(c.Src) {
		return c, fmt.Errorf("VRRP socket on %s: source address %v is not %v", c.Interface, c.Src, c.Family)
	}
	for _, p := range c.Peers {
		if !want(p) {
			return c, fmt.Errorf("VRRP socket on %s: unicast peer %v is not %v", c.Interface, p, c.Family)
		}
	}
	if c.UnicastTTL == 0 {
		c.UnicastTTL = RequiredTTL
	}
	if c.UnicastTTL < 1 || c.UnicastTTL > 255 {
		return c, fmt.Errorf("VRRP socket on %s: unicast_ttl %d out of range 1-255", c.Interface, c.UnicastTTL)
	}
	return c, nil
}

// Packet is one received VRRP datagram.
type Packet struct {
	// Payload is the IP payload: the VRRP message (protocol 112), or the
	// AH header followed by it (protocol 51). The IPv4 header is NOT
	// included; see Datagram.
	Payload []byte
	// Datagram is, for IPv4, the whole datagram as received, header
	// included (DecodeIPv4 and VerifyAH take this). Nil for IPv6, whose
	// raw sockets never see the header.
	Datagram []byte
	// Src and Dst are the IP source and destination (Dst from
	// IP_PKTINFO / IPV6_PKTINFO). No zone.
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or IPv6 hop limit (RFC 5798 §7.1: must be 255).
	TTL int
	// IfIndex is the index of the interface the packet arrived on.
	IfIndex int
}

// primaryAddr picks the advert source among an interface's addresses, in
// the kernel's order: the first IPv4 address (the primary, as ip(8) lists
// it), or the first IPv6 link-local address.
func primaryAddr(f Family, addrs []netip.Addr) (netip.Addr, bool) {
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case f == FamilyIPv4 && a.Is4():
			return a, true
		case f == FamilyIPv6 && a.Is6() && a.IsLinkLocalUnicast():
			return a.WithZone(""), true
		}
	}
	return netip.Addr{}, false
}
