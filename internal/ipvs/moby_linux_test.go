package ipvs

import (
	"context"
	"fmt"
	"net"

	"github.com/moby/ipvs"
)

// mobyKernel applies ops one request and one ack at a time through
// github.com/moby/ipvs, the write path Kernel had before it encoded its
// own messages. BenchmarkKernelSyncVsKeepalived keeps it as the baseline
// the batched path is measured against; it reads through a Kernel.
type mobyKernel struct {
	*Kernel
	h *ipvs.Handle
}

func openMoby(netnsPath string) (*mobyKernel, error) {
	k, err := Open(netnsPath)
	if err != nil {
		return nil, err
	}
	h, err := ipvs.New(netnsPath)
	if err != nil {
		k.Close()
		return nil, err
	}
	return &mobyKernel{Kernel: k, h: h}, nil
}

func (m *mobyKernel) Close() error {
	m.h.Close()
	return m.Kernel.Close()
}

// Apply hides Kernel.ApplyBatch: the Reconciler applies op by op.
func (m *mobyKernel) Apply(ctx context.Context, op Op) error {
	if err := m.apply(op); err != nil {
		return &OpError{Op: op, Err: applyErr(op, err)}
	}
	return nil
}

// ApplyBatch is not batched: mobyKernel is the op-by-op baseline.
func (m *mobyKernel) ApplyBatch(ctx context.Context, ops []Op) ([]error, error) {
	errs := make([]error, 0, len(ops))
	for _, op := range ops {
		if err := ctx.Err(); err != nil {
			return errs, err
		}
		errs = append(errs, m.Apply(ctx, op))
	}
	return errs, nil
}

func (m *mobyKernel) apply(op Op) error {
	ms, err := toMobyService(op.Service)
	if err != nil {
		return err
	}
	switch op.Kind {
	case AddService:
		return m.h.NewService(ms)
	case EditService:
		return m.h.UpdateService(ms)
	case DelService:
		return m.h.DelService(ms)
	}
	md, err := toMobyDest(op.Dest)
	if err != nil {
		return err
	}
	switch op.Kind {
	case AddDest:
		return m.h.NewDestination(ms, md)
	case EditDest:
		return m.h.UpdateDestination(ms, md)
	case DelDest:
		return m.h.DelDestination(ms, md)
	}
	return fmt.Errorf("unknown op kind %d", op.Kind)
}

// toMobyService converts the service's key and settings.
func toMobyService(s Service) (*ipvs.Service, error) {
	if s.Persistence.Engine != "" {
		return nil, fmt.Errorf("persistence_engine %q: moby/ipvs v1.1.0 does not read it back", s.Persistence.Engine)
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

func toMobyDest(d Destination) (*ipvs.Destination, error) {
	if d.TunType != IPIP || d.TunPort != 0 || d.TunFlags != 0 {
		return nil, fmt.Errorf("tun_type %s: moby/ipvs v1.1.0 has no IPVS_DEST_ATTR_TUN_* attributes", d.TunType)
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
