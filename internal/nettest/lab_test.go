package nettest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestLabHostsTalk checks that two hosts reach each other over the bridge
// with TCP on both families, and that their addresses are the documented
// ones.
func TestLabHostsTalk(t *testing.T) {
	lab := NewLab(t, 2, Options{})
	h1, h2 := lab.Hosts[0], lab.Hosts[1]
	for i, h := range lab.Hosts {
		if want := lab.Net4.Addr().As4(); h.Addr4.Addr().As4()[2] != want[2] || h.Addr4.Addr().As4()[3] != byte(11+i) {
			t.Errorf("host %d Addr4 = %v, want 10.99.X.%d/24 in %v", i+1, h.Addr4, 11+i, lab.Net4)
		}
		ps, err := h.Addrs(IfName)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []netip.Prefix{h.Addr4, h.Addr6} {
			if !contains(ps, want) {
				t.Errorf("%s: %s addresses %v lack %v", h.Name, IfName, ps, want)
			}
		}
		if _, err := h.LinkLocal(); err != nil {
			t.Error(err)
		}
	}
	for _, dst := range []netip.Addr{h2.Addr4.Addr(), h2.Addr6.Addr()} {
		t.Run(dst.String(), func(t *testing.T) {
			var ln net.Listener
			if err := h2.Do(func() (err error) {
				ln, err = net.Listen("tcp", netip.AddrPortFrom(dst, 0).String())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan string, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					got <- err.Error()
					return
				}
				defer c.Close()
				b, _ := io.ReadAll(c)
				got <- string(b)
			}()
			err := h1.Do(func() error {
				d := net.Dialer{Timeout: 5 * time.Second}
				c, err := d.Dial("tcp", ln.Addr().String())
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(c, "hello from ", h1.Name)
				c.Close()
				return err
			})
			if err != nil {
				t.Fatalf("dial from %s: %v", h1.Name, err)
			}
			if want := "hello from " + h1.Name; <-got != want {
				t.Errorf("received wrong greeting, want %q", want)
			}
		})
	}
	// The loopback of the test process must not see the lab's addresses.
	ln, err := net.Listen("tcp", netip.AddrPortFrom(h2.Addr4.Addr(), 0).String())
	if err == nil {
		ln.Close()
		t.Errorf("%v is reachable outside the lab namespace", h2.Addr4)
	}
}

