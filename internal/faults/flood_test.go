package faults

import (
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/vigil-ha/vigil/internal/nettest"
	"github.com/vigil-ha/vigil/internal/vrrp"
)

// Flood shape: floodRate bad adverts a second for floodFor.
const (
	floodRate = 10000
	floodFor  = 10 * time.Second
	// floodCPUBound is the CPU vigil may spend per second of flood, in
	// seconds: half a core for 10,000 packets a second (50 µs a packet).
	floodCPUBound = 0.5
)

// badAdverts returns the two adverts the flood alternates, both for the
// pair's VRID with priority 200 (they would win the election if
// accepted): one with the wrong PASS password and a valid checksum, one
// with the right password and a corrupted checksum.
func badAdverts(t testing.TB, vi inst, src netip.Addr) [][]byte {
	t.Helper()
	adv := vrrp.Advert{Version: 2, VRID: uint8(vi.VRID), Priority: 200, Interval: vi.AdvInt,
		Addrs: []netip.Addr{vi.VIP.Addr()}, AuthType: vrrp.AuthPass, AuthData: vrrp.AuthKey("wrong")}
	wrongPass, err := adv.Marshal(src, netip.MustParseAddr("224.0.0.18"))
	if err != nil {
		t.Fatal(err)
	}
	adv.AuthData = vrrp.AuthKey(authPass)
	badSum, err := adv.Marshal(src, netip.MustParseAddr("224.0.0.18"))
	if err != nil {
		t.Fatal(err)
	}
	badSum[6] ^= 0xff // the checksum, RFC 3768 §5.3.8
	return [][]byte{wrongPass, badSum}
}

// flood sends the packets round-robin from a raw IP protocol 112 socket
// opened in h's namespace, to 224.0.0.18 with TTL 255, at rate packets a
// second for d, and returns how many it sent.
func flood(h *nettest.Host, pkts [][]byte, rate int, d time.Duration, stop *atomic.Bool) (int, error) {
	var c net.PacketConn
	var pc *ipv4.PacketConn
	err := h.Do(func() error {
		var err error
		c, err = net.ListenPacket("ip4:112", "0.0.0.0")
		if err != nil {
			return fmt.Errorf("raw socket: %w", err)
		}
		ifi, err := net.InterfaceByName(nettest.IfName)
		if err != nil {
			return err
		}
		pc = ipv4.NewPacketConn(c)
		if err := pc.SetMulticastInterface(ifi); err != nil {
			return err
		}
		// RFC 3768 §7.1: adverts with another TTL are dropped before the
		// checks this flood is about.
		return pc.SetMulticastTTL(255)
	})
	if err != nil {
		if c != nil {
			c.Close()
		}
		return 0, fmt.Errorf("flood from %s: %w", h.Name, err)
	}
	defer c.Close()
	dst := &net.IPAddr{IP: net.IPv4(224, 0, 0, 18)}
	start := time.Now()
	sent := 0
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !stop.Load() {
		el := time.Since(start)
		if el >= d {
			break
		}
		// Catch up to the rate; the ticker only paces the loop.
		for due := int(el.Seconds() * float64(rate)); sent < due; sent++ {
			if _, err := c.WriteTo(pkts[sent%len(pkts)], dst); err != nil {
				return sent, fmt.Errorf("flood from %s: %w", h.Name, err)
			}
		}
		<-tick.C
	}
	return sent, nil
}

