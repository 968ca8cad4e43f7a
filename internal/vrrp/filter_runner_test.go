package vrrp

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// fakeFilter records Block and Unblock in the fakeAddrs log, so that tests
// see their order relative to the VIP changes.
type fakeFilter struct{ log *fakeAddrs }

func (f fakeFilter) Block(_ context.Context, vips []netip.Addr) error {
	for _, a := range vips {
		f.log.record("block " + a.String())
	}
	return nil
}

func (f fakeFilter) Unblock(_ context.Context, vips []netip.Addr) error {
	for _, a := range vips {
		f.log.record("unblock " + a.String())
	}
	return nil
}

// RFC 5798 §6.1 Accept_Mode false (keepalived no_accept): the filter is
// set before the VIPs are added and lifted after they are removed, as
// keepalived 2.2.7 logs it; in accept mode nothing is blocked.
func TestRunnerNoAcceptFilter(t *testing.T) {
	for _, accept := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			rig := newRunnerRig(t, 3, 100, AuthNone)
			cfg := rig.r.cfg
			cfg.Instance.Accept = accept
			r, err := NewRunner(cfg, RunnerDeps{Conn: rig.conn, Addrs: rig.addrs, Filter: fakeFilter{rig.addrs}},
				slog.New(slog.NewTextHandler(t.Output(), nil)))
			if err != nil {
				t.Fatal(err)
			}
			rig.r = r
			stop := rig.run(t)
			time.Sleep(4 * time.Second)
			synctest.Wait()
			stop()
			want := []string{"block 10.99.0.100", "add 10.99.0.100/24 dev eth0", "del 10.99.0.100/24 dev eth0", "unblock 10.99.0.100"}
			if accept {
				want = slices.Delete(want, 0, 1)
			}
			if got := rig.addrs.log(); !slices.Equal(got, want) {
				t.Errorf("accept %t: ops %q, want %q", accept, got, want)
			}
		})
	}
}
