package lvs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/vigil-ha/vigil/internal/ipvs"
	"github.com/vigil-ha/vigil/internal/status"
	"github.com/vigil-ha/vigil/internal/vmtest"
	"github.com/vishvananda/netlink"
)

// newVMKernel returns the VM's IPVS table, flushed before and after.
// Outside the VM it skips: TestVM runs these tests.
func newVMKernel(tb testing.TB) *ipvs.Kernel {
	tb.Helper()
	if !vmtest.InVM() {
		tb.Skipf("needs a kernel with ip_vs: runs inside the VM only (%s=1), via TestVM", vmtest.EnvInVM)
	}
	k, err := ipvs.Open("")
	if err != nil {
		tb.Fatal(err)
	}
	if err := k.Flush(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := k.Flush(); err != nil {
			tb.Error(err)
		}
		k.Close()
	})
	return k
}

func ipvsadm(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ipvsadm", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ipvsadm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return trimLines(string(out))
}

// trimLines drops ipvsadm's column padding.
func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Join(lines, "\n")
}

func tableSize(tab ipvs.Table) (n int) {
	for _, s := range tab {
		n += 1 + len(s.Dests)
	}
	return n
}

// TestKernelConfigs loads each testdata/ipvs case with conf.Load, maps it,
// reconciles the VM's ip_vs and compares `ipvsadm -Ln` (and the other
// "ipvsadm ARGS" sections) with the case; then Debian's keepalived loads
// the same file (checker process only; no checkers, so every real server
// is up) and its table must read back the same.
func TestKernelConfigs(t *testing.T) {
	k := newVMKernel(t)
	bin, kaErr := exec.LookPath("keepalived")
	for _, c := range loadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			if why, ok := c.sec["vm skip"]; ok {
				t.Skip(strings.TrimSpace(why))
			}
			if err := k.Flush(); err != nil {
				t.Fatal(err)
			}
			p, _ := NewPlan(mustLoad(t, c.sec["keepalived.conf"]))
			p.Start()
			want := p.Table()
			if _, err := ipvs.NewReconciler(k, nil).Reconcile(t.Context(), want); err != nil {
				t.Fatalf("Reconcile: %v", err)
			}
			ours := map[string]string{}
			for _, f := range c.ar.Files {
				rest, ok := strings.CutPrefix(f.Name, "ipvsadm ")
				if !ok {
					continue
				}
				got := ipvsadm(t, strings.Fields(rest)...)
				ours[rest] = got
				if diff := cmp.Diff(trimLines(string(f.Data)), got); diff != "" {
					t.Errorf("ipvsadm %s (-want +got):\n%s\ngot:\n%s", rest, diff, got)
				}
			}
			if _, ok := ours["-Ln"]; !ok {
				t.Errorf("case has no 'ipvsadm -Ln' section; got:\n%s", ipvsadm(t, "-Ln"))
				ours["-Ln"] = ipvsadm(t, "-Ln")
			}
			if kaErr != nil {
				t.Skipf("keepalived not in the VM (install Debian package keepalived on the host): %v", kaErr)
			}
			if err := k.Flush(); err != nil {
				t.Fatal(err)
			}
			kaText := runKeepalived(t, k, bin, c.sec["keepalived.conf"], tableSize(want), ours)
			for args, text := range kaText {
				if diff := cmp.Diff(text, ours[args]); diff != "" {
					t.Errorf("ipvsadm %s, keepalived (-) vs vigil (+):\n%s", args, diff)
				}
			}
		})
	}
}

// runKeepalived runs keepalived's checker process on conf until the
// kernel table has size services and real servers, captures ipvsadm with
// each set of arguments in ours, and stops keepalived.
func runKeepalived(t *testing.T, k *ipvs.Kernel, bin, conf string, size int, ours map[string]string) map[string]string {
	t.Helper()
	stop, logText := startKeepalived(t, bin, conf)
	defer stop()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := k.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if tableSize(got) >= size {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("keepalived programmed %d of %d services and real servers in 15s; table:\n%s\nlog:\n%s",
				tableSize(got), size, got, logText())
		}
		time.Sleep(50 * time.Millisecond) // polling the kernel table
	}
	res := map[string]string{}
	for args := range ours {
		res[args] = ipvsadm(t, strings.Fields(args)...)
	}
	return res
}

