//go:build !linux

package check

import (
	"context"
	"errors"
)

// tcpLoop is the TCP_CHECK event loop, which exists on Linux only: here
// the Scheduler's workers run TCP_CHECKs through TCP.Check.
type tcpLoop struct{}

func newTCPLoop(*Scheduler, []*entry) (*tcpLoop, error) {
	return nil, errors.New("TCP_CHECK event loop: Linux only")
}

func (*tcpLoop) run(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}
