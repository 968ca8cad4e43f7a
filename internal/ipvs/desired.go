package ipvs

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
)

// The mapping from the configuration is the caller's (the lead adds it
// once internal/conf settles). What it needs, as a sketch:
//
//	// FromConfig turns every virtual_server (and virtual_server_group
//	// member) into Services. Health state comes from the checkers:
//	// a failed real server is left out, or kept with weight 0 when
//	// inhibit_on_failure is set; the sorry_server replaces all real
//	// servers when none is alive (keepalived.conf(5)).
//	func FromConfig(vs []conf.VirtualServer, alive func(conf.RealServer) bool) (Table, conf.Diagnostics)
//
// per virtual_server: address+port or fwmark, protocol, family (for
// fwmark, from "ip_family" or the real servers), lb_algo/lvs_sched →
// Scheduler, lb_kind/lvs_method → Forward (with tun_type, tun_port,
// tun_flags for TUN), persistence_timeout/persistence_granularity/
// persistence_engine → Persistence, the ops/sh-*/mh-* keywords →
// OnePacket/SchedFlags; per real_server: address, port, weight,
// uthreshold/lthreshold, and an lb_kind override.

// Family is an address family, with the values the kernel uses.
type Family uint16

// Address families.
const (
	IPv4 Family = 2  // AF_INET
	IPv6 Family = 10 // AF_INET6
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return "family(" + strconv.Itoa(int(f)) + ")"
}

// bits is the address length in bits.
func (f Family) bits() int {
	if f == IPv6 {
		return 128
	}
	return 32
}

func familyOf(a netip.Addr) Family {
	if a.Is4() || a.Is4In6() {
		return IPv4
	}
	return IPv6
}

// Protocol is a virtual service's transport protocol (IP protocol number).
type Protocol uint16

// Protocols IPVS balances by address and port.
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case SCTP:
		return "SCTP"
	}
	return "proto(" + strconv.Itoa(int(p)) + ")"
}

// Forward is a destination's forwarding method (keepalived lb_kind), with
// the kernel's IP_VS_CONN_F_* values.
type Forward uint32

// Forwarding methods.
const (
	NAT    Forward = 0 // masquerading
	Local  Forward = 1 // local node; the kernel picks it for local addresses
	Tunnel Forward = 2 // TUN
	Direct Forward = 3 // DR
)

func (f Forward) String() string {
	switch f {
	case NAT:
		return "nat"
	case Local:
		return "local"
	case Tunnel:
		return "tun"
	case Direct:
		return "dr"
	}
	return "fwd(" + strconv.Itoa(int(f)) + ")"
}

// TunType is the encapsulation of a Tunnel destination (keepalived
// tun_type), with the kernel's IP_VS_CONN_F_TUNNEL_TYPE_* values.
type TunType uint8

// Tunnel encapsulations.
const (
	IPIP TunType = 0
	GUE  TunType = 1
	GRE  TunType = 2
)

func (t TunType) String() string {
	switch t {
	case IPIP:
		return "ipip"
	case GUE:
		return "gue"
	case GRE:
		return "gre"
	}
	return "tun(" + strconv.Itoa(int(t)) + ")"
}

// TunFlags are GUE/GRE checksum options (keepalived tun_flags), with the
// kernel's IP_VS_TUNNEL_ENCAP_FLAG_* values.
type TunFlags uint16

// Tunnel checksum flags.
const (
	TunCsum    TunFlags = 1 << 0
	TunRemCsum TunFlags = 1 << 1
)

// SchedFlags are the three scheduler-specific service flags
// (IP_VS_SVC_F_SCHED1..3, ipvsadm --sched-flags flag-1..flag-3).
type SchedFlags uint32

// Scheduler flags and their names for the schedulers that use them.
const (
	SchedFlag1 SchedFlags = 0x0008
	SchedFlag2 SchedFlags = 0x0010
	SchedFlag3 SchedFlags = 0x0020

	SHFallback = SchedFlag1 // sh-fallback: skip unavailable servers
	SHPort     = SchedFlag2 // sh-port: hash the source port too
	MHFallback = SchedFlag1 // mh-fallback
	MHPort     = SchedFlag2 // mh-port
)

// Schedulers lists the scheduler names IPVS in Linux 6.1 provides and
// keepalived accepts for lb_algo.
var schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"}

// Schedulers returns the scheduler names Validate accepts.
func Schedulers() []string { return slices.Clone(schedulers) }

// SchedFlagNames returns the names of flags for scheduler sched, in the
// form keepalived and ipvsadm print them ("sh-port", or "flag-3" where the
// scheduler gives the bit no name).
func SchedFlagNames(sched string, f SchedFlags) []string {
	var names []string
	for i, bit := range []SchedFlags{SchedFlag1, SchedFlag2, SchedFlag3} {
		if f&bit == 0 {
			continue
		}
		name := "flag-" + strconv.Itoa(i+1)
		if (sched == "sh" || sched == "mh") && i < 2 {
			name = sched + []string{"-fallback", "-port"}[i]
		}
		names = append(names, name)
	}
	return names
}

