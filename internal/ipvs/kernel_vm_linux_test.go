package ipvs

import (
	"context"
	"errors"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-ha/vigil/internal/vmtest"
	"golang.org/x/sys/unix"
	"golang.org/x/tools/txtar"
)

// newVMKernel returns the VM's IPVS table, flushed before and after the
// test. Outside the VM it skips: TestVM runs these tests.
func newVMKernel(tb testing.TB) *Kernel {
	tb.Helper()
	if !vmtest.InVM() {
		tb.Skipf("needs a kernel with ip_vs: runs inside the VM only (%s=1), via TestVM", vmtest.EnvInVM)
	}
	k, err := Open("")
	if err != nil {
		tb.Fatal(err)
	}
	if err := k.Flush(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := k.Flush(); err != nil {
			tb.Error(err)
		}
		k.Close()
	})
	return k
}

// countingKernel counts the ops that reach the kernel, each one netlink
// message, whether sent alone (Apply) or batched (ApplyBatch).
type countingKernel struct {
	*Kernel
	r          *Reconciler
	ops, reads int
}

func (c *countingKernel) Apply(ctx context.Context, op Op) error {
	c.ops++
	return c.Kernel.Apply(ctx, op)
}

// ApplyBatch counts each op of the batch: each is one netlink message.
func (c *countingKernel) ApplyBatch(ctx context.Context, ops []Op) ([]error, error) {
	errs, err := c.Kernel.ApplyBatch(ctx, ops)
	c.ops += len(errs)
	return errs, err
}

func (c *countingKernel) Read(ctx context.Context) (Table, error) {
	c.reads++
	return c.Kernel.Read(ctx)
}

func ipvsadm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ipvsadm", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestKernelTables applies each testdata/kernel case to the real ip_vs:
//
//	-- desired --            table applied to an empty kernel table
//	-- ipvsadm ARGS --       expected output of ipvsadm ARGS afterwards
//	-- changed --            table applied next
//	-- ops --                number of netlink ops the change must take
//	-- changed: ipvsadm ARGS --
//
// After each step the table read back must equal the one applied, and a
// second Reconcile must send nothing.
func TestKernelTables(t *testing.T) {
	k := newVMKernel(t)
	files, err := filepath.Glob("testdata/kernel/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no kernel cases: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			if err := k.Flush(); err != nil {
				t.Fatal(err)
			}
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sec := map[string]string{}
			var order []string
			for _, f := range ar.Files {
				sec[f.Name] = string(f.Data)
				order = append(order, f.Name)
			}
			ck := &countingKernel{Kernel: k}
			r := NewReconciler(ck, nil)
			ck.r = r

			desired := mustTable(t, sec["desired"])
			wantOps := len(Diff(desired, nil, nil))
			step(t, ck, r.Reconcile, desired, wantOps)
			checkIpvsadm(t, order, sec, "")

			if _, ok := sec["changed"]; !ok {
				return
			}
			changed := mustTable(t, sec["changed"])
			want, err := strconv.Atoi(strings.TrimSpace(sec["ops"]))
			if err != nil {
				t.Fatalf("ops section: %v", err)
			}
			// The change goes through Update: no read, the diff is
			// against what the first step left.
			reads := ck.reads
			step(t, ck, r.Update, changed, want)
			if ck.reads != reads+2 { // step's own read-back and Reconcile
				t.Errorf("Update read the kernel table %d times, want 0", ck.reads-reads-2)
			}
			checkIpvsadm(t, order, sec, "changed: ")
		})
	}
}

