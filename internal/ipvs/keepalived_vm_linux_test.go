package ipvs

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"
)

// TestKernelMatchesKeepalived is the differential test: for each
// testdata/keepalived case, Debian's keepalived (checker process only, no
// health checks) programs the IPVS table from keepalived.conf; then vigil
// programs it from the equivalent desired table. Both the table read back
// over netlink and `ipvsadm -Ln` must be identical.
//
// Until the conf → Table mapping exists, each case spells out the desired
// table by hand; once it does, the case can drop that section.
func TestKernelMatchesKeepalived(t *testing.T) {
	k := newVMKernel(t)
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skipf("keepalived not in the VM (install Debian package keepalived on the host): %v", err)
	}
	files, err := filepath.Glob("testdata/keepalived/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no keepalived cases: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sec := map[string]string{}
			for _, f := range ar.Files {
				sec[f.Name] = string(f.Data)
			}
			desired := mustTable(t, sec["desired"])
			if err := k.Flush(); err != nil {
				t.Fatal(err)
			}

			kaTable, kaText := runKeepalived(t, k, bin, sec["keepalived.conf"], desired)

			if err := k.Flush(); err != nil {
				t.Fatal(err)
			}
			if _, err := NewReconciler(k, nil).Reconcile(t.Context(), desired); err != nil {
				t.Fatalf("vigil Reconcile: %v", err)
			}
			ours, err := k.Read(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(kaTable.String(), ours.String()); diff != "" {
				t.Errorf("IPVS table, keepalived (-) vs vigil (+):\n%s", diff)
			}
			if diff := cmp.Diff(kaText, ipvsadm(t, "-Ln")); diff != "" {
				t.Errorf("ipvsadm -Ln, keepalived (-) vs vigil (+):\n%s", diff)
			}
		})
	}
}

// runKeepalived starts keepalived's checker process on conf, waits until
// the kernel table has as many services and real servers as want, reads
// it, and stops keepalived again.
func runKeepalived(t *testing.T, k *Kernel, bin, conf string, want Table) (Table, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// Its log goes to syslog, which this test receives on /dev/log (the
	// VM has no syslog daemon) rather than letting -l put it on the
	// console the test output shares; failures print it.
	logText := syslogSink(t)
	var out strings.Builder
	cmd := exec.Command(bin, "-n", "-D", "-C", "-f", path,
		"-p", filepath.Join(dir, "keepalived.pid"), "-c", filepath.Join(dir, "checkers.pid"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start keepalived: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// SIGTERM makes keepalived remove what it programmed, as on a
	// normal shutdown; then it must be gone before the next case.
	stop := sync.OnceFunc(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	defer stop()

	size := func(tab Table) (n int) {
		for _, s := range tab {
			n += 1 + len(s.Dests)
		}
		return n
	}
	deadline := time.Now().Add(15 * time.Second)
	var got Table
	for {
		var err error
		got, err = k.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if size(got) >= size(want) {
			break
		}
		select {
		case err := <-exited:
			exited <- err // for stop
			t.Fatalf("keepalived exited (%v) before programming IPVS:\n%s", err, out.String()+logText())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("keepalived programmed %d of %d services and real servers in 15s; table:\n%s\nlog:\n%s",
				size(got), size(want), got, out.String()+logText())
		}
	}
	text := ipvsadm(t, "-Ln")
	stop()
	if t.Failed() {
		t.Logf("keepalived log:\n%s", out.String()+logText())
	}
	return got, text
}

// syslogSink receives syslog datagrams on /dev/log until the test ends and
// returns a function giving what arrived so far.
func syslogSink(t *testing.T) func() string {
	t.Helper()
	_ = os.Remove("/dev/log")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: "/dev/log", Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on /dev/log: %v", err)
	}
	var mu sync.Mutex
	var b strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 8192)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			b.Write(buf[:n])
			b.WriteByte('\n')
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		c.Close()
		<-done
		_ = os.Remove("/dev/log")
	})
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return b.String()
	}
}
