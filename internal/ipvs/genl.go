package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"syscall"
)

// This file encodes and decodes the IPVS generic netlink messages
// (linux/include/uapi/linux/ip_vs.h, "IPVS" family, version 1). It is pure:
// kernel_linux.go owns the socket. Netlink headers and attributes are in
// host byte order; ports (and the IPv4 persistence netmask) are in network
// byte order, as the kernel reads them with nla_get_be16/be32.

// Netlink and generic netlink constants (linux/netlink.h, genetlink.h).
const (
	nlmsgHdrLen  = 16
	genlHdrLen   = 4
	nlaHdrLen    = 4
	nlmsgError   = 2 // NLMSG_ERROR
	nlmsgDone    = 3 // NLMSG_DONE
	nlmFRequest  = 0x1
	nlmFAck      = 0x4
	nlmFDump     = 0x300 // NLM_F_ROOT | NLM_F_MATCH
	nlaTypeMask  = 0x3fff
	genlIDCtrl   = 0x10 // GENL_ID_CTRL
	ctrlCmdGetFa = 3    // CTRL_CMD_GETFAMILY
	ctrlAttrID   = 1    // CTRL_ATTR_FAMILY_ID
	ctrlAttrName = 2    // CTRL_ATTR_FAMILY_NAME
	ipvsGenlName = "IPVS"
	ipvsGenlVer  = 1
)

// IPVS commands (enum IPVS_CMD_*).
const (
	cmdNewService = 1
	cmdSetService = 2
	cmdDelService = 3
	cmdGetService = 4
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7
	cmdGetDest    = 8
	cmdFlush      = 17
)

// Attributes: IPVS_CMD_ATTR_*, IPVS_SVC_ATTR_*, IPVS_DEST_ATTR_*.
const (
	cmdAttrService = 1
	cmdAttrDest    = 2

	svcAttrAF        = 1
	svcAttrProtocol  = 2
	svcAttrAddr      = 3
	svcAttrPort      = 4
	svcAttrFWMark    = 5
	svcAttrSchedName = 6
	svcAttrFlags     = 7
	svcAttrTimeout   = 8
	svcAttrNetmask   = 9
	svcAttrPEName    = 11

	destAttrAddr     = 1
	destAttrPort     = 2
	destAttrFwd      = 3
	destAttrWeight   = 4
	destAttrUThresh  = 5
	destAttrLThresh  = 6
	destAttrAF       = 11
	destAttrTunType  = 13
	destAttrTunPort  = 14
	destAttrTunFlags = 15
)

// Kernel flag bits of struct ip_vs_service_user.flags.
const (
	svcFlagPersistent = 0x0001
	svcFlagOnePacket  = 0x0004
	svcSchedFlags     = uint32(SchedFlag1 | SchedFlag2 | SchedFlag3)
	connFwdMask       = 0x0007 // IP_VS_CONN_F_FWD_MASK
)

// encoder appends netlink messages to a buffer.
type encoder struct{ b []byte }

// begin starts a generic netlink message and returns its offset for end.
func (e *encoder) begin(family, flags uint16, seq uint32, cmd, version uint8) int {
	start := len(e.b)
	e.b = binary.NativeEndian.AppendUint32(e.b, 0) // length, set by end
	e.b = binary.NativeEndian.AppendUint16(e.b, family)
	e.b = binary.NativeEndian.AppendUint16(e.b, flags)
	e.b = binary.NativeEndian.AppendUint32(e.b, seq)
	e.b = binary.NativeEndian.AppendUint32(e.b, 0) // port id: the kernel fills it in
	e.b = append(e.b, cmd, version, 0, 0)
	return start
}

func (e *encoder) end(start int) {
	binary.NativeEndian.PutUint32(e.b[start:], uint32(len(e.b)-start))
}

// nest starts a nested attribute; close it with endNest.
func (e *encoder) nest(typ uint16) int {
	start := len(e.b)
	e.b = binary.NativeEndian.AppendUint16(e.b, 0)
	e.b = binary.NativeEndian.AppendUint16(e.b, typ)
	return start
}

func (e *encoder) endNest(start int) {
	binary.NativeEndian.PutUint16(e.b[start:], uint16(len(e.b)-start))
}

func (e *encoder) attr(typ uint16, payload ...byte) {
	e.hdr(typ, len(payload))
	e.b = append(e.b, payload...)
	e.pad()
}

// hdr appends an attribute header for an n-byte payload.
func (e *encoder) hdr(typ uint16, n int) {
	e.b = binary.NativeEndian.AppendUint32(e.b, uint32(nlaHdrLen+n)|uint32(typ)<<16)
}

