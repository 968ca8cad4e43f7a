package check

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/check/checktest"

	"golang.org/x/net/dns/dnsmessage"
)

// startDnsmasq runs Debian's dnsmasq in the foreground on a free loopback
// port: vigil.test has an A record, .invalid is local (NXDOMAIN), and with
// no upstream anything else is REFUSED.
func startDnsmasq(t *testing.T) netip.AddrPort {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping dnsmasq integration test")
	}
	bin, err := exec.LookPath("dnsmasq")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/dnsmasq"); e != nil {
			t.Skipf("dnsmasq not installed (apt-get install dnsmasq-base): %v", err)
		}
		bin = "/usr/sbin/dnsmasq"
	}
	dir := t.TempDir()
	port := checktest.FreePort(t)
	args := []string{"--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null",
		"--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1",
		"--except-interface=*", "--interface=lo",
		fmt.Sprintf("--port=%d", port), "--pid-file=" + dir + "/dnsmasq.pid",
		"--address=/vigil.test/10.99.0.1", "--txt-record=vigil.test,vigil", "--local=/invalid/"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	exited := checktest.StartDaemon(t, dir, bin, args...)
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	// dnsmasq also listens on TCP; that tells us it is up.
	checktest.WaitListening(t, "tcp", addr.String(), exited, func() string { return "" })
	return addr
}

func TestDNSCheckAgainstDnsmasq(t *testing.T) {
	addr := startDnsmasq(t)
	tests := []struct {
		name   string
		typ    string
		qname  string
		ok     bool
		reason string
	}{
		{"A record", "A", "vigil.test", true, "succeed"},
		{"trailing dot and lower-case type", "a", "www.vigil.test.", true, "succeed"},
		{"TXT record", "TXT", "vigil.test", true, "succeed"},
		{"NXDOMAIN fails", "A", "nothing.invalid", false, "rcode = 3"},
		{"no upstream: REFUSED fails", "SOA", "", false, "rcode = 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			typ, err := ParseDNSType(tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			r := NewDNS(Conn{Addr: addr}, typ, tc.qname).Check(ctxTimeout(t, 3*time.Second))
			if r.OK != tc.ok || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("Check = %+v, want OK=%v with %q", r, tc.ok, tc.reason)
			}
		})
	}
}

// udpServer answers each datagram with what reply returns (nil: silence).
func udpServer(t *testing.T, reply func(q dnsmessage.Message) [][]byte) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var q dnsmessage.Message
			if q.Unpack(buf[:n]) != nil {
				continue
			}
			for _, b := range reply(q) {
				pc.WriteTo(b, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

func answer(t *testing.T, q dnsmessage.Message, id uint16, response bool) []byte {
	m := dnsmessage.Message{Header: dnsmessage.Header{ID: id, Response: response}, Questions: q.Questions}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDNSCheckWire(t *testing.T) {
	var seen dnsmessage.Message
	tests := []struct {
		name   string
		reply  func(q dnsmessage.Message) [][]byte
		ok     bool
		reason string
	}{
		{"stray datagrams are skipped", func(q dnsmessage.Message) [][]byte {
			seen = q
			return [][]byte{{1, 2}, answer(t, q, q.ID+1, true), answer(t, q, q.ID, false), answer(t, q, q.ID, true)}
		}, true, "succeed"},
		{"silence times out", func(dnsmessage.Message) [][]byte { return nil }, false, "Timeout read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := udpServer(t, tc.reply)
			r := NewDNS(Conn{Addr: addr}, 0, "").Check(ctxTimeout(t, 300*time.Millisecond))
			if r.OK != tc.ok || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("Check = %+v, want OK=%v with %q", r, tc.ok, tc.reason)
			}
		})
	}
	// keepalived's defaults: type SOA, name ".", recursion desired.
	if len(seen.Questions) != 1 || seen.Questions[0].Type != dnsmessage.TypeSOA ||
		seen.Questions[0].Name.String() != "." || !seen.RecursionDesired {
		t.Errorf("query = %+v, want one SOA question for . with RD", seen)
	}
}

func TestParseDNSTypeRejectsUnknown(t *testing.T) {
	if _, err := ParseDNSType("PTR"); err == nil || !strings.Contains(err.Error(), "want A, NS") {
		t.Errorf("ParseDNSType(PTR) = %v, want an error listing the types", err)
	}
}