// startKeepalived starts Debian's keepalived (checker process only) on
// conf. stop sends SIGTERM (keepalived then removes what it programmed)
// and waits; it is safe to call twice. The log is printed if the test
// fails.
func startKeepalived(t *testing.T, bin, conf string) (stop func(), logText func() string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	sys := syslogSink(t)
	var mu sync.Mutex
	var out strings.Builder
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return out.Write(p)
	})
	cmd := exec.Command(bin, "-n", "-l", "-D", "-C", "-f", path,
		"-p", filepath.Join(dir, "keepalived.pid"), "-c", filepath.Join(dir, "checkers.pid"))
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start keepalived: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	logText = func() string {
		mu.Lock()
		defer mu.Unlock()
		return out.String() + sys()
	}
	stop = sync.OnceFunc(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	t.Cleanup(stop)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("keepalived log:\n%s", logText())
		}
	})
	return stop, logText
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// syslogSink receives keepalived's syslog datagrams on /dev/log (the VM
// has no syslog daemon) until the test ends.
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

// listener is a real server: a TCP listener on an address of lo that can
// be closed and reopened.
type listener struct {
	addr string
	mu   sync.Mutex
	ln   net.Listener
	wg   sync.WaitGroup
}

func (l *listener) start(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		t.Fatalf("listen %s: %v", l.addr, err)
	}
	l.mu.Lock()
	l.ln = ln
	l.mu.Unlock()
	l.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
}

func (l *listener) stop() {
	l.mu.Lock()
	ln := l.ln
	l.ln = nil
	l.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	l.wg.Wait()
}

func addLoAddr(t *testing.T, a string) {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	addr := &netlink.Addr{IPNet: netlink.NewIPNet(net.ParseIP(a))}
	if err := netlink.AddrAdd(lo, addr); err != nil && !os.IsExist(err) && err != syscall.EEXIST {
		t.Fatalf("add %s to lo: %v", a, err)
	}
	t.Cleanup(func() { _ = netlink.AddrDel(lo, addr) })
}

// waitTable polls ipvsadm -Ln until cond holds or the deadline passes,
// and returns how long it took.
func waitTable(t *testing.T, what string, within time.Duration, cond func(string) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < within {
		last = ipvsadm(t, "-Ln")
		if cond(last) {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond) // polling the kernel, not waiting for an effect blindly
	}
	t.Fatalf("%s: not within %v; last ipvsadm -Ln:\n%s", what, within, last)
	return 0
}

func rsLine(rs, fwd string, weight int) func(string) bool {
	return func(s string) bool {
		for _, l := range strings.Split(s, "\n") {
			f := strings.Fields(l)
			if len(f) >= 4 && f[0] == "->" && f[1] == rs && f[2] == fwd && f[3] == fmt.Sprint(weight) {
				return true
			}
		}
		return false
	}
}

func hasRS(rs string) func(string) bool {
	return func(s string) bool { return strings.Contains(s, "-> "+rs+" ") }
}

