package interop

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/internal/nettest"
)

// stamped is one captured Ethernet frame with the kernel's receive
// timestamp (SO_TIMESTAMPNS), so that on-wire intervals do not include
// the scheduling delay of the test process.
type stamped struct {
	At    time.Time
	Frame []byte
}

// wire captures every frame on one interface of a lab namespace with
// kernel timestamps. nettest.Capture keeps no timestamps, which the
// failover measurements need, hence this small twin of it.
type wire struct {
	host   *nettest.Host
	ifname string
	conn   *packet.Conn
	done   chan struct{}

	mu      sync.Mutex
	frames  []stamped
	changed chan struct{}
	err     error
}

// startWire opens an AF_PACKET socket (ETH_P_ALL) on ifname in h, turns
// on SO_TIMESTAMPNS and records frames until the test's cleanup. The
// socket is open when it returns.
func startWire(t testing.TB, h *nettest.Host, ifname string) *wire {
	t.Helper()
	w := &wire{host: h, ifname: ifname, done: make(chan struct{}), changed: make(chan struct{})}
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		w.conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err != nil {
		t.Fatalf("capture on %s in %s: %v", ifname, h.Name, err)
	}
	rc, err := w.conn.SyscallConn()
	if err != nil {
		t.Fatalf("capture on %s in %s: %v", ifname, h.Name, err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		t.Fatalf("capture on %s in %s: SO_TIMESTAMPNS: %v", ifname, h.Name, errors.Join(err, serr))
	}
	go w.loop(rc)
	t.Cleanup(func() {
		_ = w.conn.Close()
		<-w.done
	})
	return w
}

func (w *wire) loop(rc interface {
	Read(func(fd uintptr) bool) error
}) {
	defer close(w.done)
	buf := make([]byte, 65536)
	oob := make([]byte, 256)
	for {
		var n, oobn int
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, oobn, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_DONTWAIT)
			return !errors.Is(rerr, unix.EAGAIN)
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			w.mu.Lock()
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrClosed) {
				w.err = err
			}
			close(w.changed)
			w.changed = make(chan struct{})
			w.mu.Unlock()
			return
		}
		at := time.Now()
		if ts, ok := rxTimestamp(oob[:oobn]); ok {
			at = ts
		}
		w.mu.Lock()
		w.frames = append(w.frames, stamped{At: at, Frame: append([]byte(nil), buf[:n]...)})
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
	}
}

// rxTimestamp extracts the SCM_TIMESTAMPNS control message.
func rxTimestamp(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}

// Len returns how many frames have been captured; a mark for WaitFor.
func (w *wire) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.frames)
}

// Frames returns the frames captured from index from on.
func (w *wire) Frames(from int) []stamped {
	w.mu.Lock()
	defer w.mu.Unlock()
	if from > len(w.frames) {
		from = len(w.frames)
	}
	return append([]stamped(nil), w.frames[from:]...)
}

// WaitFor waits until n frames from index from on satisfy match and
// returns them. On timeout it returns those seen and an error.
func (w *wire) WaitFor(from, n int, match func([]byte) bool, timeout time.Duration) ([]stamped, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		w.mu.Lock()
		var got []stamped
		for _, f := range w.frames[min(from, len(w.frames)):] {
			if match(f.Frame) {
				got = append(got, f)
			}
		}
		changed, err := w.changed, w.err
		w.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		if err != nil {
			return got, fmt.Errorf("capture on %s in %s: %w", w.ifname, w.host.Name, err)
		}
		select {
		case <-changed:
		case <-w.done:
			return got, fmt.Errorf("capture on %s in %s closed after %d of %d frames", w.ifname, w.host.Name, len(got), n)
		case <-timer.C:
			return got, fmt.Errorf("capture on %s in %s: %d of %d matching frames within %v", w.ifname, w.host.Name, len(got), n, timeout)
		}
	}
}

// Ethernet, IP and ICMPv6 numbers used below.
const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
	protoAH       = 51
	protoICMPv6   = 58
	protoVRRP     = 112
	icmpv6NA      = 136
)

var broadcastMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// vrrpFrame is what the tests read from a captured VRRP advert.
type vrrpFrame struct {
	SrcMAC   net.HardwareAddr
	Src, Dst netip.Addr
	TTL      int  // TTL or hop limit
	AH       bool // carried in an IPsec AH header
	Version  int
	VRID     int
	Priority int
}

// parseVRRP decodes an Ethernet frame carrying a VRRP advert over IPv4
// (plain or behind AH) or IPv6.
func parseVRRP(f []byte) (vrrpFrame, bool) {
	var v vrrpFrame
	if len(f) < 14 {
		return v, false
	}
	v.SrcMAC = net.HardwareAddr(f[6:12])
	var payload []byte
	switch binary.BigEndian.Uint16(f[12:14]) {
	case etherTypeIPv4:
		ip := f[14:]
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return v, false
		}
		ihl := int(ip[0]&0x0f) * 4
		if len(ip) < ihl {
			return v, false
		}
		v.TTL = int(ip[8])
		v.Src = netip.AddrFrom4([4]byte(ip[12:16]))
		v.Dst = netip.AddrFrom4([4]byte(ip[16:20]))
		proto, rest := ip[9], ip[ihl:]
		if proto == protoAH {
			// RFC 4302 §2.2: payload length in 32-bit words, minus 2.
			if len(rest) < 12 {
				return v, false
			}
			ahLen := (int(rest[1]) + 2) * 4
			if len(rest) < ahLen {
				return v, false
			}
			v.AH, proto, rest = true, rest[0], rest[ahLen:]
		}
		if proto != protoVRRP {
			return v, false
		}
		payload = rest
	case etherTypeIPv6:
		ip := f[14:]
		if len(ip) < 40 || ip[6] != protoVRRP {
			return v, false
		}
		v.TTL = int(ip[7])
		v.Src = netip.AddrFrom16([16]byte(ip[8:24]))
		v.Dst = netip.AddrFrom16([16]byte(ip[24:40]))
		payload = ip[40:]
	default:
		return v, false
	}
	if len(payload) < 8 {
		return v, false
	}
	v.Version = int(payload[0] >> 4)
	v.VRID = int(payload[1])
	v.Priority = int(payload[2])
	return v, true
}

