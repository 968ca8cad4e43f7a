package check

import (
	"crypto/x509"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// listenTCP starts a loopback listener that accepts and closes connections
// until the test ends; it returns its address.
func listenTCP(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func x509NewPool() *x509.CertPool { return x509.NewCertPool() }

// tinyBacklogListener listens on loopback with a backlog of 0 and never
// accepts, so once its queue is full further SYNs go unanswered.
func tinyBacklogListener(t *testing.T) netip.AddrPort { return rawListener(t, 0) }

// rawListener listens on a loopback port with backlog and never accepts.
func rawListener(t *testing.T, backlog int) netip.AddrPort {
	t.Helper()
	addr, _ := rawListenerFD(t, backlog)
	return addr
}

// rawListenerFD is rawListener, returning the listening socket too (for
// the test to accept on); it is closed when the test ends.
func rawListenerFD(t *testing.T, backlog int) (netip.AddrPort, int) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sa.(*unix.SockaddrInet4).Port)), fd
}
