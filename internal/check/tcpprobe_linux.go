package check

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tcpLoop runs the TCP_CHECKs (Connectors) of a Scheduler on one goroutine,
// the one calling run, the way keepalived's checker process does: a timer
// heap, and for each due probe a non-blocking socket and connect watched by
// epoll (EPOLLOUT, one-shot) until writable or connect_timeout. A thousand
// checks cost a thousand short-lived sockets, no goroutine and no timer
// each.
type tcpLoop struct {
	s       *Scheduler
	epfd    int
	wakefd  int // eventfd: written once ctx is done
	targets []*tcpTarget
	h       *timerHeap // of targets by slot
	events  []unix.EpollEvent
}

// tcpTarget is one Connector's state on the loop.
type tcpTarget struct {
	e *entry
	// slot is t's index in tcpLoop.targets, its id in the loop's heap
	// (where it is due when its next probe starts or, while fd is open,
	// when the connect in flight times out) and in its epoll events.
	slot  int
	fd    int // the connect in flight, -1 when none
	gen   int32
	start time.Time
	conn  Conn
	// The socket addresses of conn, resolved once while conn does not
	// change (BeginConnect normally returns the same Conn every time).
	resolved bool
	family   int
	src      unix.Sockaddr
	addrErr  error // why conn cannot be resolved
	// The verdicts on conn.Addr that probes share, made once: success
	// and connect_timeout.
	okReason, timeoutReason string
	// The destination in the kernel's form, for rawConnect: dstPtr
	// points at dst4 or dst6.
	dst4   unix.RawSockaddrInet4
	dst6   unix.RawSockaddrInet6
	dstPtr unsafe.Pointer
	dstLen uintptr
}

// yieldEvery is how often the loop goroutine passes through the Go
// scheduler. It never blocks in Go (its probes' system calls are raw, and
// epoll_wait returns by itself), so to sysmon it is one goroutine running
// for ever: every 10 ms sysmon preempts it with a signal or, when it is in
// epoll_wait, takes its P away, and after each P it takes sysmon polls
// every 20 µs for a while. At 10,000 probes a second that was 1,400 sysmon
// wakeups and 50 signals a second, 3% of the process's CPU; yielding well
// within the 10 ms leaves sysmon its 100 wakeups a second, for a yield
// (and the runtime's wakeup of an idle thread that comes with it) 200
// times a second.
const yieldEvery = 5 * time.Millisecond

// wakeData marks the eventfd's epoll events; targets use their index.
const wakeData = -1

// newTCPLoop makes the loop's epoll set and wakeup eventfd for entries,
// whose first due times are set. Its goroutine is whoever calls run.
func newTCPLoop(s *Scheduler, entries []*entry) (*tcpLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("TCP_CHECK event loop: %w", os.NewSyscallError("epoll_create1", err))
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("TCP_CHECK event loop: %w", os.NewSyscallError("eventfd", err))
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeData}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, fmt.Errorf("TCP_CHECK event loop: %w", os.NewSyscallError("epoll_ctl", err))
	}
	l := &tcpLoop{s: s, epfd: epfd, wakefd: wakefd, events: make([]unix.EpollEvent, 256)}
	l.h = newTimerHeap(len(entries), time.Now())
	l.targets = make([]*tcpTarget, len(entries))
	for i, e := range entries {
		l.targets[i] = &tcpTarget{e: e, fd: -1, slot: i}
		l.h.push(i, e.due)
	}
	return l, nil
}

// run probes until ctx is done, then closes every socket, the eventfd and
// the epoll set and returns ctx's error. It returns early only if
// epoll_wait fails, which it does not for a valid epoll set.
func (l *tcpLoop) run(ctx context.Context) error {
	woken := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(woken)
		var one [8]byte
		one[0] = 1 // any non-zero count wakes, whatever the byte order
		_, _ = unix.Write(l.wakefd, one[:])
	})
	defer func() {
		if !stop() {
			// The wakeup is running or has run: let it finish before
			// its descriptor is closed (and perhaps reused).
			<-woken
		}
		l.close()
	}()
	// One clock read per round: probes that start or end in it share it.
	now := time.Now()
	yielded := now
	for {
		if now.Sub(yielded) >= yieldEvery {
			runtime.Gosched()
			yielded = now
		}
		l.due(now)
		n, err := l.wait()
		if err != nil {
			return fmt.Errorf("TCP_CHECK event loop: %w", err)
		}
		now = time.Now()
		for _, ev := range l.events[:n] {
			if ev.Fd == wakeData {
				return ctx.Err()
			}
			l.event(ev, now)
		}
	}
}

