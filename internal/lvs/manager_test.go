package lvs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-ha/vigil/internal/check"
	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/ipvs"
	"github.com/vigil-ha/vigil/internal/metrics"
	"github.com/vigil-ha/vigil/internal/status"
)

// fakeKernel is a recording IPVS table: it applies ops to an in-memory
// table and records each one (and each read and flush).
type fakeKernel struct {
	mu      sync.Mutex
	tab     map[ipvs.ServiceKey]*ipvs.Service
	ops     []string
	reads   int
	flushes int
}

func newFakeKernel() *fakeKernel { return &fakeKernel{tab: map[ipvs.ServiceKey]*ipvs.Service{}} }

func (k *fakeKernel) Read(ctx context.Context) (ipvs.Table, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reads++
	return k.table(), nil
}

func (k *fakeKernel) table() ipvs.Table {
	var t ipvs.Table
	for _, s := range k.tab {
		c := *s
		c.Dests = slices.Clone(s.Dests)
		t = append(t, c)
	}
	return t.Sorted()
}

func (k *fakeKernel) Apply(ctx context.Context, op ipvs.Op) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ops = append(k.ops, op.String())
	key := op.Service.Key
	s := k.tab[key]
	switch op.Kind {
	case ipvs.AddService:
		if s != nil {
			return fmt.Errorf("exists")
		}
		c := op.Service
		k.tab[key] = &c
		return nil
	case ipvs.DelService:
		delete(k.tab, key)
		return nil
	}
	if s == nil {
		return fmt.Errorf("no service %s", key)
	}
	switch op.Kind {
	case ipvs.EditService:
		d := s.Dests
		*s = op.Service
		s.Dests = d
	case ipvs.AddDest:
		s.Dests = append(s.Dests, op.Dest)
	case ipvs.EditDest, ipvs.DelDest:
		i := slices.IndexFunc(s.Dests, func(d ipvs.Destination) bool { return d.Key() == op.Dest.Key() })
		if i < 0 {
			return fmt.Errorf("no dest %s", op.Dest.Key())
		}
		if op.Kind == ipvs.EditDest {
			s.Dests[i] = op.Dest
		} else {
			s.Dests = slices.Delete(s.Dests, i, i+1)
		}
	}
	return nil
}

func (k *fakeKernel) flush(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.flushes++
	k.tab = map[ipvs.ServiceKey]*ipvs.Service{}
	return nil
}

// takeOps returns the ops applied since the last call.
func (k *fakeKernel) takeOps() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	ops := k.ops
	k.ops = nil
	return ops
}

func (k *fakeKernel) String() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.table().String()
}

// health holds the fake checkers' verdicts, by real server address.
type health struct {
	mu     sync.Mutex
	up     map[string]bool
	probes atomic.Int64
}

func (h *health) set(rs string, up bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.up[rs] = up
}

func (h *health) checker(t *Target) (check.Checker, error) {
	rs := t.Real.Addr.String()
	return check.CheckerFunc(func(ctx context.Context) check.Result {
		h.probes.Add(1)
		h.mu.Lock()
		defer h.mu.Unlock()
		up, ok := h.up[rs]
		return check.Result{OK: !ok || up, Reason: "fake verdict"}
	}), nil
}

type scriptLog struct {
	mu  sync.Mutex
	ran []string
}

func (s *scriptLog) exec(ctx context.Context, sc *conf.Script) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ran = append(s.ran, sc.Cmd)
	return nil
}

func (s *scriptLog) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Scripts run concurrently, as keepalived's notify_exec: compare
	// them as a set.
	r := slices.Sorted(slices.Values(s.ran))
	s.ran = nil
	return r
}

// harness runs a Manager on a fake kernel with fake checkers inside a
// synctest bubble.
type harness struct {
	t       *testing.T
	k       *fakeKernel
	h       *health
	scripts *scriptLog
	m       *Manager
	logs    *syncBuf
	cancel  context.CancelFunc
	done    chan error
}

func startManager(t *testing.T, text string, mod func(*Deps)) *harness {
	t.Helper()
	hs := &harness{t: t, k: newFakeKernel(), h: &health{up: map[string]bool{}}, scripts: &scriptLog{}}
	deps := Deps{Kernel: hs.k, Flush: hs.k.flush, Checker: hs.h.checker, Exec: hs.scripts.exec,
		Rand: func() float64 { return 0 }}
	if mod != nil {
		mod(&deps)
	}
	hs.logs = &syncBuf{}
	m, err := New(mustLoad(t, text), deps, slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), hs.logs), nil)))
	if err != nil {
		t.Fatal(err)
	}
	hs.m = m
	ctx, cancel := context.WithCancel(t.Context())
	hs.cancel, hs.done = cancel, make(chan error, 1)
	go func() { hs.done <- m.Run(ctx) }()
	synctest.Wait()
	return hs
}