// garpFrame is what the tests read from a captured ARP frame.
type garpFrame struct {
	EthDst, EthSrc     net.HardwareAddr
	Op                 int
	SenderHW, TargetHW net.HardwareAddr
	SenderIP, TargetIP netip.Addr
}

func parseARP(f []byte) (garpFrame, bool) {
	var g garpFrame
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:14]) != etherTypeARP {
		return g, false
	}
	a := f[14:]
	// Ethernet/IPv4 only: htype 1, ptype 0x0800, hlen 6, plen 4.
	if binary.BigEndian.Uint16(a[0:2]) != 1 || binary.BigEndian.Uint16(a[2:4]) != etherTypeIPv4 || a[4] != 6 || a[5] != 4 {
		return g, false
	}
	g.EthDst, g.EthSrc = net.HardwareAddr(f[0:6]), net.HardwareAddr(f[6:12])
	g.Op = int(binary.BigEndian.Uint16(a[6:8]))
	g.SenderHW = net.HardwareAddr(a[8:14])
	g.SenderIP = netip.AddrFrom4([4]byte(a[14:18]))
	g.TargetHW = net.HardwareAddr(a[18:24])
	g.TargetIP = netip.AddrFrom4([4]byte(a[24:28]))
	return g, true
}

// isGARPFor matches the gratuitous ARP keepalived sends for vip from hw:
// an ARP request to the Ethernet broadcast with sender and target
// protocol addresses both the VIP (RFC 5798 §6.4.1).
func isGARPFor(vip netip.Addr, hw net.HardwareAddr) func([]byte) bool {
	return func(f []byte) bool {
		g, ok := parseARP(f)
		return ok && g.SenderIP == vip && g.TargetIP == vip && bytes.Equal(g.EthSrc, hw)
	}
}

// naFrame is what the tests read from a captured neighbour advertisement.
type naFrame struct {
	EthDst, EthSrc net.HardwareAddr
	Src, Dst       netip.Addr
	HopLimit       int
	Router         bool
	Solicited      bool
	Override       bool
	Target         netip.Addr
	TargetLL       net.HardwareAddr // target link-layer address option
	ChecksumOK     bool
}

func parseNA(f []byte) (naFrame, bool) {
	var n naFrame
	if len(f) < 14+40+24 || binary.BigEndian.Uint16(f[12:14]) != etherTypeIPv6 {
		return n, false
	}
	ip := f[14:]
	if ip[6] != protoICMPv6 {
		return n, false
	}
	plen := int(binary.BigEndian.Uint16(ip[4:6]))
	if len(ip) < 40+plen || plen < 24 {
		return n, false
	}
	icmp := ip[40 : 40+plen]
	if icmp[0] != icmpv6NA {
		return n, false
	}
	n.EthDst, n.EthSrc = net.HardwareAddr(f[0:6]), net.HardwareAddr(f[6:12])
	n.HopLimit = int(ip[7])
	n.Src = netip.AddrFrom16([16]byte(ip[8:24]))
	n.Dst = netip.AddrFrom16([16]byte(ip[24:40]))
	n.Router = icmp[4]&0x80 != 0
	n.Solicited = icmp[4]&0x40 != 0
	n.Override = icmp[4]&0x20 != 0
	n.Target = netip.AddrFrom16([16]byte(icmp[8:24]))
	for opts := icmp[24:]; len(opts) >= 8; {
		l := int(opts[1]) * 8
		if l == 0 || l > len(opts) {
			break
		}
		if opts[0] == 2 && l >= 8 { // RFC 4861 §4.6.1: target link-layer address
			n.TargetLL = net.HardwareAddr(opts[2:8])
		}
		opts = opts[l:]
	}
	n.ChecksumOK = icmpv6Checksum(n.Src, n.Dst, icmp) == 0
	return n, true
}

// icmpv6Checksum sums the pseudo-header (RFC 8200 §8.1) and the message,
// checksum field included: a valid message sums to 0.
func icmpv6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[0:4], uint32(len(msg)))
	l[7] = protoICMPv6
	add(l[:])
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// isNAFor matches an ICMPv6 neighbour advertisement for target from hw.
func isNAFor(target netip.Addr, hw net.HardwareAddr) func([]byte) bool {
	return func(f []byte) bool {
		n, ok := parseNA(f)
		return ok && n.Target == target && bytes.Equal(n.EthSrc, hw)
	}
}

// isAdvertFrom matches a VRRP advert for vrid sent from hw.
func isAdvertFrom(vrid int, hw net.HardwareAddr) func([]byte) bool {
	return func(f []byte) bool {
		v, ok := parseVRRP(f)
		return ok && v.VRID == vrid && bytes.Equal(v.SrcMAC, hw)
	}
}

// hostMAC returns the MAC address of the host's eth0.
func hostMAC(t testing.TB, h *nettest.Host) net.HardwareAddr {
	t.Helper()
	link, err := h.Handle(t).LinkByName(nettest.IfName)
	if err != nil {
		t.Fatalf("%s: %v", h.Name, err)
	}
	return link.Attrs().HardwareAddr
}
