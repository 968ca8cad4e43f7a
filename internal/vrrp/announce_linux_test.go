package vrrp

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/nettest"
)

func isARP(f []byte) bool {
	return len(f) >= 14 && binary.BigEndian.Uint16(f[12:]) == 0x0806
}

func isNA(f []byte) bool {
	return len(f) >= 14+40+1 && binary.BigEndian.Uint16(f[12:]) == 0x86dd && f[14+6] == 58 && f[14+40] == 136
}

// TestAnnounceOnTheWire sends a gratuitous ARP and an unsolicited NA from
// one lab host and checks the frames another host receives: the GARP is
// keepalived's frame exactly; the NA goes to 33:33:00:00:00:01 from the
// interface MAC, from the VIP to ff02::1 with hop limit 255 (RFC 4861
// §7.1.2) and carries keepalived's ICMPv6 bytes.
func TestAnnounceOnTheWire(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	m := NewAddrs(h1.Handle(t))
	v4, v6 := vipIn(lab.Net4, 100), vipIn(lab.Net6, 0x64)
	ctx := context.Background()
	for _, v := range []netip.Addr{v4, v6} {
		if err := m.AddVIP(ctx, VIP{Prefix: netip.PrefixFrom(v, v.BitLen()), Dev: nettest.IfName}); err != nil {
			t.Fatal(err)
		}
	}
	var a *Announcer
	if err := h1.Do(func() (err error) {
		a, err = ListenAnnouncer(nettest.IfName)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	mac := a.Interface().HardwareAddr

	garps := nettest.StartCapture(t, h2, nettest.IfName, isARP)
	nas := nettest.StartCapture(t, h2, nettest.IfName, isNA)
	// Announce from this goroutine, outside the namespace: the sockets
	// must not depend on the caller's namespace.
	if err := a.Announce(v4); err != nil {
		t.Fatal(err)
	}
	if err := a.Announce(v6); err != nil {
		t.Fatal(err)
	}

	fs, err := garps.Wait(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := garpFrame(mac, v4)
	if !bytes.Equal(fs[0], want) {
		t.Errorf("GARP on the wire\n got % x\nwant % x", fs[0], want)
	}

	fs, err = nas.Wait(1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	f := fs[0]
	if dst, src := net.HardwareAddr(f[0:6]), net.HardwareAddr(f[6:12]); dst.String() != "33:33:00:00:00:01" || src.String() != mac.String() {
		t.Errorf("NA Ethernet %v > %v, want %v > 33:33:00:00:00:01", src, dst, mac)
	}
	ip6 := f[14:]
	hl, src, dst := ip6[7], netip.AddrFrom16([16]byte(ip6[8:24])), netip.AddrFrom16([16]byte(ip6[24:40]))
	if hl != 255 || src != v6 || dst != AllNodes {
		t.Errorf("NA IPv6 hop limit %d %v > %v, want 255 %v > ff02::1", hl, src, dst, v6)
	}
	wantNA, _ := unsolicitedNA(mac, v6, false)
	if got := ip6[40:]; !bytes.Equal(got, wantNA) {
		t.Errorf("NA ICMPv6\n got % x\nwant % x", got, wantNA)
	}

	// A forwarding node sets the Router flag, as keepalived does.
	if out, err := h1.Run(ctx, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := a.Announce(v6); err != nil {
		t.Fatal(err)
	}
	fs, err = nas.Wait(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if flags := fs[1][14+40+4]; flags != 0xa0 {
		t.Errorf("NA flags with forwarding on: %#x, want 0xa0 (Router|Override)", flags)
	}
}
