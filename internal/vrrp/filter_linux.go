package vrrp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// NFTFilter is the AcceptFilter for Linux: it keeps the no_accept rules
// (see filter.go) in one nftables table of family inet by running
// `nft -f -` with a generated script, one transaction per call. nft runs in
// the network namespace of the calling OS thread, so a caller that works
// in another namespace locks its goroutine to a thread in it.
//
// It removes only what it added: Unblock deletes set elements this filter
// blocked and nothing else, and Close deletes the filter's own table. One
// NFTFilter serves every instance of a daemon in a namespace; it is safe
// for concurrent use.
type NFTFilter struct {
	mu   sync.Mutex // serializes nft runs, so plan matches the kernel
	plan *filterPlan
}

// NewNFTFilter returns a filter for cfg's table. It runs nothing: the
// table is made by the first Block.
func NewNFTFilter(cfg FilterConfig) (*NFTFilter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &NFTFilter{plan: newFilterPlan(cfg)}, nil
}

// Block makes traffic to and from vips be dropped. The first Block of a
// filter replaces any table of its name left by an earlier run.
func (f *NFTFilter) Block(ctx context.Context, vips []netip.Addr) error {
	s, err := NewFilterSet(vips)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.run(ctx, "block", s, f.plan.blockScript(s)); err != nil {
		return err
	}
	f.plan.didBlock(s)
	return nil
}

// Unblock stops dropping traffic of the vips this filter blocked; other
// addresses are ignored, so Unblock on leaving master is always safe and
// runs nothing when accept mode never blocked anything.
func (f *NFTFilter) Unblock(ctx context.Context, vips []netip.Addr) error {
	s, err := NewFilterSet(vips)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	script, todo := f.plan.unblockScript(s)
	if script == "" {
		return nil
	}
	if err := f.run(ctx, "unblock", todo, script); err != nil {
		return err
	}
	f.plan.didUnblock(todo)
	return nil
}

// Close deletes the filter's table, with anything still in it, as
// keepalived deletes its tables when it stops. A missing table is success.
func (f *NFTFilter) Close(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.run(ctx, "delete table", FilterSet{}, f.plan.cfg.DeleteScript()); err != nil {
		return err
	}
	f.plan.didClose()
	return nil
}

func (f *NFTFilter) run(ctx context.Context, op string, s FilterSet, script string) error {
	cmd := exec.CommandContext(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			err = fmt.Errorf("%w: no_accept and vrrp_strict need nft(8) (Debian package nftables)", err)
		} else if msg := bytes.TrimSpace(out); len(msg) > 0 {
			err = fmt.Errorf("nft -f: %w: %s", err, msg)
		} else {
			err = fmt.Errorf("nft -f: %w", err)
		}
		return &FilterError{Op: op, Table: f.plan.cfg.Table, Addrs: s.Addrs(), Err: err}
	}
	return nil
}
