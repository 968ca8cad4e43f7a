package nettest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// KeepalivedPath is Debian's keepalived binary (package keepalived).
const KeepalivedPath = "/usr/sbin/keepalived"

// Keepalived is a real keepalived running inside a lab host, used as the
// reference peer. Its console log is kept in memory for WaitLog.
type Keepalived struct {
	Host *Host
	// Dir holds keepalived.conf and the pid files.
	Dir string

	cmd  *exec.Cmd
	done chan struct{} // closed when the main process has been reaped

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced when a line arrives
	readEOF bool
}

// StartKeepalived writes config to a temporary keepalived.conf and runs
// keepalived in h's namespace, in the foreground, logging to the console,
// VRRP subsystem only, with its own pid files:
//
//	ip netns exec NS keepalived -n -l -D -P -f CONF -p PID -r VRRP_PID -c CHECK_PID
//
// It skips the test when keepalived is not installed. Cleanup stops it
// with SIGTERM (SIGKILL if it has not exited after 10 s).
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
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("StartKeepalived: %v", err)
	}
	k := &Keepalived{Host: h, Dir: dir, done: make(chan struct{}), changed: make(chan struct{})}
	k.cmd = exec.Command("ip", "netns", "exec", h.Name, KeepalivedPath,
		"-n", "-l", "-D", "-P",
		"-f", conf,
		"-p", filepath.Join(dir, "keepalived.pid"),
		"-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "check.pid"))
	k.cmd.Stdout = w
	k.cmd.Stderr = w
	if err := k.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Fatalf("StartKeepalived in %s: %v", h.Name, err)
	}
	w.Close() // the children hold their own copies

	readDone := make(chan struct{})
	go func() { // ends when every keepalived process has closed the pipe
		defer close(readDone)
		defer r.Close()
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			k.add(sc.Text())
		}
		k.mu.Lock()
		k.readEOF = true
		close(k.changed)
		k.changed = make(chan struct{})
		k.mu.Unlock()
	}()
	go func() { // ends when the main process exits
		_ = k.cmd.Wait()
		close(k.done)
	}()
	t.Cleanup(func() {
		if err := k.Stop(10 * time.Second); err != nil {
			t.Errorf("stop keepalived in %s: %v", h.Name, err)
			_ = k.Kill()
		}
		<-k.done
		select {
		case <-readDone:
		case <-time.After(10 * time.Second):
			t.Errorf("keepalived in %s: log pipe still open 10 s after exit (a child is left?)", h.Name)
		}
		if t.Failed() {
			t.Logf("keepalived in %s log:\n%s", h.Name, k.Log())
		}
	})
	return k
}

func (k *Keepalived) add(line string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lines = append(k.lines, line)
	close(k.changed)
	k.changed = make(chan struct{})
}

// Log returns everything keepalived has logged so far.
func (k *Keepalived) Log() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return strings.Join(k.lines, "\n")
}

// LastMatch returns the first submatch (or the whole match when re has no
// group) of the last log line matching re, "" when none does. With
// `Entering (MASTER|BACKUP|FAULT) STATE` it gives the current state.
func (k *Keepalived) LastMatch(re *regexp.Regexp) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := len(k.lines) - 1; i >= 0; i-- {
		if m := re.FindStringSubmatch(k.lines[i]); m != nil {
			return m[len(m)-1]
		}
	}
	return ""
}

// Mark returns a position in the log for WaitLogAfter.
func (k *Keepalived) Mark() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.lines)
}

// WaitLog waits until a log line matches re and returns it. The whole log
// is searched, including lines logged before the call.
func (k *Keepalived) WaitLog(re *regexp.Regexp, timeout time.Duration) (string, error) {
	return k.WaitLogAfter(0, re, timeout)
}

// WaitLogAfter is WaitLog for lines logged after mark (see Mark).
func (k *Keepalived) WaitLogAfter(mark int, re *regexp.Regexp, timeout time.Duration) (string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		k.mu.Lock()
		for i := mark; i < len(k.lines); i++ {
			if re.MatchString(k.lines[i]) {
				line := k.lines[i]
				k.mu.Unlock()
				return line, nil
			}
		}
		mark = len(k.lines)
		eof, changed := k.readEOF, k.changed
		k.mu.Unlock()
		if eof {
			return "", fmt.Errorf("keepalived in %s exited without logging /%s/", k.Host.Name, re)
		}
		select {
		case <-changed:
		case <-timer.C:
			return "", fmt.Errorf("keepalived in %s: no log line matching /%s/ within %v", k.Host.Name, re, timeout)
		}
	}
}

// Stop sends SIGTERM and waits up to timeout for keepalived to exit.
// keepalived sends priority-0 adverts and removes its VIPs on SIGTERM.
func (k *Keepalived) Stop(timeout time.Duration) error {
	select {
	case <-k.done:
		return nil
	default:
	}
	if err := k.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-k.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("still running %v after SIGTERM", timeout)
	}
}

// Kill makes keepalived vanish without a word: no priority-0 advert, VIPs
// left in place, as a crashed or frozen node would. It stops the parent
// first so it cannot respawn the VRRP child, then SIGKILLs both.
func (k *Keepalived) Kill() error {
	select {
	case <-k.done:
		return nil
	default:
	}
	_ = k.cmd.Process.Signal(syscall.SIGSTOP)
	if b, err := os.ReadFile(filepath.Join(k.Dir, "vrrp.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if err := k.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("SIGKILL keepalived in %s: %w", k.Host.Name, err)
	}
	<-k.done
	return nil
}
