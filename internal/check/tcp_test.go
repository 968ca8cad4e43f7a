package check

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/check/checktest"
)

func TestTCPCheck(t *testing.T) {
	open := listenTCP(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()

	tests := []struct {
		name   string
		conn   Conn
		ok     bool
		reason string
	}{
		{"open port", Conn{Addr: open}, true, "success"},
		{"closed port", Conn{Addr: closed}, false, "connection refused"},
		{"bindto and bind_port", Conn{Addr: open, BindTo: netip.MustParseAddr("127.0.0.1"), BindPort: uint16(checktest.FreePort(t))}, true, "success"},
		{"bindto of the wrong family", Conn{Addr: open, BindTo: netip.MustParseAddr("::1")}, false, "failed"},
		{"bind_if lo", Conn{Addr: open, BindIf: "lo"}, true, "success"},
		{"bind_if that does not exist", Conn{Addr: open, BindIf: "vigil-nope0"}, false, "bind_if vigil-nope0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewTCP(tc.conn).Check(ctxTimeout(t, 2*time.Second))
			if r.OK != tc.ok || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("Check = %+v, want OK=%v with %q", r, tc.ok, tc.reason)
			}
		})
	}
}

// TestTCPCheckConnectTimeout uses a listener whose backlog is full, so the
// SYN goes unanswered and the connect can only end by the timeout in ctx.
func TestTCPCheckConnectTimeout(t *testing.T) {
	addr := tinyBacklogListener(t)
	// Fill the accept queue (never accepted) until a connect stalls.
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	stalled := false
	for range 64 {
		c, err := net.DialTimeout("tcp", addr.String(), 100*time.Millisecond)
		if err != nil {
			stalled = true
			break
		}
		held = append(held, c)
	}
	if !stalled {
		t.Skip("could not fill the listen backlog; connect timeout not testable here")
	}
	start := time.Now()
	r := NewTCP(Conn{Addr: addr}).Check(ctxTimeout(t, 300*time.Millisecond))
	el := time.Since(start)
	if r.OK || !strings.Contains(r.Reason, "Timeout connect") {
		t.Errorf("Check = %+v, want a connect timeout", r)
	}
	if el < 250*time.Millisecond || el > 2*time.Second {
		t.Errorf("Check took %v, want about the 300ms timeout", el)
	}
}
