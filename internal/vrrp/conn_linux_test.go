package vrrp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/nettest"
)

// listenIn opens a Conn inside host h's namespace and closes it in cleanup.
func listenIn(t *testing.T, h *nettest.Host, cfg ConnConfig) *Conn {
	t.Helper()
	var c *Conn
	if err := h.Do(func() (err error) {
		c, err = ListenConn(context.Background(), cfg)
		return err
	}); err != nil {
		t.Fatalf("ListenConn in %s: %v", h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ifIndexIn(t *testing.T, h *nettest.Host, name string) int {
	t.Helper()
	var idx int
	if err := h.Do(func() error {
		ifi, err := net.InterfaceByName(name)
		if ifi != nil {
			idx = ifi.Index
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return idx
}

func mustLinkLocal(t *testing.T, h *nettest.Host) netip.Addr {
	t.Helper()
	ll, err := h.LinkLocal()
	if err != nil {
		t.Fatal(err)
	}
	return ll
}

func vipIn(p netip.Prefix, last byte) netip.Addr {
	if p.Addr().Is4() {
		a := p.Addr().As4()
		a[3] = last
		return netip.AddrFrom4(a)
	}
	a := p.Addr().As16()
	a[15] = last
	return netip.AddrFrom16(a)
}

// TestConnExchange sends a real advert from one lab host to another over
// raw protocol 112 sockets, multicast and unicast, both families, and
// checks what the receiver learns: the bytes, source (primary IPv4 or
// link-local IPv6, RFC 5798 §5.1.1.1 / §5.1.2.1), destination, TTL 255
// (RFC 5798 §5.1.1.3) or unicast_ttl, and the arrival interface. The
// VRRPv3 checksum covers the pseudo-header, so decoding proves the source
// the kernel used is the one Src reported.
func TestConnExchange(t *testing.T) {
	lab := nettest.NewLab(t, 3, nettest.Options{})
	h1, h2, h3 := lab.Hosts[0], lab.Hosts[1], lab.Hosts[2]
	tests := []struct {
		name    string
		family  Family
		unicast bool
		ttl     int // unicast_ttl, 0 = default
		wantTTL int
	}{
		{"ipv4 multicast", FamilyIPv4, false, 0, 255},
		{"ipv6 multicast", FamilyIPv6, false, 0, 255},
		{"ipv4 unicast", FamilyIPv4, true, 0, 255},
		{"ipv4 unicast ttl 7", FamilyIPv4, true, 7, 7},
		{"ipv6 unicast", FamilyIPv6, true, 0, 255},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg1 := ConnConfig{Interface: nettest.IfName, Family: tt.family, UnicastTTL: tt.ttl}
			cfg2 := ConnConfig{Interface: nettest.IfName, Family: tt.family}
			var wantSrc, dst netip.Addr
			switch {
			case tt.family == FamilyIPv4:
				wantSrc, dst = h1.Addr4.Addr(), GroupIPv4
				if tt.unicast {
					dst = h2.Addr4.Addr()
				}
			default:
				wantSrc, dst = mustLinkLocal(t, h1), GroupIPv6
				if tt.unicast {
					// keepalived's unicast_peer for IPv6 is a global address
					// with unicast_src_ip set to match.
					wantSrc, dst = h1.Addr6.Addr(), h2.Addr6.Addr()
					cfg1.Src = wantSrc
				}
			}
			if tt.unicast {
				cfg1.Peers = []netip.Addr{dst}
				cfg2.Peers = []netip.Addr{wantSrc}
			}
			c1 := listenIn(t, h1, cfg1)
			c2 := listenIn(t, h2, cfg2)
			c3 := listenIn(t, h3, cfg2) // a bystander: sees multicast only
			if c1.Src() != wantSrc {
				t.Fatalf("Src() = %v, want %v", c1.Src(), wantSrc)
			}
			vip := vipIn(lab.Net4, 100)
			if tt.family == FamilyIPv6 {
				vip = vipIn(lab.Net6, 0x100&0xff)
			}
			adv := Advert{Version: 3, VRID: 51, Priority: 150, Interval: time.Second, Addrs: []netip.Addr{vip}}
			payload, err := adv.Marshal(c1.Src(), dst)
			if err != nil {
				t.Fatal(err)
			}
			if err := c1.WritePacket(payload, dst); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			p, err := c2.ReadPacket(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := Packet{Payload: payload, Src: wantSrc, Dst: dst, TTL: tt.wantTTL, IfIndex: ifIndexIn(t, h2, nettest.IfName)}
			if tt.family == FamilyIPv4 {
				if len(p.Datagram) != 20+len(payload) || !bytes.Equal(p.Datagram[20:], payload) {
					t.Errorf("Datagram = % x, want a 20-octet header and the payload", p.Datagram)
				} else if p.Datagram[1] != TOSNetworkControl || p.Datagram[9] != ProtocolVRRP || p.Datagram[8] != byte(tt.wantTTL) {
					t.Errorf("IPv4 header tos %#x proto %d ttl %d, want 0xc0 112 %d", p.Datagram[1], p.Datagram[9], p.Datagram[8], tt.wantTTL)
				}
			}
			p.Datagram = nil
			if !bytes.Equal(p.Payload, want.Payload) || p.Src != want.Src || p.Dst != want.Dst || p.TTL != want.TTL || p.IfIndex != want.IfIndex {
				t.Errorf("received %+v\nwant     %+v", p, want)
			}
			got, err := DecodeAdvert(p.Payload, p.Src, p.Dst)
			if err != nil {
				t.Fatalf("DecodeAdvert of what arrived: %v", err)
			}
			if got.VRID != 51 || got.Priority != 150 || len(got.Addrs) != 1 || got.Addrs[0] != vip {
				t.Errorf("decoded %+v", got)
			}

			// Multicast loopback is off: the sender does not hear itself.
			// A bystander hears multicast but not unicast to someone else.
			short, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel2()
			if p, err := c1.ReadPacket(short); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("sender read its own advert back: %+v, %v", p, err)
			}
			short3, cancel3 := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel3()
			p3, err := c3.ReadPacket(short3)
			if tt.unicast && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("bystander got unicast advert for %v: %+v, %v", dst, p3, err)
			}
			if !tt.unicast && (err != nil || !bytes.Equal(p3.Payload, payload)) {
				t.Errorf("bystander missed the multicast advert: %+v, %v", p3, err)
			}

			// ReadBatch: three adverts sent back to back arrive as
			// ReadPacket gives them, in order, possibly in one call.
			var sent [][]byte
			for prio := uint8(151); prio <= 153; prio++ {
				a := adv
				a.Priority = prio
				b, err := a.Marshal(c1.Src(), dst)
				if err != nil {
					t.Fatal(err)
				}
				if err := c1.WritePacket(b, dst); err != nil {
					t.Fatal(err)
				}
				sent = append(sent, b)
			}
			var got3 []Packet
			buf := make([]Packet, 8)
			for len(got3) < len(sent) {
				n, err := c2.ReadBatch(ctx, buf)
				if err != nil {
					t.Fatalf("ReadBatch after %d packets: %v", len(got3), err)
				}
				got3 = append(got3, buf[:n]...)
			}
			for i, p := range got3 {
				if !bytes.Equal(p.Payload, sent[i]) || p.Src != want.Src || p.Dst != want.Dst || p.TTL != want.TTL || p.IfIndex != want.IfIndex {
					t.Errorf("ReadBatch packet %d: %+v\nwant payload % x from %v to %v ttl %d if %d", i, p, sent[i], want.Src, want.Dst, want.TTL, want.IfIndex)
				}
				if tt.family == FamilyIPv4 && (len(p.Datagram) != 20+len(sent[i]) || !bytes.Equal(p.Datagram[20:], sent[i])) {
					t.Errorf("ReadBatch packet %d: Datagram = % x", i, p.Datagram)
				}
			}
		})
	}
}

// TestConnReadCancel checks that cancelling the context unblocks a read
// at once with the context's error, and that the Conn reads again after.
func TestConnReadCancel(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	c1 := listenIn(t, lab.Hosts[0], ConnConfig{Interface: nettest.IfName, Family: FamilyIPv4})
	c2 := listenIn(t, lab.Hosts[1], ConnConfig{Interface: nettest.IfName, Family: FamilyIPv4})

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c2.ReadPacket(ctx)
		errc <- err
	}()
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("ReadPacket after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadPacket still blocked 5 s after cancel")
	}

	if err := c1.WritePacket([]byte("not vrrp but bytes"), GroupIPv4); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	p, err := c2.ReadPacket(ctx2)
	if err != nil {
		t.Fatalf("read after a cancelled read: %v", err)
	}
	if string(p.Payload) != "not vrrp but bytes" {
		t.Errorf("payload %q", p.Payload)
	}

	// ReadBatch likewise, with a context it already watches: the second
	// batch read blocks on the same context and its cancel ends it.
	ctx3, cancel3 := context.WithCancel(context.Background())
	if err := c1.WritePacket([]byte("batch one"), GroupIPv4); err != nil {
		t.Fatal(err)
	}
	buf := make([]Packet, 4)
	if n, err := c2.ReadBatch(ctx3, buf); err != nil || n != 1 || string(buf[0].Payload) != "batch one" {
		t.Fatalf("ReadBatch = %d, %v (%q), want the one packet", n, err, buf[0].Payload)
	}
	go func() {
		_, err := c2.ReadBatch(ctx3, buf)
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond) // let it block
	cancel3()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("ReadBatch after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadBatch still blocked 5 s after cancel")
	}
	if err := c1.WritePacket([]byte("batch two"), GroupIPv4); err != nil {
		t.Fatal(err)
	}
	ctx4, cancel4 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel4()
	if n, err := c2.ReadBatch(ctx4, buf); err != nil || n != 1 || string(buf[0].Payload) != "batch two" {
		t.Fatalf("ReadBatch with a new context after a cancelled one = %d, %v", n, err)
	}
}

