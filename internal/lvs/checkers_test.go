package lvs

import (
	"net/netip"
	"os/user"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vigil-ha/vigil/internal/check"
)

// TestTargetMapping: each checker keyword lands in check.Target, with
// keepalived's inheritance (checker, else real server, else virtual
// server, else the type's default) and connect_ip/connect_port defaulting
// to the real server.
func TestTargetMapping(t *testing.T) {
	p, _ := NewPlan(mustLoad(t, `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    delay_loop 20
    retry 4
    virtualhost vs.example.test
    real_server 10.99.1.1 8080 {
        delay_loop 7
        warmup 2
        connect_timeout 3
        virtualhost rs.example.test
        TCP_CHECK {
            connect_ip 10.99.2.1
            connect_port 9000
            bindto 10.99.3.1
            bind_port 5000
            fwmark 12
            delay_before_retry 2.5
        }
        HTTP_GET {
            nb_get_retry 2
            url {
                path /health
                digest 0123456789abcdef0123456789ABCDEF
                status_code 200 300-302
            }
            url {
                path /other
                virtualhost url.example.test
                regex "ok|fine"
                regex_no_match
            }
            http_protocol 1.1
        }
        SSL_GET {
            virtualhost chk.example.test
            enable_sni
            url {
                path /
            }
        }
        SMTP_CHECK {
            helo_name mx.example.test
        }
        DNS_CHECK {
            type A
            name www.example.test
        }
        MISC_CHECK {
            misc_path "/usr/bin/check 'a b' c\ d"
            misc_timeout 9
            misc_dynamic
            user root
        }
    }
    real_server 10.99.1.2 {
        TCP_CHECK {
            alpha
        }
    }
}`))
	if len(p.Targets) != 7 {
		t.Fatalf("%d targets, want 7", len(p.Targets))
	}
	type want struct {
		conn   check.Conn
		policy check.Policy
		timing check.Timing
	}
	a := netip.MustParseAddr
	ap := netip.MustParseAddrPort
	rsConn := check.Conn{Addr: ap("10.99.1.1:8080")}
	wants := []want{
		{check.Conn{Addr: ap("10.99.2.1:9000"), BindTo: a("10.99.3.1"), BindPort: 5000, FWMark: 12}, check.PolicyTCP,
			check.Timing{DelayLoop: 7 * time.Second, DelayBeforeRetry: 2500 * time.Millisecond, Retry: 4, Warmup: 2 * time.Second, Timeout: 3 * time.Second}},
		{rsConn, check.PolicyHTTP,
			check.Timing{DelayLoop: 7 * time.Second, DelayBeforeRetry: 3 * time.Second, Retry: 2, Warmup: 2 * time.Second, Timeout: 3 * time.Second}},
		{rsConn, check.PolicyHTTP,
			check.Timing{DelayLoop: 7 * time.Second, DelayBeforeRetry: 3 * time.Second, Retry: 4, Warmup: 2 * time.Second, Timeout: 3 * time.Second}},
		{rsConn, check.PolicySMTP,
			check.Timing{DelayLoop: 7 * time.Second, DelayBeforeRetry: time.Second, Retry: 4, Warmup: 2 * time.Second, Timeout: 3 * time.Second}},
		{rsConn, check.PolicyDNS,
			check.Timing{DelayLoop: 7 * time.Second, DelayBeforeRetry: 7 * time.Second, Retry: 4, Warmup: 2 * time.Second, Timeout: 3 * time.Second}},
		{rsConn, check.PolicyMisc,
			check.Timing{DelayLoop: 7 * time.Second, DelayBeforeRetry: time.Second, Retry: 4, Warmup: 2 * time.Second, Timeout: 9 * time.Second}},
		// No port on a NAT real server: the virtual server's; defaults
		// from the virtual server; warmup defaults to delay_loop.
		{check.Conn{Addr: ap("10.99.1.2:80")}, check.PolicyTCP,
			check.Timing{DelayLoop: 20 * time.Second, DelayBeforeRetry: time.Second, Retry: 4, Warmup: 20 * time.Second, Timeout: 5 * time.Second, Alpha: true}},
	}
	for i, w := range wants {
		tg := p.Targets[i]
		c, err := tg.Checker()
		if err != nil {
			t.Fatalf("target %d: %v", i, err)
		}
		ct := tg.CheckTarget(c)
		if diff := cmp.Diff(w.conn, tg.Conn(), cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})); diff != "" {
			t.Errorf("target %d (%s) conn (-want +got):\n%s", i, tg.Type(), diff)
		}
		if ct.Policy != w.policy {
			t.Errorf("target %d policy %v, want %v", i, ct.Policy, w.policy)
		}
		if diff := cmp.Diff(w.timing, ct.Timing); diff != "" {
			t.Errorf("target %d (%s) timing (-want +got):\n%s", i, tg.Type(), diff)
		}
		if ct.Name != tg.Real.Name {
			t.Errorf("target %d name %q, want %q", i, ct.Name, tg.Real.Name)
		}
	}

	h, _ := p.Targets[1].Checker()
	hg := h.(*check.HTTPGet)
	if hg.SSL || hg.Protocol != check.HTTP11 || hg.VirtualHost != "rs.example.test" || hg.SNIHost != "vs.example.test" {
		t.Errorf("HTTP_GET = SSL %v protocol %v vhost %q sni %q; want plain, 1.1, the real server's vhost, the virtual server's SNI",
			hg.SSL, hg.Protocol, hg.VirtualHost, hg.SNIHost)
	}
	if len(hg.URLs) != 2 {
		t.Fatalf("%d urls, want 2", len(hg.URLs))
	}
	u0, u1 := hg.URLs[0], hg.URLs[1]
	if u0.Path != "/health" || len(u0.Digest) != 16 || u0.Digest[0] != 0x01 ||
		!cmp.Equal(u0.StatusCodes, []check.StatusRange{{Min: 200, Max: 200}, {Min: 300, Max: 302}}) {
		t.Errorf("url 0 = %+v", u0)
	}
	if u1.VirtualHost != "url.example.test" || u1.Regex == nil || !u1.Regex.MatchString("all fine") || !u1.RegexNoMatch {
		t.Errorf("url 1 = %+v", u1)
	}
	s, _ := p.Targets[2].Checker()
	sg := s.(*check.HTTPGet)
	if !sg.SSL || !sg.EnableSNI || sg.VirtualHost != "chk.example.test" || sg.SNIHost != "chk.example.test" {
		t.Errorf("SSL_GET = %+v", sg)
	}
	sm, _ := p.Targets[3].Checker()
	if got := sm.(*check.SMTP).HELOName; got != "mx.example.test" {
		t.Errorf("helo_name %q", got)
	}
	dn, _ := p.Targets[4].Checker()
	if d := dn.(*check.DNS); d.Name != "www.example.test" || d.Type.String() != "TypeA" {
		t.Errorf("DNS_CHECK = %v %q", d.Type, d.Name)
	}
	mc, _ := p.Targets[5].Checker()
	m := mc.(*check.Misc)
	if diff := cmp.Diff([]string{"/usr/bin/check", "a b", "c d"}, m.Argv); diff != "" {
		t.Errorf("misc_path argv (-want +got):\n%s", diff)
	}
	if !m.Dynamic {
		t.Error("misc_dynamic lost")
	}
	if root, err := user.Lookup("root"); err == nil && root.Uid == "0" {
		if m.User == nil || m.User.UID != 0 {
			t.Errorf("user root: %+v", m.User)
		}
	}
}