// due starts the probes due by now and ends, at connect_timeout, the
// connects in flight since that long. Between two starts it settles what
// has already happened: a connect to a near server (loopback, the LAN)
// has often ended by then, and the next probe of that target is timed
// from its end, as keepalived's are, so the end must not wait behind
// other targets' starts (on a slow machine each start costs a
// millisecond: ten due together would stretch the first one's period by
// ten). Where starts are quick, as on the host at 10,000 probes a
// second, a round ends before that matters and the extra epoll_wait
// would only cost: it is made once settleAfter has passed since the
// round's events were settled.
func (l *tcpLoop) due(now time.Time) {
	// The probes due by now are started; at stands for the time of each
	// start and end, later than now once events were settled between.
	at := now
	for i, ok := l.h.firstDue(now); ok; i, ok = l.h.firstDue(now) {
		t := l.targets[i]
		if t.fd >= 0 {
			l.finish(t, context.DeadlineExceeded, at)
			continue
		}
		if time.Since(at) >= settleAfter {
			at = time.Now()
			n, err := l.poll()
			if err == nil && n > 0 {
				for _, ev := range l.events[:n] {
					if ev.Fd == wakeData {
						// Stopping: run's next wait sees it again (the
						// eventfd stays readable) and returns.
						continue
					}
					l.event(ev, at)
				}
			}
		}
		l.begin(t, at)
	}
}

// settleAfter is how long due may go on starting probes before it
// settles the events of those it started.
const settleAfter = 250 * time.Microsecond

// poll returns the epoll events that are ready, without waiting.
func (l *tcpLoop) poll() (int, error) {
	n, err := unix.EpollWait(l.epfd, l.events, 0)
	if err == unix.EINTR {
		return 0, nil
	}
	return n, err
}

// event settles the probe whose socket epoll reports ready at now.
func (l *tcpLoop) event(ev unix.EpollEvent, now time.Time) {
	if ev.Fd < 0 || int(ev.Fd) >= len(l.targets) {
		return
	}
	t := l.targets[ev.Fd]
	if t.fd < 0 || t.gen != ev.Pad {
		return // not this probe's (cannot happen: the fd was closed)
	}
	if ev.Events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) == unix.EPOLLOUT {
		// Established, with no need to ask SO_ERROR: Linux's tcp_poll
		// reports EPOLLOUT for a connecting socket only once it has
		// left SYN_SENT (we set no TCP_FASTOPEN_CONNECT), and EPOLLERR
		// whenever sk_err, which SO_ERROR returns, is set (or the
		// error queue holds something, which nothing here asks for).
		// epoll_wait polled the socket just now, so SO_ERROR would
		// have read 0 (unless an error arrived since: a race that
		// keepalived's getsockopt, later still, has as well).
		l.finish(t, nil, now)
		return
	}
	// SO_ERROR holds the connect's outcome once the socket is in error
	// (or hung up): 0 means established.
	soerr, err := rawSoError(t.fd)
	switch {
	case err != 0:
		l.finish(t, os.NewSyscallError("getsockopt", err), now)
	case soerr == unix.EINPROGRESS:
		// Spurious wakeup: watch again for what is left.
		ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: ev.Fd, Pad: t.gen}
		if err := rawEpollCtl(l.epfd, unix.EPOLL_CTL_MOD, t.fd, &ev); err != 0 {
			l.finish(t, os.NewSyscallError("epoll_ctl", err), now)
		}
	case soerr != 0:
		l.finish(t, os.NewSyscallError("connect", soerr), now)
	default:
		l.finish(t, nil, now)
	}
}

