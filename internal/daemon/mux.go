package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/vigil-ha/vigil/internal/vrrp"
)

// rawConn is one shared VRRP socket; *vrrp.Conn implements it.
type rawConn interface {
	ReadPacket(ctx context.Context) (vrrp.Packet, error)
	WritePacket(payload []byte, dst netip.Addr) error
	WriteDatagram(datagram []byte) error
	Close() error
}

// mux shares one raw socket among the instances of an interface, family
// and mode, handing each packet to the instance of its VRID. A raw
// socket sees every VRRP packet on the interface, so with one socket per
// instance each packet would be read and decoded once per instance:
// O(instances²) work on a busy segment (keepalived, too, shares its
// sockets).
type mux struct {
	conn rawConn
	// Dropped counts packets for VRIDs no instance here runs.
	Dropped atomic.Uint64

	mu     sync.Mutex
	subs   [256]*muxConn // by VRID: an array, looked up for every packet
	nsubs  int
	cancel context.CancelFunc
	done   chan struct{}
	err    error // why the reader stopped; guarded by mu
}

func newMux(c rawConn) *mux { return &mux{conn: c} }

// attach returns the view of the socket for one VRID; the first attach
// starts the reader.
func (m *mux) attach(vrid uint8) (*muxConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.subs[vrid] != nil {
		return nil, fmt.Errorf("VRID %d is already running on this interface", vrid)
	}
	// A VRID gets one advert per interval from each router; 16 covers
	// bursts while the instance is busy performing actions. Feed drops
	// the channel: an instance fed by an Engine never reads it.
	c := &muxConn{m: m, vrid: vrid, ch: make(chan vrrp.Packet, 16), gone: make(chan struct{})}
	m.subs[vrid] = c
	m.nsubs++
	if m.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		m.cancel, m.done = cancel, make(chan struct{})
		go m.read(ctx)
	}
	return c, nil
}

// detach removes a view; the last one stops the reader and closes the
// socket, and detach reports true then.
func (m *mux) detach(c *muxConn) (last bool, err error) {
	m.mu.Lock()
	if m.subs[c.vrid] == c {
		m.subs[c.vrid] = nil
		m.nsubs--
	}
	last = m.nsubs == 0
	cancel, done := m.cancel, m.done
	if last {
		m.cancel = nil
	}
	m.mu.Unlock()
	if !last {
		return false, nil
	}
	if cancel != nil {
		cancel()
		<-done
	}
	return true, m.conn.Close()
}

// batchReader is a socket that hands over every queued packet in one
// call (recvmmsg); *vrrp.Conn implements it.
type batchReader interface {
	ReadBatch(ctx context.Context, out []vrrp.Packet) (int, error)
}

func (m *mux) read(ctx context.Context) {
	defer close(m.done)
	br, batched := m.conn.(batchReader)
	buf := make([]vrrp.Packet, 16)
	var fed []fedPacket
	for {
		var n int
		var err error
		if batched {
			n, err = br.ReadBatch(ctx, buf)
		} else {
			buf[0], err = m.conn.ReadPacket(ctx)
			n = 1
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.mu.Lock()
			m.err = err
			for _, c := range m.subs {
				if c == nil {
					continue
				}
				close(c.gone)
				if c.fail != nil {
					c.fail(err)
				}
			}
			m.mu.Unlock()
			return
		}
		// Fed instances get their packets after the lock is released:
		// the engine they feed takes its own lock, under which it may
		// call Feed.
		m.mu.Lock()
		for i := range buf[:n] {
			fed = m.dispatch(buf[i], fed)
			buf[i] = vrrp.Packet{}
		}
		m.mu.Unlock()
		for i, f := range fed {
			f.sink(f.p)
			fed[i] = fedPacket{}
		}
		fed = fed[:0]
	}
}

// fedPacket is a packet for a fed instance, delivered after dispatch.
type fedPacket struct {
	sink func(vrrp.Packet)
	p    vrrp.Packet
}

