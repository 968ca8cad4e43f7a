package vrrp

import (
	"context"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"
)

// One Engine runs several instances: masters whose adverts fall due
// within earlySlack of each other are sent together from then on, never
// more than the slack early; a backup's master-down timer is never fired
// early; Run's end stops every instance and calls each exit once.
func TestEngineCoalescesMastersNotBackups(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newRunnerRig(t, 3, 255, 0) // address owner: master at once
		b := newRunnerRig(t, 3, 255, 0)
		c := newRunnerRig(t, 3, 100, 0) // no master heard: master after 3.609375 s
		e := NewEngine(nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		exits := make(chan string, 3)
		start := func(rig *runnerRig, name string) time.Time {
			t.Helper()
			rig.start = time.Now()
			if err := e.Start(rig.r.Loop(), func(err error) {
				if err != nil {
					t.Errorf("%s exit: %v", name, err)
				}
				exits <- name
			}); err != nil {
				t.Fatal(err)
			}
			return rig.start
		}
		t0 := start(a, "a")
		time.Sleep(3 * time.Millisecond) // within 1 s / 200 = 5 ms
		tb := start(b, "b")
		// c's master-down timer falls 1.5 ms after one of a's adverts.
		time.Sleep(4*time.Second + 1500*time.Microsecond - 3609375*time.Microsecond - 3*time.Millisecond)
		tc := start(c, "c")
		time.Sleep(6 * time.Second)
		synctest.Wait()

		as, bs := a.conn.adverts(), b.conn.adverts()
		if len(as) < 6 || len(bs) < 6 {
			t.Fatalf("adverts sent: a %d, b %d; want at least 6 each", len(as), len(bs))
		}
		if !as[0].At.Equal(t0) || !bs[0].At.Equal(tb) {
			t.Errorf("first adverts at +%v and +%v, want at each start (+0, +3ms)", as[0].At.Sub(t0), bs[0].At.Sub(t0))
		}
		for i := 1; i < 6; i++ {
			if !bs[i].At.Equal(as[i].At) {
				t.Errorf("advert %d: a at +%v, b at +%v; want them sent together", i, as[i].At.Sub(t0), bs[i].At.Sub(t0))
			}
			if gap := bs[i].At.Sub(bs[i-1].At); gap < time.Second-5*time.Millisecond || gap > time.Second {
				t.Errorf("b's adverts %d and %d are %v apart, want within 5 ms below 1 s", i-1, i, gap)
			}
		}
		cs := c.conn.adverts()
		if len(cs) == 0 {
			t.Fatal("c never became master")
		}
		if want := tc.Add(3609375 * time.Microsecond); !cs[0].At.Equal(want) {
			t.Errorf("c (backup) became master at +%v, want exactly its Master_Down_Interval +%v", cs[0].At.Sub(t0), want.Sub(t0))
		}

		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		close(exits)
		got := map[string]int{}
		for n := range exits {
			got[n]++
		}
		for _, n := range []string{"a", "b", "c"} {
			if got[n] != 1 {
				t.Errorf("exit of %s called %d times, want 1", n, got[n])
			}
		}
		if err := e.Start(a.r.Loop(), nil); err == nil {
			t.Error("Start after Run ended succeeded")
		}
	})
}

// The engine's timer heap keeps its order and every group's index
// through random pushes, removals and key changes.
func TestGroupHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h groupHeap
	var live []*engineGroup
	check := func(step int) {
		t.Helper()
		for i, eg := range h {
			if eg.index != i {
				t.Fatalf("step %d: heap[%d] has index %d", step, i, eg.index)
			}
			if i > 0 && h[(i-1)/2].key > eg.key {
				t.Fatalf("step %d: heap[%d] key %d below its parent's %d", step, i, eg.key, h[(i-1)/2].key)
			}
		}
		if len(h) != len(live) {
			t.Fatalf("step %d: heap holds %d groups, want %d", step, len(h), len(live))
		}
	}
	for step := range 5000 {
		switch op := rng.IntN(3); {
		case op == 0 || len(live) == 0:
			eg := &engineGroup{key: rng.Int64N(100), index: -1}
			h.push(eg)
			live = append(live, eg)
		case op == 1:
			k := rng.IntN(len(live))
			h.remove(live[k].index)
			if live[k].index != -1 {
				t.Fatalf("step %d: removed group keeps index %d", step, live[k].index)
			}
			live = append(live[:k], live[k+1:]...)
		default:
			eg := live[rng.IntN(len(live))]
			eg.key = rng.Int64N(100)
			h.fix(eg.index)
		}
		check(step)
	}
	for prev := int64(-1); len(h) > 0; {
		top := h[0]
		if top.key < prev {
			t.Fatalf("popped key %d after %d", top.key, prev)
		}
		prev = top.key
		h.remove(0)
	}
}

// A backup that keeps hearing its master while another group holds the
// top of the engine's timer heap (its heap key lags, see reschedule)
// still declares the master down exactly Master_Down_Interval after the
// last advert, and not before.
func TestEngineBackupDeadlineWithLaggingKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := newRunnerRig(t, 3, 255, 0) // master: heap top once a second
		b := newRunnerRig(t, 3, 100, 0)
		e := NewEngine(nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		for _, rig := range []*runnerRig{a, b} {
			if err := e.Start(rig.r.Loop(), nil); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(250 * time.Millisecond)
		var last time.Time
		for range 6 {
			b.conn.in <- peerAdvert(t, 3, 200, 0)
			synctest.Wait()
			last = time.Now()
			time.Sleep(700 * time.Millisecond)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		bs := b.conn.adverts()
		if len(bs) == 0 {
			t.Fatal("b never became master after its master went quiet")
		}
		if want := last.Add(3609375 * time.Microsecond); !bs[0].At.Equal(want) {
			t.Errorf("b became master %v after the last advert, want exactly %v", bs[0].At.Sub(last), want.Sub(last))
		}
		cancel()
		<-done
	})
}