// at advances the bubble's clock to d after start (probes at 1 s + n×…)
// and lets everything settle.
func (hs *harness) sleep(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func (hs *harness) stop() {
	hs.t.Helper()
	hs.cancel()
	if err := <-hs.done; err != nil {
		hs.t.Errorf("Run: %v", err)
	}
}

func (hs *harness) wantOps(when string, want ...string) {
	hs.t.Helper()
	if diff := cmp.Diff(want, hs.k.takeOps()); diff != "" {
		hs.t.Errorf("%s: IPVS ops (-want +got):\n%s\ntable now:\n%s", when, diff, hs.k)
	}
}

const twoServers = `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    delay_loop 5
    %s
    real_server 10.99.1.1 80 {
        weight 2
        TCP_CHECK {
            retry 2
            delay_before_retry 1
        }
    }
    real_server 10.99.1.2 80 {
        TCP_CHECK {
            retry 2
            delay_before_retry 1
        }
    }
}`

// TestManagerRemovesAfterRetries: a failing real server leaves IPVS only
// after retry+1 failed probes (delay_loop, then delay_before_retry × retry),
// with one netlink op; recovery adds it back with one op; stop removes the
// virtual server.
func TestManagerRemovesAfterRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := startManager(t, fmt.Sprintf(twoServers, ""), nil)
		hs.wantOps("start", "add service TCP 10.99.0.1:80 sched=rr",
			"add destination 10.99.1.1:80 in TCP 10.99.0.1:80 fwd=nat weight=2",
			"add destination 10.99.1.2:80 in TCP 10.99.0.1:80 fwd=nat weight=1")
		hs.sleep(1500 * time.Millisecond) // first probes at 1 s: both pass
		hs.wantOps("first probes")
		hs.h.set("10.99.1.1", false)
		// Probes at 6 s (fail 1), 7 s (retry 1), 8 s (retry 2): down.
		hs.sleep(6 * time.Second) // now 7.5 s
		hs.wantOps("two failures")
		hs.sleep(time.Second) // 8.5 s
		hs.wantOps("third failure", "delete destination 10.99.1.1:80 in TCP 10.99.0.1:80")
		hs.wantLog(`msg="TCP_CHECK on service [10.99.1.1]:tcp:80 failed after 2 retries."`,
			`msg="Removing service [10.99.1.1]:tcp:80 from VS [10.99.0.1]:tcp:80"`)
		st := hs.m.RealServers()
		if len(st) != 2 || st[0].Up || st[0].Weight != 0 || st[0].Reason != "fake verdict" || !st[1].Up || st[1].Weight != 1 {
			t.Errorf("status = %+v", st)
		}
		hs.h.set("10.99.1.1", true)
		hs.sleep(5 * time.Second) // probe at 13 s passes
		hs.wantOps("recovery", "add destination 10.99.1.1:80 in TCP 10.99.0.1:80 fwd=nat weight=2")
		if hs.k.reads != 1 {
			t.Errorf("kernel read %d times; want once, at start (changes go through Update)", hs.k.reads)
		}
		hs.stop()
		hs.wantOps("stop", "delete service TCP 10.99.0.1:80")
		hs.wantLog(`msg="Shutting down service [10.99.1.2]:tcp:80 from VS [10.99.0.1]:tcp:80"`)
	})
}

// TestManagerInhibitOnFailure: with inhibit_on_failure the failed server
// stays at weight 0 (one edit), and gets its weight back on recovery.
func TestManagerInhibitOnFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := startManager(t, fmt.Sprintf(twoServers, "inhibit_on_failure"), nil)
		hs.takeStart()
		hs.h.set("10.99.1.1", false)
		hs.sleep(8500 * time.Millisecond)
		hs.wantOps("failure", "edit destination 10.99.1.1:80 in TCP 10.99.0.1:80 fwd=nat weight=0")
		hs.h.set("10.99.1.1", true)
		hs.sleep(5 * time.Second)
		hs.wantOps("recovery", "edit destination 10.99.1.1:80 in TCP 10.99.0.1:80 fwd=nat weight=2")
		hs.stop()
	})
}

func (hs *harness) takeStart() { hs.k.takeOps() }