// TestListenConnErrors checks that bad configs fail with errors naming
// what to fix.
func TestListenConnErrors(t *testing.T) {
	tests := []struct {
		cfg  ConnConfig
		want string
	}{
		{ConnConfig{Family: FamilyIPv4}, "no interface"},
		{ConnConfig{Interface: "eth0"}, "family"},
		{ConnConfig{Interface: "eth0", Family: FamilyIPv6, Protocol: ProtocolAH}, "protocol 51"},
		{ConnConfig{Interface: "eth0", Family: FamilyIPv4, Group: netip.MustParseAddr("10.99.0.1")}, "multicast group 10.99.0.1"},
		{ConnConfig{Interface: "eth0", Family: FamilyIPv4, Src: netip.MustParseAddr("fd00:99::1")}, "source address fd00:99::1"},
		{ConnConfig{Interface: "eth0", Family: FamilyIPv6, Peers: []netip.Addr{netip.MustParseAddr("10.99.0.2")}}, "unicast peer 10.99.0.2"},
		{ConnConfig{Interface: "eth0", Family: FamilyIPv4, UnicastTTL: 256}, "unicast_ttl 256"},
		{ConnConfig{Interface: "vigil-no-such0", Family: FamilyIPv4}, "interface vigil-no-such0"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			c, err := ListenConn(context.Background(), tt.cfg)
			if err == nil {
				c.Close()
				t.Fatalf("ListenConn(%+v) succeeded", tt.cfg)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

const keepalivedBackup = `global_defs {
  router_id peer
  vrrp_version %d
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
%s
  virtual_ipaddress {
    %s
  }
}
`

// TestKeepalivedAcceptsOurAdverts runs a real keepalived BACKUP (priority
// 100) beside a host that sends our adverts with priority 200 through
// Conn: keepalived must stay BACKUP without logging any complaint (RFC
// 5798 §6.4.2: a backup receiving a higher priority advert resets its
// Master_Down_Timer), and must take over once our adverts stop, which
// shows that it was our adverts that held it back.
func TestKeepalivedAcceptsOurAdverts(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	tests := []struct {
		name    string
		version uint8
		family  Family
		auth    string
	}{
		{"v2 ipv4 pass", 2, FamilyIPv4, "  authentication {\n    auth_type PASS\n    auth_pass 1111\n  }"},
		{"v3 ipv4", 3, FamilyIPv4, ""},
		{"v3 ipv6", 3, FamilyIPv6, ""},
		{"v2 ipv4 unicast", 2, FamilyIPv4, "  unicast_src_ip %[1]s\n  unicast_peer {\n    %[2]s\n  }"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vip := vipIn(lab.Net4, 100)
			if tt.family == FamilyIPv6 {
				vip = vipIn(lab.Net6, 0x64)
			}
			cfg := ConnConfig{Interface: nettest.IfName, Family: tt.family}
			extra := tt.auth
			unicast := strings.Contains(tt.auth, "unicast")
			if unicast {
				extra = fmt.Sprintf(tt.auth, lab.Hosts[0].Addr4.Addr(), lab.Hosts[1].Addr4.Addr())
				cfg.Peers = []netip.Addr{lab.Hosts[0].Addr4.Addr()}
			}
			k := nettest.StartKeepalived(t, lab.Hosts[0], fmt.Sprintf(keepalivedBackup, tt.version, extra, vip))
			c := listenIn(t, lab.Hosts[1], cfg)
			dst := c.Group()
			if unicast {
				dst = cfg.Peers[0]
			}
			adv := Advert{Version: tt.version, VRID: 51, Priority: 200, Interval: time.Second, Addrs: []netip.Addr{vip}}
			if strings.Contains(tt.auth, "PASS") {
				adv.AuthType, adv.AuthData = AuthPass, AuthKey("1111")
			}
			payload, err := adv.Marshal(c.Src(), dst)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := k.WaitLog(regexp.MustCompile(`\(VI_1\) Entering BACKUP STATE`), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			// Advertise for 5 s: longer than keepalived's Master_Down_Interval
			// (3 × 1 s + skew 0.6 s), so without our adverts it would be master.
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for i := 0; i < 5; i++ {
				if err := c.WritePacket(payload, dst); err != nil {
					t.Fatal(err)
				}
				<-tick.C
			}
			log := k.Log()
			if strings.Contains(log, "Entering MASTER STATE") {
				t.Fatalf("keepalived became MASTER despite our priority 200 adverts:\n%s", log)
			}
			complaint := regexp.MustCompile(`(?i)invalid|bad |error|mismatch|discard|ignor|wrong`)
			if m := complaint.FindString(log); m != "" {
				t.Errorf("keepalived complained (%q) about our adverts:\n%s", m, log)
			}
			if has, _ := lab.Hosts[0].HasAddr(nettest.IfName, vip); has {
				t.Errorf("keepalived BACKUP holds VIP %v", vip)
			}
			mark := k.Mark()
			if _, err := k.WaitLogAfter(mark, regexp.MustCompile(`\(VI_1\) Entering MASTER STATE`), 10*time.Second); err != nil {
				t.Fatalf("keepalived did not take over after our adverts stopped: %v", err)
			}
			if err := k.Stop(10 * time.Second); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestConnReceivesKeepalivedAdverts reads the adverts of a real keepalived
// MASTER through Conn and decodes them: multicast v2 and v3 over IPv4 and
// v3 over IPv6 from the link-local address, always with TTL 255.
func TestConnReceivesKeepalivedAdverts(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	tests := []struct {
		name    string
		version uint8
		family  Family
	}{
		{"v2 ipv4", 2, FamilyIPv4},
		{"v3 ipv4", 3, FamilyIPv4},
		{"v3 ipv6", 3, FamilyIPv6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vip, src := vipIn(lab.Net4, 100), lab.Hosts[0].Addr4.Addr()
			if tt.family == FamilyIPv6 {
				vip, src = vipIn(lab.Net6, 0x64), mustLinkLocal(t, lab.Hosts[0])
			}
			c := listenIn(t, lab.Hosts[1], ConnConfig{Interface: nettest.IfName, Family: tt.family})
			nettest.StartKeepalived(t, lab.Hosts[0], fmt.Sprintf(keepalivedBackup, tt.version, "", vip))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p, err := c.ReadPacket(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if p.Src != src || p.Dst != c.Group() || p.TTL != 255 {
				t.Errorf("packet %v > %v TTL %d, want %v > %v TTL 255", p.Src, p.Dst, p.TTL, src, c.Group())
			}
			adv, err := DecodeAdvert(p.Payload, p.Src, p.Dst)
			if err != nil {
				t.Fatalf("DecodeAdvert of keepalived's advert: %v\n% x", err, p.Payload)
			}
			if adv.Version != tt.version || adv.VRID != 51 || adv.Priority != 100 || len(adv.Addrs) != 1 || adv.Addrs[0] != vip {
				t.Errorf("decoded %+v", adv)
			}
			if tt.family == FamilyIPv4 {
				if _, err := DecodeIPv4(p.Datagram); err != nil {
					t.Errorf("DecodeIPv4 of the datagram: %v", err)
				}
			}
		})
	}
}

// TestConnAHWithKeepalived runs keepalived's auth_type AH (IP protocol 51)
// both ways through a Conn opened for protocol 51: keepalived's adverts
// arrive as whole datagrams whose ICV verifies with the shared key, and
// our signed datagrams, written with WriteDatagram, keep a lower priority
// keepalived in BACKUP without complaint and with no ICV or replay drop.
func TestConnAHWithKeepalived(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	const ahAuth = "  authentication {\n    auth_type AH\n    auth_pass secret12\n  }"
	vip := vipIn(lab.Net4, 101)
	key := AuthKey("secret12")

	t.Run("receive", func(t *testing.T) {
		c := listenIn(t, lab.Hosts[1], ConnConfig{Interface: nettest.IfName, Family: FamilyIPv4, Protocol: ProtocolAH})
		nettest.StartKeepalived(t, lab.Hosts[0], fmt.Sprintf(keepalivedBackup, 2, ahAuth, vip))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p, err := c.ReadPacket(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := VerifyAH(p.Datagram, key, false); err != nil {
			t.Errorf("VerifyAH of keepalived's datagram: %v", err)
		}
		pkt, err := DecodeIPv4(p.Datagram)
		if err != nil {
			t.Fatal(err)
		}
		if pkt.AH == nil || pkt.Advert.Priority != 100 || pkt.Advert.AuthType != AuthAH || p.TTL != 255 {
			t.Errorf("decoded %+v TTL %d", pkt, p.TTL)
		}
		if len(p.Payload) != len(p.Datagram)-20 || p.Payload[0] != ProtocolVRRP {
			t.Errorf("Payload should start with the AH header (next header 112): % x", p.Payload[:4])
		}
	})

	t.Run("send", func(t *testing.T) {
		k := nettest.StartKeepalived(t, lab.Hosts[0], fmt.Sprintf(keepalivedBackup, 2, ahAuth, vip))
		c := listenIn(t, lab.Hosts[1], ConnConfig{Interface: nettest.IfName, Family: FamilyIPv4, Protocol: ProtocolAH})
		if _, err := k.WaitLog(regexp.MustCompile(`\(VI_1\) Entering BACKUP STATE`), 10*time.Second); err != nil {
			t.Fatal(err)
		}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for seq := uint32(1); seq <= 5; seq++ {
			pkt := IPv4Packet{
				IP:     IPv4Header{TOS: TOSNetworkControl, ID: uint16(seq), TTL: 255, Protocol: ProtocolAH, Src: c.Src(), Dst: c.Group()},
				AH:     &AH{SPI: SPIFor(c.Src()), Seq: seq},
				Advert: Advert{Version: 2, VRID: 51, Priority: 200, Interval: time.Second, Addrs: []netip.Addr{vip}, AuthType: AuthAH},
			}
			b, err := pkt.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if err := SignAH(b, key, false); err != nil {
				t.Fatal(err)
			}
			if err := c.WriteDatagram(b); err != nil {
				t.Fatal(err)
			}
			<-tick.C
		}
		log := k.Log()
		if strings.Contains(log, "Entering MASTER STATE") {
			t.Fatalf("keepalived became MASTER despite our AH adverts:\n%s", log)
		}
		if m := regexp.MustCompile(`(?i)invalid|bad |error|mismatch|discard|ignor|wrong|digest|sequence`).FindString(log); m != "" {
			t.Errorf("keepalived complained (%q):\n%s", m, log)
		}
		mark := k.Mark()
		if _, err := k.WaitLogAfter(mark, regexp.MustCompile(`\(VI_1\) Entering MASTER STATE`), 10*time.Second); err != nil {
			t.Fatalf("keepalived did not take over after our adverts stopped: %v", err)
		}
	})
}
