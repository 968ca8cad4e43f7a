package ipvs

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/vmtest"
)

func TestVMTmp(t *testing.T) {
	vmtest.RunGoTest(t, vmtest.GoTest{
		Run: "^$", Bench: "KernelProf", Args: []string{"-test.benchtime=1x"},
		Modules: vmModules(), MemoryMB: 1024, Timeout: 10 * 60e9,
	})
}

func BenchmarkKernelProf(b *testing.B) {
	k := newVMKernel(b)
	desired := bigTable(10000, 10)
	var ms runtime.MemStats
	for _, mode := range []string{"direct", "reconcile", "direct"} {
		k.Flush()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		gc0 := ms.NumGC
		start := time.Now()
		switch mode {
		case "reconcile":
			NewReconciler(k, nil).Reconcile(b.Context(), desired)
		default:
			if mode == "direct-gc-off" {
				old := debugSetGCPercent(-1)
				defer debugSetGCPercent(old)
			}
			for _, op := range Diff(desired, nil, nil) {
				if err := k.Apply(b.Context(), op); err != nil {
					b.Fatal(err)
				}
			}
		}
		runtime.ReadMemStats(&ms)
		fmt.Printf("MODE %s %v gcs=%d heap=%dMB\n", mode, time.Since(start), ms.NumGC-gc0, ms.HeapAlloc>>20)
	}
}
