package vrrp

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Addrs adds and removes VIPs and virtual routes through one netlink
// handle, in whatever network namespace the handle was made for. Adding
// what is there and deleting what is not are not errors, so a runner can
// repeat itself after a crash or a partial failure.
type Addrs struct {
	h *netlink.Handle
}

// NewAddrs returns an Addrs on h (netlink.NewHandle, or NewHandleAt for a
// namespace). The caller keeps ownership of h.
func NewAddrs(h *netlink.Handle) *Addrs { return &Addrs{h: h} }

func (m *Addrs) link(op, obj, dev string) (netlink.Link, error) {
	l, err := m.h.LinkByName(dev)
	if err != nil {
		return nil, &AddrError{Op: op, Obj: obj, Dev: dev, Err: err}
	}
	return l, nil
}

func (m *Addrs) nlAddr(v VIP) *netlink.Addr {
	a := &netlink.Addr{
		IPNet: &net.IPNet{IP: v.Prefix.Addr().AsSlice(), Mask: net.CIDRMask(v.Prefix.Bits(), v.Prefix.Addr().BitLen())},
		Label: v.Label,
		Scope: int(v.Scope),
	}
	if v.Prefix.Addr().Is4() {
		a.Broadcast = net.IPv4zero // none: keepalived sets brd only when configured
		if v.Broadcast.IsValid() {
			a.Broadcast = v.Broadcast.AsSlice()
		}
	} else {
		if !v.DAD {
			a.Flags |= unix.IFA_F_NODAD
		}
		if v.deprecated() {
			a.ValidLft = math.MaxUint32 // forever
			a.PreferedLft = 0
		}
	}
	if v.NoPrefixRoute {
		a.Flags |= unix.IFA_F_NOPREFIXROUTE
	}
	return a
}

// AddVIP configures v on its interface. An address already there is
// success (EEXIST).
func (m *Addrs) AddVIP(ctx context.Context, v VIP) error {
	const op = "add VIP"
	if err := ctx.Err(); err != nil {
		return &AddrError{Op: op, Obj: v.Prefix.String(), Dev: v.Dev, Err: err}
	}
	l, err := m.link(op, v.Prefix.String(), v.Dev)
	if err != nil {
		return err
	}
	if err := m.h.AddrAdd(l, m.nlAddr(v)); err != nil && !errors.Is(err, unix.EEXIST) {
		return &AddrError{Op: op, Obj: v.Prefix.String(), Dev: v.Dev, Err: err}
	}
	return nil
}

// DelVIP removes v from its interface. An address not there is success
// (EADDRNOTAVAIL).
func (m *Addrs) DelVIP(ctx context.Context, v VIP) error {
	const op = "delete VIP"
	if err := ctx.Err(); err != nil {
		return &AddrError{Op: op, Obj: v.Prefix.String(), Dev: v.Dev, Err: err}
	}
	l, err := m.link(op, v.Prefix.String(), v.Dev)
	if err != nil {
		return err
	}
	if err := m.h.AddrDel(l, m.nlAddr(v)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return &AddrError{Op: op, Obj: v.Prefix.String(), Dev: v.Dev, Err: err}
	}
	return nil
}

// List returns the addresses on dev, both families, with prefix lengths,
// in the kernel's order.
func (m *Addrs) List(ctx context.Context, dev string) ([]netip.Prefix, error) {
	const op = "list addresses"
	if err := ctx.Err(); err != nil {
		return nil, &AddrError{Op: op, Dev: dev, Err: err}
	}
	l, err := m.link(op, "", dev)
	if err != nil {
		return nil, err
	}
	as, err := m.h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, &AddrError{Op: op, Dev: dev, Err: err}
	}
	out := make([]netip.Prefix, 0, len(as))
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

func (m *Addrs) nlRoute(op string, r VirtualRoute) (*netlink.Route, error) {
	nr := &netlink.Route{
		Dst:      &net.IPNet{IP: r.Dst.Addr().AsSlice(), Mask: net.CIDRMask(r.Dst.Bits(), r.Dst.Addr().BitLen())},
		Table:    r.Table,
		Scope:    netlink.Scope(r.Scope),
		Priority: r.Metric,
		Protocol: RouteProtocolKeepalived,
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	if r.Via.IsValid() {
		nr.Gw = r.Via.AsSlice()
	}
	if r.Blackhole {
		nr.Type = unix.RTN_BLACKHOLE
	}
	if r.Dev != "" {
		l, err := m.link(op, r.String(), r.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = l.Attrs().Index
	}
	if !r.Via.IsValid() && !r.Blackhole && r.Scope == ScopeGlobal {
		// A direct route is on-link, as ip route add … dev makes it.
		nr.Scope = netlink.SCOPE_LINK
	}
	return nr, nil
}

// AddRoute installs r with protocol keepalived. A route already there is
// success (EEXIST).
func (m *Addrs) AddRoute(ctx context.Context, r VirtualRoute) error {
	const op = "add route"
	if err := ctx.Err(); err != nil {
		return &AddrError{Op: op, Obj: r.String(), Dev: r.Dev, Err: err}
	}
	nr, err := m.nlRoute(op, r)
	if err != nil {
		return err
	}
	if err := m.h.RouteAdd(nr); err != nil && !errors.Is(err, unix.EEXIST) {
		return &AddrError{Op: op, Obj: r.String(), Dev: r.Dev, Err: err}
	}
	return nil
}

// DelRoute removes r. A route not there is success (ESRCH).
func (m *Addrs) DelRoute(ctx context.Context, r VirtualRoute) error {
	const op = "delete route"
	if err := ctx.Err(); err != nil {
		return &AddrError{Op: op, Obj: r.String(), Dev: r.Dev, Err: err}
	}
	nr, err := m.nlRoute(op, r)
	if err != nil {
		return err
	}
	if err := m.h.RouteDel(nr); err != nil && !errors.Is(err, unix.ESRCH) {
		return &AddrError{Op: op, Obj: r.String(), Dev: r.Dev, Err: err}
	}
	return nil
}