// TestCheckerErrorsNameTheChecker: a checker vigil cannot build names the
// configuration position, the checker and the real server.
func TestCheckerErrorsNameTheChecker(t *testing.T) {
	p, _ := NewPlan(mustLoad(t, `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.99.1.1 80 {
        HTTP_GET {
            url {
                path /
                regex "(?<=x)"
            }
        }
    }
}`))
	_, err := p.Targets[0].Checker()
	if err == nil {
		t.Fatal("no error for a regex RE2 cannot compile")
	}
	for _, want := range []string{"keepalived.conf:6", "HTTP_GET", "[10.99.1.1]:tcp:80", "RE2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// TestCheckerLog: keepalived's checker log lines, which operators grep.
func TestCheckerLog(t *testing.T) {
	p, _ := NewPlan(mustLoad(t, `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.99.1.1 80 {
        TCP_CHECK {
        }
        HTTP_GET {
            url {
                path /
            }
        }
        MISC_CHECK {
            misc_path "/usr/local/bin/chk arg"
        }
    }
}`))
	tests := []struct {
		id     int
		up     bool
		hadRun bool
		retry  int
		want   string
	}{
		{0, true, false, 1, "TCP connection to [10.99.1.1]:tcp:80 success."},
		{0, false, false, 1, "TCP_CHECK on service [10.99.1.1]:tcp:80 failed."},
		{0, false, true, 3, "TCP_CHECK on service [10.99.1.1]:tcp:80 failed after 3 retries."},
		{0, false, true, 0, "TCP_CHECK on service [10.99.1.1]:tcp:80 failed."},
		{1, true, true, 1, "Remote Web server [10.99.1.1]:tcp:80 succeed on service."},
		{1, false, true, 1, "HTTP_CHECK on service [10.99.1.1]:tcp:80 failed after 1 retries."},
		{2, true, true, 0, "Misc check for [[10.99.1.1]:tcp:80 VS [10.99.0.1]:tcp:80] by [/usr/local/bin/chk] succeeded."},
		{2, false, true, 0, "Misc check for [[10.99.1.1]:tcp:80 VS [10.99.0.1]:tcp:80] by [/usr/local/bin/chk] failed."},
	}
	for _, tc := range tests {
		if got := checkerLog(p.Targets[tc.id], tc.up, tc.hadRun, tc.retry); got != tc.want {
			t.Errorf("checkerLog(%s, up=%v, hadRun=%v, retry=%d) = %q, want %q", p.Targets[tc.id].Type(), tc.up, tc.hadRun, tc.retry, got, tc.want)
		}
	}
}
