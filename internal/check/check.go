package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// Checker performs one probe of a real server. The probe must give up when
// ctx is done; the caller puts the checker's timeout (connect_timeout,
// misc_timeout) into ctx. Check must be safe to call from one goroutine at a
// time; the Scheduler never runs two probes of the same checker at once.
type Checker interface {
	Check(ctx context.Context) Result
}

// Result is the outcome of one probe.
type Result struct {
	// OK reports whether the probe succeeded.
	OK bool
	// Reason says why the probe failed (or, on success, what passed), in
	// words close to keepalived's log lines.
	Reason string
	// Weight is set only by MISC_CHECK with misc_dynamic when the script
	// exited with 2..255: the real server's weight becomes code-2.
	Weight *int
	// Latency is how long the probe took.
	Latency time.Duration
}

func fail(start time.Time, format string, args ...any) Result {
	return Result{Reason: fmt.Sprintf(format, args...), Latency: time.Since(start)}
}

func pass(start time.Time, reason string) Result {
	return Result{OK: true, Reason: reason, Latency: time.Since(start)}
}

// Conn holds keepalived's generic connection options of a checker block.
// The daemon resolves the defaults: Addr is connect_ip/connect_port, or the
// real server's address and port when those are not set.
type Conn struct {
	// Addr is where to connect (connect_ip, connect_port).
	Addr netip.AddrPort
	// BindTo is the source address (bindto); zero means the kernel chooses.
	BindTo netip.Addr
	// BindPort is the source port (bind_port); zero means any.
	BindPort uint16
	// BindIf is the interface to bind to (bind_if), needed for an IPv6
	// link-local BindTo.
	BindIf string
	// FWMark marks the checker's packets (fwmark); zero means none.
	FWMark uint32
}

// errSockOpt is returned when the platform cannot apply bind_if or fwmark.
var errSockOpt = errors.New("socket option not supported on this platform")

// dialer builds a net.Dialer that applies bindto, bind_port, bind_if and
// fwmark. The connect timeout comes from ctx, so the dialer sets none.
func (c Conn) dialer(network string) *net.Dialer {
	// No TCP keep-alive: probes are short-lived, keepalived sets none, and
	// Go's default costs four setsockopt calls per connection.
	d := &net.Dialer{KeepAlive: -1}
	if c.BindTo.IsValid() || c.BindPort != 0 {
		ip := c.BindTo
		zone := c.BindIf
		if !ip.Is6() || !ip.IsLinkLocalUnicast() {
			zone = ""
		}
		if ip.IsValid() && zone != "" {
			ip = ip.WithZone(zone)
		}
		switch network {
		case "udp":
			d.LocalAddr = &net.UDPAddr{IP: ip.AsSlice(), Port: int(c.BindPort), Zone: ip.Zone()}
		default:
			d.LocalAddr = &net.TCPAddr{IP: ip.AsSlice(), Port: int(c.BindPort), Zone: ip.Zone()}
		}
		if !ip.IsValid() {
			// Port only: let the kernel pick the address of the right family.
			switch network {
			case "udp":
				d.LocalAddr = &net.UDPAddr{Port: int(c.BindPort)}
			default:
				d.LocalAddr = &net.TCPAddr{Port: int(c.BindPort)}
			}
		}
	}
	if c.BindIf != "" || c.FWMark != 0 {
		d.Control = sockControl(c.BindIf, c.FWMark)
	}
	return d
}

// dial connects to c.Addr over network ("tcp" or "udp"); ctx bounds the
// connect. When ctx is done the returned connection's I/O is unblocked too,
// so callers need no per-read deadline of their own.
func (c Conn) dial(ctx context.Context, network string) (net.Conn, error) {
	addr := c.Addr
	if addr.Addr().Is6() && addr.Addr().IsLinkLocalUnicast() && addr.Addr().Zone() == "" && c.BindIf != "" {
		addr = netip.AddrPortFrom(addr.Addr().WithZone(c.BindIf), addr.Port())
	}
	conn, err := c.dialer(network).DialContext(ctx, network, addr.String())
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	return conn, nil
}

// watch makes conn's blocked reads and writes return when ctx is cancelled
// (a deadline in ctx is already on the connection). The returned stop must be
// called when the probe is finished.
func watch(ctx context.Context, conn net.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
}

// timeoutOr classifies an I/O error the way keepalived words it: a timeout
// (connect_timeout reached) or the error itself.
func timeoutOr(ctx context.Context, err error, what string) string {
	var ne net.Error
	if ctx.Err() != nil || (errors.As(err, &ne) && ne.Timeout()) {
		return "Timeout " + what
	}
	return fmt.Sprintf("%s: %v", what, err)
}

// CheckerFunc adapts a function to Checker.
type CheckerFunc func(ctx context.Context) Result

// Check calls f.
func (f CheckerFunc) Check(ctx context.Context) Result { return f(ctx) }
