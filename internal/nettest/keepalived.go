package nettest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// KeepalivedPath is Debian's keepalived binary (package keepalived).
const KeepalivedPath = "/usr/sbin/keepalived"

// Keepalived is a real keepalived running inside a lab host, used as the
// reference peer. Its console log is kept in memory for WaitLog; Dir holds
// keepalived.conf and the pid files.
type Keepalived struct {
	*Proc
}

// StartKeepalived writes config to a temporary keepalived.conf and runs
// keepalived in h's namespace, in the foreground, logging to the console,
// VRRP subsystem only, with its own pid files:
//
//	ip netns exec NS keepalived -n -l -D -P -f CONF -p PID -r VRRP_PID -c CHECK_PID
//
// It skips the test when keepalived is not installed. Cleanup stops it
// with SIGTERM (Kill if it has not exited after 10 s).
func StartKeepalived(t testing.TB, h *Host, config string) *Keepalived {
	t.Helper()
	if _, err := os.Stat(KeepalivedPath); err != nil {
		t.Skipf("skipping: Debian keepalived not installed (apt-get install keepalived): %v", err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		t.Fatalf("StartKeepalived: %v", err)
	}
	k := &Keepalived{StartProc(t, h, "keepalived", dir, KeepalivedPath,
		"-n", "-l", "-D", "-P",
		"-f", conf,
		"-p", filepath.Join(dir, "keepalived.pid"),
		"-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "check.pid"))}
	k.Proc.kill = k.Kill
	return k
}

// Kill makes keepalived vanish without a word: no priority-0 advert, VIPs
// left in place, as a crashed or frozen node would. It stops the parent
// first so it cannot respawn the VRRP child, then SIGKILLs both.
func (k *Keepalived) Kill() error {
	if k.Exited() {
		return nil
	}
	_ = k.Signal(syscall.SIGSTOP)
	if b, err := os.ReadFile(filepath.Join(k.Dir, "vrrp.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	return k.Proc.Kill()
}