// wait returns the epoll events that are ready, waiting for one until the
// first target is due; none when it is due. It blocks this goroutine's
// thread in epoll_wait, as keepalived's loop does. (Parking it in the Go
// runtime's poller instead, which can watch an epoll fd, measured worse:
// more CPU and late probes with GOMAXPROCS=1.)
func (l *tcpLoop) wait() (int, error) {
	wait := -1
	if l.h.len() > 0 {
		// Round up: waking early would only spin until due.
		_, due := l.h.first()
		d := time.Until(due)
		wait = int(min((max(d, 0)+time.Millisecond-1)/time.Millisecond, math.MaxInt32))
	}
	n, err := unix.EpollWait(l.epfd, l.events, wait)
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, os.NewSyscallError("epoll_wait", err)
	}
	return n, nil
}

// begin starts a probe of t: socket, options, connect, and either a watch
// for writability or, when the connect ends at once, the verdict.
func (l *tcpLoop) begin(t *tcpTarget, now time.Time) {
	conn := t.e.conn.BeginConnect()
	t.start = now
	if !t.resolved || conn != t.conn {
		t.conn = conn
		t.resolve()
	}
	fd, err := t.connect()
	if err != nil {
		l.finish(t, err, time.Now())
		return
	}
	t.fd = fd
	t.gen++
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(t.slot), Pad: t.gen}
	if err := rawEpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != 0 {
		l.finish(t, os.NewSyscallError("epoll_ctl", err), time.Now())
		return
	}
	l.h.fix(t.slot, now.Add(t.e.timeout()))
}

// finish closes t's socket, if open, and settles the probe, which ended
// at end: err nil is a success, context.DeadlineExceeded connect_timeout.
func (l *tcpLoop) finish(t *tcpTarget, err error, end time.Time) {
	if t.fd >= 0 {
		// No SO_LINGER: keepalived sets a 5 s linger so that close sends
		// a normal FIN, which is also what close does without one, and
		// without one close never blocks this loop waiting for the FIN's
		// ACK. Closing removes the socket from the epoll set.
		rawClose(t.fd)
		t.fd = -1
	}
	var r Result
	switch {
	case err == nil:
		r = Result{OK: true, Reason: t.okReason, Latency: end.Sub(t.start)}
	case errors.Is(err, context.DeadlineExceeded):
		r = Result{Reason: t.timeoutReason, Latency: end.Sub(t.start)}
	default:
		// Worded as TCP.Check's dial error, so the reasons match.
		r = tcpResult(t.conn.Addr, t.start, end, "connect: "+t.dialError(err).Error())
	}
	r = t.e.conn.EndConnect(r)
	l.h.fix(t.slot, l.s.settle(t.e, r, t.start, end))
}

// close ends every connect in flight and releases the loop's descriptors.
func (l *tcpLoop) close() {
	for _, t := range l.targets {
		if t.fd >= 0 {
			unix.Close(t.fd)
			t.fd = -1
		}
	}
	unix.Close(l.wakefd)
	unix.Close(l.epfd)
}

// resolve turns t.conn into socket addresses: the destination, with a
// link-local IPv6 one scoped to bind_if when it has no zone (as Conn.dial
// does), and the bindto/bind_port source.
func (t *tcpTarget) resolve() {
	t.resolved = true
	t.src, t.addrErr, t.dstPtr = nil, nil, nil
	c := t.conn
	t.okReason = tcpReason(c.Addr, "")
	t.timeoutReason = tcpReason(c.Addr, "Timeout connect")
	dst := c.Addr.Addr().Unmap()
	if !c.Addr.IsValid() {
		t.addrErr = fmt.Errorf("invalid address %s", c.Addr)
		return
	}
	zone := dst.Zone()
	if zone == "" && dst.Is6() && dst.IsLinkLocalUnicast() {
		zone = c.BindIf
	}
	if dst.Is4() {
		t.family = unix.AF_INET
		t.dst4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: dst.As4()}
		putPort(&t.dst4.Port, c.Addr.Port())
		t.dstPtr, t.dstLen = unsafe.Pointer(&t.dst4), unsafe.Sizeof(t.dst4)
	} else {
		t.family = unix.AF_INET6
		t.dst6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: dst.As16()}
		putPort(&t.dst6.Port, c.Addr.Port())
		if zone != "" {
			id, err := zoneIndex(zone)
			if err != nil {
				t.addrErr = err
				return
			}
			t.dst6.Scope_id = id
		}
		t.dstPtr, t.dstLen = unsafe.Pointer(&t.dst6), unsafe.Sizeof(t.dst6)
	}
	if !c.BindTo.IsValid() && c.BindPort == 0 {
		return
	}
	src := c.BindTo.Unmap()
	switch {
	case !src.IsValid() && t.family == unix.AF_INET:
		t.src = &unix.SockaddrInet4{Port: int(c.BindPort)}
	case !src.IsValid():
		t.src = &unix.SockaddrInet6{Port: int(c.BindPort)}
	case src.Is4() != (t.family == unix.AF_INET):
		t.addrErr = fmt.Errorf("bindto %s is not of the family of %s", c.BindTo, c.Addr.Addr())
	case src.Is4():
		t.src = &unix.SockaddrInet4{Port: int(c.BindPort), Addr: src.As4()}
	default:
		sa := &unix.SockaddrInet6{Port: int(c.BindPort), Addr: src.As16()}
		if src.IsLinkLocalUnicast() && c.BindIf != "" {
			id, err := zoneIndex(c.BindIf)
			if err != nil {
				t.addrErr = err
				return
			}
			sa.ZoneId = id
		}
		t.src = sa
	}
}

