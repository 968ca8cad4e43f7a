package check

import (
	"context"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/vigil-ha/vigil/internal/check/checktest"
)

// loopProbe runs one probe of conn on a fresh event loop, due at once, and
// returns its result and how long it took to arrive.
func loopProbe(t *testing.T, conn Conn, timeout time.Duration) (Result, time.Duration) {
	t.Helper()
	results := make(chan Result, 1)
	s, err := NewScheduler([]Target{{Name: "rs", Checker: NewTCP(conn), Policy: PolicyTCP,
		Timing: Timing{DelayLoop: time.Hour, DelayBeforeRetry: time.Hour, Timeout: timeout}}},
		SchedulerOptions{OnResult: func(_ int, r Result) { results <- r }})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.entries[0].due = start
	l, err := newTCPLoop(s, s.entries)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != context.Canceled {
			t.Errorf("event loop run = %v, want context.Canceled", err)
		}
	}()
	select {
	case r := <-results:
		return r, time.Since(start)
	case err := <-done:
		t.Fatalf("event loop ended before the probe: %v", err)
	case <-time.After(timeout + 5*time.Second):
		t.Fatalf("no result within %v", timeout+5*time.Second)
	}
	return Result{}, 0
}

// peerListener accepts on loopback and sends each connection's remote
// address on the returned channel.
func peerListener(t *testing.T) (netip.AddrPort, <-chan netip.AddrPort) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	peers := make(chan netip.AddrPort, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case peers <- c.RemoteAddr().(*net.TCPAddr).AddrPort():
			default:
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().(*net.TCPAddr).AddrPort(), peers
}

// stalledAddr returns a loopback address whose connects go unanswered: a
// listener with a backlog of 0 whose queue the test fills.
func stalledAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	addr := tinyBacklogListener(t)
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for range 64 {
		c, err := net.DialTimeout("tcp", addr.String(), 100*time.Millisecond)
		if err != nil {
			return addr
		}
		held = append(held, c)
	}
	t.Skip("could not fill the listen backlog; connect timeout not testable here")
	return addr
}

func closedAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	return a
}

