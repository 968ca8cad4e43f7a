package ipvs

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReconcilerOwnsWhatItCreates(t *testing.T) {
	foreign := mustTable(t, "TCP 10.99.0.9:80 sched=rr\n  -> 10.99.1.9:80 fwd=nat weight=1\n")
	k := &fakeKernel{table: foreign}
	r := NewReconciler(k, nil)
	first := mustTable(t, "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=1\nUDP 10.99.0.1:53 sched=rr\n")
	n, err := r.Reconcile(t.Context(), first)
	if err != nil || n != 3 {
		t.Fatalf("first Reconcile = %d, %v; want 3 ops", n, err)
	}
	if got, want := len(r.Owned()), 2; got != want {
		t.Errorf("owns %d services, want %d: %v", got, want, r.Owned())
	}
	// Dropping everything deletes vigil's two services and keeps the
	// foreign one.
	n, err = r.Reconcile(t.Context(), nil)
	if err != nil || n != 2 {
		t.Fatalf("second Reconcile = %d, %v; want 2 ops", n, err)
	}
	if diff := cmp.Diff(foreign.String(), k.table.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if len(r.Owned()) != 0 {
		t.Errorf("still owns %v", r.Owned())
	}
	n, err = r.Reconcile(t.Context(), nil)
	if err != nil || n != 0 {
		t.Errorf("idle Reconcile = %d, %v; want 0 ops", n, err)
	}
}

func TestReconcilerSkipsDestinationsOfFailedService(t *testing.T) {
	boom := errors.New("kernel says no")
	k := &fakeKernel{fail: func(op Op) error {
		if op.Kind == AddService && op.Service.Key.Port == 80 {
			return boom
		}
		return nil
	}}
	r := NewReconciler(k, nil)
	desired := mustTable(t, `TCP 10.99.0.1:80 sched=rr
  -> 10.99.1.1:80 fwd=nat weight=1
  -> 10.99.1.2:80 fwd=nat weight=1
TCP 10.99.0.1:443 sched=rr
  -> 10.99.1.1:443 fwd=nat weight=1
`)
	n, err := r.Reconcile(t.Context(), desired)
	if n != 2 {
		t.Errorf("applied %d ops, want 2 (the :443 service and its destination)", n)
	}
	var oe *OpError
	if !errors.As(err, &oe) || !errors.Is(err, boom) {
		t.Fatalf("error %v: want an *OpError wrapping the kernel error", err)
	}
	if want := "add virtual server TCP 10.99.0.1:80: kernel says no"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	for _, op := range k.applied {
		if op.Service.Key.Port == 80 {
			t.Errorf("op for the failed service was attempted: %v", op)
		}
	}
	if got := r.Owned(); len(got) != 1 || got[0].Port != 443 {
		t.Errorf("owned = %v, want only TCP 10.99.0.1:443", got)
	}
}

func TestReconcilerRejectsInvalidTable(t *testing.T) {
	k := &fakeKernel{}
	_, err := NewReconciler(k, nil).Reconcile(t.Context(), mustTable(t, "TCP 10.99.0.1:80 sched=bogus\n"))
	if err == nil || !strings.Contains(err.Error(), `unknown scheduler "bogus"`) {
		t.Errorf("err = %v, want the unknown scheduler named", err)
	}
	if k.reads != 0 || len(k.applied) != 0 {
		t.Errorf("kernel touched: %d reads, ops %v", k.reads, k.applied)
	}
}

func TestReconcilerStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	k := &fakeKernel{fail: func(op Op) error {
		cancel() // the first op cancels; nothing after it may run
		return nil
	}}
	n, err := NewReconciler(k, nil).Reconcile(ctx, mustTable(t, "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=1\n"))
	if n != 1 || !errors.Is(err, context.Canceled) {
		t.Errorf("Reconcile = %d, %v; want 1 op and context.Canceled", n, err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, table string
		want        string // substring of the error; "" means valid
	}{
		{"ok", "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=1", ""},
		{"fwmark ok", "FWM 3 IPv6 sched=mh flags=mh-port\n  -> [fd00:99::1]:0 fwd=dr weight=1", ""},
		{"scheduler", "TCP 10.99.0.1:80 sched=wfq", `virtual server TCP 10.99.0.1:80: unknown scheduler "wfq"`},
		{"duplicate service", "TCP 10.99.0.1:80 sched=rr\nTCP 10.99.0.1:80 sched=wlc", "defined twice"},
		{"duplicate dest", "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80\n  -> 10.99.1.1:80", "real server 10.99.1.1:80: defined twice"},
		{"port 0", "TCP 10.99.0.1:0 sched=rr", "port 0 needs persistence_timeout"},
		{"port 0 persistent", "TCP 10.99.0.1:0 sched=rr persistent=60", ""},
		{"family mix", "TCP 10.99.0.1:80 sched=rr\n  -> [fd00:99::1]:80", "address family differs"},
		{"weight", "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 weight=70000", "weight 70000 out of range 0-65535"},
		{"thresholds", "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 u=5 l=6", "lthreshold 6 above uthreshold 5"},
		{"lower without upper", "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 l=6", "lthreshold 6 above uthreshold 0"},
		{"granularity", "TCP 10.99.0.1:80 sched=rr persistent=1 granularity=33", "persistence_granularity /33 out of range 0-32"},
		{"tun without TUN", "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=dr tun=gue tunport=1", "need lb_kind TUN"},
		{"gue without port", "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=tun tun=gue", "tun_type gue needs tun_port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := mustTable(t, tc.table).Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestUpdateUsesKnownState(t *testing.T) {
	k := &fakeKernel{}
	r := NewReconciler(k, nil)
	base := "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=1\n  -> 10.99.1.2:80 fwd=nat weight=1\n"
	if n, err := r.Update(t.Context(), mustTable(t, base)); err != nil || n != 3 || k.reads != 1 {
		t.Fatalf("first Update = %d, %v with %d reads; want 3 ops after one full read", n, err, k.reads)
	}
	changed := mustTable(t, strings.Replace(base, "10.99.1.2:80 fwd=nat weight=1", "10.99.1.2:80 fwd=nat weight=4", 1))
	if n, err := r.Update(t.Context(), changed); err != nil || n != 1 || k.reads != 1 {
		t.Fatalf("weight Update = %d, %v with %d reads; want 1 op and no read", n, err, k.reads)
	}
	if diff := cmp.Diff(changed.String(), k.table.String()); diff != "" {
		t.Errorf("kernel table (-want +got):\n%s", diff)
	}
	// A failure forgets the known state: the next Update reads again.
	k.fail = func(op Op) error { return errors.New("no") }
	if _, err := r.Update(t.Context(), mustTable(t, base)); err == nil {
		t.Fatal("Update with a failing kernel succeeded")
	}
	k.fail = nil
	if n, err := r.Update(t.Context(), mustTable(t, base)); err != nil || n != 1 || k.reads != 2 {
		t.Errorf("Update after a failure = %d, %v with %d reads; want 1 op after a second read", n, err, k.reads)
	}
}

// TestReconcilerBatches: with a BatchApplier the service ops go in one
// batch and the destination ops in a second, without those of a service
// the kernel refused to add (it may be someone else's, of the same key).
func TestReconcilerBatches(t *testing.T) {
	boom := errors.New("kernel says no")
	k := &fakeBatchKernel{fakeKernel: fakeKernel{
		table: mustTable(t, "TCP 10.99.0.9:80 sched=rr\n  -> 10.99.1.9:80 fwd=nat weight=1\n"),
		fail: func(op Op) error {
			if op.Kind == AddService && op.Service.Key.Port == 80 {
				return boom
			}
			return nil
		}}}
	r := NewReconciler(k, []ServiceKey{AddrPortKey(TCP, netip.MustParseAddrPort("10.99.0.9:80"))})
	desired := mustTable(t, `TCP 10.99.0.1:80 sched=rr
  -> 10.99.1.1:80 fwd=nat weight=1
  -> 10.99.1.2:80 fwd=nat weight=1
TCP 10.99.0.1:443 sched=rr
  -> 10.99.1.1:443 fwd=nat weight=1
  -> 10.99.1.2:443 fwd=nat weight=2
`)
	n, err := r.Reconcile(t.Context(), desired)
	if want := "add virtual server TCP 10.99.0.1:80: kernel says no"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
	if n != 4 {
		t.Errorf("applied %d ops, want 4 (delete :9, add :443 and its two destinations)", n)
	}
	var got []string
	for i, b := range k.batches {
		for _, op := range b {
			got = append(got, fmt.Sprintf("batch %d: %s", i, op))
		}
	}
	want := []string{
		"batch 0: delete service TCP 10.99.0.9:80",
		"batch 0: add service TCP 10.99.0.1:80 sched=rr",
		"batch 0: add service TCP 10.99.0.1:443 sched=rr",
		"batch 1: add destination 10.99.1.1:443 in TCP 10.99.0.1:443 fwd=nat weight=1",
		"batch 1: add destination 10.99.1.2:443 in TCP 10.99.0.1:443 fwd=nat weight=2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batches (-want +got):\n%s", diff)
	}
	if got := r.Owned(); len(got) != 1 || got[0].Port != 443 {
		t.Errorf("owned = %v, want only TCP 10.99.0.1:443", got)
	}
	// The failure leaves the known state unset: Update reads again.
	k.fail = nil
	reads := k.reads
	if n, err := r.Update(t.Context(), desired); err != nil || n != 3 {
		t.Errorf("Update after the failure = %d, %v; want 3 ops", n, err)
	}
	if k.reads != reads+1 {
		t.Errorf("Update read the table %d times, want once", k.reads-reads)
	}
}

// TestReconcilerBatchStopped: a batch that ends early (socket failure,
// context) stops the pass, says how far it got, and forgets the state.
func TestReconcilerBatchStopped(t *testing.T) {
	k := &fakeBatchKernel{stopAfter: 1}
	r := NewReconciler(k, nil)
	desired := mustTable(t, "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=1\nTCP 10.99.0.2:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=1\n")
	n, err := r.Reconcile(t.Context(), desired)
	if !errors.Is(err, errStopped) || !strings.Contains(err.Error(), "stopped after 1 of 4 ops") || n != 1 {
		t.Fatalf("Reconcile = %d, %v; want 1 op and the stop naming 1 of 4", n, err)
	}
	if len(k.batches) != 1 {
		t.Errorf("%d batches sent, want 1: the destination batch must not follow a stop", len(k.batches))
	}
	reads := k.reads
	k.stopAfter = 0
	if n, err := r.Update(t.Context(), desired); err != nil || n != 3 || k.reads != reads+1 {
		t.Errorf("Update after the stop = %d, %v (%d reads); want the 3 missing ops after a read", n, err, k.reads-reads)
	}
}
