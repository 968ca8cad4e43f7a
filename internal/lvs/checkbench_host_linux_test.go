package lvs

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/nettest"
	"github.com/vishvananda/netlink"
)

// hostCheckSizes are BenchmarkHostCheckers' numbers of real servers.
var hostCheckSizes = []int{1000, 5000, 10000}

// Environment of the benchmark process BenchmarkHostCheckers starts
// (TestCheckBenchHostProcess).
const (
	envHostN    = "VIGIL_CHECKBENCH_HOST" // the number of real servers
	envHostShim = "VIGIL_CHECKBENCH_HOST_SHIM"
	envHostOut  = "VIGIL_CHECKBENCH_HOST_OUT" // where the result goes, as JSON
	envHostNS   = "VIGIL_CHECKBENCH_HOST_NETNS"
)

// BenchmarkHostCheckers is issue 6's health checker comparison on the
// host, whose kernel has no ip_vs: the figures of BenchmarkKernelCheckers
// (benchCheckers) for n TCP_CHECK real servers, delay_loop 1, against
// listeners on lo. vigil's lvs.Manager writes an in-memory IPVS table
// (fakeKernel); keepalived's checker process runs with an LD_PRELOAD
// shim (testdata/ipvsshim.c, built with gcc) that answers its IPVS socket
// options as an empty ip_vs would and accepts every change. So neither
// daemon's figures hold the kernel's IPVS work, which in steady state
// (every real server up) is none for both.
//
// Everything runs in a network namespace the benchmark creates (only lo,
// up) and deletes: a benchmark process (this test binary,
// TestCheckBenchHostProcess) started in it with ip netns exec runs
// benchCheckers, with the listener process and keepalived as its
// children, and hands back the figures as JSON.
func BenchmarkHostCheckers(b *testing.B) {
	for _, n := range hostCheckSizes {
		b.Run(fmt.Sprintf("rs=%d", n), func(b *testing.B) {
			nettest.RequireRoot(b)
			if _, err := exec.LookPath("keepalived"); err != nil {
				b.Skipf("keepalived not found (install Debian package keepalived: scripts/deps.sh bench): %v", err)
			}
			shim := buildIPVSShim(b)
			for b.Loop() {
				hostCheckers(b, n, shim).report(b)
			}
		})
	}
}

// hostCheckers runs benchCheckers for n real servers in a benchmark
// process inside a fresh network namespace and returns its result.
func hostCheckers(b *testing.B, n int, shim string) checkBenchResult {
	b.Helper()
	ns := newBenchNetns(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	out := filepath.Join(b.TempDir(), "result.json")
	cmd := exec.CommandContext(b.Context(), "ip", "netns", "exec", ns, exe,
		"-test.run=^TestCheckBenchHostProcess$", "-test.v", "-test.timeout=20m")
	cmd.Env = append(os.Environ(),
		fmt.Sprintf("%s=%d", envHostN, n), envHostShim+"="+shim, envHostOut+"="+out, envHostNS+"="+ns)
	logs := &syncBuf{}
	cmd.Stdout, cmd.Stderr = logs, logs
	// ip netns exec execs the test binary: it dies with this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		b.Fatalf("benchmark process in network namespace %s: %v\n%s", ns, err, tailLines(logs.String(), 40))
	}
	data, err := os.ReadFile(out)
	if err != nil && strings.Contains(logs.String(), "--- SKIP: TestCheckBenchHostProcess") {
		b.Skipf("the benchmark process skipped:\n%s", tailLines(logs.String(), 10))
	}
	if err != nil {
		b.Fatalf("benchmark process in network namespace %s left no result: %v\n%s", ns, err, tailLines(logs.String(), 40))
	}
	var res checkBenchResult
	if err := json.Unmarshal(data, &res); err != nil {
		b.Fatalf("benchmark process result %s: %v", out, err)
	}
	return res
}