// step syncs to desired with sync (Reconcile or Update), expecting
// exactly wantOps netlink ops, then checks the read-back table and that a
// full Reconcile finds nothing left to do.
func step(t *testing.T, ck *countingKernel, sync func(context.Context, Table) (int, error), desired Table, wantOps int) {
	t.Helper()
	ck.ops = 0
	n, err := sync(t.Context(), desired)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if n != wantOps || ck.ops != wantOps {
		t.Errorf("sync applied %d ops (%d sent), want %d", n, ck.ops, wantOps)
	}
	got, err := ck.Read(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(desired.String(), got.String()); diff != "" {
		t.Errorf("kernel table after Reconcile (-want +got):\n%s", diff)
	}
	ck.ops = 0
	if n, err := ck.r.Reconcile(t.Context(), desired); err != nil || n != 0 || ck.ops != 0 {
		t.Errorf("second Reconcile = %d ops (%d sent), %v; want nothing to do", n, ck.ops, err)
	}
}

func checkIpvsadm(t *testing.T, order []string, sec map[string]string, prefix string) {
	t.Helper()
	for _, name := range order {
		rest, ok := strings.CutPrefix(name, prefix+"ipvsadm ")
		if !ok {
			continue
		}
		// ipvsadm pads its columns; golden files do not keep trailing
		// blanks.
		got := trimLines(ipvsadm(t, strings.Fields(rest)...))
		if diff := cmp.Diff(trimLines(sec[name]), got); diff != "" {
			t.Errorf("%s (-want +got):\n%s\ngot:\n%s", name, diff, got)
		}
	}
}

// TestKernelLeavesForeignServices: a service created with ipvsadm stays
// through vigil's add and removal of its own services.
func TestKernelLeavesForeignServices(t *testing.T) {
	k := newVMKernel(t)
	ipvsadm(t, "-A", "-t", "10.99.0.50:25", "-s", "lc")
	ipvsadm(t, "-a", "-t", "10.99.0.50:25", "-r", "10.99.1.50:25", "-g", "-w", "4")
	before := ipvsadm(t, "-Ln")
	r := NewReconciler(k, nil)
	mine := mustTable(t, "TCP 10.99.0.1:80 sched=rr\n  -> 10.99.1.1:80 fwd=nat weight=1\n")
	if n, err := r.Reconcile(t.Context(), mine); err != nil || n != 2 {
		t.Fatalf("Reconcile = %d, %v; want 2 ops", n, err)
	}
	if n, err := r.Reconcile(t.Context(), nil); err != nil || n != 1 {
		t.Fatalf("Reconcile to empty = %d, %v; want 1 op (delete own service)", n, err)
	}
	if after := ipvsadm(t, "-Ln"); after != before {
		t.Errorf("foreign service changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestKernelErrorsNameTheObject: kernel refusals come back as *OpError
// naming the virtual and real server, with the errno reachable.
func TestKernelErrorsNameTheObject(t *testing.T) {
	k := newVMKernel(t)
	svc := mustTable(t, "TCP 10.99.0.7:80 sched=rr\n")[0]
	dst := Destination{Addr: netip.MustParseAddr("10.99.1.7"), Port: 80, Weight: 1}
	err := k.Apply(t.Context(), Op{Kind: AddDest, Service: svc, Dest: dst})
	var oe *OpError
	if !errors.As(err, &oe) || !errors.Is(err, unix.ESRCH) {
		t.Fatalf("add destination to a missing service: %v; want *OpError wrapping ESRCH", err)
	}
	if want := "add real server 10.99.1.7:80 of virtual server TCP 10.99.0.7:80: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %q does not start with %q", err, want)
	}
	if err := k.Apply(t.Context(), Op{Kind: AddService, Service: svc}); err != nil {
		t.Fatal(err)
	}
	err = k.Apply(t.Context(), Op{Kind: AddService, Service: svc})
	if !errors.Is(err, unix.EEXIST) || !strings.Contains(err.Error(), "virtual server TCP 10.99.0.7:80: already exists") {
		t.Errorf("second add: %v; want EEXIST naming the service", err)
	}
}

// BenchmarkKernelSync is the target: 10,000 services with 10 real
// servers each, synced into an empty table (< 2 s on real hardware), then
// the same table again (read and compare only).
//
// Run it with -test.benchtime=1x in a freshly booted VM (TestVM
// -vm.bench does): the kernel keeps deleted real servers on a "trash"
// list for a while and scans it on every add, so a sync right after a
// flush of a big table is several times slower and measures that instead.
func BenchmarkKernelSync(b *testing.B) {
	k := newVMKernel(b)
	const services, dests = 10000, 10
	desired := bigTable(services, dests)
	if err := desired.Validate(); err != nil {
		b.Fatal(err)
	}
	ops := services * (dests + 1)
	r := NewReconciler(k, nil)
	b.Run("10000x10/from-empty", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if i > 0 {
				b.StopTimer()
				if err := k.Flush(); err != nil {
					b.Fatal(err)
				}
				r = NewReconciler(k, nil)
				b.StartTimer()
			}
			n, err := r.Reconcile(b.Context(), desired)
			if err != nil || n != ops {
				b.Fatalf("Reconcile = %d, %v; want %d ops", n, err, ops)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(ops*b.N), "µs/netlink-op")
	})
	b.Run("10000x10/unchanged", func(b *testing.B) {
		for b.Loop() {
			if n, err := r.Reconcile(b.Context(), desired); err != nil || n != 0 {
				b.Fatalf("Reconcile = %d, %v; want 0 ops", n, err)
			}
		}
	})
	changed, weight := desired.Sorted(), 100
	for _, mode := range []struct {
		name string
		sync func(context.Context, Table) (int, error)
	}{{"reconcile", r.Reconcile}, {"update", r.Update}} {
		b.Run("10000x10/one-weight-"+mode.name, func(b *testing.B) {
			for b.Loop() {
				weight++ // a new value every time: always exactly one op
				changed[0].Dests[0].Weight = weight
				if n, err := mode.sync(b.Context(), changed); err != nil || n != 1 {
					b.Fatalf("sync = %d, %v; want 1 op", n, err)
				}
			}
		})
	}
}

func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(lines, "\n")
}
