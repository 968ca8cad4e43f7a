//go:build !linux

package vrrp

import (
	"errors"
	"time"
)

// fineTimer exists on Linux only (a timerfd); elsewhere the Engine
// keeps Go's timers.
type fineTimer struct{}

func newFineTimer() (*fineTimer, error) { return nil, errors.New("no timerfd on this system") }

func (t *fineTimer) set(time.Duration) error { return nil }
func (t *fineTimer) disarm() error           { return nil }
func (t *fineTimer) wait() error             { return errors.New("no timerfd") }
func (t *fineTimer) interrupt()              {}
func (t *fineTimer) close() error            { return nil }