// pad aligns the buffer to 4 bytes after an attribute.
func (e *encoder) pad() {
	switch len(e.b) % 4 {
	case 1:
		e.b = append(e.b, 0, 0, 0)
	case 2:
		e.b = append(e.b, 0, 0)
	case 3:
		e.b = append(e.b, 0)
	}
}

func (e *encoder) u8(typ uint16, v uint8) {
	e.hdr(typ, 1)
	e.b = append(e.b, v, 0, 0, 0)
}

func (e *encoder) u16(typ uint16, v uint16) {
	e.hdr(typ, 2)
	e.b = binary.NativeEndian.AppendUint16(e.b, v)
	e.b = append(e.b, 0, 0)
}

func (e *encoder) be16(typ uint16, v uint16) {
	e.hdr(typ, 2)
	e.b = append(e.b, byte(v>>8), byte(v), 0, 0)
}

func (e *encoder) u32(typ uint16, v uint32) {
	e.hdr(typ, 4)
	e.b = binary.NativeEndian.AppendUint32(e.b, v)
}

func (e *encoder) str(typ uint16, s string) {
	e.hdr(typ, len(s)+1)
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
	e.pad()
}

// addr appends an address: 4 bytes for IPv4, 16 for IPv6.
func (e *encoder) addr(typ uint16, a netip.Addr) {
	switch {
	case !a.IsValid():
		e.hdr(typ, 0)
		return
	case a.Is4():
		b := a.As4()
		e.hdr(typ, 4)
		e.b = append(e.b, b[:]...)
		return
	}
	b := a.As16()
	e.hdr(typ, 16)
	e.b = append(e.b, b[:]...)
}

// familyRequest appends CTRL_CMD_GETFAMILY for the IPVS family.
func (e *encoder) familyRequest(seq uint32) {
	m := e.begin(genlIDCtrl, nlmFRequest|nlmFAck, seq, ctrlCmdGetFa, 1)
	e.str(ctrlAttrName, ipvsGenlName)
	e.end(m)
}

// simple appends an IPVS command with no attributes (flush).
func (e *encoder) simple(family uint16, flags uint16, seq uint32, cmd uint8) {
	e.end(e.begin(family, flags, seq, cmd, ipvsGenlVer))
}

// serviceRequest appends a command about one service identified by key
// (IPVS_CMD_GET_SERVICE, or IPVS_CMD_GET_DEST with NLM_F_DUMP).
func (e *encoder) serviceRequest(family, flags uint16, seq uint32, cmd uint8, key ServiceKey) {
	m := e.begin(family, flags, seq, cmd, ipvsGenlVer)
	n := e.nest(cmdAttrService)
	e.serviceKey(key)
	e.endNest(n)
	e.end(m)
}

// op appends the one message that performs op.
func (e *encoder) op(family, flags uint16, seq uint32, op Op) error {
	cmd, full, dest := opCommand(op.Kind)
	if cmd == 0 {
		return fmt.Errorf("unknown op kind %d", op.Kind)
	}
	if dest {
		if err := checkTunnel(op.Dest); err != nil {
			return err
		}
	}
	m := e.begin(family, flags, seq, cmd, ipvsGenlVer)
	n := e.nest(cmdAttrService)
	e.serviceKey(op.Service.Key)
	if full && !dest {
		e.serviceSettings(op.Service)
	}
	e.endNest(n)
	if dest {
		n := e.nest(cmdAttrDest)
		e.dest(op.Dest, full)
		e.endNest(n)
	}
	e.end(m)
	return nil
}

// opCommand returns the command for an op kind, whether it carries the
// whole entry (the kernel requires every setting for add and edit), and
// whether it is about a destination.
func opCommand(k OpKind) (cmd uint8, full, dest bool) {
	switch k {
	case AddService:
		return cmdNewService, true, false
	case EditService:
		return cmdSetService, true, false
	case DelService:
		return cmdDelService, false, false
	case AddDest:
		return cmdNewDest, true, true
	case EditDest:
		return cmdSetDest, true, true
	case DelDest:
		return cmdDelDest, false, true
	}
	return 0, false, false
}

// checkTunnel refuses tunnel settings the kernel would take but not use,
// which would make every Diff see a change.
func checkTunnel(d Destination) error {
	if d.Forward != Tunnel && (d.TunType != IPIP || d.TunPort != 0 || d.TunFlags != 0) {
		return fmt.Errorf("tun_type %s (tun_port, tun_flags) needs lb_kind TUN", d.TunType)
	}
	return nil
}

func (e *encoder) serviceKey(k ServiceKey) {
	e.u16(svcAttrAF, uint16(k.Family))
	if k.FWMark != 0 {
		e.u32(svcAttrFWMark, k.FWMark)
		return
	}
	e.u16(svcAttrProtocol, uint16(k.Protocol))
	e.addr(svcAttrAddr, k.Addr)
	e.be16(svcAttrPort, k.Port)
}

