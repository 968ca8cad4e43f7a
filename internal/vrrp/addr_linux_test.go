package vrrp

import (
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-ha/vigil/internal/nettest"
	"golang.org/x/sys/unix"
)

// ipAddrInfo is the part of `ip -j addr show` the tests compare.
type ipAddrInfo struct {
	Family    string `json:"family"`
	Local     string `json:"local"`
	Prefixlen int    `json:"prefixlen"`
	Broadcast string `json:"broadcast,omitempty"`
	Scope     string `json:"scope"`
	Label     string `json:"label,omitempty"`
	NoDAD     bool   `json:"nodad,omitempty"`
	Dep       bool   `json:"deprecated,omitempty"`
	NoPrefRt  bool   `json:"noprefixroute,omitempty"`
}

// ipAddrShow returns what ip(8) inside the namespace reports for addr.
func ipAddrShow(t *testing.T, h *nettest.Host, dev string, addr netip.Addr) (ipAddrInfo, bool) {
	t.Helper()
	out, err := h.Run(context.Background(), "ip", "-j", "addr", "show", "dev", dev)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var links []struct {
		AddrInfo []ipAddrInfo `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		t.Fatalf("ip -j addr: %v\n%s", err, out)
	}
	for _, l := range links {
		for _, a := range l.AddrInfo {
			if a.Local == addr.String() {
				return a, true
			}
		}
	}
	return ipAddrInfo{}, false
}

// TestAddrsVIP adds and removes VIPs in a lab namespace and checks with
// ip(8) that the kernel holds them as keepalived 2.2.7 leaves them (seen
// with ip -j addr in the lab): /32 and /128 without a mask, no broadcast
// unless configured, IPv6 nodad, /128 deprecated; and that adding and
// deleting twice is harmless.
func TestAddrsVIP(t *testing.T) {
	lab := nettest.NewLab(t, 1, nettest.Options{})
	h := lab.Hosts[0]
	m := NewAddrs(h.Handle(t))
	ctx := context.Background()
	mustPrefix := func(a netip.Addr, bits int) netip.Prefix {
		p, err := VIPPrefix(a, bits)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	v4 := vipIn(lab.Net4, 100)
	v6 := vipIn(lab.Net6, 0x64)
	tests := []struct {
		name string
		vip  VIP
		want ipAddrInfo
	}{
		{"ipv4 no mask", VIP{Prefix: mustPrefix(v4, -1), Dev: "eth0"},
			ipAddrInfo{Family: "inet", Local: v4.String(), Prefixlen: 32, Scope: "global", Label: "eth0"}},
		{"ipv4 /24 brd label", VIP{Prefix: mustPrefix(vipIn(lab.Net4, 101), 24), Dev: "eth0", Label: "eth0:vip", Broadcast: vipIn(lab.Net4, 255)},
			ipAddrInfo{Family: "inet", Local: vipIn(lab.Net4, 101).String(), Prefixlen: 24, Broadcast: vipIn(lab.Net4, 255).String(), Scope: "global", Label: "eth0:vip"}},
		{"ipv4 /24 no brd", VIP{Prefix: mustPrefix(vipIn(lab.Net4, 102), 24), Dev: "eth0"},
			ipAddrInfo{Family: "inet", Local: vipIn(lab.Net4, 102).String(), Prefixlen: 24, Scope: "global", Label: "eth0"}},
		{"ipv4 scope link", VIP{Prefix: mustPrefix(vipIn(lab.Net4, 103), -1), Dev: "eth0", Scope: ScopeLink},
			ipAddrInfo{Family: "inet", Local: vipIn(lab.Net4, 103).String(), Prefixlen: 32, Scope: "link", Label: "eth0"}},
		{"ipv6 no mask", VIP{Prefix: mustPrefix(v6, -1), Dev: "eth0"},
			ipAddrInfo{Family: "inet6", Local: v6.String(), Prefixlen: 128, Scope: "global", NoDAD: true, Dep: true}},
		{"ipv6 /64 noprefixroute", VIP{Prefix: mustPrefix(vipIn(lab.Net6, 0x65), 64), Dev: "eth0", NoPrefixRoute: true},
			ipAddrInfo{Family: "inet6", Local: vipIn(lab.Net6, 0x65).String(), Prefixlen: 64, Scope: "global", NoDAD: true, NoPrefRt: true}},
		{"ipv6 -nodad", VIP{Prefix: mustPrefix(vipIn(lab.Net6, 0x66), 64), Dev: "eth0", DAD: true},
			ipAddrInfo{Family: "inet6", Local: vipIn(lab.Net6, 0x66).String(), Prefixlen: 64, Scope: "global"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.vip.Prefix.Addr()
			for i := range 2 { // the second add must be a no-op
				if err := m.AddVIP(ctx, tt.vip); err != nil {
					t.Fatalf("AddVIP #%d: %v", i+1, err)
				}
			}
			got, ok := ipAddrShow(t, h, "eth0", addr)
			if !ok {
				t.Fatalf("ip addr does not show %v after AddVIP", addr)
			}
			if tt.vip.DAD {
				// DAD is on: the address starts tentative; accept_dad=0 in
				// the lab ends it at once. What matters is nodad not set.
				got.Dep = false
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ip addr (-want +got):\n%s", diff)
			}
			list, err := m.List(ctx, "eth0")
			if err != nil {
				t.Fatal(err)
			}
			if len(PresentVIPs([]VIP{tt.vip}, list)) != 1 {
				t.Errorf("List = %v, lacks %v", list, tt.vip.Prefix)
			}
			for i := range 2 { // the second delete must be a no-op
				if err := m.DelVIP(ctx, tt.vip); err != nil {
					t.Fatalf("DelVIP #%d: %v", i+1, err)
				}
			}
			if _, ok := ipAddrShow(t, h, "eth0", addr); ok {
				t.Errorf("ip addr still shows %v after DelVIP", addr)
			}
		})
	}
}

// TestAddrsErrorsNameVIPAndInterface checks that a failure names the VIP
// and the interface and unwraps to the kernel error.
func TestAddrsErrorsNameVIPAndInterface(t *testing.T) {
	lab := nettest.NewLab(t, 1, nettest.Options{})
	m := NewAddrs(lab.Hosts[0].Handle(t))
	vip := VIP{Prefix: netip.PrefixFrom(vipIn(lab.Net4, 100), 32), Dev: "nosuch0"}
	err := m.AddVIP(context.Background(), vip)
	if err == nil {
		t.Fatal("AddVIP on a missing interface succeeded")
	}
	for _, want := range []string{"add VIP", vip.Prefix.String(), "nosuch0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	var ae *AddrError
	if !errors.As(err, &ae) || ae.Dev != "nosuch0" {
		t.Errorf("error %v is not an *AddrError for nosuch0", err)
	}
	// A kernel refusal: a secondary address in the subnet of the primary
	// must have its scope (keepalived 2.2.7 fails the same way).
	bad := VIP{Prefix: netip.PrefixFrom(vipIn(lab.Net4, 100), 24), Dev: "eth0", Scope: ScopeHost}
	err = m.AddVIP(context.Background(), bad)
	if err == nil || !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), bad.Prefix.String()+" on eth0") {
		t.Errorf("AddVIP of a host-scope secondary: %v, want EINVAL naming %v on eth0", err, bad.Prefix)
	}
}

// TestAddrsRoutes adds virtual routes and checks them with ip route,
// protocol keepalived included, then removes them, twice each.
func TestAddrsRoutes(t *testing.T) {
	lab := nettest.NewLab(t, 1, nettest.Options{})
	h := lab.Hosts[0]
	m := NewAddrs(h.Handle(t))
	ctx := context.Background()
	gw4, gw6 := vipIn(lab.Net4, 1), vipIn(lab.Net6, 1)
	tests := []struct {
		r     VirtualRoute
		fam   string
		shown string // the line ip route prints
	}{
		{VirtualRoute{Dst: netip.MustParsePrefix("10.98.0.0/16"), Via: gw4, Dev: "eth0"}, "-4", "10.98.0.0/16 via " + gw4.String() + " dev eth0 proto keepalived"},
		{VirtualRoute{Dst: netip.MustParsePrefix("10.97.0.0/16"), Dev: "eth0"}, "-4", "10.97.0.0/16 dev eth0 proto keepalived scope link"},
		{VirtualRoute{Dst: netip.MustParsePrefix("10.96.0.0/16"), Blackhole: true}, "-4", "blackhole 10.96.0.0/16 proto keepalived"},
		{VirtualRoute{Dst: netip.MustParsePrefix("10.95.0.0/16"), Via: gw4, Table: 100}, "-4", "10.95.0.0/16 via " + gw4.String() + " dev eth0 table 100 proto keepalived"},
		{VirtualRoute{Dst: netip.MustParsePrefix("fd00:98::/64"), Via: gw6, Dev: "eth0"}, "-6", "fd00:98::/64 via " + gw6.String() + " dev eth0 proto keepalived metric 1024 pref medium"},
	}
	for _, tt := range tests {
		t.Run(tt.r.String(), func(t *testing.T) {
			show := func() string {
				out, err := h.Run(ctx, "ip", tt.fam, "route", "show", "table", "all")
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range strings.Split(string(out), "\n") {
					if strings.HasPrefix(strings.TrimPrefix(l, "blackhole "), tt.r.Dst.String()+" ") {
						return strings.TrimSpace(l)
					}
				}
				return ""
			}
			for range 2 {
				if err := m.AddRoute(ctx, tt.r); err != nil {
					t.Fatal(err)
				}
			}
			if got := show(); got != tt.shown {
				t.Errorf("ip route shows %q, want %q", got, tt.shown)
			}
			for range 2 {
				if err := m.DelRoute(ctx, tt.r); err != nil {
					t.Fatal(err)
				}
			}
			if got := show(); got != "" {
				t.Errorf("ip route still shows %q after DelRoute", got)
			}
		})
	}
}

// TestVIPPrefix checks keepalived's default prefix lengths.
func TestVIPPrefix(t *testing.T) {
	tests := []struct {
		addr string
		bits int
		want string
	}{
		{"10.99.0.100", -1, "10.99.0.100/32"},
		{"10.99.0.100", 24, "10.99.0.100/24"},
		{"fd00:99::100", -1, "fd00:99::100/128"},
		{"fd00:99::100", 64, "fd00:99::100/64"},
		{"::ffff:10.99.0.100", -1, "10.99.0.100/32"},
	}
	for _, tt := range tests {
		got, err := VIPPrefix(netip.MustParseAddr(tt.addr), tt.bits)
		if err != nil || got.String() != tt.want {
			t.Errorf("VIPPrefix(%s, %d) = %v, %v; want %s", tt.addr, tt.bits, got, err, tt.want)
		}
	}
	if _, err := VIPPrefix(netip.MustParseAddr("10.99.0.100"), 33); err == nil || !strings.Contains(err.Error(), "10.99.0.100/33") {
		t.Errorf("VIPPrefix(/33) error = %v, want one naming 10.99.0.100/33", err)
	}
}
