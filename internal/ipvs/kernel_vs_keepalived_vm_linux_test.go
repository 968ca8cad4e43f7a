package ipvs

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The file name sorts after kernel_vm_linux_test.go on purpose: the go
// tool runs benchmarks in file order, so this one runs after
// BenchmarkKernelSync and the teardown of its namespaces (the kernel
// frees their IPVS tables asynchronously) cannot overlap that benchmark.

// BenchmarkKernelSyncVsKeepalived puts vigil's and keepalived's time to
// program the same 10,000 virtual servers × 10 real servers into an empty
// IPVS table side by side, in the same VM.
//
// Each side gets a network namespace of its own, created for it and
// holding an empty IPVS table. That is what keeps the two measurements
// independent: the kernel keeps deleted real servers on a per-namespace
// "trash" list for minutes and scans it on every add, so a sync right
// after a flush of 110,000 entries measures that scan instead.
//
//   - vigil: Reconcile of the table from an empty kernel table (what
//     BenchmarkKernelSync measures in the VM's own namespace), batched;
//     vigil-ack-each: the same with an ack requested for every op;
//     moby: op by op through github.com/moby/ipvs, the old write path.
//   - keepalived: Debian's keepalived -n -l -G -C started on the
//     equivalent keepalived.conf (no checkers, so every real server is
//     added as up), timed from exec until the kernel table holds all
//     110,000 entries. That includes its start-up and the parsing of the
//     350,000-line file; the "first-to-full" metric leaves them out. Its
//     removal of the table on SIGTERM is not timed.
//
// The VM is TCG-emulated, so only the ratio means anything.
func BenchmarkKernelSyncVsKeepalived(b *testing.B) {
	newVMKernel(b) // skips outside the VM
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		b.Skipf("keepalived not in the VM (install Debian package keepalived on the host): %v", err)
	}
	const services, dests = 10000, 10
	desired := bigTable(services, dests)
	if err := desired.Validate(); err != nil {
		b.Fatal(err)
	}
	entries := services * (dests + 1)
	want := desired.Sorted().String()
	conf := keepalivedConf(desired)
	dir := b.TempDir()
	confPath := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}

	var ka, kaFirst time.Duration
	// vigil's namespaces, still holding their 110,000 entries, are
	// removed only when the whole benchmark ends: the kernel tears a
	// namespace's IPVS table down in the background, which would
	// otherwise run on the VM's only CPU while the next side is timed.
	outer := b
	// Three ways for vigil to write: batched (the Kernel's ApplyBatch,
	// an ack for the last op of each sendmsg only), batched with an ack
	// for every op, and op by op through moby/ipvs (the old path).
	variants := []struct {
		name string
		open func(path string) (KernelTable, func(), error)
	}{
		{"vigil", func(path string) (KernelTable, func(), error) {
			k, err := Open(path)
			return k, func() { k.Close() }, err
		}},
		{"vigil-ack-each", func(path string) (KernelTable, func(), error) {
			k, err := Open(path)
			if err == nil {
				k.ackEach = true
			}
			return k, func() { k.Close() }, err
		}},
		{"moby", func(path string) (KernelTable, func(), error) {
			k, err := openMoby(path)
			return k, func() { k.Close() }, err
		}},
	}
	took := map[string]time.Duration{}
	for _, v := range variants {
		b.Run("10000x10/"+v.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				ns := newFreshNetns(b, outer.Cleanup)
				k, closeK, err := v.open(ns.path)
				if err != nil {
					b.Fatal(err)
				}
				outer.Cleanup(closeK)
				r := NewReconciler(k, nil)
				b.StartTimer()
				start := time.Now()
				n, err := r.Reconcile(b.Context(), desired)
				d := time.Since(start)
				b.StopTimer()
				if err != nil || n != entries {
					b.Fatalf("Reconcile = %d, %v; want %d ops", n, err, entries)
				}
				checkTable(b, openIn(b, ns, outer.Cleanup), entries, want)
				took[v.name] = d
				b.StartTimer()
			}
			b.ReportMetric(took[v.name].Seconds(), "s/sync")
		})
	}
	b.Run("10000x10/keepalived", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			first, last := desired[0], desired[len(desired)-1]
			b.StartTimer()
			kp := startKeepalivedNetns(b, bin, dir, confPath)
			// keepalived adds the virtual servers in file order, each
			// followed by its real servers: two cheap requests (a get of
			// one service and a dump of its real servers) tell when the
			// first and the last are in, without dumping 110,000 entries
			// while keepalived works on the VM's only CPU.
			var firstAt, doneAt time.Time
			deadline := kp.start.Add(5 * time.Minute)
			for {
				now := time.Now()
				if firstAt.IsZero() && kp.present(b, first) >= 0 {
					firstAt = now
				}
				if !firstAt.IsZero() && kp.present(b, last) == len(last.Dests) {
					doneAt = time.Now()
					break
				}
				if now.After(deadline) {
					b.Fatalf("keepalived did not program the last virtual server within 5 minutes\n%s", kp.log())
				}
				select {
				case <-kp.exited:
					b.Fatalf("keepalived exited before programming IPVS:\n%s", kp.log())
				case <-time.After(20 * time.Millisecond):
				}
			}
			b.StopTimer()
			checkTable(b, kp.k, entries, want)
			ka, kaFirst = doneAt.Sub(kp.start), doneAt.Sub(firstAt)
			kp.stop()
			b.StartTimer()
		}
		b.ReportMetric(ka.Seconds(), "s/sync")
		b.ReportMetric(kaFirst.Seconds(), "s-first-to-full")
	})
	if ka > 0 {
		us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(entries) }
		var line strings.Builder
		for _, v := range variants {
			if d := took[v.name]; d > 0 {
				fmt.Fprintf(&line, "%s %.2fs (%.0f µs/entry, %.2f × keepalived from first entry); ", v.name, d.Seconds(), us(d), d.Seconds()/kaFirst.Seconds())
			}
		}
		b.Logf("sync %d virtual servers x %d real servers from empty (%d entries), each side in a fresh netns of the same TCG VM: "+
			"%skeepalived %.2fs from exec, %.2fs from its first entry to the last (%.0f µs/entry)",
			services, dests, entries, line.String(), ka.Seconds(), kaFirst.Seconds(), us(kaFirst))
	}
}

