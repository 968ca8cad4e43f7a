package notify

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestNotifyMatchesKeepalived runs Debian's keepalived 2.2.7 in a network
// namespace created for the test, lets one instance go BACKUP → MASTER →
// STOP, records what its notify scripts and vrrp_notify_fifo receive,
// then feeds the same transitions to a Notifier with the same scripts and
// requires the same output. keepalived starts notify_* and the generic
// notify concurrently, so script lines are compared as a set per run;
// FIFO lines are compared in order.
func TestNotifyMatchesKeepalived(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the comparison with a real keepalived")
	}
	if os.Geteuid() != 0 {
		t.Skipf("needs root to create a network namespace; running as uid %d", os.Geteuid())
	}
	ka, err := exec.LookPath("keepalived")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/keepalived"); serr != nil {
			t.Skipf("keepalived not installed: %v", err)
		}
		ka = "/usr/sbin/keepalived"
	}
	ipBin, err := exec.LookPath("ip")
	if err != nil {
		t.Skipf("iproute2 not installed: %v", err)
	}
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ipBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	ns := "vigil-notify-" + hex.EncodeToString(suffix)
	ip("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command(ipBin, "netns", "del", ns).Run() })
	ip("-n", ns, "link", "set", "lo", "up")
	ip("-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ip("-n", ns, "link", "set", "v0", "up")
	ip("-n", ns, "link", "set", "v1", "up")
	ip("-n", ns, "addr", "add", "10.99.7.1/24", "dev", "v0")

	dir := secureDir(t)
	rec := recorder(t, dir)
	scriptLines := func(out string) map[string]string {
		return map[string]string{
			"master": rec + " " + out + " notify_master 'arg one'",
			"backup": rec + " " + out + " notify_backup",
			"stop":   rec + " " + out + " notify_stop",
			"notify": rec + " " + out + " notify",
		}
	}
	kaOut := filepath.Join(dir, "keepalived.out")
	kaFIFO := filepath.Join(dir, "keepalived.fifo")
	s := scriptLines(kaOut)
	conf := `global_defs {
  router_id lb1
  vrrp_notify_fifo ` + kaFIFO + `
  enable_script_security
  script_user root
}
vrrp_instance VI_1 {
  state BACKUP
  interface v0
  virtual_router_id 51
  priority 100
  advert_int 1
  notify_master "` + s["master"] + `"
  notify_backup "` + s["backup"] + `"
  notify_stop "` + s["stop"] + `"
  notify "` + s["notify"] + `"
  virtual_ipaddress {
    10.99.7.100/24
  }
}
`
	confPath := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(kaFIFO, 0o644); err != nil {
		t.Fatal(err)
	}
	// keepalived opens and reopens the FIFO; keep a reader that
	// survives writers closing it by holding it open read-write.
	fifoR, err := os.OpenFile(kaFIFO, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fifoR.Close()
	fifoLines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(fifoR)
		for sc.Scan() {
			fifoLines <- sc.Text()
		}
	}()
	logPath := filepath.Join(dir, "keepalived.log")
	kaLog, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer kaLog.Close()
	// ip netns exec execs keepalived, so cmd.Process is keepalived.
	cmd := exec.Command(ipBin, "netns", "exec", ns, ka, "-n", "-l", "-D", "-P", "-f", confPath,
		"-p", filepath.Join(dir, "ka.pid"), "-r", filepath.Join(dir, "vrrp.pid"), "-c", filepath.Join(dir, "check.pid"))
	cmd.Stdout, cmd.Stderr = kaLog, kaLog
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("keepalived log:\n%s", readFile(t, logPath))
		}
	})
	// keepalived becomes MASTER about 3 s after start (no peer).
	waitFor(t, 20*time.Second, func() string { return readFile(t, kaOut) }, func() bool {
		return strings.Contains(readFile(t, kaOut), "notify INSTANCE VI_1 MASTER")
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("keepalived did not stop on SIGTERM")
	}
	var kaFIFOLines []string
	for len(kaFIFOLines) < 3 {
		select {
		case l := <-fifoLines:
			kaFIFOLines = append(kaFIFOLines, l)
		case <-time.After(5 * time.Second):
			t.Fatalf("keepalived FIFO lines: %q, want 3", kaFIFOLines)
		}
	}

	// The same transitions through vigil's notifier.
	vgOut := filepath.Join(dir, "vigil.out")
	vgFIFO := filepath.Join(dir, "vigil.fifo")
	s = scriptLines(vgOut)
	log, _ := newLogRecorder(t)
	n, err := New(Config{
		Instances: map[string]Scripts{"VI_1": {
			Master: mustCommand(t, s["master"]),
			Backup: mustCommand(t, s["backup"]),
			Stop:   mustCommand(t, s["stop"]),
			Notify: mustCommand(t, s["notify"]),
		}},
		FIFOs:          []FIFO{{Path: vgFIFO}},
		ScriptSecurity: true,
		DefaultUser:    &Credential{},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	waitFor(t, 10*time.Second, func() string { return "no fifo" }, func() bool { _, err := os.Stat(vgFIFO); return err == nil })
	vf, err := os.OpenFile(vgFIFO, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer vf.Close()
	for _, st := range []State{StateBackup, StateMaster, StateStop} {
		n.Enqueue(Event{Name: "VI_1", State: st, Priority: 100})
	}
	var vgFIFOLines []string
	sc := bufio.NewScanner(vf)
	for len(vgFIFOLines) < 3 && sc.Scan() {
		vgFIFOLines = append(vgFIFOLines, sc.Text())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(kaFIFOLines, vgFIFOLines); diff != "" {
		t.Errorf("FIFO lines (-keepalived +vigil):\n%s", diff)
	}
	kaRuns, vgRuns := lines(readFile(t, kaOut)), lines(readFile(t, vgOut))
	slices.Sort(kaRuns)
	slices.Sort(vgRuns)
	if diff := cmp.Diff(kaRuns, vgRuns); diff != "" {
		t.Errorf("script runs (-keepalived +vigil):\n%s", diff)
	}
}