// TestManagerQuorumSorryServer: losing quorum swaps the real servers for
// the sorry server and runs quorum_down; regaining it swaps back and runs
// quorum_up; notify_down/notify_up run for the real server.
func TestManagerQuorumSorryServer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := startManager(t, `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    delay_loop 5
    quorum 3
    quorum_up /x/qup
    quorum_down /x/qdown
    sorry_server 10.99.1.9 80
    real_server 10.99.1.1 80 {
        weight 2
        notify_down /x/down
        notify_up /x/up
        TCP_CHECK {
            retry 0
        }
    }
    real_server 10.99.1.2 80 {
        TCP_CHECK {
            retry 0
        }
    }
}`, nil)
		hs.takeStart()
		if got := hs.scripts.take(); !cmp.Equal(got, []string{"/x/qup"}) {
			t.Errorf("scripts at start = %q; want quorum_up", got)
		}
		hs.h.set("10.99.1.1", false)
		hs.sleep(1500 * time.Millisecond)
		hs.wantOps("quorum lost",
			"delete destination 10.99.1.1:80 in TCP 10.99.0.1:80",
			"delete destination 10.99.1.2:80 in TCP 10.99.0.1:80",
			"add destination 10.99.1.9:80 in TCP 10.99.0.1:80 fwd=nat weight=1")
		if got := hs.scripts.take(); !cmp.Equal(got, []string{"/x/down", "/x/qdown"}) {
			t.Errorf("scripts = %q; want notify_down, quorum_down", got)
		}
		hs.h.set("10.99.1.1", true)
		hs.sleep(5 * time.Second)
		hs.wantOps("quorum regained",
			"delete destination 10.99.1.9:80 in TCP 10.99.0.1:80",
			"add destination 10.99.1.1:80 in TCP 10.99.0.1:80 fwd=nat weight=2",
			"add destination 10.99.1.2:80 in TCP 10.99.0.1:80 fwd=nat weight=1")
		if got := hs.scripts.take(); !cmp.Equal(got, []string{"/x/qup", "/x/up"}) {
			t.Errorf("scripts = %q; want notify_up, quorum_up", got)
		}
		hs.stop()
	})
}

// TestManagerReloadKeepsState: a reload that adds a real server keeps the
// failed one out (its checker state carries over: no new warm-up, no
// re-add) and applies one op for the new server.
func TestManagerReloadKeepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hs := startManager(t, fmt.Sprintf(twoServers, ""), nil)
		hs.takeStart()
		hs.h.set("10.99.1.1", false)
		hs.sleep(8500 * time.Millisecond)
		hs.wantOps("failure", "delete destination 10.99.1.1:80 in TCP 10.99.0.1:80")
		more := fmt.Sprintf(twoServers, `real_server 10.99.1.3 80 {
    }`)
		if err := hs.m.Reload(t.Context(), mustLoad(t, more)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		hs.wantOps("reload", "add destination 10.99.1.3:80 in TCP 10.99.0.1:80 fwd=nat weight=1")
		// Still failing: stays out. Recovering: comes back.
		hs.sleep(10 * time.Second)
		hs.wantOps("after reload")
		hs.h.set("10.99.1.1", true)
		hs.sleep(6 * time.Second)
		hs.wantOps("recovery", "add destination 10.99.1.1:80 in TCP 10.99.0.1:80 fwd=nat weight=2")
		// Removing a virtual server on reload deletes it.
		if err := hs.m.Reload(t.Context(), mustLoad(t, `virtual_server 10.99.0.2 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.99.1.1 80 {
    }
}`)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		hs.wantOps("replace", "delete service TCP 10.99.0.1:80", "add service TCP 10.99.0.2:80 sched=rr",
			"add destination 10.99.1.1:80 in TCP 10.99.0.2:80 fwd=nat weight=1")
		hs.wantLog(`msg="Removing Virtual Server [10.99.0.1]:tcp:80"`)
		hs.stop()
	})
}

// TestManagerStop: keepalived's stop semantics: by default the virtual
// servers are removed; -I leaves them; lvs_flush_onstop all flushes the
// whole table; lvs_flush flushes at start.
func TestManagerStop(t *testing.T) {
	const base = `virtual_server 10.99.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.99.1.1 80 {
    }
}`
	tests := []struct {
		name        string
		global      string
		keep        bool
		wantOps     []string
		wantFlushes int
	}{
		{name: "default removes own services", wantOps: []string{"delete service TCP 10.99.0.1:80"}},
		{name: "dont-release-ipvs", keep: true},
		{name: "lvs_flush_onstop all", global: "global_defs {\n lvs_flush_onstop\n}\n", wantFlushes: 1},
		{name: "lvs_flush at start", global: "global_defs {\n lvs_flush\n}\n", wantFlushes: 1,
			wantOps: []string{"delete service TCP 10.99.0.1:80"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				hs := startManager(t, tc.global+base, func(d *Deps) { d.KeepIPVS = tc.keep })
				hs.takeStart()
				hs.stop()
				hs.wantOps("stop", tc.wantOps...)
				if hs.k.flushes != tc.wantFlushes {
					t.Errorf("%d flushes, want %d", hs.k.flushes, tc.wantFlushes)
				}
			})
		})
	}
}

