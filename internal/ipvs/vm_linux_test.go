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
	vmCount = flag.Int("vm.count", 1, "with -vm.bench: runs of each benchmark inside the VM (go test -count), for medians")
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
		g.Args = []string{"-test.benchtime=1x", "-test.benchmem", fmt.Sprintf("-test.count=%d", max(*vmCount, 1))}
		g.Timeout = time.Duration(10*max(*vmCount, 1)) * time.Minute
		if g.MemoryMB == 0 {
			g.MemoryMB = 1024
		}
	}
	// The differential test needs keepalived in the VM; without it on the
	// host, TestKernelMatchesKeepalived skips inside the VM and says why.
	if _, err := exec.LookPath("keepalived"); err == nil {
		g.Programs = append(g.Programs, "keepalived")
	}
	vmtest.RunGoTest(t, g)
}
