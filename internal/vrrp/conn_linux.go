package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Conn is a raw IP socket for VRRP (protocol 112, or 51 for AH) bound to
// one interface. It moves bytes only: the codec builds and checks adverts.
//
// The socket belongs to the network namespace of the thread that called
// ListenConn. One goroutine may read while others write; concurrent
// ReadPacket calls are not supported.
type Conn struct {
	cfg ConnConfig
	ifi *net.Interface
	src netip.Addr

	ipc *net.IPConn
	v4  *ipv4.RawConn    // IPv4: IP_HDRINCL, we write the header
	v6  *ipv6.PacketConn // IPv6: the kernel writes the header

	id  atomic.Uint32 // IPv4 identification, from 1 like keepalived
	buf []byte

	// ReadBatch's reusable messages and buffers (ipv6.Message is the
	// same type).
	msgs []ipv4.Message

	// IPv4 fast path: recvmmsg and sendto as raw system calls on the
	// socket, which unlike Go's ordinary syscalls do not wake the
	// runtime's monitor thread at every call (a context switch each, the
	// largest cost of a backup hearing a thousand adverts a second).
	raw  syscall.RawConn
	mm   []unix.Mmsghdr
	iovs []unix.Iovec
	// ReadBatch's cancellation: the context watched and how to stop
	// watching it.
	watched context.Context
	unwatch func() bool
}

// Batch geometry: an advert with 255 IPv6 addresses is 4,088 octets.
const (
	batchLen    = 16
	batchBufLen = 5120
)

// ListenConn opens a VRRP socket as cfg says: bound to the interface
// (SO_BINDTODEVICE), member of the multicast group on it unless in unicast
// mode, multicast loopback off, TTL / hop limit 255 on multicast sends,
// TOS / traffic class 0xc0, and receiving TTL, destination and interface
// with every packet. ctx bounds the setup only.
//
// For IPv4 the source of adverts is cfg.Src, else the interface's primary
// address; for IPv6 cfg.Src, else its link-local address. Src reports it:
// VRRPv3 checksums cover it (RFC 5798 §5.2.8).
func ListenConn(ctx context.Context, cfg ConnConfig) (*Conn, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("VRRP socket: interface %s: %w", cfg.Interface, err)
	}
	src := cfg.Src
	if !src.IsValid() {
		src, err = interfaceSource(ifi, cfg.Family)
		if err != nil {
			return nil, err
		}
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.BindToDevice(int(fd), ifi.Name)
		}); err != nil {
			return err
		}
		if serr != nil {
			return fmt.Errorf("SO_BINDTODEVICE %s: %w", ifi.Name, serr)
		}
		return nil
	}}
	network, laddr := fmt.Sprintf("ip4:%d", cfg.Protocol), "0.0.0.0"
	if cfg.Family == FamilyIPv6 {
		network, laddr = fmt.Sprintf("ip6:%d", cfg.Protocol), "::"
	}
	pc, err := lc.ListenPacket(ctx, network, laddr)
	if err != nil {
		return nil, fmt.Errorf("VRRP socket %s on %s: %w", network, ifi.Name, err)
	}
	c := &Conn{cfg: cfg, ifi: ifi, src: src, ipc: pc.(*net.IPConn)}
	c.msgs = make([]ipv4.Message, batchLen)
	for i := range c.msgs {
		c.msgs[i].Buffers = [][]byte{make([]byte, batchBufLen)}
	}
	if cfg.Family == FamilyIPv4 {
		err = c.setup4()
	} else {
		err = c.setup6()
	}
	if err != nil {
		c.ipc.Close()
		return nil, fmt.Errorf("VRRP socket %s on %s: %w", network, ifi.Name, err)
	}
	return c, nil
}

