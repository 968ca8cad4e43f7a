package ipvs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net"
	"net/netip"

	"github.com/moby/ipvs"
	"golang.org/x/sys/unix"
)

// Kernel flag bits of struct ip_vs_service_user.flags.
const (
	svcFlagPersistent = 0x0001
	svcFlagOnePacket  = 0x0004
	svcSchedFlags     = uint32(SchedFlag1 | SchedFlag2 | SchedFlag3)
)

// Kernel is the IPVS table of one network namespace, through
// github.com/moby/ipvs over generic netlink.
type Kernel struct {
	h *ipvs.Handle
}

// Open returns the IPVS table of the network namespace at netnsPath (for
// example /run/netns/NAME), or of the caller's namespace if it is "".
// The ip_vs module must be loaded.
func Open(netnsPath string) (*Kernel, error) {
	h, err := ipvs.New(netnsPath)
	if err != nil {
		where := "current network namespace"
		if netnsPath != "" {
			where = "network namespace " + netnsPath
		}
		return nil, fmt.Errorf("open IPVS netlink in %s (is the ip_vs module loaded?): %w", where, err)
	}
	return &Kernel{h: h}, nil
}

// Close releases the netlink socket.
func (k *Kernel) Close() error {
	k.h.Close()
	return nil
}

// Flush deletes every virtual service, whoever created it (ipvsadm -C).
func (k *Kernel) Flush() error {
	if err := k.h.Flush(); err != nil {
		return fmt.Errorf("flush IPVS table: %w", err)
	}
	return nil
}

// Read returns the current table, sorted.
func (k *Kernel) Read(ctx context.Context) (Table, error) {
	svcs, err := k.h.GetServices()
	if err != nil {
		return nil, fmt.Errorf("list virtual servers: %w", err)
	}
	t := make(Table, 0, len(svcs))
	for _, ms := range svcs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := fromMobyService(ms)
		if err != nil {
			return nil, err
		}
		dests, err := k.h.GetDestinations(ms)
		if err != nil {
			return nil, fmt.Errorf("list real servers of virtual server %s: %w", s.Key, err)
		}
		for _, md := range dests {
			d, err := fromMobyDest(md)
			if err != nil {
				return nil, fmt.Errorf("virtual server %s: %w", s.Key, err)
			}
			s.Dests = append(s.Dests, d)
		}
		t = append(t, s)
	}
	return t.Sorted(), nil
}

// Apply performs one op. Errors are *OpError.
func (k *Kernel) Apply(ctx context.Context, op Op) error {
	if err := applyErr(op, k.apply(op)); err != nil {
		return &OpError{Op: op, Err: err}
	}
	return nil
}

func (k *Kernel) apply(op Op) error {
	ms, err := toMobyService(op.Service)
	if err != nil {
		return err
	}
	switch op.Kind {
	case AddService:
		return k.h.NewService(ms)
	case EditService:
		return k.h.UpdateService(ms)
	case DelService:
		return k.h.DelService(ms)
	}
	md, err := toMobyDest(op.Dest)
	if err != nil {
		return err
	}
	switch op.Kind {
	case AddDest:
		return k.h.NewDestination(ms, md)
	case EditDest:
		return k.h.UpdateDestination(ms, md)
	case DelDest:
		return k.h.DelDestination(ms, md)
	}
	return fmt.Errorf("unknown op kind %d", op.Kind)
}

// applyErr adds what an operator can do about the common kernel refusals.
func applyErr(op Op, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOENT) && (op.Kind == AddService || op.Kind == EditService):
		return fmt.Errorf("scheduler %q or persistence engine not available (module ip_vs_%s loaded?): %w",
			op.Service.Scheduler, op.Service.Scheduler, err)
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("already exists (created outside vigil?): %w", err)
	case errors.Is(err, unix.ESRCH):
		return fmt.Errorf("no longer in the kernel table (removed outside vigil?): %w", err)
	}
	return err
}