// dispatch hands p to the instance of its VRID. A packet too short to
// carry one goes to every instance, so that each counts the drop. The
// caller holds m.mu; packets for fed instances are appended to fed for
// the caller to deliver once it has released it.
func (m *mux) dispatch(p vrrp.Packet, fed []fedPacket) []fedPacket {
	vrid, ok := packetVRID(p)
	if !ok {
		for _, c := range m.subs {
			if c != nil {
				fed = c.deliver(p, fed)
			}
		}
		return fed
	}
	if c := m.subs[vrid]; c != nil {
		return c.deliver(p, fed)
	}
	m.Dropped.Add(1)
	return fed
}

// packetVRID finds the VRID of a received packet: the second octet of the
// VRRP header, behind keepalived's 24-octet AH when the IPv4 protocol is
// AH.
func packetVRID(p vrrp.Packet) (uint8, bool) {
	b := p.Payload
	if len(p.Datagram) >= 20 && p.Datagram[9] == vrrp.ProtocolAH {
		if len(b) < 24 {
			return 0, false
		}
		b = b[24:]
	}
	if len(b) < 2 {
		return 0, false
	}
	return b[1], true
}

// muxConn is one instance's view of a shared socket: a vrrp.PacketConn.
type muxConn struct {
	m    *mux
	vrid uint8
	ch   chan vrrp.Packet
	gone chan struct{} // closed when the shared reader fails
	// sink and fail, when set (Feed), take the packets and the failure
	// instead of ch and gone; guarded by m.mu.
	sink func(vrrp.Packet)
	fail func(error)
	// Overflow counts packets dropped because the instance was not
	// reading fast enough.
	Overflow atomic.Uint64
}

func (c *muxConn) deliver(p vrrp.Packet, fed []fedPacket) []fedPacket {
	if c.sink != nil {
		return append(fed, fedPacket{c.sink, p})
	}
	select {
	case c.ch <- p: // a nil ch (nobody reads yet) takes nothing
	default:
		c.Overflow.Add(1)
	}
	return fed
}

// ReadPacket implements vrrp.PacketConn.
func (c *muxConn) ReadPacket(ctx context.Context) (vrrp.Packet, error) {
	select {
	case p := <-c.channel():
		return p, nil
	case <-ctx.Done():
		return vrrp.Packet{}, ctx.Err()
	case <-c.gone:
		c.m.mu.Lock()
		err := c.m.err
		c.m.mu.Unlock()
		return vrrp.Packet{}, errors.Join(errors.New("shared VRRP socket failed"), err)
	}
}

// Feed implements vrrp.PacketFeed: the reader hands packets to deliver
// itself, with no channel or goroutine per instance. Feed(nil, nil)
// returns to the channel.
func (c *muxConn) Feed(deliver func(vrrp.Packet), fail func(error)) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	c.sink, c.fail = deliver, fail
	if deliver != nil {
		// Packets queued before the engine took over are dropped: the
		// instance had not started, and a lost advert is what VRRP is
		// built to survive.
		c.ch = nil
	}
	if fail != nil && c.m.err != nil {
		fail(c.m.err)
	}
}

// Packets implements vrrp.PacketStream.
func (c *muxConn) Packets() <-chan vrrp.Packet { return c.channel() }

// channel returns the instance's packet channel (nil once fed).
func (c *muxConn) channel() chan vrrp.Packet {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.ch
}

// Failed implements vrrp.PacketStream.
func (c *muxConn) Failed() <-chan struct{} { return c.gone }

// Err implements vrrp.PacketStream: why the shared socket failed.
func (c *muxConn) Err() error {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	return c.m.err
}

// WritePacket implements vrrp.PacketConn.
func (c *muxConn) WritePacket(payload []byte, dst netip.Addr) error {
	return c.m.conn.WritePacket(payload, dst)
}

// WriteDatagram implements vrrp.DatagramWriter.
func (c *muxConn) WriteDatagram(d []byte) error { return c.m.conn.WriteDatagram(d) }
