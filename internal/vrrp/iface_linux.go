package vrrp

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// LinkWatcher reports interface state changes from an rtnetlink
// subscription (RTNLGRP_LINK): no polling.
type LinkWatcher struct {
	ns    netns.NsHandle
	names []string
}

// NewLinkWatcher watches the interfaces named (all when none) in the
// network namespace ns: the one a netlink.Handle was made for with
// NewHandleAt, or netns.None() for the caller's. It starts nothing: Run
// does the work.
func NewLinkWatcher(ns netns.NsHandle, names ...string) *LinkWatcher {
	return &LinkWatcher{ns: ns, names: names}
}

// Run subscribes, sends the current state of each watched interface, then
// one LinkEvent per change, until ctx is done; it returns nil then, after
// the subscription is closed. It returns an error when the subscription
// fails. Sends on events block: the caller must keep reading.
func (w *LinkWatcher) Run(ctx context.Context, events chan<- LinkEvent) error {
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	var mu sync.Mutex
	var subErr error
	ns := w.ns
	opts := netlink.LinkSubscribeOptions{
		Namespace:    &ns,
		ListExisting: true,
		ErrorCallback: func(err error) {
			if errors.Is(err, netlink.ErrDumpInterrupted) {
				return // the dump is repeated by later updates; not fatal
			}
			mu.Lock()
			subErr = err
			mu.Unlock()
		},
	}
	if err := netlink.LinkSubscribeWithOptions(updates, done, opts); err != nil {
		return fmt.Errorf("watch links: subscribe: %w", err)
	}
	defer func() {
		close(done)
		for range updates { // until the subscription's goroutine has closed it
		}
	}()
	t := newLinkTracker(w.names)
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				mu.Lock()
				err := subErr
				mu.Unlock()
				if err == nil {
					err = errors.New("closed by netlink")
				}
				return fmt.Errorf("watch links: subscription ended: %w", err)
			}
			ev := linkEventFromFlags(int(u.Index), u.Link.Attrs().Name, u.Flags, u.Header.Type == unix.RTM_DELLINK)
			if !t.update(ev) {
				continue
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				return nil
			}
		}
	}
}
