package faults

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/nettest"
)

// Priorities of the pair: A is the preferred master.
const (
	prioA = 150
	prioB = 100
)

// inst is one vrrp_instance of a node's keepalived.conf.
type inst struct {
	Name     string
	VRID     int
	Priority int
	AdvInt   time.Duration // whole seconds: VRRPv2, keepalived's default
	VIP      netip.Prefix
}

// render writes a keepalived.conf with the instances, all with PASS
// authentication (the flood test sends the wrong password).
func render(insts ...inst) string {
	var b strings.Builder
	b.WriteString("global_defs {\n  router_id faults\n}\n")
	for _, in := range insts {
		fmt.Fprintf(&b, "vrrp_instance %s {\n  state BACKUP\n  interface %s\n  virtual_router_id %d\n  priority %d\n  advert_int %d\n",
			in.Name, nettest.IfName, in.VRID, in.Priority, int(in.AdvInt/time.Second))
		b.WriteString("  authentication {\n    auth_type PASS\n    auth_pass s3cr3t\n  }\n")
		fmt.Fprintf(&b, "  virtual_ipaddress {\n    %s\n  }\n}\n", in.VIP)
	}
	return b.String()
}

// authPass is the auth_pass of render.
const authPass = "s3cr3t"

// masterDownInterval is RFC 3768 §6.1's 3 × Advertisement_Interval +
// Skew_Time, with Skew_Time = (256 − priority)/256 s (VRRPv2).
func masterDownInterval(prio int, advInt time.Duration) time.Duration {
	return 3*advInt + time.Duration(256-prio)*time.Second/256
}

// labVIP is the n-th VIP of the lab: 10.99.X.(100+n)/24.
func labVIP(lab *nettest.Lab, n int) netip.Prefix {
	a := lab.Net4.Addr().As4()
	a[3] = byte(100 + n)
	return netip.PrefixFrom(netip.AddrFrom4(a), 24)
}

// pair is two vigils on hosts A and B of a lab, one instance VI_1, A
// preferred.
type pair struct {
	lab    *nettest.Lab
	ha, hb *nettest.Host
	a, b   *vigilProc
	vi     inst // A's instance; B's differs in priority
	advInt time.Duration
}

func (p *pair) confA() string { return render(p.vi) }

func (p *pair) confB() string {
	vi := p.vi
	vi.Priority = prioB
	return render(vi)
}

func (p *pair) vip() netip.Addr { return p.vi.VIP.Addr() }

// newPair builds a lab of hosts namespaces, starts vigil on the first
// two and waits until A holds the VIP and B does not.
func newPair(t *testing.T, hosts int, debug bool) *pair {
	t.Helper()
	lab := nettest.NewLab(t, hosts, nettest.Options{}) // skips without root, in -short
	requireVigil(t)
	p := &pair{lab: lab, ha: lab.Hosts[0], hb: lab.Hosts[1], advInt: time.Second}
	p.vi = inst{Name: "VI_1", VRID: 51, Priority: prioA, AdvInt: p.advInt, VIP: labVIP(lab, 1)}
	p.b = startVigil(t, p.hb, p.confB(), debug)
	p.a = startVigil(t, p.ha, p.confA(), debug)
	lab.WaitHeldBy(t, p.vip(), masterDownInterval(prioA, p.advInt)+10*time.Second, p.ha)
	return p
}

// waitHolds polls until h holds addr and returns how long that took from
// since; it fails after timeout with the holders last seen.
func waitHolds(t *testing.T, lab *nettest.Lab, h *nettest.Host, addr netip.Addr, since time.Time, timeout time.Duration) time.Duration {
	t.Helper()
	for {
		ok, err := h.HasAddr(nettest.IfName, addr)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return time.Since(since)
		}
		if time.Since(since) > timeout {
			hs, _ := lab.Holders(addr)
			t.Fatalf("%s not on %s %v after the fault; held by %v", addr, h.Name, timeout, hostNames(hs))
		}
		<-time.After(5 * time.Millisecond)
	}
}

// holdStable polls the holders of addr for d and fails as soon as they
// are not exactly want.
func holdStable(t *testing.T, lab *nettest.Lab, addr netip.Addr, want *nettest.Host, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		hs, err := lab.Holders(addr)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != 1 || hs[0] != want {
			t.Fatalf("%s held by %v, want only %s", addr, hostNames(hs), want.Name)
		}
		<-time.After(20 * time.Millisecond)
	}
}

func hostNames(hs []*nettest.Host) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

// delAddr removes an address from h's eth0: the VIP a SIGKILLed vigil
// left behind, gone as the crashed machine is powered off.
func delAddr(t *testing.T, h *nettest.Host, p netip.Prefix) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if out, err := h.Run(ctx, "ip", "addr", "del", p.String(), "dev", nettest.IfName); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}