// interfaceSource finds the default advert source on ifi.
func interfaceSource(ifi *net.Interface, f Family) (netip.Addr, error) {
	nas, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("VRRP socket: addresses of %s: %w", ifi.Name, err)
	}
	var addrs []netip.Addr
	for _, na := range nas {
		if p, err := netip.ParsePrefix(na.String()); err == nil {
			addrs = append(addrs, p.Addr())
		}
	}
	a, ok := primaryAddr(f, addrs)
	if !ok {
		what := "an IPv4 address (add one, or set unicast_src_ip / mcast_src_ip)"
		if f == FamilyIPv6 {
			what = "an IPv6 link-local address (is IPv6 enabled on it?)"
		}
		return netip.Addr{}, fmt.Errorf("VRRP socket: interface %s has no %s", ifi.Name, what)
	}
	return a, nil
}

func (c *Conn) setup4() error {
	rc, err := ipv4.NewRawConn(c.ipc)
	if err != nil {
		return err
	}
	c.v4 = rc
	raw, err := c.ipc.SyscallConn()
	if err != nil {
		return err
	}
	c.raw = raw
	c.mm = make([]unix.Mmsghdr, len(c.msgs))
	c.iovs = make([]unix.Iovec, len(c.msgs))
	for i := range c.mm {
		c.iovs[i].Base = &c.msgs[i].Buffers[0][0]
		c.iovs[i].SetLen(len(c.msgs[i].Buffers[0]))
		c.mm[i].Hdr.Iov = &c.iovs[i]
		c.mm[i].Hdr.SetIovlen(1)
	}
	if err := rc.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagInterface, true); err != nil {
		return fmt.Errorf("IP_PKTINFO/IP_RECVTTL: %w", err)
	}
	if err := rc.SetMulticastInterface(c.ifi); err != nil {
		return fmt.Errorf("IP_MULTICAST_IF: %w", err)
	}
	if err := rc.SetMulticastLoopback(false); err != nil {
		return fmt.Errorf("IP_MULTICAST_LOOP: %w", err)
	}
	if !c.cfg.Unicast() {
		if err := rc.JoinGroup(c.ifi, &net.IPAddr{IP: c.cfg.Group.AsSlice()}); err != nil {
			return fmt.Errorf("join %v: %w", c.cfg.Group, err)
		}
	}
	return nil
}

func (c *Conn) setup6() error {
	pc := ipv6.NewPacketConn(c.ipc)
	c.v6 = pc
	for i := range c.msgs {
		c.msgs[i].OOB = ipv6.NewControlMessage(ipv6.FlagHopLimit | ipv6.FlagDst | ipv6.FlagInterface)
	}
	if err := pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
		return fmt.Errorf("IPV6_RECVPKTINFO/IPV6_RECVHOPLIMIT: %w", err)
	}
	if err := pc.SetMulticastInterface(c.ifi); err != nil {
		return fmt.Errorf("IPV6_MULTICAST_IF: %w", err)
	}
	if err := pc.SetMulticastLoopback(false); err != nil {
		return fmt.Errorf("IPV6_MULTICAST_LOOP: %w", err)
	}
	if err := pc.SetMulticastHopLimit(RequiredTTL); err != nil {
		return fmt.Errorf("IPV6_MULTICAST_HOPS: %w", err)
	}
	if err := pc.SetHopLimit(c.cfg.UnicastTTL); err != nil {
		return fmt.Errorf("IPV6_UNICAST_HOPS: %w", err)
	}
	if err := pc.SetTrafficClass(TOSNetworkControl); err != nil {
		return fmt.Errorf("IPV6_TCLASS: %w", err)
	}
	if !c.cfg.Unicast() {
		if err := pc.JoinGroup(c.ifi, &net.IPAddr{IP: c.cfg.Group.AsSlice()}); err != nil {
			return fmt.Errorf("join %v: %w", c.cfg.Group, err)
		}
	}
	return nil
}

// Src is the source address adverts go out with.
func (c *Conn) Src() netip.Addr { return c.src }