func TestTCPEventLoopVerdicts(t *testing.T) {
	open, peers := peerListener(t)
	closed := closedAddr(t)
	quiet := listenNoAccept(t)
	src2 := netip.MustParseAddr("127.0.0.2")
	srcPort := uint16(checktest.FreePort(t))
	tests := []struct {
		name    string
		conn    Conn
		timeout time.Duration
		ok      bool
		reason  string
		// within bounds how long the verdict may take.
		min, max time.Duration
		// peer, when valid, is the source address the listener must see.
		peer netip.AddrPort
		// sameAsCheck: TCP.Check words the verdict the same.
		sameAsCheck bool
	}{
		{name: "open port passes", conn: Conn{Addr: open}, timeout: 2 * time.Second, ok: true,
			reason: "TCP connection to " + open.String() + " success", max: time.Second, sameAsCheck: true},
		{name: "closed port fails fast", conn: Conn{Addr: closed}, timeout: 2 * time.Second,
			reason: "TCP connection to " + closed.String() + " failed: connect: dial tcp " + closed.String() + ": connect: connection refused",
			max:    time.Second, sameAsCheck: true},
		{name: "bindto and bind_port are the source", conn: Conn{Addr: open, BindTo: src2, BindPort: srcPort}, timeout: 2 * time.Second,
			ok: true, reason: "success", max: time.Second, peer: netip.AddrPortFrom(src2, srcPort)},
		{name: "bindto alone", conn: Conn{Addr: open, BindTo: src2}, timeout: 2 * time.Second,
			ok: true, reason: "success", max: time.Second, peer: netip.AddrPortFrom(src2, 0)},
		{name: "bindto of the wrong family", conn: Conn{Addr: open, BindTo: netip.MustParseAddr("::1")}, timeout: 2 * time.Second,
			reason: "bindto ::1 is not of the family of 127.0.0.1", max: time.Second},
		{name: "bind_if lo", conn: Conn{Addr: open, BindIf: "lo"}, timeout: 2 * time.Second, ok: true,
			reason: "success", max: time.Second, sameAsCheck: true},
		{name: "bind_if that does not exist", conn: Conn{Addr: open, BindIf: "vigil-nope0"}, timeout: 2 * time.Second,
			reason: "bind_if vigil-nope0", max: time.Second, sameAsCheck: true},
		{name: "fwmark", conn: Conn{Addr: open, FWMark: 7}, timeout: 2 * time.Second, ok: true,
			reason: "success", max: time.Second, sameAsCheck: true},
		// The handshake is the kernel's: a server that never calls
		// accept still passes, as with keepalived.
		{name: "listener that never accepts passes", conn: Conn{Addr: quiet}, timeout: 2 * time.Second, ok: true,
			reason: "TCP connection to " + quiet.String() + " success", max: time.Second, sameAsCheck: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for len(peers) > 0 {
				<-peers // from an earlier case
			}
			r, took := loopProbe(t, tc.conn, tc.timeout)
			if r.OK != tc.ok || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("event loop verdict = %+v, want OK=%v with %q", r, tc.ok, tc.reason)
			}
			if took < tc.min || took > tc.max {
				t.Errorf("verdict after %v, want within [%v, %v]", took, tc.min, tc.max)
			}
			if r.Latency <= 0 || r.Latency > took {
				t.Errorf("Latency = %v, want in (0, %v]", r.Latency, took)
			}
			if tc.peer.IsValid() {
				// An earlier case's connection (TCP.Check's, from
				// 127.0.0.1) may reach the listener's accept only now:
				// the probe's is the one from the configured source.
				var seen []netip.AddrPort
				timeout := time.After(5 * time.Second)
			wait:
				for {
					select {
					case p := <-peers:
						if p.Addr() == tc.peer.Addr() && (tc.peer.Port() == 0 || p.Port() == tc.peer.Port()) {
							break wait
						}
						seen = append(seen, p)
					case <-timeout:
						t.Errorf("listener saw no probe from %v within 5 s (saw %v)", tc.peer, seen)
						break wait
					}
				}
			}
			if tc.sameAsCheck {
				want := NewTCP(tc.conn).Check(ctxTimeout(t, tc.timeout))
				if diff := cmp.Diff(want.Reason, r.Reason); want.OK != r.OK || diff != "" {
					t.Errorf("event loop and TCP.Check disagree: OK %v vs %v, reason (-Check +loop):\n%s", want.OK, r.OK, diff)
				}
			}
		})
	}
}

// TestTCPEventLoopConnectTimeout: a SYN that goes unanswered ends at
// connect_timeout, worded as TCP.Check words it.
func TestTCPEventLoopConnectTimeout(t *testing.T) {
	addr := stalledAddr(t)
	for _, timeout := range []time.Duration{200 * time.Millisecond, 600 * time.Millisecond} {
		r, took := loopProbe(t, Conn{Addr: addr}, timeout)
		if want := "TCP connection to " + addr.String() + " failed: Timeout connect"; r.OK || r.Reason != want {
			t.Errorf("timeout %v: verdict %+v, want %q", timeout, r, want)
		}
		if r.Latency < timeout || took > timeout+300*time.Millisecond {
			t.Errorf("timeout %v: verdict after %v (latency %v), want at the timeout", timeout, took, r.Latency)
		}
	}
}

