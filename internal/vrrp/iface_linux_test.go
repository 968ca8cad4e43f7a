package vrrp

import (
	"context"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/nettest"
)

// TestLinkWatcherEvents watches eth0 of a lab host from outside its
// namespace and checks the events for: the initial state, carrier loss
// when the bridge port is cut, carrier back, and admin down. It also
// checks that Run returns once ctx is cancelled.
func TestLinkWatcherEvents(t *testing.T) {
	lab := nettest.NewLab(t, 1, nettest.Options{})
	h := lab.Hosts[0]
	w := NewLinkWatcher(h.NS(), nettest.IfName)
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan LinkEvent)
	runErr := make(chan error, 1)
	go func() { runErr <- w.Run(ctx, events) }()
	defer func() {
		cancel()
		select {
		case err := <-runErr:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return 5 s after cancel")
		}
	}()
	next := func(what string) LinkEvent {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case err := <-runErr:
			t.Fatalf("Run ended waiting for %s: %v", what, err)
		case <-time.After(5 * time.Second):
			t.Fatalf("no link event for %s within 5 s", what)
		}
		return LinkEvent{}
	}
	ev := next("initial state")
	if ev.Name != nettest.IfName || !ev.Up {
		t.Fatalf("initial event %+v, want %s up", ev, nettest.IfName)
	}
	index := ev.Index

	steps := []struct {
		what string
		do   func() error
		want LinkEvent
	}{
		{"bridge port cut", func() error { return lab.SetLink(ctx, h, false) },
			LinkEvent{Index: index, Name: nettest.IfName, AdminUp: true}},
		{"bridge port restored", func() error { return lab.SetLink(ctx, h, true) },
			LinkEvent{Index: index, Name: nettest.IfName, AdminUp: true, Carrier: true, Up: true}},
		{"admin down", func() error {
			_, err := h.Run(ctx, "ip", "link", "set", nettest.IfName, "down")
			return err
		}, LinkEvent{Index: index, Name: nettest.IfName}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatal(err)
		}
		if got := next(s.what); got != s.want {
			t.Errorf("after %s: event %+v, want %+v", s.what, got, s.want)
		}
	}
}
