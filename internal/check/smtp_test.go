package check

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/check/checktest"
)

// startExim runs Debian's exim4 as a foreground daemon (-bdf) on a free
// loopback port with a config of its own. Its HELO ACL rejects the name
// "rejected.example" with 550, so the checker's HELO step can fail for real.
func startExim(t *testing.T) netip.AddrPort {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: skipping exim4 integration test")
	}
	bin, err := exec.LookPath("exim4")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/exim4"); e != nil {
			t.Skipf("exim4 not installed (apt-get install exim4-daemon-light): %v", err)
		}
		bin = "/usr/sbin/exim4"
	}
	if os.Geteuid() != 0 {
		// exim4 drops privileges for a -C config unless run by root.
		t.Skip("exim4 with a private config needs root")
	}
	dir := t.TempDir()
	for _, d := range []string{"spool", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	port := checktest.FreePort(t)
	conf := fmt.Sprintf(`exim_user = root
exim_group = root
keep_environment =
primary_hostname = vigil.test
spool_directory = %[1]s/spool
log_file_path = %[1]s/log/%%slog
pid_file_path = %[1]s/exim.pid
tls_advertise_hosts =
rfc1413_query_timeout = 0s
local_interfaces = <; 127.0.0.1.%[2]d
daemon_smtp_ports = %[2]d
acl_smtp_helo = check_helo
begin acl
check_helo:
  deny message = go away
       condition = ${if eq{$sender_helo_name}{rejected.example}}
  accept
begin routers
begin transports
`, dir, port)
	confFile := filepath.Join(dir, "exim.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	exited := checktest.StartDaemon(t, dir, bin, "-C", confFile, "-bdf")
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	checktest.WaitListening(t, "tcp", addr.String(), exited, func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "log", "mainlog"))
		p, _ := os.ReadFile(filepath.Join(dir, "log", "paniclog"))
		return string(b) + string(p)
	})
	return addr
}

func TestSMTPCheckAgainstExim(t *testing.T) {
	addr := startExim(t)
	tests := []struct {
		name, helo, reason string
		ok                 bool
	}{
		{"default helo_name", "", "succeed", true},
		{"helo_name accepted", "lb1.example", "succeed", true},
		{"HELO rejected with 550", "rejected.example", "Bad HELO response from server 127.0.0.1", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewSMTP(Conn{Addr: addr}, tc.helo).Check(ctxTimeout(t, 5*time.Second))
			if r.OK != tc.ok || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("Check = %+v, want OK=%v with %q", r, tc.ok, tc.reason)
			}
		})
	}
}

// TestSMTPDialogue drives the checker against scripted servers for the
// cases a real MTA will not produce on demand.
func TestSMTPDialogue(t *testing.T) {
	type exchange struct{ expect, reply string } // expect "" = send reply first
	tests := []struct {
		name    string
		script  []exchange
		ok      bool
		reason  string
		timeout time.Duration
	}{
		{"good", []exchange{{"", "220 mx ESMTP\r\n"}, {"HELO smtpchecker.keepalived.org\r\n", "250 mx\r\n"}, {"QUIT\r\n", "221 bye\r\n"}}, true, "succeed", 2 * time.Second},
		{"multi-line greeting", []exchange{{"", "220-mx ESMTP\r\n220-second\r\n220 last\r\n"}, {"HELO smtpchecker.keepalived.org\r\n", "250-mx\r\n250 PIPELINING\r\n"}, {"QUIT\r\n", "221 bye\r\n"}}, true, "succeed", 2 * time.Second},
		{"554 greeting", []exchange{{"", "554 no service\r\n"}}, false, "Bad greeting banner", 2 * time.Second},
		{"garbage greeting", []exchange{{"", "hello there\r\n"}}, false, "code -1", 2 * time.Second},
		{"closes before greeting", nil, false, "Read failure", 2 * time.Second},
		{"never greets", []exchange{{"stall", ""}}, false, "Timeout read", 300 * time.Millisecond},
		{"no reply to QUIT", []exchange{{"", "220 mx\r\n"}, {"HELO smtpchecker.keepalived.org\r\n", "250 mx\r\n"}, {"stall", ""}}, false, "Timeout read", 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := rawServer(t, "tcp", func(c net.Conn) {
				buf := make([]byte, 512)
				for _, ex := range tc.script {
					switch ex.expect {
					case "":
					case "stall":
						io.Copy(io.Discard, c)
						return
					default:
						n, err := io.ReadAtLeast(c, buf, len(ex.expect))
						if err != nil || string(buf[:n]) != ex.expect {
							io.WriteString(c, "500 unexpected "+string(buf[:n])+"\r\n")
							return
						}
					}
					io.WriteString(c, ex.reply)
				}
			})
			r := NewSMTP(Conn{Addr: addr}, "").Check(ctxTimeout(t, tc.timeout))
			if r.OK != tc.ok || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("Check = %+v, want OK=%v with %q", r, tc.ok, tc.reason)
			}
		})
	}
}