// keepalivedConf writes t as keepalived.conf virtual_server blocks with no
// checkers. It covers what bigTable uses: TCP address:port services and
// NAT real servers with a weight.
func keepalivedConf(t Table) string {
	var sb strings.Builder
	for _, s := range t {
		fmt.Fprintf(&sb, "virtual_server %s %d {\n    lb_algo %s\n    lb_kind NAT\n    protocol TCP\n",
			s.Key.Addr, s.Key.Port, s.Scheduler)
		for _, d := range s.Dests {
			fmt.Fprintf(&sb, "    real_server %s %d {\n        weight %d\n    }\n", d.Addr, d.Port, d.Weight)
		}
		sb.WriteString("}\n")
	}
	return sb.String()
}

// checkTable reads the whole table back (not timed) and compares it with
// want.
func checkTable(b *testing.B, k *Kernel, entries int, want string) {
	b.Helper()
	got, err := k.Read(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, s := range got {
		n += 1 + len(s.Dests)
	}
	if n != entries {
		b.Fatalf("kernel table holds %d entries, want %d", n, entries)
	}
	if got.String() != want {
		b.Fatalf("kernel table differs from the desired one (%d entries each)", entries)
	}
}

// freshNetns is a network namespace created for one side of the
// benchmark: an empty IPVS table with an empty trash list. Its loopback is
// up: the kernel refuses (EINVAL) a real server whose address type it
// cannot determine, and a namespace without any address has no local
// routing table to determine it from.
type freshNetns struct {
	path string        // opens the namespace, for Open
	do   chan func()   // run on the thread that lives in it
	done chan struct{} // closed when that thread has exited
}

// cleanup registers its removal (b.Cleanup, or a parent benchmark's).
func newFreshNetns(b *testing.B, cleanup func(func())) *freshNetns {
	b.Helper()
	ns := &freshNetns{do: make(chan func()), done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		defer close(ns.done)
		// The thread never returns to the scheduler's pool: a goroutine
		// that exits locked takes its thread with it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			errc <- fmt.Errorf("set lo up in the new namespace: %w", err)
			return
		}
		f, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		ns.path = fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd())
		errc <- nil
		for fn := range ns.do {
			fn()
		}
	}()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	cleanup(func() {
		close(ns.do)
		<-ns.done
	})
	return ns
}

// run calls fn on the namespace's thread: a process started there is in
// the namespace.
func (ns *freshNetns) run(fn func()) {
	ran := make(chan struct{})
	ns.do <- func() { defer close(ran); fn() }
	<-ran
}

func openIn(b *testing.B, ns *freshNetns, cleanup func(func())) *Kernel {
	b.Helper()
	k, err := Open(ns.path)
	if err != nil {
		b.Fatal(err)
	}
	cleanup(func() { k.Close() })
	return k
}

type keepalivedProc struct {
	k      *Kernel // its namespace's IPVS table
	start  time.Time
	exited chan struct{}
	stop   func()
	log    func() string
}

// startKeepalivedNetns execs keepalived's checker process in a fresh
// network namespace and opens that namespace's IPVS table. start is taken
// just before the exec.
func startKeepalivedNetns(b *testing.B, bin, dir, confPath string) *keepalivedProc {
	b.Helper()
	var mu sync.Mutex
	var out strings.Builder
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if out.Len() < 1<<20 {
			out.Write(p)
		}
		return len(p), nil
	})
	// -G: the VM has no syslog daemon; -l puts the log on w instead.
	cmd := exec.Command(bin, "-n", "-l", "-G", "-C", "-f", confPath,
		"-p", filepath.Join(dir, "keepalived.pid"), "-c", filepath.Join(dir, "checkers.pid"))
	cmd.Stdout, cmd.Stderr = w, w
	ns := newFreshNetns(b, b.Cleanup)
	kp := &keepalivedProc{exited: make(chan struct{}), k: openIn(b, ns, b.Cleanup)}
	var err error
	ns.run(func() {
		kp.start = time.Now()
		err = cmd.Start()
	})
	if err != nil {
		b.Fatalf("start keepalived: %v", err)
	}
	go func() {
		_ = cmd.Wait()
		close(kp.exited)
	}()
	kp.log = func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String()
	}
	// SIGTERM: keepalived removes its 110,000 entries, which takes a
	// while under emulation; it is not part of the measurement.
	kp.stop = sync.OnceFunc(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-kp.exited:
		case <-time.After(3 * time.Minute):
			_ = cmd.Process.Kill()
			<-kp.exited
		}
	})
	b.Cleanup(kp.stop)
	return kp
}

// present returns -1 if s is not in the table yet, else how many of its
// real servers are.
func (kp *keepalivedProc) present(b *testing.B, s Service) int {
	got, ok, err := kp.k.lookup(s.Key)
	if err != nil || !ok {
		return -1 // not there yet, or removed between the two requests
	}
	return len(got.Dests)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