func (e *encoder) serviceSettings(s Service) {
	e.str(svcAttrSchedName, s.Scheduler)
	if s.Persistence.Engine != "" {
		e.str(svcAttrPEName, s.Persistence.Engine)
	}
	flags := uint32(s.SchedFlags)
	if s.OnePacket {
		flags |= svcFlagOnePacket
	}
	if s.Persistence.Timeout != 0 {
		flags |= svcFlagPersistent
	}
	// struct ip_vs_flags {flags, mask}: every bit is ours to set.
	var fm [8]byte
	binary.NativeEndian.PutUint32(fm[0:], flags)
	binary.NativeEndian.PutUint32(fm[4:], ^uint32(0))
	e.attr(svcAttrFlags, fm[:]...)
	e.u32(svcAttrTimeout, s.Persistence.Timeout)
	e.u32(svcAttrNetmask, encodeNetmask(s.Key.Family, s.Persistence.Granularity))
}

func (e *encoder) dest(d Destination, full bool) {
	e.addr(destAttrAddr, d.Addr)
	e.be16(destAttrPort, d.Port)
	e.u16(destAttrAF, uint16(familyOf(d.Addr)))
	if !full {
		return
	}
	e.u32(destAttrFwd, uint32(d.Forward))
	e.u32(destAttrWeight, uint32(d.Weight))
	e.u32(destAttrUThresh, d.UpperThreshold)
	e.u32(destAttrLThresh, d.LowerThreshold)
	if d.Forward == Tunnel {
		e.u8(destAttrTunType, uint8(d.TunType))
		e.be16(destAttrTunPort, d.TunPort)
		e.u16(destAttrTunFlags, uint16(d.TunFlags))
	}
}

// encodeNetmask gives the IPVS_SVC_ATTR_NETMASK value in host byte
// order: for IPv4 the kernel reads the four bytes as a network-order
// mask, for IPv6 as a prefix length.
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

// message is one netlink message of a received buffer.
type message struct {
	typ, flags uint16
	seq        uint32
	data       []byte // after the netlink header
}

// splitMessages splits a received buffer into its netlink messages.
func splitMessages(b []byte) ([]message, error) { return appendMessages(nil, b) }

// appendMessages appends the netlink messages of a received buffer to
// msgs: the kernel reader reuses one slice for every datagram.
func appendMessages(msgs []message, b []byte) ([]message, error) {
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return msgs, fmt.Errorf("netlink: %d trailing bytes", len(b))
		}
		l := int(binary.NativeEndian.Uint32(b))
		if l < nlmsgHdrLen || l > len(b) {
			return msgs, fmt.Errorf("netlink: message length %d of %d bytes", l, len(b))
		}
		msgs = append(msgs, message{
			typ:   binary.NativeEndian.Uint16(b[4:]),
			flags: binary.NativeEndian.Uint16(b[6:]),
			seq:   binary.NativeEndian.Uint32(b[8:]),
			data:  b[nlmsgHdrLen:l],
		})
		b = b[min(align4(l), len(b)):]
	}
	return msgs, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// errno returns the error an NLMSG_ERROR message carries: nil for an ack.
func (m message) errno() error {
	if len(m.data) < 4 {
		return errors.New("netlink: short error message")
	}
	if e := int32(binary.NativeEndian.Uint32(m.data)); e != 0 {
		return syscall.Errno(-e)
	}
	return nil
}

// attrs holds the payload of each attribute of one level by type; the
// IPVS types vigil reads are all below 16, later ones (statistics) are
// ignored. An array on the caller's stack, not a map: Read decodes
// 110,000 of these for a big table.
type attrs [16][]byte

// parse fills a from the attributes in b; a must be zero.
func (a *attrs) parse(b []byte) error {
	for len(b) >= nlaHdrLen {
		l := int(binary.NativeEndian.Uint16(b))
		if l < nlaHdrLen || l > len(b) {
			return fmt.Errorf("netlink: attribute length %d of %d bytes", l, len(b))
		}
		if typ := binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask; int(typ) < len(a) {
			a[typ] = b[nlaHdrLen:l]
		}
		b = b[min(align4(l), len(b)):]
	}
	return nil
}

// genlAttrs parses the attributes of a generic netlink message into a.
func (m message) genlAttrs(a *attrs) error {
	if len(m.data) < genlHdrLen {
		return errors.New("netlink: short generic netlink message")
	}
	return a.parse(m.data[genlHdrLen:])
}

func (a *attrs) u8(typ uint16) uint8 {
	if b := a[typ]; len(b) >= 1 {
		return b[0]
	}
	return 0
}