// TestKernelHealthEndToEnd: vigil's Manager with TCP_CHECK (delay_loop 1,
// retry 1, delay_before_retry 1, connect_timeout 1) against real
// listeners on lo. Stopping a listener removes its real server from IPVS
// within delay_loop×(retry+1)+timeouts; restarting it restores it; with
// inhibit_on_failure the server stays at weight 0 instead.
func TestKernelHealthEndToEnd(t *testing.T) {
	k := newVMKernel(t)
	for _, a := range []string{"10.99.0.7", "10.99.1.2", "10.99.1.3"} {
		addLoAddr(t, a)
	}
	// Bound on detection: the failing probe, a retry after
	// delay_before_retry, at most one delay_loop before the first of them,
	// plus connect timeouts and slack for a slow TCG VM.
	const within = 1*time.Second*(1+1) + 2*time.Second + 5*time.Second
	for _, inhibit := range []bool{false, true} {
		name := "remove"
		if inhibit {
			name = "inhibit_on_failure"
		}
		t.Run(name, func(t *testing.T) {
			extra := ""
			if inhibit {
				extra = "inhibit_on_failure"
			}
			cfg := mustLoad(t, fmt.Sprintf(`
virtual_server 10.99.0.7 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    alpha
    %s
    real_server 10.99.1.2 80 {
        weight 2
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
    real_server 10.99.1.3 80 {
        TCP_CHECK {
            connect_timeout 1
            retry 1
            delay_before_retry 1
        }
    }
}
`, extra))
			ls := []*listener{{addr: "10.99.1.2:80"}, {addr: "10.99.1.3:80"}}
			for _, l := range ls {
				l.start(t)
				t.Cleanup(l.stop)
			}
			log := slog.New(slog.NewTextHandler(t.Output(), nil))
			m, err := New(cfg, Deps{Kernel: k, Rand: func() float64 { return 0 }}, log)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
				if got := ipvsadm(t, "-Ln"); strings.Contains(got, "10.99.0.7:80") {
					t.Errorf("virtual server left in IPVS after stop:\n%s", got)
				}
			}()
			// alpha: each real server enters the table only after its first
			// successful check, so the failures below go through retry.
			waitTable(t, "both real servers in", within, func(s string) bool {
				return rsLine("10.99.1.2:80", "Masq", 2)(s) && rsLine("10.99.1.3:80", "Masq", 1)(s)
			})

			ls[0].stop()
			var took time.Duration
			if inhibit {
				took = waitTable(t, "failed real server at weight 0", within, rsLine("10.99.1.2:80", "Masq", 0))
			} else {
				took = waitTable(t, "failed real server removed", within, func(s string) bool { return !hasRS("10.99.1.2:80")(s) })
			}
			t.Logf("failure seen in IPVS %v after the listener closed", took.Round(time.Millisecond))
			if !rsLine("10.99.1.3:80", "Masq", 1)(ipvsadm(t, "-Ln")) {
				t.Errorf("the healthy real server changed")
			}
			st := m.RealServers()
			if len(st) != 2 || st[0].Up || !st[1].Up {
				t.Errorf("status = %+v; want first down, second up", st)
			}

			ls[0].start(t)
			took = waitTable(t, "recovered real server back", within, rsLine("10.99.1.2:80", "Masq", 2))
			t.Logf("recovery seen in IPVS %v after the listener reopened", took.Round(time.Millisecond))
		})
	}
}

