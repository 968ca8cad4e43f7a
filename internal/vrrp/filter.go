package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// The no_accept filter (RFC 5798 §6.1 Accept_Mode false; keepalived.conf(5)
// no_accept, and vrrp_strict / strict_mode which imply it). While an
// instance that does not own its addresses (priority < 255) is master, the
// node must not accept packets addressed to the VIPs: they are only next
// hops. keepalived 2.2.7 as Debian builds it (`keepalived -v`: config
// option NFTABLES, no IPTABLES; `vrrp_iptables` logs "iptables not
// supported, using nftables instead") enforces this with nftables. Seen in
// a lab namespace (`nft list ruleset`), it keeps tables "ip keepalived" and
// "ip6 keepalived", each with base chains "in" (hook input) and "out" (hook
// output) at priority filter - 1 (nftables_priority, default -1), policy
// accept, and
//
//   - drops every packet whose destination (input) or source (output) is in
//     the set "vips": TCP, UDP and ICMP alike (ping to the VIP gets no
//     answer); ARP is not IP and still resolves the VIP;
//   - for IPv6 first accepts neighbour solicitations and advertisements,
//     so that neighbours can still resolve the VIP as a next hop;
//   - keys IPv6 link-local VIPs by interface (set "vips_link_local" of
//     ipv6_addr . iface_index), since fe80::/10 is per link;
//   - adds a VIP's elements before adding the address when it becomes
//     master ("setting firewall drop rule", then "setting VIPs"), and
//     removes them after deleting the address when it leaves ("removing
//     VIPs", then "removing firewall drop rule"), keeping the empty table;
//   - creates nothing for an address owner (priority 255) or in accept
//     mode, deletes a table of its name before creating it, and deletes
//     its tables when it stops.
//
// vigil does the same in one table of family inet whose name differs from
// keepalived's (DefaultFilterTable), so that neither ever touches the
// other's rules. This file is the pure part: what the table holds for a
// set of VIPs, as nft(8) scripts. filter_linux.go runs them.

// DefaultFilterTable is the name of vigil's nftables table (family inet).
// keepalived's are "ip keepalived" and "ip6 keepalived".
const DefaultFilterTable = "vigil"

// DefaultFilterPriority is the hook priority of vigil's base chains:
// keepalived's nftables_priority default, -1, so that the drop comes before
// an operator's own filter chains at priority 0 accept the packet.
const DefaultFilterPriority = -1

// Names inside the table. Chains are named as keepalived's.
const (
	filterChainIn       = "in"
	filterChainOut      = "out"
	filterSetV4         = "vips4"
	filterSetV6         = "vips6"
	filterSetLinkLocal  = "vips6_link_local"
	filterNeighborTypes = "{ nd-neighbor-solicit, nd-neighbor-advert }"
)

// AcceptFilter drops traffic addressed to and sent from VIPs while their
// instance is master in no_accept mode. Block and Unblock are idempotent.
// An IPv6 link-local VIP carries its interface as zone (see FilterAddr);
// other zones are ignored. *NFTFilter implements it.
type AcceptFilter interface {
	Block(ctx context.Context, vips []netip.Addr) error
	Unblock(ctx context.Context, vips []netip.Addr) error
}

// FilterAddr returns the address an AcceptFilter takes for v: its address,
// with v.Dev as zone when it is IPv6 link-local, because such an address
// only means something on its own link.
func FilterAddr(v VIP) netip.Addr {
	a := v.Prefix.Addr().Unmap()
	if a.Is6() && a.IsLinkLocalUnicast() {
		return a.WithZone(v.Dev)
	}
	return a.WithZone("")
}

// FilterConfig is the nftables side of no_accept (keepalived.conf(5)
// global_defs: nftables [TABLENAME], nftables_priority, nftables_counters).
type FilterConfig struct {
	// Table is the inet table vigil owns; it must differ for each vigil in
	// one network namespace.
	Table string
	// Priority is the hook priority of the "in" and "out" chains.
	Priority int32
	// Counters adds a counter to every rule (nftables_counters), so that
	// `nft list table inet vigil` shows what was dropped.
	Counters bool
}

