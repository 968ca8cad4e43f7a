package daemon

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/vrrp"
)

// chanConn is a rawConn fed by a channel.
type chanConn struct {
	in     chan vrrp.Packet
	mu     sync.Mutex
	closed bool
	wrote  []netip.Addr
}

func (c *chanConn) ReadPacket(ctx context.Context) (vrrp.Packet, error) {
	select {
	case p := <-c.in:
		return p, nil
	case <-ctx.Done():
		return vrrp.Packet{}, ctx.Err()
	}
}

func (c *chanConn) WritePacket(_ []byte, dst netip.Addr) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wrote = append(c.wrote, dst)
	return nil
}

func (c *chanConn) WriteDatagram([]byte) error { return nil }

func (c *chanConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func advertPacket(t *testing.T, vrid uint8) vrrp.Packet {
	t.Helper()
	src, dst := netip.MustParseAddr("10.99.0.12"), vrrp.GroupIPv4
	adv := vrrp.Advert{Version: 3, VRID: vrid, Priority: 100, Interval: time.Second, Addrs: []netip.Addr{netip.MustParseAddr("10.99.0.100")}}
	b, err := adv.Marshal(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	return vrrp.Packet{Payload: b, Src: src, Dst: dst, TTL: 255}
}

func recv(t *testing.T, c *muxConn) (vrrp.Packet, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	p, err := c.ReadPacket(ctx)
	return p, err == nil
}

// One socket, several instances: each gets only its VRID's packets,
// packets of other VRIDs are counted, truncated ones reach everyone (so
// that each instance counts the drop), and the last detach closes the
// socket.
func TestMuxDispatchesByVRID(t *testing.T) {
	raw := &chanConn{in: make(chan vrrp.Packet)}
	m := newMux(raw)
	c1, err := m.attach(1)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := m.attach(2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.attach(2); err == nil {
		t.Error("a second VRID 2 on the same socket was accepted")
	}

	raw.in <- advertPacket(t, 2)
	if p, ok := recv(t, c2); !ok || p.Payload[1] != 2 {
		t.Fatalf("VRID 2 did not get its packet")
	}
	if _, ok := recv(t, c1); ok {
		t.Fatal("VRID 1 got VRID 2's packet")
	}
	raw.in <- advertPacket(t, 9)
	raw.in <- vrrp.Packet{Payload: []byte{0x31}}
	for _, c := range []*muxConn{c1, c2} {
		if p, ok := recv(t, c); !ok || len(p.Payload) != 1 {
			t.Errorf("VRID %d did not get the truncated packet", c.vrid)
		}
	}
	if n := m.Dropped.Load(); n != 1 {
		t.Errorf("dropped %d, want 1 (VRID 9)", n)
	}
	if err := c1.WritePacket([]byte{1}, vrrp.GroupIPv4); err != nil {
		t.Fatal(err)
	}
	if last, _ := m.detach(c1); last {
		t.Fatal("detach of the first of two reported last")
	}
	if raw.closed {
		t.Fatal("socket closed while VRID 2 still uses it")
	}
	if last, _ := m.detach(c2); !last || !raw.closed {
		t.Fatalf("last detach: last=%v closed=%v, want both true", last, raw.closed)
	}
}

func TestPacketVRIDBehindAH(t *testing.T) {
	d := make([]byte, 20+24+8)
	d[9] = vrrp.ProtocolAH
	d[20+24+1] = 42
	if v, ok := packetVRID(vrrp.Packet{Datagram: d, Payload: d[20:]}); !ok || v != 42 {
		t.Errorf("VRID %d %v, want 42", v, ok)
	}
}
