package vrrp

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// fineTimer is a timerfd read through Go's poller. Go's own timers wake
// up to a millisecond late: the runtime waits in epoll_wait, whose
// timeout is in whole milliseconds, so a deadline less than 1 ms away
// costs a full millisecond's sleep. A timerfd becomes readable at its
// expiry to within the kernel's timer slack (50 µs), and the poller
// wakes for it however long its own timeout is.
type fineTimer struct {
	fd int      // for timerfd_settime; f owns it
	f  *os.File // non-blocking: Read parks in the poller
}

func newFineTimer() (*fineTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	return &fineTimer{fd: fd, f: os.NewFile(uintptr(fd), "vrrp-timerfd")}, nil
}

// set arms the timer to expire once, d from now (at once if d ≤ 0).
func (t *fineTimer) set(d time.Duration) error {
	// A zero it_value would disarm it.
	its := unix.ItimerSpec{Value: unix.NsecToTimespec(max(d.Nanoseconds(), 1))}
	return unix.TimerfdSettime(t.fd, 0, &its, nil)
}

// disarm stops the timer; a wait in progress goes on waiting.
func (t *fineTimer) disarm() error {
	return unix.TimerfdSettime(t.fd, 0, &unix.ItimerSpec{}, nil)
}

// wait blocks until the timer expires or interrupt is called.
func (t *fineTimer) wait() error {
	var b [8]byte
	_, err := t.f.Read(b[:])
	return err
}

// interrupt makes a wait in progress, and every later one, return an
// error.
func (t *fineTimer) interrupt() { _ = t.f.SetReadDeadline(time.Unix(1, 0)) }

func (t *fineTimer) close() error { return t.f.Close() }
