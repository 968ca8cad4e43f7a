package vrrp

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustAddrs(t *testing.T, ss ...string) []netip.Addr {
	t.Helper()
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestNewFilterSet(t *testing.T) {
	a := netip.MustParseAddr
	tests := []struct {
		name    string
		vips    []string
		want    FilterSet
		wantErr []string // substrings of the error, one per bad address
	}{
		{name: "empty"},
		{
			name: "families sorted and deduplicated",
			vips: []string{"10.99.1.101", "fd00:99:1::100", "10.99.1.100", "10.99.1.101", "fd00:99:1::100"},
			want: FilterSet{V4: mustAddrs(t, "10.99.1.100", "10.99.1.101"), V6: mustAddrs(t, "fd00:99:1::100")},
		},
		{
			name: "IPv4-mapped IPv6 is IPv4",
			vips: []string{"::ffff:10.99.1.100", "10.99.1.100"},
			want: FilterSet{V4: mustAddrs(t, "10.99.1.100")},
		},
		{
			// keepalived blocks a global VIP whatever the interface.
			name: "zone of a global address ignored",
			vips: []string{"fd00:99:1::100%eth0", "fd00:99:1::100"},
			want: FilterSet{V6: mustAddrs(t, "fd00:99:1::100")},
		},
		{
			// keepalived treats only fe80::/10 per interface.
			name: "IPv4 link-local is an ordinary IPv4 VIP",
			vips: []string{"169.254.99.1"},
			want: FilterSet{V4: mustAddrs(t, "169.254.99.1")},
		},
		{
			name: "IPv6 link-local keyed by interface",
			vips: []string{"fe80::99:1%eth1", "fe80::99:1%eth0", "fe80::99:1%eth0"},
			want: FilterSet{LinkLocal: []LinkLocalVIP{
				{Addr: a("fe80::99:1"), Ifname: "eth0"},
				{Addr: a("fe80::99:1"), Ifname: "eth1"},
			}},
		},
		{
			name:    "link-local without interface",
			vips:    []string{"fe80::99:1", "10.99.1.100"},
			want:    FilterSet{V4: mustAddrs(t, "10.99.1.100")},
			wantErr: []string{"link-local VIP fe80::99:1 has no interface"},
		},
		{
			name:    "interface names that cannot go in a script",
			vips:    []string{`fe80::1%a"b`, "fe80::2%averyveryverylongname", "fe80::3%a/b"},
			wantErr: []string{`fe80::1: interface name "a\"b"`, `fe80::2: interface name "averyveryverylongname"`, `fe80::3: interface name "a/b"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vips := make([]netip.Addr, len(tt.vips))
			for i, s := range tt.vips {
				vips[i] = netip.MustParseAddr(s)
			}
			got, err := NewFilterSet(vips)
			if diff := cmp.Diff(tt.want, got, addrCmp); diff != "" {
				t.Errorf("NewFilterSet(%v) (-want +got):\n%s", tt.vips, diff)
			}
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Errorf("NewFilterSet(%v) error = %v, want none", tt.vips, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewFilterSet(%v) error = nil, want %q", tt.vips, tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("NewFilterSet(%v) error = %q, want it to contain %q", tt.vips, err, w)
				}
			}
		})
	}
}

func TestNewFilterSetInvalidAddr(t *testing.T) {
	if _, err := NewFilterSet([]netip.Addr{{}}); err == nil {
		t.Error("NewFilterSet(zero Addr) error = nil, want one")
	}
}

func TestFilterAddr(t *testing.T) {
	tests := []struct {
		vip  string
		dev  string
		want string
	}{
		{"10.99.1.100/24", "eth0", "10.99.1.100"},
		{"fd00:99:1::100/128", "eth0", "fd00:99:1::100"},
		{"fe80::99:1/64", "eth1", "fe80::99:1%eth1"},
		{"::ffff:10.99.1.100/128", "eth0", "10.99.1.100"},
	}
	for _, tt := range tests {
		v := VIP{Prefix: netip.MustParsePrefix(tt.vip), Dev: tt.dev}
		if got := FilterAddr(v); got != netip.MustParseAddr(tt.want) {
			t.Errorf("FilterAddr(%s dev %s) = %v, want %s", tt.vip, tt.dev, got, tt.want)
		}
	}
}

func TestFilterConfigValidate(t *testing.T) {
	tests := []struct {
		table   string
		wantErr string // "" for valid
	}{
		{"vigil", ""},
		{"keepalived", ""}, // family inet: keepalived's are ip and ip6
		{"vigil_2", ""},
		{"V1", ""},
		{"", "table name is empty"},
		{"2vigil", "starting with a letter"},
		{"_vigil", "starting with a letter"},
		{"vig il", "letters, digits and _ only"},
		{"vigil-a", "letters, digits and _ only"},
		{`vigil"`, "letters, digits and _ only"},
		{strings.Repeat("v", 256), "at most 255"},
	}
	for _, tt := range tests {
		c := DefaultFilterConfig()
		c.Table = tt.table
		err := c.Validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("table %.20q: Validate() = %v, want nil", tt.table, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("table %.20q: Validate() = %v, want error containing %q", tt.table, err, tt.wantErr)
		}
	}
}

func TestDefaultFilterConfig(t *testing.T) {
	// keepalived.conf(5): nftables_priority defaults to -1; the table name
	// must not be keepalived's.
	c := DefaultFilterConfig()
	if c.Priority != -1 || c.Table == "keepalived" || c.Counters {
		t.Errorf("DefaultFilterConfig() = %+v, want priority -1, no counters, a table other than keepalived's", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("DefaultFilterConfig().Validate() = %v", err)
	}
}

// TestFilterScripts compares the generated nft(8) scripts with
// testdata/filter/*.nft (-update rewrites them). The root test
// TestNFTFilterNoAccept runs them against the kernel.
func TestFilterScripts(t *testing.T) {
	set, err := NewFilterSet(mustAddrs(t, "10.99.1.101", "10.99.1.100", "fd00:99:1::100", "fe80::99:1%eth0"))
	if err != nil {
		t.Fatal(err)
	}
	v4only := FilterSet{V4: mustAddrs(t, "10.99.1.100")}
	def := DefaultFilterConfig()
	counters := FilterConfig{Table: "vigil_test", Priority: 5, Counters: true}
	tests := []struct {
		name string
		got  string
	}{
		{"ensure", def.EnsureScript()},
		{"ensure-counters-priority", counters.EnsureScript()},
		{"reset", def.ResetScript()},
		{"delete", def.DeleteScript()},
		{"add", def.AddScript(set)},
		{"add-v4-only", def.AddScript(v4only)},
		{"add-empty", def.AddScript(FilterSet{})},
		{"remove", def.RemoveScript(set)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("testdata", "filter", tt.name+".nft")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tt.got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), tt.got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestFilterRulesMatchKeepalived checks the rules against what keepalived
// 2.2.7 installs (nft list ruleset in the lab, see filter.go): per
// direction, neighbour discovery accepted first, then every packet to (in)
// or from (out) a VIP dropped, link-local ones per interface.
func TestFilterRulesMatchKeepalived(t *testing.T) {
	want := []filterRule{
		{"in", "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept"},
		{"in", "ip daddr @vips4 drop"},
		{"in", "ip6 daddr @vips6 drop"},
		{"in", "ip6 daddr . iifname @vips6_link_local drop"},
		{"out", "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept"},
		{"out", "ip saddr @vips4 drop"},
		{"out", "ip6 saddr @vips6 drop"},
		{"out", "ip6 saddr . oifname @vips6_link_local drop"},
	}
	if diff := cmp.Diff(want, DefaultFilterConfig().rules()); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
	// nftables_counters puts a counter in every rule, as keepalived does.
	for _, r := range (FilterConfig{Table: "t", Counters: true}).rules() {
		if !strings.Contains(r.Expr, " counter ") {
			t.Errorf("with counters, rule %q in %s has none", r.Expr, r.Chain)
		}
	}
}

// TestFilterPlan checks NFTFilter's bookkeeping: the first Block replaces
// a stale table, later ones only repair it; Unblock removes only elements
// this filter blocked and runs nothing when there are none; Close forgets
// everything, so the next Block resets again.
func TestFilterPlan(t *testing.T) {
	cfg := DefaultFilterConfig()
	set := func(ss ...string) FilterSet {
		s, err := NewFilterSet(mustAddrs(t, ss...))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	type step struct {
		op   string // block, unblock, close
		vips FilterSet
		// want is the script for block and unblock.
		want string
		// wantTodo is what unblock removes.
		wantTodo FilterSet
	}
	a, b := set("10.99.1.100"), set("10.99.1.101", "fe80::99:1%eth0")
	ab := set("10.99.1.100", "10.99.1.101", "fe80::99:1%eth0")
	tests := []struct {
		name  string
		steps []step
	}{
		{"first block resets", []step{
			{op: "block", vips: a, want: cfg.ResetScript() + cfg.AddScript(a)},
			{op: "block", vips: b, want: cfg.EnsureScript() + cfg.AddScript(b)},
			{op: "block", vips: a, want: cfg.EnsureScript() + cfg.AddScript(a)},
		}},
		{"unblock without block runs nothing", []step{
			{op: "unblock", vips: a, want: ""},
		}},
		{"unblock removes only what was blocked", []step{
			{op: "block", vips: a, want: cfg.ResetScript() + cfg.AddScript(a)},
			{op: "unblock", vips: ab, want: cfg.EnsureScript() + cfg.RemoveScript(a), wantTodo: a},
			{op: "unblock", vips: ab, want: ""},
		}},
		{"two instances", []step{
			{op: "block", vips: a, want: cfg.ResetScript() + cfg.AddScript(a)},
			{op: "block", vips: b, want: cfg.EnsureScript() + cfg.AddScript(b)},
			{op: "unblock", vips: b, want: cfg.EnsureScript() + cfg.RemoveScript(b), wantTodo: b},
			{op: "unblock", vips: a, want: cfg.EnsureScript() + cfg.RemoveScript(a), wantTodo: a},
		}},
		{"close forgets", []step{
			{op: "block", vips: ab, want: cfg.ResetScript() + cfg.AddScript(ab)},
			{op: "close"},
			{op: "unblock", vips: ab, want: ""},
			{op: "block", vips: a, want: cfg.ResetScript() + cfg.AddScript(a)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFilterPlan(cfg)
			for i, s := range tt.steps {
				switch s.op {
				case "block":
					got := p.blockScript(s.vips)
					if diff := cmp.Diff(s.want, got); diff != "" {
						t.Fatalf("step %d block %v (-want +got):\n%s", i, s.vips.Addrs(), diff)
					}
					p.didBlock(s.vips)
				case "unblock":
					got, todo := p.unblockScript(s.vips)
					if diff := cmp.Diff(s.want, got); diff != "" {
						t.Fatalf("step %d unblock %v (-want +got):\n%s", i, s.vips.Addrs(), diff)
					}
					if diff := cmp.Diff(s.wantTodo, todo, addrCmp); diff != "" {
						t.Fatalf("step %d unblock %v: elements (-want +got):\n%s", i, s.vips.Addrs(), diff)
					}
					p.didUnblock(todo)
				case "close":
					p.didClose()
				}
			}
		})
	}
}

func TestFilterError(t *testing.T) {
	inner := errors.New("exit status 1")
	err := error(&FilterError{Op: "block", Table: "vigil", Addrs: mustAddrs(t, "10.99.1.100", "fe80::1%eth0"), Err: inner})
	if got, want := err.Error(), "no_accept filter: block 10.99.1.100, fe80::1%eth0 in table inet vigil: exit status 1"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, inner) {
		t.Error("errors.Is(FilterError, inner) = false")
	}
	err = &FilterError{Op: "delete table", Table: "vigil", Err: inner}
	if got, want := err.Error(), "no_accept filter: delete table inet vigil: exit status 1"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
