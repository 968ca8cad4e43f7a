package check

import (
	"context"
	"time"
)

// TCP is TCP_CHECK: the server is up when a TCP connection to it completes
// within the timeout. The connection is closed straight away.
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
		return fail(start, "TCP connection to %s failed: %s", t.Conn.Addr, timeoutOr(ctx, err, "connect"))
	}
	_ = c.Close()
	return pass(start, "TCP connection to "+t.Conn.Addr.String()+" success")
}
