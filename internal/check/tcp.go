package check

import (
	"context"
	"net/netip"
	"time"
)

// TCP is TCP_CHECK: the server is up when a TCP connection to it completes
// within the timeout. The connection is closed straight away.
//
// TCP is a Connector: under a Scheduler its probes run on the scheduler's
// event loop (Linux) rather than on a worker goroutine each. Check, for a
// probe on its own, dials through the Go runtime.
type TCP struct {
	Conn Conn
}

// NewTCP returns a TCP_CHECK for conn.
func NewTCP(conn Conn) *TCP { return &TCP{Conn: conn} }

// Check connects once.
func (t *TCP) Check(ctx context.Context) Result {
	start := time.Now()
	c, err := t.Conn.dial(ctx, "tcp")
	if err != nil {
		return tcpResult(t.Conn.Addr, start, time.Now(), timeoutOr(ctx, err, "connect"))
	}
	_ = c.Close()
	return tcpResult(t.Conn.Addr, start, time.Now(), "")
}

// BeginConnect returns the connection to open; it is TCP's side of
// Connector.
func (t *TCP) BeginConnect() Conn { return t.Conn }

// EndConnect returns r unchanged; it is TCP's side of Connector.
func (t *TCP) EndConnect(r Result) Result { return r }

// Connector is a Checker whose whole probe is a TCP connect that is closed
// as soon as it completes: TCP_CHECK. The Scheduler runs a Connector's
// probes on its event loop, a non-blocking connect each, instead of calling
// Check on a worker goroutine. The loop calls BeginConnect when a probe
// starts, for the connection to open, and EndConnect with the probe's
// result (as Check would have returned it), reporting what EndConnect
// returns. Both are called on the loop's goroutine, never at the same time
// for one checker, and must not block. A wrapper (metrics, tests) keeps its
// checker on the loop by implementing Connector through the wrapped one.
type Connector interface {
	Checker
	BeginConnect() Conn
	EndConnect(r Result) Result
}

// tcpResult is TCP_CHECK's verdict on a connect to addr between start and
// end; failure is empty on success, else why the connect failed (as
// timeoutOr words it).
func tcpResult(addr netip.AddrPort, start, end time.Time, failure string) Result {
	return Result{OK: failure == "", Reason: tcpReason(addr, failure), Latency: end.Sub(start)}
}

// tcpReason words tcpResult's Reason.
func tcpReason(addr netip.AddrPort, failure string) string {
	if failure != "" {
		return "TCP connection to " + addr.String() + " failed: " + failure
	}
	return "TCP connection to " + addr.String() + " success"
}
