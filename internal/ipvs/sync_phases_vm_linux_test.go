package ipvs

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The file name sorts after kernel_vs_keepalived_vm_linux_test.go on
// purpose: benchmarks run in file order, and the namespaces this one
// leaves behind are torn down by the kernel in the background.

// BenchmarkKernelSyncPhases splits a 10,000 × 10 sync from empty, in a
// fresh network namespace of the VM, into its phases: validation, the
// read of the (empty) table, the diff, the encoding of every op alone,
// the batched apply (encoding, sendmsg and the kernel's work, with the
// process's user and system CPU time over it) and the copy the
// Reconciler keeps as known state. Each is reported in ms.
func BenchmarkKernelSyncPhases(b *testing.B) {
	newVMKernel(b) // skips outside the VM
	desired := bigTable(10000, 10)
	outer := b
	var ph struct{ validate, read, diff, encode, apply, utime, stime, known time.Duration }
	for b.Loop() {
		b.StopTimer()
		ns := newFreshNetns(b, outer.Cleanup)
		k := openIn(b, ns, outer.Cleanup)
		b.StartTimer()

		t0 := time.Now()
		if err := desired.Validate(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		actual, err := k.Read(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		ops := Diff(desired, actual, nil)
		t3 := time.Now()
		var e encoder
		e.b = make([]byte, 0, batchBytes+4096)
		for i, op := range ops {
			if i%batchOps == 0 {
				e.b = e.b[:0]
			}
			if err := e.op(k.family, nlmFRequest, uint32(i), op); err != nil {
				b.Fatal(err)
			}
		}
		t4 := time.Now()
		var ru0, ru1 unix.Rusage
		_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
		errs, err := k.ApplyBatch(b.Context(), ops)
		_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
		t5 := time.Now()
		if err != nil || len(errs) != len(ops) {
			b.Fatalf("ApplyBatch: %d of %d, %v", len(errs), len(ops), err)
		}
		for _, e := range errs {
			if e != nil {
				b.Fatal(e)
			}
		}
		_ = desired.Sorted()
		t6 := time.Now()
		ph.validate, ph.read, ph.diff, ph.encode, ph.apply, ph.known = t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3), t5.Sub(t4), t6.Sub(t5)
		ph.utime = time.Duration(ru1.Utime.Nano() - ru0.Utime.Nano())
		ph.stime = time.Duration(ru1.Stime.Nano() - ru0.Stime.Nano())
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(ph.validate), "ms-validate")
	b.ReportMetric(ms(ph.read), "ms-read")
	b.ReportMetric(ms(ph.diff), "ms-diff")
	b.ReportMetric(ms(ph.encode), "ms-encode")
	b.ReportMetric(ms(ph.apply), "ms-apply")
	b.ReportMetric(ms(ph.utime), "ms-apply-user")
	b.ReportMetric(ms(ph.stime), "ms-apply-sys")
	b.ReportMetric(ms(ph.known), "ms-known")
}
