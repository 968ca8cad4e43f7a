package vrrp

import (
	"net/netip"
	"testing"
)

// TestPrimaryAddr checks the default advert source: the first IPv4 address
// (the primary) for IPv4, the first link-local for IPv6 (RFC 5798
// §5.1.2.1), zone stripped.
func TestPrimaryAddr(t *testing.T) {
	addrs := func(ss ...string) []netip.Addr {
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out
	}
	tests := []struct {
		name  string
		f     Family
		addrs []netip.Addr
		want  string // "" = none
	}{
		{"ipv4 primary first", FamilyIPv4, addrs("fd00:99::11", "10.99.0.11", "10.99.0.100"), "10.99.0.11"},
		{"ipv4 mapped", FamilyIPv4, addrs("::ffff:10.99.0.12"), "10.99.0.12"},
		{"ipv4 none", FamilyIPv4, addrs("fd00:99::11", "fe80::1"), ""},
		{"ipv6 link-local not global", FamilyIPv6, addrs("10.99.0.11", "fd00:99::11", "fe80::1%eth0", "fe80::2"), "fe80::1"},
		{"ipv6 none", FamilyIPv6, addrs("fd00:99::11"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := primaryAddr(tt.f, tt.addrs)
			if tt.want == "" {
				if ok {
					t.Errorf("primaryAddr = %v, want none", got)
				}
				return
			}
			if !ok || got != netip.MustParseAddr(tt.want) {
				t.Errorf("primaryAddr = %v, %v; want %s", got, ok, tt.want)
			}
		})
	}
}

// TestConnConfigDefaults checks the defaults normalize fills in.
func TestConnConfigDefaults(t *testing.T) {
	c, err := ConnConfig{Interface: "eth0", Family: FamilyIPv4}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if c.Protocol != ProtocolVRRP || c.Group != GroupIPv4 || c.UnicastTTL != 255 || c.Unicast() {
		t.Errorf("IPv4 defaults %+v", c)
	}
	c, err = ConnConfig{Interface: "eth0", Family: FamilyIPv6, Peers: []netip.Addr{netip.MustParseAddr("fd00:99::12")}, UnicastTTL: 9}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if c.Group != GroupIPv6 || c.UnicastTTL != 9 || !c.Unicast() {
		t.Errorf("IPv6 unicast %+v", c)
	}
	g := netip.MustParseAddr("224.0.0.19")
	if c, err := (ConnConfig{Interface: "eth0", Family: FamilyIPv4, Group: g}).normalize(); err != nil || c.Group != g {
		t.Errorf("vrrp_mcast_group4 224.0.0.19: %+v, %v", c, err)
	}
}