// Group is the multicast group adverts go to (meaningless in unicast
// mode, where the runner writes to each peer).
func (c *Conn) Group() netip.Addr { return c.cfg.Group }

// Interface is the interface the socket is bound to.
func (c *Conn) Interface() *net.Interface { return c.ifi }

// Close closes the socket; a blocked ReadPacket returns.
func (c *Conn) Close() error { return c.ipc.Close() }

// ReadPacket blocks until a packet arrives, ctx is done or the Conn is
// closed. Payload (and Datagram) are fresh slices the caller may keep.
// Cancellation moves the read deadline into the past, so no read is
// polled on a timer.
func (c *Conn) ReadPacket(ctx context.Context) (Packet, error) {
	if err := ctx.Err(); err != nil {
		return Packet{}, err
	}
	if err := c.ipc.SetReadDeadline(time.Time{}); err != nil {
		return Packet{}, fmt.Errorf("read VRRP on %s: %w", c.ifi.Name, err)
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = c.ipc.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired // the deadline is set; let it land before the next read clears it
		}
	}()
	if c.buf == nil {
		c.buf = make([]byte, 65536) // ReadPacket's only: ReadBatch has its own
	}
	var p Packet
	var err error
	if c.v4 != nil {
		p, err = c.read4()
	} else {
		p, err = c.read6()
	}
	if err != nil {
		var ne net.Error
		if cerr := ctx.Err(); cerr != nil && errors.As(err, &ne) && ne.Timeout() {
			return Packet{}, cerr
		}
		return Packet{}, fmt.Errorf("read VRRP on %s: %w", c.ifi.Name, err)
	}
	return p, nil
}

// ReadBatch blocks until at least one packet arrives, ctx is done or the
// Conn is closed (calls must not overlap, nor overlap ReadPacket), then fills out with every packet already queued on the
// socket, up to len(out), in one recvmmsg call. The packets' slices are
// fresh (one allocation per batch) and the caller may keep them. A
// datagram longer than the batch buffer arrives truncated, and fails
// decoding as malformed.
func (c *Conn) ReadBatch(ctx context.Context, out []Packet) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if ctx != c.watched {
		// One watch per context, not per call: a reader loops on the
		// same one. Its end moves the read deadline into the past.
		if c.unwatch != nil {
			c.unwatch()
		}
		if err := c.ipc.SetReadDeadline(time.Time{}); err != nil {
			return 0, fmt.Errorf("read VRRP on %s: %w", c.ifi.Name, err)
		}
		c.watched = ctx
		c.unwatch = context.AfterFunc(ctx, func() { _ = c.ipc.SetReadDeadline(time.Unix(1, 0)) })
	}
	ms := c.msgs[:min(len(out), len(c.msgs))]
	var n int
	var err error
	if c.v4 != nil {
		n, err = c.recvmmsg4(ms)
	} else {
		n, err = c.v6.ReadBatch(ms, 0)
	}
	if err != nil {
		var ne net.Error
		if cerr := ctx.Err(); cerr != nil && errors.As(err, &ne) && ne.Timeout() {
			return 0, cerr
		}
		return 0, fmt.Errorf("read VRRP on %s: %w", c.ifi.Name, err)
	}
	total := 0
	for _, m := range ms[:n] {
		total += m.N
	}
	arena := make([]byte, total)
	k := 0
	for _, m := range ms[:n] {
		b := arena[:m.N:m.N]
		arena = arena[m.N:]
		copy(b, m.Buffers[0])
		var p Packet
		var ok bool
		if c.v4 != nil {
			p, ok = packet4(b)
		} else {
			p, ok = c.packet6(b, m)
		}
		if !ok {
			continue // shorter than an IPv4 header: not even a drop to count
		}
		p.IfIndex = c.ifi.Index
		out[k] = p
		k++
	}
	return k, nil
}