// TestSchedulerTCPRetryTiming: TCP_CHECK's retry and delay_before_retry
// timing (check_tcp.c tcp_epilog) is the same on the event loop as on the
// worker pool. Each probe starts its delay after the previous one ends.
func TestSchedulerTCPRetryTiming(t *testing.T) {
	open, _ := peerListener(t)
	closed := closedAddr(t)
	const (
		loop  = 300 * time.Millisecond
		retry = 100 * time.Millisecond
		run   = 2300 * time.Millisecond // 1 s bootstrap, then ~1.3 s
	)
	tests := []struct {
		name   string
		addr   netip.AddrPort
		gaps   []time.Duration // delay before each probe after the first
		events []Event
	}{
		// Failing: down at once (retries start used up), then a
		// retry after each delay_loop.
		{"closed port", closed, []time.Duration{loop, retry, loop, retry, loop, retry},
			[]Event{{Up: false, Changed: true}}},
		{"open port", open, []time.Duration{loop, loop, loop, loop},
			[]Event{{Up: true}}},
	}
	for _, tc := range tests {
		for _, onLoop := range []bool{true, false} {
			name := tc.name + "/pool"
			if onLoop {
				name = tc.name + "/loop"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				tcp := NewTCP(Conn{Addr: tc.addr})
				var c Checker
				var log *probeLog
				if onLoop {
					r := &recordingConnector{Connector: tcp}
					c, log = r, &r.probeLog
				} else {
					r := &recording{Checker: tcp}
					c, log = r, &r.probeLog
				}
				var events []Event
				s, err := NewScheduler([]Target{{Name: "rs", Checker: c, Policy: PolicyTCP,
					Timing: Timing{DelayLoop: loop, DelayBeforeRetry: retry, Retry: 1, Timeout: time.Second}}},
					SchedulerOptions{Rand: func() float64 { return 0 }, OnEvent: func(e Event) { events = append(events, e) }})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(t.Context(), run)
				defer cancel()
				if err := s.Run(ctx); err != context.DeadlineExceeded {
					t.Fatalf("Run = %v", err)
				}
				n := min(len(log.starts), len(tc.gaps)+1)
				if n < len(tc.gaps) {
					t.Fatalf("%d probes, want at least %d", len(log.starts), len(tc.gaps))
				}
				for i := 1; i < n; i++ {
					gap := log.starts[i].Sub(log.ends[i-1])
					if want := tc.gaps[i-1]; gap < want-time.Millisecond || gap > want+60*time.Millisecond {
						t.Errorf("probe %d started %v after probe %d ended, want %v", i, gap, i-1, want)
					}
				}
				for i := range events {
					events[i].Result = Result{}
					events[i].Name = ""
				}
				if diff := cmp.Diff(tc.events, events); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count descriptors: %v", err)
	}
	return len(ents)
}

// listenNoAccept listens on loopback with a large backlog and never
// accepts: connects complete without any descriptor in this process.
func listenNoAccept(t *testing.T) netip.AddrPort { return rawListener(t, 4096) }

// TestSchedulerTCPLoopStopClosesEverything: cancelling Run while connects
// are in flight closes every socket and the loop's own descriptors, and
// leaves no goroutine; while running, the TCP_CHECKs need no goroutine of
// their own.
func TestSchedulerTCPLoopStopClosesEverything(t *testing.T) {
	stalled := stalledAddr(t)
	quiet := listenNoAccept(t)
	closed := closedAddr(t)
	var targets []Target
	for i := range 60 {
		addr := []netip.AddrPort{stalled, quiet, closed}[i%3]
		targets = append(targets, Target{Checker: NewTCP(Conn{Addr: addr}), Policy: PolicyTCP,
			Timing: Timing{DelayLoop: 20 * time.Millisecond, DelayBeforeRetry: 10 * time.Millisecond, Retry: 1, Timeout: time.Minute}})
	}
	var mu sync.Mutex
	results := 0
	s, err := NewScheduler(targets, SchedulerOptions{Rand: func() float64 { return 0 }, OnResult: func(int, Result) {
		mu.Lock()
		results++
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	fds, goroutines := openFDs(t), runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()

	// Wait until the loop has sent many verdicts and holds the stalled
	// connects open: 20 of them, plus the epoll set and the eventfd.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := results
		mu.Unlock()
		open := openFDs(t) - fds
		if n >= 200 && open >= 22 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %d results, %d more descriptors open; want 200 and 22", n, open)
		}
		time.Sleep(10 * time.Millisecond) // polling the loop's progress
	}
	if n := runtime.NumGoroutine(); n > goroutines+1 {
		t.Errorf("%d goroutines while the loop runs 60 TCP_CHECKs, want at most %d (the one calling Run)", n, goroutines+1)
	}
	cancel()
	select {
	case err := <-done:
		if err != context.Canceled {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of cancel")
	}
	if n := openFDs(t); n != fds {
		t.Errorf("%d descriptors open after Run, want %d as before", n, fds)
	}
	waitGoroutines(t, goroutines)
}

// TestSchedulerMixedRunsBothLoops: TCP_CHECKs on the event loop and other
// checkers on the worker pool run side by side, and stop together.
func TestSchedulerMixedRunsBothLoops(t *testing.T) {
	open, _ := peerListener(t)
	var mu sync.Mutex
	seen := map[int]int{}
	tm := Timing{DelayLoop: 50 * time.Millisecond, Timeout: time.Second}
	targets := []Target{
		{Checker: NewTCP(Conn{Addr: open}), Policy: PolicyTCP, Timing: tm},
		{Checker: CheckerFunc(func(context.Context) Result { return Result{OK: true} }), Policy: PolicyMisc, Timing: tm},
	}
	before := runtime.NumGoroutine()
	s, err := NewScheduler(targets, SchedulerOptions{Rand: func() float64 { return 0 }, OnResult: func(id int, r Result) {
		mu.Lock()
		seen[id]++
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != context.DeadlineExceeded {
		t.Fatalf("Run = %v, want deadline exceeded", err)
	}
	if seen[0] < 3 || seen[1] < 3 {
		t.Errorf("probes per target = %v, want at least 3 each (500 ms at 50 ms)", seen)
	}
	waitGoroutines(t, before)
}

// TestEpollReportsConnectOutcome pins down the kernel behaviour that lets
// the event loop skip getsockopt(SO_ERROR) on a plain EPOLLOUT: for a
// non-blocking TCP connect, epoll reports EPOLLOUT without EPOLLERR or
// EPOLLHUP exactly when SO_ERROR reads 0, whatever the server did after
// accepting; any error, even after the handshake, comes with EPOLLERR.
func TestEpollReportsConnectOutcome(t *testing.T) {
	closed := closedAddr(t)
	tests := []struct {
		name string
		// server, when set, is given the accepted connection and says
		// whether it closed it.
		server    func(t *testing.T, fd int) (closed bool)
		addr      netip.AddrPort // when set, connect here instead
		plainOut  bool           // EPOLLOUT without EPOLLERR or EPOLLHUP
		soError   unix.Errno
		wantEvent uint32 // bits that must be set
		eof       bool   // the server's FIN has arrived: read returns 0
	}{
		{name: "established", server: func(*testing.T, int) bool { return false }, plainOut: true, wantEvent: unix.EPOLLOUT},
		{name: "server closed (FIN)", server: func(_ *testing.T, fd int) bool { return unix.Close(fd) == nil },
			plainOut: true, wantEvent: unix.EPOLLOUT, eof: true},
		{name: "server reset (RST)", server: func(t *testing.T, fd int) bool {
			if err := unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
				t.Fatal(err)
			}
			return unix.Close(fd) == nil
		}, soError: unix.ECONNRESET, wantEvent: unix.EPOLLERR | unix.EPOLLHUP},
		{name: "refused", addr: closed, soError: unix.ECONNREFUSED, wantEvent: unix.EPOLLERR | unix.EPOLLHUP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr
			var lfd int
			if !addr.IsValid() {
				addr, lfd = rawListenerFD(t, 16)
			}
			epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(epfd)
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			err = unix.Connect(fd, &unix.SockaddrInet4{Addr: addr.Addr().As4(), Port: int(addr.Port())})
			if err != nil && err != unix.EINPROGRESS && err != unix.ECONNREFUSED {
				t.Fatalf("connect: %v", err)
			}
			if tc.server != nil {
				// The handshake is done once accept returns.
				sfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
				if err != nil {
					t.Fatalf("accept: %v", err)
				}
				if !tc.server(t, sfd) {
					defer unix.Close(sfd)
				}
				if tc.eof || tc.soError != 0 {
					// Wait for the server's FIN or RST to arrive.
					pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN | unix.POLLRDHUP}}
					if n, err := unix.Poll(pfd, 5000); n != 1 || err != nil {
						t.Fatalf("poll for the server's FIN or RST = %d, %v", n, err)
					}
				}
			}
			ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT}
			if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
				t.Fatal(err)
			}
			evs := make([]unix.EpollEvent, 1)
			n, err := unix.EpollWait(epfd, evs, 5000)
			if err != nil || n != 1 {
				t.Fatalf("epoll_wait = %d, %v; want one event", n, err)
			}
			got := evs[0].Events
			soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
			if err != nil {
				t.Fatal(err)
			}
			plain := got&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == unix.EPOLLOUT
			if plain != tc.plainOut || got&tc.wantEvent != tc.wantEvent || unix.Errno(soerr) != tc.soError {
				t.Errorf("events %#x (plain EPOLLOUT %v), SO_ERROR %v; want bits %#x, plain EPOLLOUT %v, SO_ERROR %v",
					got, plain, unix.Errno(soerr), tc.wantEvent, tc.plainOut, tc.soError)
			}
			if tc.eof {
				if n, err := unix.Read(fd, make([]byte, 1)); n != 0 || err != nil {
					t.Errorf("read = %d, %v; want 0 (the FIN arrived before epoll_wait)", n, err)
				}
			}
		})
	}
}

// TestTCPEventLoopFollowsBeginConnect: when BeginConnect returns another
// connection (a wrapper may), the probe goes there and its verdict names
// it; the loop's cached addresses and wording do not linger.
func TestTCPEventLoopFollowsBeginConnect(t *testing.T) {
	open, _ := peerListener(t)
	open2 := listenNoAccept(t)
	closed := closedAddr(t)
	c := &switching{TCP: NewTCP(Conn{Addr: open}), conns: []Conn{{Addr: open}, {Addr: closed}, {Addr: open2}, {Addr: open}}}
	results := make(chan Result, len(c.conns))
	s, err := NewScheduler([]Target{{Name: "rs", Checker: c, Policy: PolicyTCP,
		Timing: Timing{DelayLoop: 10 * time.Millisecond, DelayBeforeRetry: 10 * time.Millisecond, Retry: 1, Timeout: 2 * time.Second}}},
		SchedulerOptions{Rand: func() float64 { return 0 }, OnResult: func(_ int, r Result) {
			select {
			case results <- r:
			default: // past the four this test reads
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.entries[0].due = time.Now()
	l, err := newTCPLoop(s, s.entries)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.run(ctx) }()
	var got []Result
	for range c.conns {
		select {
		case r := <-results:
			got = append(got, r)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d results after 10 s", len(got))
		}
	}
	cancel()
	<-done
	for i, r := range got {
		addr := c.conns[i].Addr
		want := NewTCP(Conn{Addr: addr}).Check(ctxTimeout(t, 2*time.Second))
		if r.OK != want.OK || r.Reason != want.Reason {
			t.Errorf("probe %d to %v: OK %v %q, want as TCP.Check: OK %v %q", i, addr, r.OK, r.Reason, want.OK, want.Reason)
		}
	}
}

// switching is a TCP_CHECK whose BeginConnect hands out conns in turn.
type switching struct {
	*TCP
	conns []Conn
	n     int
}

func (c *switching) BeginConnect() Conn {
	conn := c.conns[c.n%len(c.conns)]
	c.n++
	return conn
}

// TestTCPEventLoopProbeAllocatesNothing: once a target's addresses are
// resolved, a probe (socket to verdict, tracker and OnResult) allocates
// nothing, so ten thousand probes a second make no garbage.
func TestTCPEventLoopProbeAllocatesNothing(t *testing.T) {
	addr := listenNoAccept(t)
	ok := 0
	s, err := NewScheduler([]Target{{Name: "rs", Checker: NewTCP(Conn{Addr: addr}), Policy: PolicyTCP,
		Timing: Timing{DelayLoop: time.Hour, DelayBeforeRetry: time.Hour, Retry: 1, Timeout: 5 * time.Second}}},
		SchedulerOptions{OnResult: func(_ int, r Result) {
			if r.OK {
				ok++
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.entries[0].due = time.Now()
	l, err := newTCPLoop(s, s.entries)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	const runs = 50
	allocs := testing.AllocsPerRun(runs, func() {
		l.h.fix(0, time.Now()) // due again at once, not in an hour
		l.due(time.Now())
		for l.targets[0].fd >= 0 {
			n, err := l.wait()
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range l.events[:n] {
				l.event(ev, time.Now())
			}
		}
	})
	if ok != runs+1 { // AllocsPerRun runs once more to warm up
		t.Fatalf("%d of %d probes passed", ok, runs+1)
	}
	if allocs != 0 {
		t.Errorf("a probe allocates %v times, want 0", allocs)
	}
}