// waitKernel polls the kernel table until it reads as want (Table.String
// form) or 15 s pass. It reads through a handle of its own: a moby/ipvs
// handle serves one request at a time, and k may be the manager's.
func waitKernel(t *testing.T, _ *ipvs.Kernel, who, want string) {
	t.Helper()
	k, err := ipvs.Open("")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	deadline := time.Now().Add(15 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		tab, err := k.Read(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if got = tab.String(); got == want {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling the kernel table
	}
	t.Errorf("%s: IPVS table never became (-want +got):\n%s", who, cmp.Diff(want, got))
}

// TestKernelHealthMatchesKeepalived is the differential test for health
// semantics: vigil and Debian's keepalived each run the same
// keepalived.conf with real checks against the same real servers on lo
// (10.99.1.2:80 listening, 10.99.1.3:80 refusing), and each must reach the
// same IPVS table: failed servers removed or inhibited, quorum and the
// sorry server, alpha, misc_dynamic weights.
func TestKernelHealthMatchesKeepalived(t *testing.T) {
	k := newVMKernel(t)
	bin, err := exec.LookPath("keepalived")
	if err != nil {
		t.Skipf("keepalived not in the VM (install Debian package keepalived on the host): %v", err)
	}
	for _, a := range []string{"10.99.0.7", "10.99.1.2", "10.99.1.3"} {
		addLoAddr(t, a)
	}
	l := &listener{addr: "10.99.1.2:80"}
	l.start(t)
	t.Cleanup(l.stop)

	const check = `TCP_CHECK {
            connect_timeout 1
            retry 0
            warmup 0
        }`
	vs := func(opts, rs2 string) string {
		return fmt.Sprintf(`virtual_server 10.99.0.7 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    %s
    real_server 10.99.1.2 80 {
        %s
    }
    real_server 10.99.1.3 80 {
        %s
    }
}
`, opts, rs2, check)
	}
	tests := []struct {
		name, conf, want string
	}{{
		name: "failed server removed",
		conf: vs("", check),
		want: "TCP 10.99.0.7:80 sched=rr\n  -> 10.99.1.2:80 fwd=nat weight=1\n",
	}, {
		name: "inhibit_on_failure",
		conf: vs("inhibit_on_failure", "weight 3\n        "+check),
		want: "TCP 10.99.0.7:80 sched=rr\n  -> 10.99.1.2:80 fwd=nat weight=3\n  -> 10.99.1.3:80 fwd=nat weight=0\n",
	}, {
		name: "quorum lost: sorry server replaces the live one",
		conf: vs("quorum 2\n    sorry_server 10.99.1.9 80", check),
		want: "TCP 10.99.0.7:80 sched=rr\n  -> 10.99.1.9:80 fwd=nat weight=1\n",
	}, {
		name: "quorum lost with inhibit and sorry_server_inhibit",
		conf: vs("quorum 2\n    inhibit_on_failure\n    sorry_server 10.99.1.9 80\n    sorry_server_inhibit", check),
		want: "TCP 10.99.0.7:80 sched=rr\n  -> 10.99.1.2:80 fwd=nat weight=0\n  -> 10.99.1.3:80 fwd=nat weight=0\n  -> 10.99.1.9:80 fwd=nat weight=1\n",
	}, {
		name: "quorum held: sorry_server_inhibit at weight 0",
		conf: vs("sorry_server 10.99.1.9 80\n    sorry_server_inhibit", check),
		want: "TCP 10.99.0.7:80 sched=rr\n  -> 10.99.1.2:80 fwd=nat weight=1\n  -> 10.99.1.9:80 fwd=nat weight=0\n",
	}, {
		name: "alpha",
		conf: vs("alpha\n    hysteresis 0", check),
		want: "TCP 10.99.0.7:80 sched=rr\n  -> 10.99.1.2:80 fwd=nat weight=1\n",
	}, {
		name: "misc_dynamic weight",
		conf: vs("", `MISC_CHECK {
            misc_path "/bin/sh -c 'exit 7'"
            misc_dynamic
            warmup 0
        }`),
		want: "TCP 10.99.0.7:80 sched=rr\n  -> 10.99.1.2:80 fwd=nat weight=5\n",
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := k.Flush(); err != nil {
				t.Fatal(err)
			}
			m, err := New(mustLoad(t, tc.conf), Deps{Kernel: k, Rand: func() float64 { return 0 }},
				slog.New(slog.NewTextHandler(t.Output(), nil)))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			waitKernel(t, k, "vigil", tc.want)
			cancel()
			if err := <-done; err != nil {
				t.Errorf("vigil Run: %v", err)
			}

			if err := k.Flush(); err != nil {
				t.Fatal(err)
			}
			stop, _ := startKeepalived(t, bin, tc.conf)
			waitKernel(t, k, "keepalived", tc.want)
			stop()
		})
	}
}

// countingTable counts the netlink requests that reach the kernel table:
// dumps (Read) and ops (Apply), keeping each op's text.
type countingTable struct {
	ipvs.KernelTable
	mu    sync.Mutex
	reads int
	ops   []string
}

func (c *countingTable) Read(ctx context.Context) (ipvs.Table, error) {
	c.mu.Lock()
	c.reads++
	c.mu.Unlock()
	return c.KernelTable.Read(ctx)
}

func (c *countingTable) Apply(ctx context.Context, op ipvs.Op) error {
	c.mu.Lock()
	c.ops = append(c.ops, op.String())
	c.mu.Unlock()
	return c.KernelTable.Apply(ctx, op)
}

// ApplyBatch records a batch's ops and passes it on, so that the tests
// exercise the batched path the daemon uses.
func (c *countingTable) ApplyBatch(ctx context.Context, ops []ipvs.Op) ([]error, error) {
	c.mu.Lock()
	for _, op := range ops {
		c.ops = append(c.ops, op.String())
	}
	c.mu.Unlock()
	b, ok := c.KernelTable.(ipvs.BatchApplier)
	if !ok {
		return nil, errors.New("countingTable: the wrapped table does not batch")
	}
	return b.ApplyBatch(ctx, ops)
}

// take returns the reads and ops since the last call.
func (c *countingTable) take() (reads int, ops []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	reads, ops = c.reads, c.ops
	c.reads, c.ops = 0, nil
	return reads, ops
}

// stateLines counts keepalived's real server state log lines.
func stateLines(logs string) int {
	n := 0
	for _, l := range strings.Split(logs, "\n") {
		for _, verb := range []string{"Removing", "Adding", "Disabling", "Enabling"} {
			if strings.Contains(l, `msg="`+verb+" service ") {
				n++
			}
		}
	}
	return n
}

const reloadConf = `virtual_server 10.99.0.7 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.99.1.2 80 {
        weight 2
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
    real_server 10.99.1.3 80 {
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
    real_server 10.99.1.4 80 {
        weight %d
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
}
virtual_server 10.99.0.8 80 {
    delay_loop 1
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    inhibit_on_failure
    real_server 10.99.1.2 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
    real_server 10.99.1.3 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
}
virtual_server 10.99.0.9 443 {
    delay_loop 1
    lb_algo lc
    lb_kind NAT
    protocol TCP
    real_server 10.99.1.4 443 {
        TCP_CHECK {
            connect_timeout 1
            retry 0
        }
    }
}
`

// TestKernelReloadUnchangedIsFree: once three virtual servers with real
// TCP checks against lo have settled (10.99.1.3:80 refuses, so it is
// removed from one virtual server and inhibited in the other), 100
// reloads of the unchanged configuration send nothing to the kernel (no
// op, no dump), leave `ipvsadm -Ln` as it was, keep checker history (the
// failed server stays down with no new state log line, its probe count
// goes on) and the checkers keep running without ops; then a reload that
// changes one weight is exactly one netlink op.
func TestKernelReloadUnchangedIsFree(t *testing.T) {
	k := newVMKernel(t)
	for _, a := range []string{"10.99.0.7", "10.99.0.8", "10.99.0.9", "10.99.1.2", "10.99.1.3", "10.99.1.4"} {
		addLoAddr(t, a)
	}
	for _, a := range []string{"10.99.1.2:80", "10.99.1.4:80", "10.99.1.4:443"} {
		l := &listener{addr: a}
		l.start(t)
		t.Cleanup(l.stop)
	}
	ct := &countingTable{KernelTable: k}
	logs := &syncBuf{}
	m, err := New(mustLoad(t, fmt.Sprintf(reloadConf, 1)), Deps{Kernel: ct, Rand: func() float64 { return 0 }},
		slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), logs), nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	const settled = "TCP 10.99.0.7:80 sched=rr\n" +
		"  -> 10.99.1.2:80 fwd=nat weight=2\n" +
		"  -> 10.99.1.4:80 fwd=nat weight=1\n" +
		"TCP 10.99.0.8:80 sched=wrr\n" +
		"  -> 10.99.1.2:80 fwd=nat weight=3\n" +
		"  -> 10.99.1.3:80 fwd=nat weight=0\n" +
		"TCP 10.99.0.9:443 sched=lc\n" +
		"  -> 10.99.1.4:443 fwd=nat weight=1\n"
	waitKernel(t, k, "settled", settled)
	if t.Failed() {
		return
	}
	// down returns 10.99.1.3:80's status in both virtual servers.
	down := func() []status.RealServerStatus {
		var out []status.RealServerStatus
		for _, st := range m.RealServers() {
			if strings.Contains(st.RealServer, "10.99.1.3") {
				out = append(out, st)
			}
		}
		return out
	}
	// The failed server's state is in status once the table shows it; a
	// few probes later nothing is left to apply.
	waitChecks(t, "settled", func() bool { ds := down(); return len(ds) == 2 && ds[0].Checks >= 2 && ds[1].Checks >= 2 })
	before := ipvsadm(t, "-Ln")
	ct.take()
	appliedBefore, _ := m.IPVSOps()
	lines := stateLines(logs.String())
	checksBefore := down()

	start := time.Now()
	for i := range 100 {
		if err := m.Reload(t.Context(), mustLoad(t, fmt.Sprintf(reloadConf, 1))); err != nil {
			t.Fatalf("reload %d: %v", i+1, err)
		}
	}
	took := time.Since(start)
	reads, ops := ct.take()
	requests := reads + len(ops)
	if reads != 0 || len(ops) != 0 {
		t.Errorf("100 unchanged reloads sent %d dumps and %d ops to the kernel; want none:\n%s", reads, len(ops), strings.Join(ops, "\n"))
	}
	if got := ipvsadm(t, "-Ln"); got != before {
		t.Errorf("ipvsadm -Ln changed across the reloads (-before +after):\n%s", cmp.Diff(before, got))
	}
	for i, st := range down() {
		if st.Up || st.Checks < checksBefore[i].Checks || st.CheckFailures < checksBefore[i].CheckFailures {
			t.Errorf("after the reloads %s in %s = %+v; want still down, counters from %+v on", st.RealServer, st.VirtualServer, st, checksBefore[i])
		}
	}
	// The checkers still run after the reloads, and still change nothing.
	waitChecks(t, "probes after the reloads", func() bool {
		ds := down()
		return ds[0].Checks >= checksBefore[0].Checks+2 && ds[1].Checks >= checksBefore[1].Checks+2
	})
	reads, ops = ct.take()
	if reads != 0 || len(ops) != 0 {
		t.Errorf("checks after the reloads sent %d dumps and %d ops: %q", reads, len(ops), ops)
	}
	if got := stateLines(logs.String()); got != lines {
		t.Errorf("%d real server state log lines (Removing/Adding/Disabling/Enabling service) after the reloads; want none", got-lines)
	}
	if got := ipvsadm(t, "-Ln"); got != before {
		t.Errorf("ipvsadm -Ln changed after the reloads (-before +after):\n%s", cmp.Diff(before, got))
	}
	if applied, failed := m.IPVSOps(); !cmp.Equal(applied, appliedBefore) || failed != 0 {
		t.Errorf("IPVSOps moved without ops: %v (failed %d), was %v", applied, failed, appliedBefore)
	}
	t.Logf("100 unchanged reloads: %v (%v each), %d netlink requests", took.Round(time.Millisecond), (took / 100).Round(time.Microsecond), requests)

	// One weight changes: one op, an edit.
	if err := m.Reload(t.Context(), mustLoad(t, fmt.Sprintf(reloadConf, 5))); err != nil {
		t.Fatal(err)
	}
	reads, ops = ct.take()
	if want := []string{"edit destination 10.99.1.4:80 in TCP 10.99.0.7:80 fwd=nat weight=5"}; reads != 0 || !cmp.Equal(ops, want) {
		t.Errorf("weight change: %d dumps, ops %q; want no dump and %q", reads, ops, want)
	}
	if !rsLine("10.99.1.4:80", "Masq", 5)(ipvsadm(t, "-Ln")) {
		t.Errorf("weight 5 not in the kernel:\n%s", ipvsadm(t, "-Ln"))
	}
	if applied, _ := m.IPVSOps(); applied["edit_destination"] != appliedBefore["edit_destination"]+1 {
		t.Errorf("edit_destination = %d, want %d", applied["edit_destination"], appliedBefore["edit_destination"]+1)
	}
	if got := stateLines(logs.String()); got != lines {
		t.Errorf("the weight change logged %d real server state lines; want none", got-lines)
	}
}

// waitChecks polls cond (over Manager status) for up to 15 s.
func waitChecks(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling the Manager's status
	}
}
