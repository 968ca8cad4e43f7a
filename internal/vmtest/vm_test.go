package vmtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestVM boots this package's own test binary and checks, from inside,
// that the environment the harness promises is there.
func TestVM(t *testing.T) {
	RunGoTest(t, GoTest{
		Run:      "^TestInVM",
		Modules:  []string{"crc32c_generic", "ip_vs", "ip_vs_rr"},
		Programs: []string{"ipvsadm"},
	})
}

func requireVM(t *testing.T) {
	t.Helper()
	if !InVM() {
		t.Skipf("runs only inside the VM (%s=1); TestVM boots it", EnvInVM)
	}
}

func TestInVMModulesLoaded(t *testing.T) {
	requireVM(t)
	b, err := os.ReadFile("/proc/net/ip_vs")
	if err != nil {
		t.Fatalf("ip_vs not loaded by /init: %v", err)
	}
	if !strings.Contains(string(b), "IP Virtual Server version") {
		t.Errorf("/proc/net/ip_vs = %q, want the IPVS banner", b)
	}
	mods, err := os.ReadFile("/proc/modules")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"ip_vs_rr ", "nf_conntrack ", "libcrc32c "} {
		if !strings.Contains(string(mods), m) {
			t.Errorf("module %q missing from /proc/modules:\n%s", m, mods)
		}
	}
}

func TestInVMProgramWithLibraries(t *testing.T) {
	requireVM(t)
	out, err := exec.Command("ipvsadm", "-Ln").CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm -Ln: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "IP Virtual Server version") {
		t.Errorf("ipvsadm -Ln = %q, want the table header", out)
	}
}

func TestInVMModprobeSeesLoadedModule(t *testing.T) {
	requireVM(t)
	// Libraries such as moby/ipvs run "modprobe -va ip_vs"; it must
	// succeed quietly on the already loaded module.
	out, err := exec.Command("modprobe", "-va", "ip_vs").CombinedOutput()
	if err != nil {
		t.Errorf("modprobe -va ip_vs: %v\n%s", err, out)
	}
}
