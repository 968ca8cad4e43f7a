package interop

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/nettest"
)

// instConf is one node's vrrp_instance. Both daemons read the same text.
type instConf struct {
	VRID         int
	Version      int // 0: keepalived's default, 2
	State        string
	Priority     int
	AdvertInt    time.Duration
	Auth         string // "PASS", "AH" or "" for none
	VIP          netip.Prefix
	UnicastSrc   netip.Addr
	UnicastPeers []netip.Addr
	NoPreempt    bool
	PreemptDelay time.Duration
}

// render writes a keepalived.conf with one vrrp_instance VI_1.
func (c instConf) render() string {
	var b strings.Builder
	b.WriteString("global_defs {\n  router_id interop\n}\n")
	b.WriteString("vrrp_instance VI_1 {\n")
	state := c.State
	if state == "" {
		state = "BACKUP"
	}
	fmt.Fprintf(&b, "  state %s\n  interface %s\n  virtual_router_id %d\n  priority %d\n",
		state, nettest.IfName, c.VRID, c.Priority)
	if c.Version != 0 {
		fmt.Fprintf(&b, "  version %d\n", c.Version)
	}
	fmt.Fprintf(&b, "  advert_int %s\n", seconds(c.AdvertInt))
	if c.Auth != "" {
		fmt.Fprintf(&b, "  authentication {\n    auth_type %s\n    auth_pass s3cr3t\n  }\n", c.Auth)
	}
	if c.UnicastSrc.IsValid() {
		fmt.Fprintf(&b, "  unicast_src_ip %s\n", c.UnicastSrc)
	}
	if len(c.UnicastPeers) > 0 {
		b.WriteString("  unicast_peer {\n")
		for _, p := range c.UnicastPeers {
			fmt.Fprintf(&b, "    %s\n", p)
		}
		b.WriteString("  }\n")
	}
	if c.NoPreempt {
		b.WriteString("  nopreempt\n")
	}
	if c.PreemptDelay > 0 {
		fmt.Fprintf(&b, "  preempt_delay %s\n", seconds(c.PreemptDelay))
	}
	fmt.Fprintf(&b, "  virtual_ipaddress {\n    %s\n  }\n}\n", c.VIP)
	return b.String()
}

// seconds writes a duration as keepalived's decimal seconds.
func seconds(d time.Duration) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", d.Seconds()), "0"), ".")
}

// masterDownInterval is RFC 5798 §6.1's 3*Advertisement_Interval +
// Skew_Time with the VRRPv3 skew (256-prio)*interval/256; for VRRPv2
// (RFC 3768 §6.1) the skew is (256-prio)/256 s, the same with a 1 s
// interval.
func masterDownInterval(version, prio int, advInt time.Duration) time.Duration {
	return 3*advInt + skewTime(version, prio, advInt)
}

func skewTime(version, prio int, advInt time.Duration) time.Duration {
	if version == 3 {
		return time.Duration(256-prio) * advInt / 256
	}
	return time.Duration(256-prio) * time.Second / 256
}

// complaint matches the keepalived log lines that would mean vigil's
// adverts were not what keepalived expects: the words of the brief
// (invalid, bad checksum, authentication, mismatch, TTL) and the rest of
// keepalived 2.2.7's receive-check messages (vrrp.c vrrp_in_chk, seen
// with strings(1) on the Debian binary), e.g. "(VI_1) wrong version.
// Received 3 and expect 2", "received a 1 auth, expecting 2!",
// "IPSEC-AH : sequence number 5 already processed", "Invalid VRRPv3
// checksum", "Setting unicast VRRPv3 checksum to old version",
// "unicast source address ... not a unicast peer", "ip address
// associated with VRID 10 not present in MASTER advert", "vrrp packet
// too short", "Received AH header but auth type not AH".
var complaint = regexp.MustCompile(`(?i)invalid|checksum|authentication|mismatch|ttl|wrong version|expect|` +
	`already processed|not a unicast peer|not present in MASTER advert|packet too|AH header|passwd|` +
	`with our IP address|CONFIGURATION ERROR`)

// checkKeepalivedLog fails the test listing every complaint keepalived
// logged about its peer's adverts.
func checkKeepalivedLog(t testing.TB, k *nettest.Keepalived) {
	t.Helper()
	var bad []string
	for _, l := range strings.Split(k.Log(), "\n") {
		if complaint.MatchString(l) {
			bad = append(bad, l)
		}
	}
	if len(bad) > 0 {
		t.Errorf("keepalived in %s complained about its peer:\n%s", k.Host.Name, strings.Join(bad, "\n"))
	}
}

// checkVigilLog fails the test listing every advert vigil dropped (logged
// at debug level with the reason) and every error it logged.
func checkVigilLog(t testing.TB, v *vigilProc) {
	t.Helper()
	var bad []string
	for _, l := range strings.Split(v.Log(), "\n") {
		if strings.Contains(l, "VRRP packet dropped") || strings.Contains(l, "level=ERROR") {
			bad = append(bad, l)
		}
	}
	if len(bad) > 0 {
		t.Errorf("vigil in %s dropped adverts or logged errors:\n%s", v.Host.Name, strings.Join(bad, "\n"))
	}
}

// holdStable polls the VIP's holders for d and fails as soon as they are
// not exactly want: the election has settled and nobody flaps.
func holdStable(t testing.TB, lab *nettest.Lab, vip netip.Addr, want *nettest.Host, d time.Duration) {
	t.Helper()
	end := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		hs, err := lab.Holders(vip)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != 1 || hs[0] != want {
			t.Fatalf("%s held by %v, want only %s", vip, names(hs), want.Name)
		}
		if time.Now().After(end) {
			return
		}
		<-tick.C
	}
}

// checkSoleHolder asserts that exactly want holds the VIP now.
func checkSoleHolder(t testing.TB, lab *nettest.Lab, vip netip.Addr, want *nettest.Host) {
	t.Helper()
	hs, err := lab.Holders(vip)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || hs[0] != want {
		t.Errorf("at the end %s is held by %v, want exactly %s", vip, names(hs), want.Name)
	}
}

func names(hs []*nettest.Host) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

// Log patterns both daemons share (keepalived vrrp/vrrp.c wording).
var (
	reMaster = regexp.MustCompile(`\(VI_1\) Entering MASTER STATE`)
	reBackup = regexp.MustCompile(`\(VI_1\) Entering BACKUP STATE`)
)

func mustLog(t testing.TB, n node, mark int, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	l, err := n.WaitLogAfter(mark, re, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// labVIP is the n-th VIP of the lab, in the family of v6.
func labVIP(lab *nettest.Lab, n int, v6 bool) netip.Prefix {
	if v6 {
		a := lab.Net6.Addr().As16()
		a[14], a[15] = 0x01, byte(n)
		return netip.PrefixFrom(netip.AddrFrom16(a), 64)
	}
	a := lab.Net4.Addr().As4()
	a[3] = byte(100 + n)
	return netip.PrefixFrom(netip.AddrFrom4(a), 24)
}

func netHW(b []byte) string { return net.HardwareAddr(b).String() }