// recvmmsg4 reads up to len(ms) datagrams into ms's buffers, waiting in
// Go's poller while none is queued, and sets each one's N.
func (c *Conn) recvmmsg4(ms []ipv4.Message) (int, error) {
	var n int
	var serr error
	err := c.raw.Read(func(fd uintptr) bool {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.mm[0])), uintptr(len(ms)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			n = int(r)
		case unix.EAGAIN, unix.EINTR:
			return false
		default:
			serr = os.NewSyscallError("recvmmsg", e)
		}
		return true
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, err
	}
	for i := range ms[:n] {
		ms[i].N = min(int(c.mm[i].Len), len(ms[i].Buffers[0]))
	}
	return n, nil
}

// sendto4 sends a whole IPv4 datagram (IP_HDRINCL) to dst.
func (c *Conn) sendto4(dgram []byte, dst netip.Addr) error {
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.As4()}
	var serr error
	err := c.raw.Write(func(fd uintptr) bool {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&dgram[0])), uintptr(len(dgram)), 0,
			uintptr(unsafe.Pointer(&sa)), unsafe.Sizeof(sa))
		switch e {
		case 0:
		case unix.EAGAIN, unix.EINTR:
			return false
		default:
			serr = os.NewSyscallError("sendto", e)
		}
		return true
	})
	if err == nil {
		err = serr
	}
	return err
}

// header4 appends the IPv4 header of a VRRP datagram: TOS 0xc0, no
// fragmentation flags, the checksum left for the kernel (IP_HDRINCL
// always fills it in).
func header4(b []byte, id uint16, ttl int, proto int, src, dst netip.Addr, payloadLen int) []byte {
	total := ipv4.HeaderLen + payloadLen
	s, d := src.As4(), dst.As4()
	return append(b,
		0x45, TOSNetworkControl, byte(total>>8), byte(total),
		byte(id>>8), byte(id), 0, 0,
		byte(ttl), byte(proto), 0, 0,
		s[0], s[1], s[2], s[3],
		d[0], d[1], d[2], d[3])
}

// packet4 takes a received IPv4 datagram apart: Linux raw sockets hand
// over the header as it was on the wire.
func packet4(b []byte) (Packet, bool) {
	if len(b) < ipv4.HeaderLen {
		return Packet{}, false
	}
	hl := int(b[0]&0x0f) * 4
	if hl < ipv4.HeaderLen || hl > len(b) {
		return Packet{}, false
	}
	return Packet{
		Datagram: b,
		Payload:  b[hl:],
		TTL:      int(b[8]),
		Src:      netip.AddrFrom4([4]byte(b[12:16])),
		Dst:      netip.AddrFrom4([4]byte(b[16:20])),
	}, true
}

// packet6 builds an IPv6 packet from its payload and the ancillary data
// of its message (destination, hop limit).
func (c *Conn) packet6(b []byte, m ipv6.Message) (Packet, bool) {
	p := Packet{Payload: b}
	if ia, ok := m.Addr.(*net.IPAddr); ok {
		p.Src, _ = netip.AddrFromSlice(ia.IP)
	}
	if m.NN > 0 {
		var cm ipv6.ControlMessage
		if err := cm.Parse(m.OOB[:m.NN]); err == nil {
			p.Dst, _ = netip.AddrFromSlice(cm.Dst)
			p.TTL = cm.HopLimit
		}
	}
	return p, true
}

func (c *Conn) read4() (Packet, error) {
	h, payload, cm, err := c.v4.ReadFrom(c.buf)
	if err != nil {
		return Packet{}, err
	}
	n := h.Len + len(payload)
	if n > len(c.buf) || h.Len < ipv4.HeaderLen {
		return Packet{}, fmt.Errorf("IPv4 header length %d of a %d-octet datagram", h.Len, n)
	}
	dgram := append([]byte(nil), c.buf[:n]...)
	p := Packet{
		Datagram: dgram,
		Payload:  dgram[h.Len:],
		TTL:      h.TTL,
	}
	p.Src, _ = netip.AddrFromSlice(h.Src.To4())
	p.Dst, _ = netip.AddrFromSlice(h.Dst.To4())
	if cm != nil {
		p.IfIndex = cm.IfIndex
	}
	return p, nil
}