// toMobyService converts the service's key and settings.
func toMobyService(s Service) (*ipvs.Service, error) {
	if s.Persistence.Engine != "" {
		// moby/ipvs v1.1.0 sends the PE name but does not read it back,
		// so Diff would edit the service on every pass.
		return nil, fmt.Errorf("persistence_engine %q is not supported by the netlink library yet", s.Persistence.Engine)
	}
	k := s.Key
	ms := &ipvs.Service{
		AddressFamily: uint16(k.Family),
		FWMark:        k.FWMark,
		SchedName:     s.Scheduler,
		Flags:         uint32(s.SchedFlags),
	}
	if k.FWMark == 0 {
		ms.Protocol = uint16(k.Protocol)
		ms.Address = net.IP(k.Addr.AsSlice())
		ms.Port = k.Port
	}
	if s.OnePacket {
		ms.Flags |= svcFlagOnePacket
	}
	if s.Persistence.Timeout != 0 {
		ms.Flags |= svcFlagPersistent
		ms.Timeout = s.Persistence.Timeout
	}
	ms.Netmask = encodeNetmask(k.Family, s.Persistence.Granularity)
	return ms, nil
}

// encodeNetmask gives the IPVS_SVC_ATTR_NETMASK value moby/ipvs sends in
// host byte order: for IPv4 the kernel reads the four bytes as a
// network-order mask, for IPv6 as a prefix length.
func encodeNetmask(f Family, prefix int) uint32 {
	if prefix == 0 {
		prefix = f.bits()
	}
	if f == IPv6 {
		return uint32(prefix)
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], ^uint32(0)<<(32-prefix))
	return binary.NativeEndian.Uint32(b[:])
}

// decodeNetmask is the inverse of encodeNetmask; the full length becomes 0.
func decodeNetmask(f Family, v uint32) (int, error) {
	prefix := int(v)
	if f != IPv6 {
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], v)
		m := binary.BigEndian.Uint32(b[:])
		prefix = bits.LeadingZeros32(^m)
		if m != ^uint32(0)<<(32-prefix) && prefix != 0 {
			return 0, fmt.Errorf("non-contiguous persistence netmask %d.%d.%d.%d", b[0], b[1], b[2], b[3])
		}
	}
	if prefix == f.bits() {
		prefix = 0
	}
	return prefix, nil
}

func fromMobyService(ms *ipvs.Service) (Service, error) {
	f := Family(ms.AddressFamily)
	s := Service{
		Key:        ServiceKey{Family: f, FWMark: ms.FWMark},
		Scheduler:  ms.SchedName,
		SchedFlags: SchedFlags(ms.Flags & svcSchedFlags),
		OnePacket:  ms.Flags&svcFlagOnePacket != 0,
	}
	if ms.FWMark == 0 {
		a, ok := netip.AddrFromSlice(ms.Address)
		if !ok {
			return Service{}, fmt.Errorf("kernel returned a virtual server with address %v", ms.Address)
		}
		s.Key.Protocol, s.Key.Addr, s.Key.Port = Protocol(ms.Protocol), a.Unmap(), ms.Port
	}
	// The kernel keeps timeout and netmask when persistence is off; they
	// mean nothing then.
	if ms.Flags&svcFlagPersistent != 0 {
		g, err := decodeNetmask(f, ms.Netmask)
		if err != nil {
			return Service{}, fmt.Errorf("virtual server %s: %w", s.Key, err)
		}
		s.Persistence = Persistence{Timeout: ms.Timeout, Granularity: g}
	}
	return s, nil
}

func toMobyDest(d Destination) (*ipvs.Destination, error) {
	if d.TunType != IPIP || d.TunPort != 0 || d.TunFlags != 0 {
		// moby/ipvs v1.1.0 has no IPVS_DEST_ATTR_TUN_* attributes.
		return nil, fmt.Errorf("tun_type %s (tun_port, tun_flags) is not supported by the netlink library yet; use ipip", d.TunType)
	}
	return &ipvs.Destination{
		Address:         net.IP(d.Addr.AsSlice()),
		Port:            d.Port,
		Weight:          d.Weight,
		ConnectionFlags: uint32(d.Forward),
		AddressFamily:   uint16(familyOf(d.Addr)),
		UpperThreshold:  d.UpperThreshold,
		LowerThreshold:  d.LowerThreshold,
	}, nil
}

func fromMobyDest(md *ipvs.Destination) (Destination, error) {
	a, ok := netip.AddrFromSlice(md.Address)
	if !ok {
		return Destination{}, fmt.Errorf("kernel returned a real server with address %v", md.Address)
	}
	return Destination{
		Addr:           a.Unmap(),
		Port:           md.Port,
		Forward:        Forward(md.ConnectionFlags & ipvs.ConnectionFlagFwdMask),
		Weight:         md.Weight,
		UpperThreshold: md.UpperThreshold,
		LowerThreshold: md.LowerThreshold,
	}, nil
}