func contains(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// TestLabCleanup checks that every namespace of a lab is gone once the
// test that made it has finished, also when it stopped half-way: the
// "abort" case leaves through runtime.Goexit (t.SkipNow), the path t.Fatal
// takes, with a keepalived still running inside.
func TestLabCleanup(t *testing.T) {
	t.Run("finish", func(t *testing.T) { testLabCleanup(t, false) })
	t.Run("abort", func(t *testing.T) { testLabCleanup(t, true) })
}

func testLabCleanup(t *testing.T, abort bool) {
	if testing.Short() {
		t.Skip("skipping network namespace lab in -short mode")
	}
	RequireRoot(t)
	var names []string
	t.Run("lab", func(t *testing.T) {
		lab := NewLab(t, 2, Options{})
		names = append(names, lab.Switch.Name)
		for _, h := range lab.Hosts {
			names = append(names, h.Name)
		}
		for _, n := range names {
			if !NamespaceExists(n) {
				t.Errorf("namespace %s missing while the lab is up", n)
			}
		}
		if abort {
			k := StartKeepalived(t, lab.Hosts[0], fmt.Sprintf(keepalivedPair, "n1", 150, lab.Hosts[0].Addr4.Addr().Next()))
			if _, err := k.WaitLog(regexp.MustCompile(`Startup complete`), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			t.SkipNow()
		}
	})
	if len(names) != 3 {
		t.Fatalf("lab made %d namespaces, want 3", len(names))
	}
	for _, n := range names {
		if NamespaceExists(n) {
			t.Errorf("namespace %s still exists after the test", n)
		}
	}
}

const keepalivedPair = `global_defs {
  router_id %s
  vrrp_garp_master_delay 0
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority %d
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass 1111
  }
  virtual_ipaddress {
    %s
  }
}
`

// TestKeepalivedPairElectsMaster runs two real keepalived peers (150 and
// 100): the higher one becomes MASTER, the VIP is on exactly that host;
// after SIGKILL of the master (no priority 0 advert) the backup takes over.
func TestKeepalivedPairElectsMaster(t *testing.T) {
	lab := NewLab(t, 2, Options{})
	vip := lab.Net4.Addr().Next()
	for range 99 {
		vip = vip.Next() // .100
	}
	// GARPs for the VIP, as the backup host sees them.
	garps := StartCapture(t, lab.Hosts[1], IfName, func(f []byte) bool {
		v := vip.As4()
		return len(f) >= 42 && f[12] == 0x08 && f[13] == 0x06 && // ARP
			bytes.Equal(f[28:32], v[:]) && bytes.Equal(f[38:42], v[:]) // sender = target = VIP
	})
	k1 := StartKeepalived(t, lab.Hosts[0], fmt.Sprintf(keepalivedPair, "n1", 150, vip))
	k2 := StartKeepalived(t, lab.Hosts[1], fmt.Sprintf(keepalivedPair, "n2", 100, vip))

	master := regexp.MustCompile(`\(VI_1\) Entering MASTER STATE`)
	if _, err := k1.WaitLog(master, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	// The backup may have been master for a moment (both start as BACKUP,
	// and the first to time out wins until the other preempts).
	lab.WaitHeldBy(t, vip, 5*time.Second, lab.Hosts[0])
	// keepalived's default garp_master_repeat is 5.
	if fs, err := garps.Wait(5, 5*time.Second); err != nil {
		t.Error(err)
	} else if op := fs[0][21]; op != 1 {
		t.Errorf("keepalived's GARP is ARP operation %d, want 1 (request)", op)
	}
	if _, err := k2.WaitLog(regexp.MustCompile(`\(VI_1\) Entering BACKUP STATE`), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if k2.LastMatch(regexp.MustCompile(`\(VI_1\) Entering (MASTER|BACKUP) STATE`)) != "BACKUP" {
		t.Errorf("priority 100 peer not BACKUP while the 150 peer is master:\n%s", k2.Log())
	}
	if ps, _ := lab.Hosts[0].Addrs(IfName); !contains(ps, netip.PrefixFrom(vip, 32)) {
		t.Errorf("keepalived put VIP %v without mask on as %v, want /32", vip, ps)
	}

	mark := k2.Mark()
	if err := k1.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := k2.WaitLogAfter(mark, master, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// The killed master left its VIP behind, as a hung node would: both
	// hold it now, which is what split brain looks like in the lab.
	lab.WaitHeldBy(t, vip, 5*time.Second, lab.Hosts[0], lab.Hosts[1])
}

// TestDropVRRPSilencesMaster checks that DropVRRP(DropOut) makes the backup
// take over without the master losing carrier, and that UndropVRRP lets the
// master preempt again.
func TestDropVRRPSilencesMaster(t *testing.T) {
	lab := NewLab(t, 2, Options{})
	vip := netip.MustParsePrefix(lab.Net4.String()).Addr().As4()
	vip[3] = 100
	v := netip.AddrFrom4(vip)
	k1 := StartKeepalived(t, lab.Hosts[0], fmt.Sprintf(keepalivedPair, "n1", 150, v))
	k2 := StartKeepalived(t, lab.Hosts[1], fmt.Sprintf(keepalivedPair, "n2", 100, v))
	master := regexp.MustCompile(`\(VI_1\) Entering MASTER STATE`)
	if _, err := k1.WaitLog(master, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mark := k2.Mark()
	if err := lab.Hosts[0].DropVRRP(ctx, DropOut); err != nil {
		t.Fatal(err)
	}
	if _, err := k2.WaitLogAfter(mark, master, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	mark2 := k2.Mark()
	if err := lab.Hosts[0].UndropVRRP(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k2.WaitLogAfter(mark2, regexp.MustCompile(`\(VI_1\) (Master received advert from .* with higher priority|Entering BACKUP STATE)`), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	lab.WaitHolder(t, v, 10*time.Second)
}

// TestSetLinkDropsCarrier checks that cutting a host's bridge port takes
// its eth0 carrier down and that restoring it brings it back.
func TestSetLinkDropsCarrier(t *testing.T) {
	lab := NewLab(t, 1, Options{})
	h := lab.Hosts[0]
	ctx := context.Background()
	carrier := func() string {
		out, err := h.Run(ctx, "cat", "/sys/class/net/"+IfName+"/carrier")
		if err != nil {
			return "err: " + err.Error()
		}
		return strings.TrimSpace(string(out))
	}
	if got := carrier(); got != "1" {
		t.Fatalf("carrier before cut = %q, want 1", got)
	}
	for _, up := range []bool{false, true} {
		if err := lab.SetLink(ctx, h, up); err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{false: "0", true: "1"}[up]
		deadline := time.Now().Add(5 * time.Second)
		for carrier() != want {
			if time.Now().After(deadline) {
				t.Fatalf("carrier = %q after SetLink(up=%v), want %s", carrier(), up, want)
			}
		}
	}
}