func (c *Conn) read6() (Packet, error) {
	n, cm, from, err := c.v6.ReadFrom(c.buf)
	if err != nil {
		return Packet{}, err
	}
	p := Packet{Payload: append([]byte(nil), c.buf[:n]...)}
	if ia, ok := from.(*net.IPAddr); ok {
		p.Src, _ = netip.AddrFromSlice(ia.IP)
	}
	if cm != nil {
		p.Dst, _ = netip.AddrFromSlice(cm.Dst)
		p.TTL = cm.HopLimit
		p.IfIndex = cm.IfIndex
	}
	return p, nil
}

// WritePacket sends one VRRP payload (built by the codec with Src() as
// source) to dst: the group, or a unicast peer. The TTL / hop limit is 255
// to a group and unicast_ttl to a peer; the IPv4 TOS / IPv6 traffic class
// is 0xc0, as keepalived sends.
func (c *Conn) WritePacket(payload []byte, dst netip.Addr) error {
	dst = dst.Unmap()
	ttl := RequiredTTL
	if !dst.IsMulticast() {
		ttl = c.cfg.UnicastTTL
	}
	var err error
	if c.v4 != nil {
		if !dst.Is4() {
			return fmt.Errorf("send VRRP on %s to %v: not an IPv4 address", c.ifi.Name, dst)
		}
		b := make([]byte, 0, ipv4.HeaderLen+len(payload))
		b = header4(b, uint16(c.id.Add(1)), ttl, c.cfg.Protocol, c.src, dst, len(payload))
		err = c.sendto4(append(b, payload...), dst)
	} else {
		if !dst.Is6() {
			return fmt.Errorf("send VRRP on %s to %v: not an IPv6 address", c.ifi.Name, dst)
		}
		cm := &ipv6.ControlMessage{Src: c.src.AsSlice(), IfIndex: c.ifi.Index, HopLimit: ttl, TrafficClass: TOSNetworkControl}
		// The zone is the numeric index: a name would be resolved in the
		// namespace of the calling thread, not the socket's.
		_, err = c.v6.WriteTo(payload, cm, &net.IPAddr{IP: dst.AsSlice(), Zone: strconv.Itoa(c.ifi.Index)})
	}
	if err != nil {
		return fmt.Errorf("send VRRP on %s from %v to %v: %w", c.ifi.Name, c.src, dst, err)
	}
	return nil
}

// WriteDatagram sends a complete IPv4 datagram, header included, as built
// by IPv4Packet.Marshal and signed by SignAH: keepalived's auth_type AH
// covers the header with its ICV, so the header must be exactly the one
// signed. The kernel recomputes only the header checksum.
func (c *Conn) WriteDatagram(datagram []byte) error {
	if c.v4 == nil {
		return fmt.Errorf("send datagram on %s: whole datagrams are IPv4 only", c.ifi.Name)
	}
	h, err := ipv4.ParseHeader(datagram)
	if err != nil {
		return fmt.Errorf("send datagram on %s: %w", c.ifi.Name, err)
	}
	if h.TotalLen != len(datagram) || h.Len > len(datagram) {
		return fmt.Errorf("send datagram on %s: total length %d in header, %d octets given", c.ifi.Name, h.TotalLen, len(datagram))
	}
	dst, ok := netip.AddrFromSlice(h.Dst.To4())
	if !ok {
		return fmt.Errorf("send datagram on %s: destination %v is not IPv4", c.ifi.Name, h.Dst)
	}
	if err := c.sendto4(datagram, dst); err != nil {
		return fmt.Errorf("send datagram on %s from %v to %v: %w", c.ifi.Name, h.Src, h.Dst, err)
	}
	return nil
}