// DefaultFilterConfig returns keepalived's defaults with vigil's table.
func DefaultFilterConfig() FilterConfig {
	return FilterConfig{Table: DefaultFilterTable, Priority: DefaultFilterPriority}
}

// Validate reports a table name that nft(8) would not take unquoted (nft
// 1.0.6 accepts no quoted table names).
func (c FilterConfig) Validate() error {
	if c.Table == "" {
		return errors.New("nftables table name is empty")
	}
	if len(c.Table) > 255 {
		return fmt.Errorf("nftables table name %.20q... is %d characters long, at most 255 allowed", c.Table, len(c.Table))
	}
	for i, r := range c.Table {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if letter || i > 0 && (r == '_' || r >= '0' && r <= '9') {
			continue
		}
		return fmt.Errorf("nftables table name %q: use letters, digits and _ only, starting with a letter", c.Table)
	}
	return nil
}

// LinkLocalVIP is an IPv6 link-local VIP and the interface it is on.
type LinkLocalVIP struct {
	Addr   netip.Addr // without zone
	Ifname string
}

// FilterSet is what the filter's sets hold for some VIPs: sorted, without
// duplicates, IPv4-mapped IPv6 addresses as IPv4.
type FilterSet struct {
	V4        []netip.Addr
	V6        []netip.Addr
	LinkLocal []LinkLocalVIP
}

// NewFilterSet sorts vips into the filter's sets. An IPv6 link-local VIP
// needs its interface as zone; every address that cannot be filtered is
// reported.
func NewFilterSet(vips []netip.Addr) (FilterSet, error) {
	var s FilterSet
	var errs []error
	for _, a := range vips {
		e, err := filterElemOf(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.add(e)
	}
	s.normalize()
	return s, errors.Join(errs...)
}

// filterElem is one element of the filter's sets; ifname is set for IPv6
// link-local addresses only.
type filterElem LinkLocalVIP

func filterElemOf(a netip.Addr) (filterElem, error) {
	if !a.IsValid() {
		return filterElem{}, errors.New("no_accept filter: invalid VIP address")
	}
	zone := a.Zone()
	a = a.WithZone("").Unmap()
	if !a.Is6() || !a.IsLinkLocalUnicast() {
		return filterElem{Addr: a}, nil
	}
	if zone == "" {
		return filterElem{}, fmt.Errorf("no_accept filter: link-local VIP %s has no interface", a)
	}
	if err := checkIfname(zone); err != nil {
		return filterElem{}, fmt.Errorf("no_accept filter: link-local VIP %s: %w", a, err)
	}
	return filterElem{Addr: a, Ifname: zone}, nil
}

// checkIfname accepts what the kernel accepts as an interface name
// (dev_valid_name) and can go between double quotes in an nft script.
func checkIfname(name string) error {
	if len(name) > 15 || name == "." || name == ".." {
		return fmt.Errorf("interface name %q is not valid", name)
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || r == '/' || r == ':' || r == '"' || r == '\\' {
			return fmt.Errorf("interface name %q is not valid", name)
		}
	}
	return nil
}

func (s *FilterSet) add(e filterElem) {
	switch {
	case e.Ifname != "":
		s.LinkLocal = append(s.LinkLocal, LinkLocalVIP(e))
	case e.Addr.Is4():
		s.V4 = append(s.V4, e.Addr)
	default:
		s.V6 = append(s.V6, e.Addr)
	}
}

func (s *FilterSet) normalize() {
	slices.SortFunc(s.V4, netip.Addr.Compare)
	s.V4 = slices.Compact(s.V4)
	slices.SortFunc(s.V6, netip.Addr.Compare)
	s.V6 = slices.Compact(s.V6)
	slices.SortFunc(s.LinkLocal, func(a, b LinkLocalVIP) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		return strings.Compare(a.Ifname, b.Ifname)
	})
	s.LinkLocal = slices.Compact(s.LinkLocal)
}

// Len is the number of elements.
func (s FilterSet) Len() int { return len(s.V4) + len(s.V6) + len(s.LinkLocal) }

