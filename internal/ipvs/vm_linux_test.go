package ipvs

import (
	"flag"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/vmtest"
)

var (
	vmBench = flag.String("vm.bench", "", "run the benchmarks matching this regexp inside the VM (TestVM)")
	vmMem   = flag.Int("vm.mem", 0, "guest memory in MB for TestVM (default 512, 1024 with -vm.bench)")
	vmBoots = flag.Int("vm.boots", 1, "with -vm.bench: boot the VM this many times and run the benchmarks in each, for medians (a sync into a freshly flushed big table measures the kernel's trash list, so runs must not share a boot)")
)

// vmModules are loaded before the kernel tests: ip_vs, every scheduler
// Validate accepts, and the SIP persistence engine (persistence_engine
// sip; it pulls in nf_conntrack_sip). The busybox initramfs has no
// modprobe for the kernel's own request_module to call. GUE and GRE
// tunnel destinations need no module to be programmed (only to forward).
func vmModules() []string {
	mods := []string{"crc32c_generic", "ip_vs", "ip_vs_pe_sip"}
	for _, s := range Schedulers() {
		mods = append(mods, "ip_vs_"+s)
	}
	return mods
}

// TestVM runs the TestKernel* tests (and, with -vm.bench, benchmarks)
// against a real ip_vs in a qemu VM; see internal/vmtest. Their results
// appear as subtests of TestVM with the same names.
func TestVM(t *testing.T) {
	g := vmtest.GoTest{
		Run:      "^TestKernel",
		Modules:  vmModules(),
		Programs: []string{"ipvsadm"},
		Dirs:     []string{"testdata"},
		MemoryMB: *vmMem,
		Timeout:  3 * time.Minute,
	}
	if *vmBench != "" {
		g.Bench = *vmBench
		g.Args = []string{"-test.benchtime=1x", "-test.benchmem"}
		g.Timeout = 10 * time.Minute
		if g.MemoryMB == 0 {
			g.MemoryMB = 1024
		}
	}
	// The differential test needs keepalived in the VM; without it on the
	// host, TestKernelMatchesKeepalived skips inside the VM and says why.
	if _, err := exec.LookPath("keepalived"); err == nil {
		g.Programs = append(g.Programs, "keepalived")
	}
	if *vmBench != "" && *vmBoots > 1 {
		for i := range *vmBoots {
			t.Run(fmt.Sprintf("boot%d", i+1), func(t *testing.T) { vmtest.RunGoTest(t, g) })
		}
		return
	}
	vmtest.RunGoTest(t, g)
}