// ServiceKey identifies a virtual service: by protocol, address and port,
// or by firewall mark and family. The zero Addr and Port and Protocol go
// with a non-zero FWMark.
type ServiceKey struct {
	Family   Family
	Protocol Protocol
	Addr     netip.Addr
	Port     uint16
	FWMark   uint32
}

// AddrPortKey returns the key of a service on addr:port.
func AddrPortKey(p Protocol, ap netip.AddrPort) ServiceKey {
	a := ap.Addr().Unmap()
	return ServiceKey{Family: familyOf(a), Protocol: p, Addr: a, Port: ap.Port()}
}

// FWMarkKey returns the key of a firewall-mark service.
func FWMarkKey(f Family, mark uint32) ServiceKey {
	return ServiceKey{Family: f, FWMark: mark}
}

// String names the service as ipvsadm does: "TCP 10.0.0.1:80",
// "UDP [fd00::1]:53", "FWM 7", "FWM 7 IPv6".
func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		if k.Family == IPv6 {
			return fmt.Sprintf("FWM %d IPv6", k.FWMark)
		}
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	return k.Protocol.String() + " " + netip.AddrPortFrom(k.Addr, k.Port).String()
}

// compare orders keys: by family, address services before fwmark ones,
// then protocol, address, port, mark. It stops at the first difference:
// sorting and diffing a big table call it millions of times.
func (k ServiceKey) compare(o ServiceKey) int {
	if c := cmp.Compare(k.Family, o.Family); c != 0 {
		return c
	}
	if c := cmp.Compare(k.FWMark, o.FWMark); c != 0 {
		return c
	}
	if c := cmp.Compare(k.Protocol, o.Protocol); c != 0 {
		return c
	}
	if c := k.Addr.Compare(o.Addr); c != 0 {
		return c
	}
	return cmp.Compare(k.Port, o.Port)
}

// Persistence is a service's client affinity (ipvsadm -p, -M, --pe).
type Persistence struct {
	// Timeout in seconds; 0 means the service is not persistent.
	Timeout uint32
	// Granularity is the client netmask as a prefix length
	// (persistence_granularity); 0 means the whole address.
	Granularity int
	// Engine is a persistence engine such as "sip"; usually empty.
	Engine string
}

// Service is one virtual service and its real servers.
type Service struct {
	Key         ServiceKey
	Scheduler   string
	SchedFlags  SchedFlags
	OnePacket   bool // ops: schedule each UDP datagram on its own
	Persistence Persistence
	Dests       []Destination
}

// DestKey identifies a destination within its service.
type DestKey struct {
	Addr netip.Addr
	Port uint16
}

func (d DestKey) String() string { return netip.AddrPortFrom(d.Addr, d.Port).String() }

func (d DestKey) compare(o DestKey) int {
	if c := d.Addr.Compare(o.Addr); c != 0 {
		return c
	}
	return cmp.Compare(d.Port, o.Port)
}

// Destination is one real server.
type Destination struct {
	Addr    netip.Addr
	Port    uint16
	Forward Forward
	Weight  int
	// UpperThreshold and LowerThreshold bound the connections
	// (uthreshold, lthreshold); 0 means no limit.
	UpperThreshold, LowerThreshold uint32
	// TunType, TunPort and TunFlags apply to Tunnel destinations.
	TunType  TunType
	TunPort  uint16
	TunFlags TunFlags
}

// Key returns the destination's identity within its service.
func (d Destination) Key() DestKey { return DestKey{Addr: d.Addr, Port: d.Port} }

// Table is a set of virtual services: the desired one, or the one read
// from the kernel.
type Table []Service

// Sorted returns a copy of t with services and their destinations in key
// order; Diff, String and the kernel reader all use this order. The copy
// shares nothing with t.
func (t Table) Sorted() Table {
	// One array holds every service's destinations: two allocations
	// for any table, not one per service.
	all := make([]Destination, 0, countDests(t))
	out := make(Table, len(t))
	for i, s := range t {
		if s.Dests != nil { // nil stays nil, as with slices.Clone
			start := len(all)
			all = append(all, s.Dests...)
			s.Dests = all[start:len(all):len(all)]
		}
		out[i] = s
	}
	out.sortInPlace()
	return out
}

// sortInPlace puts t's services and their destinations in key order,
// modifying t and its Dests; it does no work on what is in order.
func (t Table) sortInPlace() {
	for _, s := range t {
		if !slices.IsSortedFunc(s.Dests, compareDests) {
			slices.SortFunc(s.Dests, compareDests)
		}
	}
	if !slices.IsSortedFunc(t, compareServices) {
		slices.SortFunc(t, compareServices)
	}
}

