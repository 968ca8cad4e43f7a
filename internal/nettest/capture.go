package nettest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// Capture records the Ethernet frames seen on one interface of a lab host,
// sent and received, from an AF_PACKET socket opened inside the namespace.
// The socket is open when StartCapture returns, so nothing sent after that
// is missed.
type Capture struct {
	host   *Host
	ifname string
	match  func(frame []byte) bool

	conn *packet.Conn
	done chan struct{}

	mu      sync.Mutex
	frames  [][]byte
	changed chan struct{}
	err     error
}

// StartCapture starts capturing on ifname in h. Only frames for which match
// returns true are kept (nil keeps all). The capture stops in t.Cleanup.
func StartCapture(t testing.TB, h *Host, ifname string, match func(frame []byte) bool) *Capture {
	t.Helper()
	c := &Capture{host: h, ifname: ifname, match: match, done: make(chan struct{}), changed: make(chan struct{})}
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		c.conn, err = packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, nil)
		return err
	})
	if err != nil {
		t.Fatalf("StartCapture on %s in %s: %v", ifname, h.Name, err)
	}
	go c.loop()
	t.Cleanup(func() {
		_ = c.conn.Close()
		<-c.done
	})
	return c
}

func (c *Capture) loop() {
	defer close(c.done)
	buf := make([]byte, 65536)
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			c.mu.Lock()
			if !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrClosed) {
				c.err = err
			}
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
			return
		}
		f := buf[:n]
		if c.match != nil && !c.match(f) {
			continue
		}
		c.mu.Lock()
		c.frames = append(c.frames, append([]byte(nil), f...))
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}
}

// Frames returns the frames kept so far.
func (c *Capture) Frames() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.frames...)
}

// Wait waits until at least n frames have been kept and returns them all.
// On timeout it returns the frames seen and an error.
func (c *Capture) Wait(n int, timeout time.Duration) ([][]byte, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		got, changed, err := append([][]byte(nil), c.frames...), c.changed, c.err
		c.mu.Unlock()
		if len(got) >= n {
			return got, nil
		}
		if err != nil {
			return got, fmt.Errorf("capture on %s in %s: %w", c.ifname, c.host.Name, err)
		}
		select {
		case <-changed:
		case <-c.done:
			c.mu.Lock()
			got = append([][]byte(nil), c.frames...)
			c.mu.Unlock()
			if len(got) >= n {
				return got, nil
			}
			return got, fmt.Errorf("capture on %s in %s closed after %d of %d frames", c.ifname, c.host.Name, len(got), n)
		case <-timer.C:
			return got, fmt.Errorf("capture on %s in %s: %d of %d frames within %v", c.ifname, c.host.Name, len(got), n, timeout)
		}
	}
}
