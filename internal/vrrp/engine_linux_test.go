package vrrp

import (
	"context"
	"slices"
	"testing"
	"time"
)

// With SetPrecise, a backup that hears no master takes over within the
// timer slack of its Master_Down_Interval. With advert_int 10 ms and
// priority 100 that is 36.09375 ms: Go's timers alone would wake about
// 0.9 ms late (the runtime's poller sleeps in whole milliseconds).
// Real clock, so the median of several runs is asserted.
func TestEnginePreciseMasterDown(t *testing.T) {
	if testing.Short() {
		t.Skip("real-clock timing test; skipped with -short")
	}
	const interval = 10 * time.Millisecond
	e := NewEngine(nil)
	e.SetPrecise(true)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// Run installs the timerfd; wait for it before timing anything.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		e.mu.Lock()
		ready := e.fine != nil
		e.mu.Unlock()
		if ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not install its timerfd within 5 s")
		}
	}
	var late []time.Duration
	for range 7 {
		rig := newRunnerRigInterval(t, 3, 100, 0, interval)
		// RFC 5798: 3 × advert_int + Skew_Time, (256 − 100) × advert_int / 256.
		mdi := 3*interval + (256-100)*interval/256
		start := time.Now()
		if err := e.Start(rig.r.Loop(), func(error) {}); err != nil {
			t.Fatal(err)
		}
		for time.Since(start) < mdi+100*time.Millisecond && len(rig.conn.adverts()) == 0 {
			time.Sleep(time.Millisecond)
		}
		as := rig.conn.adverts()
		e.Stop(rig.r.Loop())
		if len(as) == 0 {
			t.Fatalf("no advert within Master_Down_Interval (%v) + 100 ms", mdi)
		}
		late = append(late, as[0].At.Sub(start)-mdi)
	}
	slices.Sort(late)
	t.Logf("takeover beyond Master_Down_Interval: %v", late)
	if med := late[len(late)/2]; med < 0 || med > 400*time.Microsecond {
		t.Errorf("median takeover %v beyond Master_Down_Interval, want within [0, 400µs]", med)
	}
}