func (a *attrs) u16(typ uint16) uint16 {
	if b := a[typ]; len(b) >= 2 {
		return binary.NativeEndian.Uint16(b)
	}
	return 0
}

func (a *attrs) be16(typ uint16) uint16 {
	if b := a[typ]; len(b) >= 2 {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (a *attrs) u32(typ uint16) uint32 {
	if b := a[typ]; len(b) >= 4 {
		return binary.NativeEndian.Uint32(b)
	}
	return 0
}

func (a *attrs) str(typ uint16) string {
	b := a[typ]
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// addr reads an address attribute: the kernel sends a 16-byte union
// nf_inet_addr, of which an IPv4 address takes the first four.
func (a *attrs) addr(typ uint16, f Family) (netip.Addr, error) {
	b := a[typ]
	switch {
	case f == IPv4 && len(b) >= 4:
		return netip.AddrFrom4([4]byte(b[:4])), nil
	case f == IPv6 && len(b) >= 16:
		return netip.AddrFrom16([16]byte(b[:16])), nil
	}
	return netip.Addr{}, fmt.Errorf("kernel sent a %d-byte %s address", len(b), f)
}

// decodeFamilyID reads CTRL_ATTR_FAMILY_ID from a CTRL_CMD_NEWFAMILY reply.
func decodeFamilyID(m message) (uint16, error) {
	var a attrs
	if err := m.genlAttrs(&a); err != nil {
		return 0, err
	}
	id := a.u16(ctrlAttrID)
	if id == 0 {
		return 0, errors.New("generic netlink family reply without an id")
	}
	return id, nil
}

// decodeService reads a service message of a dump or get reply; its
// Dests are empty.
func decodeService(m message) (Service, error) {
	var top, a attrs
	if err := m.genlAttrs(&top); err != nil {
		return Service{}, err
	}
	if err := a.parse(top[cmdAttrService]); err != nil {
		return Service{}, err
	}
	f := Family(a.u16(svcAttrAF))
	s := Service{Key: ServiceKey{Family: f, FWMark: a.u32(svcAttrFWMark)}, Scheduler: a.str(svcAttrSchedName)}
	if f != IPv4 && f != IPv6 {
		return Service{}, fmt.Errorf("kernel returned a virtual server of address family %d", f)
	}
	if s.Key.FWMark == 0 {
		addr, err := a.addr(svcAttrAddr, f)
		if err != nil {
			return Service{}, fmt.Errorf("virtual server: %w", err)
		}
		s.Key.Protocol, s.Key.Addr, s.Key.Port = Protocol(a.u16(svcAttrProtocol)), addr, a.be16(svcAttrPort)
	}
	flags := a.u32(svcAttrFlags) // struct ip_vs_flags: flags first
	s.SchedFlags = SchedFlags(flags & svcSchedFlags)
	s.OnePacket = flags&svcFlagOnePacket != 0
	// The kernel keeps timeout and netmask when persistence is off; they
	// mean nothing then.
	if flags&svcFlagPersistent != 0 {
		g, err := decodeNetmask(f, a.u32(svcAttrNetmask))
		if err != nil {
			return Service{}, fmt.Errorf("virtual server %s: %w", s.Key, err)
		}
		s.Persistence = Persistence{Timeout: a.u32(svcAttrTimeout), Granularity: g}
	}
	s.Persistence.Engine = a.str(svcAttrPEName)
	return s, nil
}

// decodeDest reads a destination message of a dump; svc is the family of
// its service, used when the kernel sends no IPVS_DEST_ATTR_ADDR_FAMILY.
func decodeDest(m message, svc Family) (Destination, error) {
	var top, a attrs
	if err := m.genlAttrs(&top); err != nil {
		return Destination{}, err
	}
	if err := a.parse(top[cmdAttrDest]); err != nil {
		return Destination{}, err
	}
	f := svc
	if af := Family(a.u16(destAttrAF)); af != 0 {
		f = af
	}
	addr, err := a.addr(destAttrAddr, f)
	if err != nil {
		return Destination{}, fmt.Errorf("real server: %w", err)
	}
	d := Destination{
		Addr:           addr,
		Port:           a.be16(destAttrPort),
		Forward:        Forward(a.u32(destAttrFwd) & connFwdMask),
		Weight:         int(int32(a.u32(destAttrWeight))),
		UpperThreshold: a.u32(destAttrUThresh),
		LowerThreshold: a.u32(destAttrLThresh),
	}
	// The kernel stores the tunnel settings whatever the method; they
	// mean something for TUN only.
	if d.Forward == Tunnel {
		d.TunType = TunType(a.u8(destAttrTunType))
		d.TunPort = a.be16(destAttrTunPort)
		d.TunFlags = TunFlags(a.u16(destAttrTunFlags))
	}
	return d, nil
}
