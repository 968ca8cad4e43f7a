package lvs

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/ipvs"
	"github.com/vigil-ha/vigil/internal/vmtest"
)

// TestVM boots one VM and runs every TestKernel* test of this package in
// it (see internal/vmtest): the shared keepalived.conf cases against the
// real ip_vs and Debian's keepalived, and the end-to-end health check
// tests with real listeners on lo.
func TestVM(t *testing.T) {
	mods := []string{"crc32c_generic", "ip_vs", "ip_vs_pe_sip"}
	for _, s := range ipvs.Schedulers() {
		mods = append(mods, "ip_vs_"+s)
	}
	// The shared cases live at the repository root; inside the VM they
	// are at ./testdata/ipvs.
	files := map[string][]byte{}
	paths, _ := filepath.Glob(filepath.Join(caseDir(t), "*.txtar"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files["vmtest/testdata/ipvs/"+filepath.Base(p)] = b
	}
	g := vmtest.GoTest{
		Run:      "^TestKernel",
		Modules:  mods,
		Programs: []string{"ipvsadm"},
		Files:    files,
		Timeout:  5 * time.Minute,
	}
	if _, err := exec.LookPath("keepalived"); err == nil {
		g.Programs = append(g.Programs, "keepalived")
	}
	vmBenchOptions(&g) // -vm.bench, -vm.mem, -vm.smp (checkbench_vm_linux_test.go)
	tm := vmtest.RunGoTest(t, g)
	t.Logf("VM timings: kernel %v, base %v, build %v, boot %v, VM total %v", tm.Kernel, tm.Base, tm.Build, tm.Boot, tm.VM)
}
