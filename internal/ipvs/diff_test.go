package ipvs

import (
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
// to apply to BenchmarkKernelSync10k.
func BenchmarkDiff10k(b *testing.B) {
	desired := bigTable(10000, 10)
	b.Run("from-empty", func(b *testing.B) {
		for b.Loop() {
			if ops := Diff(desired, nil, nil); len(ops) != 110000 {
				b.Fatalf("%d ops", len(ops))
			}
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		actual := desired.Sorted()
		for b.Loop() {
			if ops := Diff(desired, actual, nil); len(ops) != 0 {
				b.Fatalf("%d ops", len(ops))
			}
		}
	})
}