func compareServices(a, b Service) int { return a.Key.compare(b.Key) }

func compareDests(a, b Destination) int { return a.Key().compare(b.Key()) }

// ordered returns t if it is in key order already (as Kernel.Read
// returns it), else t.Sorted(). Callers must not modify the result.
func (t Table) ordered() Table {
	if !slices.IsSortedFunc(t, compareServices) {
		return t.Sorted()
	}
	for _, s := range t {
		if !slices.IsSortedFunc(s.Dests, compareDests) {
			return t.Sorted()
		}
	}
	return t
}

// Validate reports every problem that would make the kernel refuse the
// table, or that Diff could not express, each naming its service and
// destination.
func (t Table) Validate() error {
	var errs []error
	seen := make(map[ServiceKey]bool, len(t))
	for _, s := range t {
		if seen[s.Key] {
			errs = append(errs, fmt.Errorf("virtual server %s: defined twice", s.Key))
		}
		seen[s.Key] = true
		if err := s.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s Service) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("virtual server %s: "+format, append([]any{s.Key}, args...)...))
	}
	k := s.Key
	if k.Family != IPv4 && k.Family != IPv6 {
		bad("address family must be IPv4 or IPv6")
	}
	if k.FWMark != 0 {
		if k.Addr.IsValid() || k.Port != 0 || k.Protocol != 0 {
			bad("a fwmark service has no address, port or protocol")
		}
	} else {
		switch {
		case !k.Addr.IsValid():
			bad("needs an address or a fwmark")
		case k.Addr.Is4In6() || familyOf(k.Addr) != k.Family:
			bad("address family %s does not match the address", k.Family)
		}
		if k.Protocol != TCP && k.Protocol != UDP && k.Protocol != SCTP {
			bad("protocol must be TCP, UDP or SCTP")
		}
		// The kernel refuses port 0 unless the service is persistent
		// (ipvsadm: "Zero port specified for non-persistent service").
		if k.Port == 0 && s.Persistence.Timeout == 0 {
			bad("port 0 needs persistence_timeout")
		}
	}
	if !slices.Contains(schedulers, s.Scheduler) {
		bad("unknown scheduler %q (lb_algo: one of %v)", s.Scheduler, schedulers)
	}
	if s.SchedFlags&^(SchedFlag1|SchedFlag2|SchedFlag3) != 0 {
		bad("scheduler flags %#x outside flag-1..flag-3", uint32(s.SchedFlags))
	}
	if g := s.Persistence.Granularity; g < 0 || g > k.Family.bits() {
		bad("persistence_granularity /%d out of range 0-%d", g, k.Family.bits())
	}
	// Duplicates: a map only for long lists; most services have a
	// handful of real servers, and a map each costs more than
	// comparing them all (Validate runs on every sync).
	var dseen map[DestKey]bool
	if len(s.Dests) > 16 {
		dseen = make(map[DestKey]bool, len(s.Dests))
	}
	for i, d := range s.Dests {
		rs := func(format string, args ...any) {
			bad("real server %s: "+format, append([]any{d.Key()}, args...)...)
		}
		if dseen != nil {
			if dseen[d.Key()] {
				rs("defined twice")
			}
			dseen[d.Key()] = true
		} else {
			for _, o := range s.Dests[:i] {
				if o.Port == d.Port && o.Addr == d.Addr {
					rs("defined twice")
					break
				}
			}
		}
		if !d.Addr.IsValid() {
			rs("needs an address")
			continue
		}
		// The kernel takes mixed families for TUN only; the encoder
		// sends IPVS_DEST_ATTR_ADDR_FAMILY, but mixed tables are not
		// tested against the kernel or keepalived yet: refused.
		if d.Addr.Is4In6() || familyOf(d.Addr) != k.Family {
			rs("address family differs from the virtual server's")
		}
		if d.Weight < 0 || d.Weight > 65535 {
			rs("weight %d out of range 0-65535", d.Weight)
		}
		// The kernel compares even when uthreshold is 0 (no limit).
		if d.LowerThreshold > d.UpperThreshold {
			rs("lthreshold %d above uthreshold %d", d.LowerThreshold, d.UpperThreshold)
		}
		if d.Forward > Direct {
			rs("unknown forwarding method %d", d.Forward)
		}
		if d.Forward != Tunnel && (d.TunType != IPIP || d.TunPort != 0 || d.TunFlags != 0) {
			rs("tun_type, tun_port and tun_flags need lb_kind TUN")
		}
		if d.TunType == GUE && d.TunPort == 0 {
			rs("tun_type gue needs tun_port")
		}
	}
	return errors.Join(errs...)
}