// TestCheckBenchHostProcess is not a test: it is the benchmark process of
// BenchmarkHostCheckers, run only with VIGIL_CHECKBENCH_HOST set, inside
// the benchmark's network namespace. It runs benchCheckers and writes the
// result as JSON to the file VIGIL_CHECKBENCH_HOST_OUT names.
func TestCheckBenchHostProcess(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(envHostN))
	if err != nil {
		t.Skipf("benchmark process of BenchmarkHostCheckers only (%s unset)", envHostN)
	}
	// benchCheckers puts 10.99.1.254/24 on lo: never on the host's.
	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0].Attrs().Name != "lo" {
		var names []string
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		t.Fatalf("not in a network namespace of its own (links %q, want only lo): run BenchmarkHostCheckers instead", names)
	}
	where := fmt.Sprintf("%s, Linux %s, network namespace %s of its own", machineSize(), osRelease(), os.Getenv(envHostNS))
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		// keepalived then finds the IPVS generic-netlink family and
		// never reaches the shim.
		where += "; this kernel has ip_vs: keepalived writes the namespace's real IPVS table, vigil an in-memory one"
	} else {
		where += "; vigil writes an in-memory IPVS table, keepalived runs with the IPVS socket-option shim"
	}
	res := benchCheckers(t, n, checkBenchSetup{
		machine:    "host",
		where:      where,
		kernel:     newFakeKernel(),
		keepalived: kaStart{env: []string{"LD_PRELOAD=" + os.Getenv(envHostShim)}},
	})
	data, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(envHostOut), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIPVSShimAnswersIPVSSockopts: with testdata/ipvsshim.c preloaded,
// ipvsadm — whose libipvs falls back to the socket options, as
// keepalived's does, when the kernel has no IPVS generic-netlink family —
// finds an empty IPVS 1.2.1 and may add a service, on a kernel without
// ip_vs.
func TestIPVSShimAnswersIPVSSockopts(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds a network namespace (-short)")
	}
	nettest.RequireRoot(t)
	if _, err := exec.LookPath("ipvsadm"); err != nil {
		t.Skipf("ipvsadm not found (install Debian package ipvsadm: scripts/deps.sh test): %v", err)
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Skip("skipping: this kernel has ip_vs, so ipvsadm would use it rather than the shim")
	}
	shim := buildIPVSShim(t)
	ns := newBenchNetns(t)
	ipvsadm := func(args ...string) string {
		t.Helper()
		argv := append([]string{"netns", "exec", ns, "env", "LD_PRELOAD=" + shim, "ipvsadm"}, args...)
		out, err := exec.Command("ip", argv...).CombinedOutput()
		if err != nil {
			t.Fatalf("LD_PRELOAD=ipvsshim.so ipvsadm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return trimLines(string(out))
	}
	ipvsadm("-A", "-t", "10.99.0.1:80", "-s", "rr")
	ipvsadm("-a", "-t", "10.99.0.1:80", "-r", "10.99.1.1:80", "-m")
	// The shim keeps nothing: the table always reads empty.
	want := "IP Virtual Server version 1.2.1 (size=4096)\n" +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
	if got := ipvsadm("-Ln"); got != want {
		t.Errorf("ipvsadm -Ln with the shim:\n%s\nwant:\n%s", got, want)
	}
}

// buildIPVSShim compiles testdata/ipvsshim.c into a shared library in a
// temporary directory and returns its path. It skips when gcc is missing.
func buildIPVSShim(tb testing.TB) string {
	tb.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		tb.Skipf("gcc not found, needed to build testdata/ipvsshim.c (install Debian packages gcc and libc6-dev: scripts/deps.sh bench): %v", err)
	}
	src, err := filepath.Abs(filepath.Join("testdata", "ipvsshim.c"))
	if err != nil {
		tb.Fatal(err)
	}
	so := filepath.Join(tb.TempDir(), "ipvsshim.so")
	if out, err := exec.Command(gcc, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", "-o", so, src, "-ldl").CombinedOutput(); err != nil {
		tb.Fatalf("build %s (needs Debian packages gcc and libc6-dev): %v\n%s", src, err, out)
	}
	return so
}

// newBenchNetns creates a network namespace with a unique name, its lo
// up, and deletes it when tb ends, first killing any process a failed run
// left in it.
func newBenchNetns(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("vigil-ckb-%08x", rand.Uint32())
	ip := func(args ...string) ([]byte, error) { return exec.Command("ip", args...).CombinedOutput() }
	if out, err := ip("netns", "add", name); err != nil {
		tb.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	tb.Cleanup(func() {
		// A process still in the namespace would keep it, and its
		// checkers, alive after the name is gone.
		out, _ := ip("netns", "pids", name)
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				tb.Logf("killing process %d left in network namespace %s", pid, name)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if out, err := ip("netns", "del", name); err != nil {
			tb.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	if out, err := ip("-n", name, "link", "set", "lo", "up"); err != nil {
		tb.Fatalf("ip -n %s link set lo up: %v\n%s", name, err, out)
	}
	return name
}

func osRelease() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}
