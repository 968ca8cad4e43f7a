package vrrp

import (
	"fmt"
	"net/netip"
)

// Address scopes (rtnetlink RT_SCOPE_*), as keepalived.conf's "scope"
// takes them by name.
const (
	ScopeGlobal  uint8 = 0
	ScopeSite    uint8 = 200
	ScopeLink    uint8 = 253
	ScopeHost    uint8 = 254
	ScopeNowhere uint8 = 255
)

// RouteProtocolKeepalived is the route protocol keepalived marks its
// virtual_routes with (rtnetlink RTPROT_KEEPALIVED; ip route shows
// "proto keepalived"). vigil uses it too so that either can clean up after
// the other.
const RouteProtocolKeepalived = 18

// VIP is one virtual_ipaddress entry as the kernel gets it
// (keepalived.conf(5): <IPADDR>[/<MASK>] [brd <IPADDR>] [dev <STRING>]
// [scope <SCOPE>] [label <LABEL>] [-nodad] [noprefixroute]).
type VIP struct {
	// Prefix is the address and its prefix length. Use VIPPrefix for
	// keepalived's default length when no mask is configured.
	Prefix netip.Prefix
	// Dev is the interface (dev, else the instance's interface).
	Dev string
	// Label is the IPv4 address label (label eth0:1); empty for none.
	Label string
	// Scope is the rtnetlink scope, ScopeGlobal unless configured.
	Scope uint8
	// Broadcast is the IPv4 broadcast (brd). keepalived sets none unless
	// configured, and neither does vigil.
	Broadcast netip.Addr
	// DAD keeps IPv6 duplicate address detection on ("-nodad" in
	// keepalived.conf): keepalived adds IPv6 VIPs with nodad otherwise.
	DAD bool
	// NoPrefixRoute stops the kernel adding a prefix route (noprefixroute).
	NoPrefixRoute bool
}

// VIPPrefix returns addr with keepalived's prefix length: bits when the
// config gave a mask (bits >= 0), else /32 for IPv4 and /128 for IPv6 (as
// keepalived 2.2.7 adds them; checked with ip addr in the lab).
func VIPPrefix(addr netip.Addr, bits int) (netip.Prefix, error) {
	addr = addr.Unmap()
	if bits < 0 {
		bits = addr.BitLen()
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("VIP %v/%d: %w", addr, bits, err)
	}
	// Prefix masks the address; a VIP keeps its host bits.
	return netip.PrefixFrom(addr, p.Bits()), nil
}

// deprecated reports whether the kernel should get the VIP with a
// preferred lifetime of 0, so that it is never picked as a source address:
// keepalived 2.2.7 does this for IPv6 VIPs without a mask (/128) and ip
// addr shows them "deprecated".
func (v VIP) deprecated() bool { return v.Prefix.Addr().Is6() && v.Prefix.Bits() == 128 }

// VirtualRoute is one virtual_routes entry (keepalived.conf(5): [src
// <IPADDR>] [to] <IPADDR>/<MASK> via|gw <IPADDR> dev <STRING> scope
// <SCOPE> table <TABLE> metric <N>; blackhole <IPADDR>/<MASK>).
type VirtualRoute struct {
	Dst       netip.Prefix
	Src       netip.Addr // preferred source; zero for none
	Via       netip.Addr // gateway; zero for a direct route
	Dev       string     // empty: the kernel finds it from Via
	Table     int        // 0: main
	Scope     uint8
	Metric    int
	Blackhole bool
}

func (r VirtualRoute) String() string {
	s := r.Dst.String()
	if r.Blackhole {
		s = "blackhole " + s
	}
	if r.Via.IsValid() {
		s += " via " + r.Via.String()
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	if r.Table != 0 {
		s += fmt.Sprintf(" table %d", r.Table)
	}
	return s
}

// AddrError is a failed VIP or route change, naming the object and the
// interface. Err is the kernel's error.
type AddrError struct {
	Op  string // "add VIP", "delete VIP", "list addresses", "add route", "delete route"
	Obj string // the VIP prefix or the route
	Dev string
	Err error
}

func (e *AddrError) Error() string {
	if e.Obj == "" {
		return fmt.Sprintf("%s on %s: %v", e.Op, e.Dev, e.Err)
	}
	if e.Dev == "" {
		return fmt.Sprintf("%s %s: %v", e.Op, e.Obj, e.Err)
	}
	return fmt.Sprintf("%s %s on %s: %v", e.Op, e.Obj, e.Dev, e.Err)
}

func (e *AddrError) Unwrap() error { return e.Err }

// PresentVIPs returns the vips whose address is among have (addresses on
// their interface, from List): at startup keepalived removes VIPs a
// previous run left behind ("removing VIPs" before entering BACKUP).
func PresentVIPs(vips []VIP, have []netip.Prefix) []VIP {
	set := make(map[netip.Addr]bool, len(have))
	for _, p := range have {
		set[p.Addr().Unmap()] = true
	}
	var out []VIP
	for _, v := range vips {
		if set[v.Prefix.Addr()] {
			out = append(out, v)
		}
	}
	return out
}