func (s FilterSet) elems() []filterElem {
	out := make([]filterElem, 0, s.Len())
	for _, a := range s.V4 {
		out = append(out, filterElem{Addr: a})
	}
	for _, a := range s.V6 {
		out = append(out, filterElem{Addr: a})
	}
	for _, l := range s.LinkLocal {
		out = append(out, filterElem(l))
	}
	return out
}

// Addrs returns the elements as addresses, link-local ones with their
// interface as zone: for logs and errors.
func (s FilterSet) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, e := range s.elems() {
		out = append(out, e.Addr.WithZone(e.Ifname))
	}
	return out
}

// filterRule is one rule of a base chain.
type filterRule struct {
	Chain string
	Expr  string
}

// rules are the rules of the table's base chains, in order. Neighbour
// discovery goes first, as in keepalived's ip6 table: a neighbour
// solicitation for the VIP and our advertisement from it must pass, or
// the VIP could not even serve as a next hop.
func (c FilterConfig) rules() []filterRule {
	verdict := "drop"
	accept := "accept"
	if c.Counters {
		verdict, accept = "counter drop", "counter accept"
	}
	var rs []filterRule
	for _, d := range []struct{ chain, addr, iface string }{
		{filterChainIn, "daddr", "iifname"},
		{filterChainOut, "saddr", "oifname"},
	} {
		rs = append(rs,
			filterRule{d.chain, "icmpv6 type " + filterNeighborTypes + " " + accept},
			filterRule{d.chain, "ip " + d.addr + " @" + filterSetV4 + " " + verdict},
			filterRule{d.chain, "ip6 " + d.addr + " @" + filterSetV6 + " " + verdict},
			filterRule{d.chain, "ip6 " + d.addr + " . " + d.iface + " @" + filterSetLinkLocal + " " + verdict},
		)
	}
	return rs
}

// EnsureScript returns an nft(8) script that creates the table, its sets
// and its base chains where missing and rewrites the chains' rules, leaving
// the sets' elements as they are. nft -f applies a script as one
// transaction: packets never meet a half-built table, and a script that
// fails changes nothing.
func (c FilterConfig) EnsureScript() string {
	var b strings.Builder
	t := "inet " + c.Table
	fmt.Fprintf(&b, "table %s {\n", t)
	fmt.Fprintf(&b, "\tset %s { type ipv4_addr; }\n", filterSetV4)
	fmt.Fprintf(&b, "\tset %s { type ipv6_addr; }\n", filterSetV6)
	fmt.Fprintf(&b, "\tset %s { type ipv6_addr . ifname; }\n", filterSetLinkLocal)
	fmt.Fprintf(&b, "\tchain %s { type filter hook input priority %d; policy accept; }\n", filterChainIn, c.Priority)
	fmt.Fprintf(&b, "\tchain %s { type filter hook output priority %d; policy accept; }\n", filterChainOut, c.Priority)
	b.WriteString("}\n")
	// Declaring a chain that exists appends its rules again: flush first.
	fmt.Fprintf(&b, "flush chain %s %s\n", t, filterChainIn)
	fmt.Fprintf(&b, "flush chain %s %s\n", t, filterChainOut)
	for _, r := range c.rules() {
		fmt.Fprintf(&b, "add rule %s %s %s\n", t, r.Chain, r.Expr)
	}
	return b.String()
}

// ResetScript is EnsureScript after deleting any table of that name, with
// whatever a vigil that did not stop cleanly left in it. keepalived also
// deletes its table before creating it.
func (c FilterConfig) ResetScript() string {
	return c.DeleteScript() + c.EnsureScript()
}

// DeleteScript deletes the table if there is one: "add table" first makes
// the delete succeed when it is missing (nft 1.0.6 has no "destroy").
func (c FilterConfig) DeleteScript() string {
	return fmt.Sprintf("add table inet %s\ndelete table inet %s\n", c.Table, c.Table)
}

