package check

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
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
	h       tcpHeap
	events  []unix.EpollEvent
}

// tcpTarget is one Connector's state on the loop.
type tcpTarget struct {
	e *entry
	// due is when the next probe starts or, while fd is open, when the
	// connect in flight times out.
	due   time.Time
	index int // in the heap
	slot  int // in tcpLoop.targets, which epoll events carry
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
	// The destination in the kernel's form, for rawConnect: dstPtr
	// points at dst4 or dst6.
	dst4   unix.RawSockaddrInet4
	dst6   unix.RawSockaddrInet6
	dstPtr unsafe.Pointer
	dstLen uintptr
}

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
	for _, e := range entries {
		t := &tcpTarget{e: e, due: e.due, fd: -1, slot: len(l.targets)}
		l.targets = append(l.targets, t)
		heap.Push(&l.h, t)
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
	for {
		for len(l.h) > 0 && !l.h[0].due.After(now) {
			t := l.h[0]
			if t.fd >= 0 {
				l.finish(t, context.DeadlineExceeded, now)
			} else {
				l.begin(t, now)
			}
		}
		n, err := l.wait()
		if err != nil {
			return fmt.Errorf("TCP_CHECK event loop: %w", err)
		}
		now = time.Now()
		for _, ev := range l.events[:n] {
			if ev.Fd == wakeData {
				return ctx.Err()
			}
			if int(ev.Fd) >= len(l.targets) {
				continue
			}
			t := l.targets[ev.Fd]
			if t.fd < 0 || t.gen != ev.Pad {
				continue // not this probe's (cannot happen: the fd was closed)
			}
			// SO_ERROR holds the connect's outcome once the socket is
			// writable (or in error): 0 means established.
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
	}
}

// wait returns the epoll events that are ready, waiting for one until the
// first target is due; none when it is due. It blocks this goroutine's
// thread in epoll_wait, as keepalived's loop does. (Parking it in the Go
// runtime's poller instead, which can watch an epoll fd, measured worse:
// more CPU and late probes with GOMAXPROCS=1.)
func (l *tcpLoop) wait() (int, error) {
	wait := -1
	if len(l.h) > 0 {
		// Round up: waking early would only spin until due.
		d := time.Until(l.h[0].due)
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
	t.due = now.Add(t.e.timeout())
	heap.Fix(&l.h, t.index)
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
		r = tcpResult(t.conn.Addr, t.start, end, "")
	case errors.Is(err, context.DeadlineExceeded):
		r = tcpResult(t.conn.Addr, t.start, end, "Timeout connect")
	default:
		// Worded as TCP.Check's dial error, so the reasons match.
		r = tcpResult(t.conn.Addr, t.start, end, "connect: "+t.dialError(err).Error())
	}
	r = t.e.conn.EndConnect(r)
	t.due = l.s.settle(t.e, r, t.start, end)
	heap.Fix(&l.h, t.index)
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

// tcpHeap orders the loop's targets by due time.
type tcpHeap = timeHeap[*tcpTarget]

func (t *tcpTarget) dueTime() time.Time { return t.due }
func (t *tcpTarget) setIndex(i int)     { t.index = i }