// syncBuf collects log output from several goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (hs *harness) wantLog(msgs ...string) {
	hs.t.Helper()
	logs := hs.logs.String()
	for _, m := range msgs {
		if !strings.Contains(logs, m) {
			hs.t.Errorf("log lacks %q", m)
		}
	}
}

// The metrics collector discovers these on the daemon's Source.
var (
	_ metrics.IPVSSource      = (*Manager)(nil)
	_ status.RealServerSource = (*Manager)(nil)
)

// TestManagerCounters: IPVSOps counts each netlink op by kind, and the
// ops the kernel refused; RealServers carries each real server's probe
// count, failures and last latency, kept across a reload.
func TestManagerCounters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex // guards latency, read by the probes
		latency := map[string]time.Duration{"10.99.1.1": 3 * time.Millisecond, "10.99.1.2": 7 * time.Millisecond}
		hs := startManager(t, fmt.Sprintf(twoServers, ""), func(d *Deps) {
			inner := d.Checker
			d.Checker = func(t *Target) (check.Checker, error) {
				c, err := inner(t)
				return check.CheckerFunc(func(ctx context.Context) check.Result {
					r := c.Check(ctx)
					mu.Lock()
					defer mu.Unlock()
					r.Latency = latency[t.Real.Addr.String()]
					return r
				}), err
			}
		})
		wantOps := func(when string, failed uint64, kv ...any) {
			t.Helper()
			want := map[string]uint64{"add_service": 0, "edit_service": 0, "delete_service": 0,
				"add_destination": 0, "edit_destination": 0, "delete_destination": 0}
			for i := 0; i < len(kv); i += 2 {
				want[kv[i].(string)] = uint64(kv[i+1].(int))
			}
			got, gotFailed := hs.m.IPVSOps()
			if diff := cmp.Diff(want, got); diff != "" || gotFailed != failed {
				t.Errorf("%s: IPVSOps (-want +got):\n%s\nfailed = %d, want %d", when, diff, gotFailed, failed)
			}
		}
		type counts struct {
			Checks, Failures uint64
			Latency          time.Duration
		}
		wantChecks := func(when string, want ...counts) {
			t.Helper()
			var got []counts
			for _, st := range hs.m.RealServers() {
				got = append(got, counts{st.Checks, st.CheckFailures, st.CheckLatency})
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s: check counters (-want +got):\n%s", when, diff)
			}
		}
		wantOps("start", 0, "add_service", 1, "add_destination", 2)
		wantChecks("start", counts{}, counts{})
		hs.sleep(1500 * time.Millisecond) // first probes at 1 s: both pass
		hs.h.set("10.99.1.1", false)
		hs.sleep(7 * time.Second) // probes at 6, 7, 8 s fail
		wantOps("failure", 0, "add_service", 1, "add_destination", 2, "delete_destination", 1)
		wantChecks("failure", counts{4, 3, 3 * time.Millisecond}, counts{2, 0, 7 * time.Millisecond})
		if len(hs.k.takeOps()) != int(hs.m.ops.applied[ipvs.AddService].Load()+hs.m.ops.applied[ipvs.AddDest].Load()+hs.m.ops.applied[ipvs.DelDest].Load()) {
			t.Error("counters disagree with the ops the kernel saw")
		}

		// A reload with the same configuration keeps the counters (and
		// the failed server out) and costs no op.
		if err := hs.m.Reload(t.Context(), mustLoad(t, fmt.Sprintf(twoServers, ""))); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		hs.wantOps("reload")
		wantChecks("after reload", counts{4, 3, 3 * time.Millisecond}, counts{2, 0, 7 * time.Millisecond})

		// The service vanishes behind vigil's back: the re-add of the
		// recovered server fails, and is counted as such.
		hs.k.mu.Lock()
		clear(hs.k.tab)
		hs.k.mu.Unlock()
		hs.h.set("10.99.1.1", true)
		mu.Lock()
		latency["10.99.1.1"] = time.Millisecond
		mu.Unlock()
		hs.sleep(5 * time.Second)
		hs.wantOps("recovery", "add destination 10.99.1.1:80 in TCP 10.99.0.1:80 fwd=nat weight=2")
		wantOps("refused", 1, "add_service", 1, "add_destination", 2, "delete_destination", 1)
		wantChecks("recovery", counts{5, 3, time.Millisecond}, counts{3, 0, 7 * time.Millisecond})
		hs.stop()
	})
}