// A peer (a third namespace) floods 10,000 bad adverts a second for the
// pair's VRID, with priority 200: wrong password (RFC 3768 §7.1: MUST
// verify the authentication) and bad checksum (§7.1: MUST verify the
// checksum). vigil must drop and count them (vigil_vrrp_drops_total by
// reason), stay within floodCPUBound, and the election must not notice:
// A holds the VIP throughout, no transition on either node, B keeps
// receiving A's adverts.
func TestBadAdvertFlood(t *testing.T) {
	p := newPair(t, 3, false)
	peer := p.lab.Hosts[2]
	gA, gB := p.a.goroutineBaseline(t), p.b.goroutineBaseline(t)
	pkts := badAdverts(t, p.vi, peer.Addr4.Addr())

	before := map[*vigilProc]metrics{p.a: p.a.mustMetrics(t), p.b: p.b.mustMetrics(t)}
	cpu0 := map[*vigilProc]time.Duration{}
	for _, v := range []*vigilProc{p.a, p.b} {
		c, err := v.CPU()
		if err != nil {
			t.Fatal(err)
		}
		cpu0[v] = c
	}
	var stop atomic.Bool
	type result struct {
		sent int
		err  error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		n, err := flood(peer, pkts, floodRate, floodFor, &stop)
		done <- result{n, err}
	}()
	// The election must hold through the flood.
	var res result
	got := false
	func() {
		defer stop.Store(true)
		for {
			select {
			case res = <-done:
				got = true
				return
			case <-time.After(20 * time.Millisecond):
			}
			hs, err := p.lab.Holders(p.vip())
			if err != nil {
				t.Error(err)
				return
			}
			if len(hs) != 1 || hs[0] != p.ha {
				t.Errorf("%v into the flood %s is held by %v, want only %s", time.Since(start).Round(time.Millisecond), p.vip(), hostNames(hs), p.ha.Name)
				return
			}
		}
	}()
	if !got {
		res = <-done
	}
	wall := time.Since(start)
	if res.err != nil {
		t.Fatal(res.err)
	}
	rate := float64(res.sent) / wall.Seconds()
	t.Logf("flood: %d bad adverts in %v (%.0f/s)", res.sent, wall.Round(time.Millisecond), rate)
	if rate < 0.8*floodRate {
		t.Errorf("the flood reached only %.0f packets/s of %d: the test machine is too busy to tell", rate, floodRate)
	}

	for _, v := range []*vigilProc{p.a, p.b} {
		v.requireAlive(t)
		c, err := v.CPU()
		if err != nil {
			t.Fatal(err)
		}
		cpu := (c - cpu0[v]).Seconds() / wall.Seconds()
		after := v.mustMetrics(t)
		d := func(name string) float64 { return after.Sum(name) - before[v].Sum(name) }
		drops := d("vigil_vrrp_drops_total")
		pw := after[`vigil_vrrp_drops_total{iface="eth0",instance="VI_1",reason="bad_password",vrid="51"}`] -
			before[v][`vigil_vrrp_drops_total{iface="eth0",instance="VI_1",reason="bad_password",vrid="51"}`]
		cs := after[`vigil_vrrp_drops_total{iface="eth0",instance="VI_1",reason="bad_checksum",vrid="51"}`] -
			before[v][`vigil_vrrp_drops_total{iface="eth0",instance="VI_1",reason="bad_checksum",vrid="51"}`]
		t.Logf("vigil in %s: %.0f drops counted (%.0f bad_password, %.0f bad_checksum) of %d sent; CPU %.1f ms/s; %.0f transitions, %.0f adverts received",
			v.Host.Name, drops, pw, cs, res.sent, cpu*1000, d("vigil_vrrp_transitions_total"), d("vigil_vrrp_adverts_received_total"))
		if drops < 0.5*float64(res.sent) {
			t.Errorf("vigil in %s counted %.0f drops for %d bad adverts sent; want at least half (the rest lost in the socket buffer)", v.Host.Name, drops, res.sent)
		}
		if pw == 0 || cs == 0 {
			t.Errorf("vigil in %s: bad_password %.0f, bad_checksum %.0f drops; want both counted", v.Host.Name, pw, cs)
		}
		if cpu > floodCPUBound {
			t.Errorf("vigil in %s used %.2f CPU-s/s under the flood, bound %.2f", v.Host.Name, cpu, floodCPUBound)
		}
		if n := d("vigil_vrrp_transitions_total"); n != 0 {
			t.Errorf("vigil in %s made %.0f state transitions during the flood, want none", v.Host.Name, n)
		}
	}
	// B heard the master all along: an advert a second.
	if n := p.b.mustMetrics(t).Sum("vigil_vrrp_adverts_received_total") - before[p.b].Sum("vigil_vrrp_adverts_received_total"); n < 0.8*wall.Seconds()/p.advInt.Seconds() {
		t.Errorf("B accepted %.0f adverts of A during %v of flood; want about one per advert_int", n, wall)
	}
	holdStable(t, p.lab, p.vip(), p.ha, 2*p.advInt)
	p.a.checkNoGoroutineLeak(t, gA)
	p.b.checkNoGoroutineLeak(t, gB)
}