func zoneIndex(zone string) (uint32, error) {
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, fmt.Errorf("bind_if %s: %w", zone, err)
	}
	return uint32(ifi.Index), nil
}

// connect opens a non-blocking socket with t.conn's options (bind_if,
// fwmark, bindto, bind_port: keepalived's socket_bind_connect order) and
// starts connecting. It returns the socket, connecting or (loopback can
// be that quick) connected, for the caller to watch; or why the connect
// failed at once, the socket closed.
func (t *tcpTarget) connect() (int, error) {
	if t.addrErr != nil {
		return -1, t.addrErr
	}
	fd, err := rawSocket(t.family)
	if err != 0 {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := t.options(fd); err != nil {
		rawClose(fd)
		return -1, err
	}
	// 0 is a connect done at once: epoll reports it writable straight
	// away.
	if err := rawConnect(fd, t.dstPtr, t.dstLen); err != 0 && err != unix.EINPROGRESS {
		rawClose(fd)
		return -1, os.NewSyscallError("connect", err)
	}
	return fd, nil
}

func (t *tcpTarget) options(fd int) error {
	c := t.conn
	if c.BindIf != "" {
		if err := unix.BindToDevice(fd, c.BindIf); err != nil {
			return fmt.Errorf("bind_if %s: %w", c.BindIf, err)
		}
	}
	if c.FWMark != 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, int(c.FWMark)); err != nil {
			return fmt.Errorf("fwmark %d: %w", c.FWMark, err)
		}
	}
	if t.src != nil {
		if err := unix.Bind(fd, t.src); err != nil {
			return os.NewSyscallError("bind", err)
		}
	}
	return nil
}

// dialError words err as net.Dialer does for the same failure, so that
// the event loop's reasons read as TCP.Check's.
func (t *tcpTarget) dialError(err error) error {
	return &net.OpError{Op: "dial", Net: "tcp", Source: t.conn.dialer("tcp").LocalAddr, Addr: net.TCPAddrFromAddrPort(t.conn.Addr), Err: err}
}

// The probes' own system calls go through syscall.RawSyscall: none of
// them blocks (the socket is non-blocking, close has no linger to wait
// out), and skipping the runtime's system call
// bookkeeping keeps it from waking its sysmon thread, which at thousands
// of probes a second costs more than the calls themselves.

func rawSocket(family int) (int, unix.Errno) {
	fd, _, e := syscall.RawSyscall(unix.SYS_SOCKET, uintptr(family), unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	return int(fd), e
}

func rawConnect(fd int, sa unsafe.Pointer, n uintptr) unix.Errno {
	_, _, e := syscall.RawSyscall(unix.SYS_CONNECT, uintptr(fd), uintptr(sa), n)
	return e
}

func rawClose(fd int) {
	_, _, _ = syscall.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

func rawEpollCtl(epfd, op, fd int, ev *unix.EpollEvent) unix.Errno {
	_, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return e
}

// rawSoError returns the socket's pending error (SO_ERROR): how its
// connect ended, or EINPROGRESS.
func rawSoError(fd int) (soerr, err unix.Errno) {
	var v int32
	n := uint32(unsafe.Sizeof(v))
	_, _, e := syscall.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_ERROR, uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&n)), 0)
	return unix.Errno(v), e
}

// putPort stores port in network byte order.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}
