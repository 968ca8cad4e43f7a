package ipvs

import (
	"context"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite the want sections of testdata/diff/*.txtar")

// TestDiffGolden runs every testdata/diff case: the ops must match the
// want section, applying them to the actual table must give the desired
// services while leaving unowned undesired ones as they were, and a
// second diff must be empty.
func TestDiffGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/diff/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sec := map[string]string{}
			for _, f := range ar.Files {
				sec[f.Name] = string(f.Data)
			}
			desired, actual := mustTable(t, sec["desired"]), mustTable(t, sec["actual"])
			if err := desired.Validate(); err != nil {
				t.Fatalf("desired table invalid: %v", err)
			}
			owned := map[ServiceKey]bool{}
			for _, s := range mustTable(t, sec["owned"]) {
				owned[s.Key] = true
			}

			ops := Diff(desired, actual, owned)
			var got strings.Builder
			for _, op := range ops {
				got.WriteString(op.String() + "\n")
			}
			if *update {
				for i := range ar.Files {
					if ar.Files[i].Name == "want" {
						ar.Files[i].Data = []byte(got.String())
					}
				}
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if diff := cmp.Diff(sec["want"], got.String()); diff != "" {
				t.Errorf("ops differ (-want +got):\n%s", diff)
			}

			k := &fakeKernel{table: slices.Clone(actual)}
			for _, op := range ops {
				if err := k.Apply(t.Context(), op); err != nil {
					t.Fatalf("op does not apply to the actual table: %v", err)
				}
			}
			want := append(Table{}, desired...)
			for _, s := range actual {
				if !owned[s.Key] && !containsKey(desired, s.Key) {
					want = append(want, s)
				}
			}
			if diff := cmp.Diff(want.Sorted().String(), k.table.Sorted().String()); diff != "" {
				t.Errorf("table after applying the ops (-want +got):\n%s", diff)
			}
			if again := Diff(desired, k.table, owned); len(again) != 0 {
				t.Errorf("second diff not empty: %v", again)
			}
		})
	}
}

func containsKey(t Table, k ServiceKey) bool {
	for _, s := range t {
		if s.Key == k {
			return true
		}
	}
	return false
}

func TestDiffOpCounts(t *testing.T) {
	base := `TCP 10.99.0.1:80 sched=wlc
  -> 10.99.1.1:80 fwd=nat weight=1
  -> 10.99.1.2:80 fwd=nat weight=1
UDP 10.99.0.1:53 sched=rr
  -> 10.99.1.1:53 fwd=nat weight=1
`
	tests := []struct {
		name    string
		desired string
		want    []OpKind
	}{
		{"same", base, nil},
		{"weight", strings.Replace(base, "10.99.1.2:80 fwd=nat weight=1", "10.99.1.2:80 fwd=nat weight=9", 1), []OpKind{EditDest}},
		{"threshold", strings.Replace(base, "10.99.1.2:80 fwd=nat weight=1", "10.99.1.2:80 fwd=nat weight=1 u=5", 1), []OpKind{EditDest}},
		{"forwarding", strings.Replace(base, "10.99.1.1:53 fwd=nat", "10.99.1.1:53 fwd=dr", 1), []OpKind{EditDest}},
		{"scheduler", strings.Replace(base, "sched=wlc", "sched=lblcr", 1), []OpKind{EditService}},
		{"persistence", strings.Replace(base, "sched=rr", "sched=rr persistent=30", 1), []OpKind{EditService}},
		{"drop dest", strings.Replace(base, "  -> 10.99.1.2:80 fwd=nat weight=1\n", "", 1), []OpKind{DelDest}},
		{"add dest", base + "  -> 10.99.1.3:53 fwd=nat weight=1\n", []OpKind{AddDest}},
		{"drop service", strings.SplitAfter(base, "weight=1\n  -> 10.99.1.2:80 fwd=nat weight=1\n")[0], []OpKind{DelService}},
		{"add service", base + "SCTP 10.99.0.1:9 sched=fo\n  -> 10.99.1.1:9 fwd=nat weight=1\n", []OpKind{AddService, AddDest}},
	}
	actual := mustTable(t, base)
	owned := map[ServiceKey]bool{}
	for _, s := range actual {
		owned[s.Key] = true
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []OpKind
			for _, op := range Diff(mustTable(t, tc.desired), actual, owned) {
				got = append(got, op.Kind)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("op kinds (-want +got):\n%s", diff)
			}
		})
	}
}

// bigTable returns n TCP services with dests NAT real servers each.
func bigTable(n, dests int) Table {
	t := make(Table, 0, n)
	for i := range n {
		ap := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 99, 0, byte(1 + i%200)}), uint16(1000+i/200))
		s := Service{Key: AddrPortKey(TCP, ap), Scheduler: "wlc"}
		for j := range dests {
			s.Dests = append(s.Dests, Destination{Addr: netip.AddrFrom4([4]byte{10, 99, 1, byte(1 + j)}), Port: 80, Weight: 1 + j})
		}
		t = append(t, s)
	}
	return t
}

// BenchmarkDiff10k measures the pure part of a sync of 10,000 services
// with 10 real servers each. It runs on the host and, through TestVM
// -vm.bench, in the VM: the ratio of the two is the emulation slowdown
// to apply to BenchmarkKernelSync. bigTable is not in key order, as a
// configuration need not be; "sorted" variants start from key order.
func BenchmarkDiff10k(b *testing.B) {
	desired := bigTable(10000, 10)
	sorted := desired.Sorted()
	changed := desired.Sorted()
	changed[5000].Dests[3].Weight = 99
	for _, bc := range []struct {
		name            string
		desired, actual Table
		want            int
	}{
		{"from-empty", desired, nil, 110000},
		{"from-empty-sorted", sorted, nil, 110000},
		{"unchanged", desired, sorted, 0},
		{"unchanged-sorted", sorted, sorted, 0},
		{"one-weight-sorted", changed, sorted, 1},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if ops := Diff(bc.desired, bc.actual, nil); len(ops) != bc.want {
					b.Fatalf("%d ops, want %d", len(ops), bc.want)
				}
			}
		})
	}
}

// BenchmarkValidate10k: Validate runs on every Reconcile and Update.
func BenchmarkValidate10k(b *testing.B) {
	desired := bigTable(10000, 10)
	for b.Loop() {
		if err := desired.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// encodingKernel is a BatchApplier that encodes every op as *Kernel
// does and keeps nothing, over a fixed table for Read: the user-space
// cost of a Reconciler pass without a kernel.
type encodingKernel struct {
	table Table
	enc   encoder
	ops   int
}

func (k *encodingKernel) Read(ctx context.Context) (Table, error) { return k.table, nil }

func (k *encodingKernel) Apply(ctx context.Context, op Op) error {
	_, err := k.ApplyBatch(ctx, []Op{op})
	return err
}

func (k *encodingKernel) ApplyBatch(ctx context.Context, ops []Op) ([]error, error) {
	errs := make([]error, len(ops))
	for i, op := range ops {
		if i%1024 == 0 {
			k.enc.b = k.enc.b[:0]
		}
		errs[i] = k.enc.op(0x20, nlmFRequest, uint32(i), op)
	}
	k.ops += len(ops)
	return errs, nil
}

// BenchmarkReconcile10k is the user-space part of BenchmarkKernelSync on
// the host: validation, diff, encoding and the known state, with the
// kernel replaced by encodingKernel.
func BenchmarkReconcile10k(b *testing.B) {
	desired := bigTable(10000, 10)
	b.Run("from-empty", func(b *testing.B) {
		for b.Loop() {
			k := &encodingKernel{}
			if n, err := NewReconciler(k, nil).Reconcile(b.Context(), desired); err != nil || n != 110000 || k.ops != n {
				b.Fatalf("Reconcile = %d, %v (%d encoded); want 110000 ops", n, err, k.ops)
			}
		}
	})
	b.Run("unchanged-reconcile", func(b *testing.B) {
		k := &encodingKernel{table: desired.Sorted()}
		r := NewReconciler(k, nil)
		for b.Loop() {
			if n, err := r.Reconcile(b.Context(), desired); err != nil || n != 0 {
				b.Fatalf("Reconcile = %d, %v; want 0 ops", n, err)
			}
		}
	})
	b.Run("one-weight-update", func(b *testing.B) {
		k := &encodingKernel{}
		r := NewReconciler(k, nil)
		changed := desired.Sorted()
		if _, err := r.Reconcile(b.Context(), changed); err != nil {
			b.Fatal(err)
		}
		for i := 0; b.Loop(); i++ {
			changed[0].Dests[0].Weight = 100 + i%2
			if n, err := r.Update(b.Context(), changed); err != nil || n != 1 {
				b.Fatalf("Update = %d, %v; want 1 op", n, err)
			}
		}
	})
}