// AddScript returns the commands that add s's elements to the sets.
// Adding an element that is there is not an error.
func (c FilterConfig) AddScript(s FilterSet) string {
	var b strings.Builder
	c.elements(&b, "add", s)
	return b.String()
}

// RemoveScript returns the commands that delete s's elements from the
// sets. Each is added first, so that deleting one that is not there (an
// operator removed it) is not an error that would fail the transaction.
func (c FilterConfig) RemoveScript(s FilterSet) string {
	var b strings.Builder
	c.elements(&b, "add", s)
	c.elements(&b, "delete", s)
	return b.String()
}

func (c FilterConfig) elements(b *strings.Builder, verb string, s FilterSet) {
	line := func(set string, elems []string) {
		if len(elems) > 0 {
			fmt.Fprintf(b, "%s element inet %s %s { %s }\n", verb, c.Table, set, strings.Join(elems, ", "))
		}
	}
	var v4, v6, ll []string
	for _, a := range s.V4 {
		v4 = append(v4, a.String())
	}
	for _, a := range s.V6 {
		v6 = append(v6, a.String())
	}
	for _, l := range s.LinkLocal {
		ll = append(ll, fmt.Sprintf("%s . %q", l.Addr, l.Ifname))
	}
	line(filterSetV4, v4)
	line(filterSetV6, v6)
	line(filterSetLinkLocal, ll)
}

// filterPlan is the bookkeeping of an NFTFilter, pure so that it is tested
// without root: whether the table has been (re)made by this filter, and
// which elements this filter added, so that Unblock removes nothing it did
// not add. Callers run a script and, once it succeeded, record it.
type filterPlan struct {
	cfg     FilterConfig
	ready   bool // the table was reset by this filter's first Block
	blocked map[filterElem]struct{}
}

func newFilterPlan(cfg FilterConfig) *filterPlan {
	return &filterPlan{cfg: cfg, blocked: map[filterElem]struct{}{}}
}

// blockScript makes the table (replacing a stale one the first time,
// repairing it later) and adds s's elements; s may already be blocked.
func (p *filterPlan) blockScript(s FilterSet) string {
	if p.ready {
		return p.cfg.EnsureScript() + p.cfg.AddScript(s)
	}
	return p.cfg.ResetScript() + p.cfg.AddScript(s)
}

// didBlock records a successful blockScript.
func (p *filterPlan) didBlock(s FilterSet) {
	p.ready = true
	for _, e := range s.elems() {
		p.blocked[e] = struct{}{}
	}
}

// unblockScript returns the script that removes the elements of s this
// filter blocked, and those elements; "" and an empty set when there are
// none, and then nothing is to be run.
func (p *filterPlan) unblockScript(s FilterSet) (string, FilterSet) {
	var todo FilterSet
	for _, e := range s.elems() {
		if _, ok := p.blocked[e]; ok {
			todo.add(e)
		}
	}
	if todo.Len() == 0 {
		return "", todo
	}
	// Ensure first: should the table have vanished, removing from it
	// must still succeed.
	return p.cfg.EnsureScript() + p.cfg.RemoveScript(todo), todo
}

// didUnblock records a successful unblockScript.
func (p *filterPlan) didUnblock(s FilterSet) {
	for _, e := range s.elems() {
		delete(p.blocked, e)
	}
}

// didClose records that the table is gone.
func (p *filterPlan) didClose() {
	p.ready = false
	clear(p.blocked)
}

// FilterError is a failed change of the no_accept filter, naming the
// table and the VIPs.
type FilterError struct {
	Op    string // "block", "unblock", "delete table"
	Table string
	Addrs []netip.Addr
	Err   error
}

func (e *FilterError) Error() string {
	if len(e.Addrs) == 0 {
		return fmt.Sprintf("no_accept filter: %s inet %s: %v", e.Op, e.Table, e.Err)
	}
	as := make([]string, len(e.Addrs))
	for i, a := range e.Addrs {
		as[i] = a.String()
	}
	return fmt.Sprintf("no_accept filter: %s %s in table inet %s: %v", e.Op, strings.Join(as, ", "), e.Table, e.Err)
}

func (e *FilterError) Unwrap() error { return e.Err }
