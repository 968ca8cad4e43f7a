package lvs

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/vmtest"
)

// Host-side switches for TestVM: with -vm.bench the VM runs the matching
// benchmarks (BenchmarkKernelCheckers) instead of the TestKernel* tests.
var (
	vmBench = flag.String("vm.bench", "", "run the benchmarks matching this regexp inside the VM (TestVM) instead of the TestKernel tests")
	vmMem   = flag.Int("vm.mem", 0, "guest memory in MB for TestVM (default 512, 2048 with -vm.bench)")
	vmSMP   = flag.Int("vm.smp", 0, "virtual CPUs for TestVM (default 1)")
	// vmTCPPool is passed on to the VM: BenchmarkKernelCheckers then
	// hides the TCP_CHECKs' check.Connector so that the Scheduler runs
	// them on its worker pool, the way before its event loop.
	vmTCPPool = flag.Bool("vm.tcppool", false, "with -vm.bench: run vigil's TCP_CHECKs on the scheduler's worker pool instead of its event loop (for comparison)")
)

// vmBenchOptions applies -vm.bench, -vm.mem and -vm.smp to TestVM's run.
func vmBenchOptions(g *vmtest.GoTest) {
	g.MemoryMB, g.CPUs = *vmMem, *vmSMP
	if *vmBench == "" {
		return
	}
	g.Run = "^$"
	g.Bench = *vmBench
	g.Args = append(g.Args, "-test.benchtime=1x")
	if *vmTCPPool {
		g.Args = append(g.Args, "-vm.tcppool")
	}
	g.Timeout = 20 * time.Minute
	if g.MemoryMB == 0 {
		g.MemoryMB = 2048
	}
}

// BenchmarkKernelCheckers is the health checker comparison in the VM,
// against the real ip_vs: n TCP_CHECK real servers (delay_loop 1)
// against listeners on lo, served by a separate listener process. First
// vigil's Manager (in this process) runs them, then Debian's keepalived
// -n -l -C on the same keepalived.conf. For each, once every listener is
// being probed periodically, a 20 s window measures CPU (utime+stime from
// /proc/PID/stat: this process for vigil, keepalived's checker child for
// keepalived), RSS (VmRSS), the probe rate and the p99 deviation of each
// real server's check period from delay_loop — from vigil's probe start
// times, and for both from the listeners' accept times (benchCheckers,
// checkbench_linux_test.go). Inside the VM only (TestVM -vm.bench
// KernelCheckers); under TCG emulation it keeps up with a few hundred
// real servers, BenchmarkHostCheckers runs the larger sizes on the host.
func BenchmarkKernelCheckers(b *testing.B) {
	for _, n := range []int{100, 200, 500, 1000, 2000, 5000, 10000} {
		b.Run(fmt.Sprintf("rs=%d", n), func(b *testing.B) {
			for b.Loop() {
				k := newVMKernel(b)
				benchCheckers(b, n, checkBenchSetup{
					machine:    "VM",
					where:      machineSize() + " (TCG)",
					kernel:     k,
					afterVigil: k.Flush,
					// keepalived -l opens syslog with LOG_CONS: without
					// a /dev/log its messages would land on the VM
					// console, which carries the results.
					keepalived: kaStart{logSink: benchSyslog},
					tcpPool:    *vmTCPPool,
				}).report(b)
			}
		})
	}
}

// benchSyslog receives syslog datagrams on /dev/log into w until the
// benchmark ends. It replaces the machine's /dev/log: the VM's only.
func benchSyslog(b testing.TB, w io.Writer) {
	b.Helper()
	if !vmtest.InVM() {
		b.Fatalf("benchSyslog replaces /dev/log: inside the VM only")
	}
	_ = os.Remove("/dev/log")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "/dev/log", Net: "unixgram"})
	if err != nil {
		b.Fatalf("listen on /dev/log: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 8192)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			_, _ = w.Write(append(buf[:n:n], '\n'))
		}
	}()
	b.Cleanup(func() {
		c.Close()
		<-done
		_ = os.Remove("/dev/log")
	})
}
