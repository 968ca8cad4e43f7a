package nettest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a daemon (keepalived, vigil) running in the foreground inside a
// lab host, its console log kept in memory for WaitLog.
type Proc struct {
	Host *Host
	// Dir is the daemon's own directory (config, pid files, sockets).
	Dir string

	name string // for messages: "keepalived", "vigil"
	cmd  *exec.Cmd
	done chan struct{} // closed when the main process has been reaped
	kill func() error  // how cleanup kills it when SIGTERM is not enough

	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced when a line arrives
	readEOF bool
}

// StartProc runs `ip netns exec NS argv...` with stdout and stderr kept as
// the log. Cleanup sends SIGTERM (then SIGKILL after 10 s), checks that no
// child is left holding the log pipe, and prints the log when the test
// failed.
func StartProc(t testing.TB, h *Host, name, dir string, argv ...string) *Proc {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Proc{Host: h, Dir: dir, name: name, done: make(chan struct{}), changed: make(chan struct{})}
	p.kill = p.Kill
	p.cmd = exec.Command("ip", append([]string{"netns", "exec", h.Name}, argv...)...)
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Fatalf("start %s in %s: %v", name, h.Name, err)
	}
	w.Close() // children and scripts hold their own copies

	readDone := make(chan struct{})
	go func() { // ends when every process holding the pipe has closed it
		defer close(readDone)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			p.add(sc.Text())
		}
		p.mu.Lock()
		p.readEOF = true
		close(p.changed)
		p.changed = make(chan struct{})
		p.mu.Unlock()
	}()
	go func() { // ends when the main process exits
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.Stop(10 * time.Second); err != nil {
			t.Errorf("stop %s in %s: %v", name, h.Name, err)
			_ = p.kill()
		}
		<-p.done
		select {
		case <-readDone:
		case <-time.After(10 * time.Second):
			t.Errorf("%s in %s: log pipe still open 10 s after exit (a child or script is left?)", name, h.Name)
		}
		if t.Failed() {
			t.Logf("%s in %s log:\n%s", name, h.Name, p.Tail(200))
		}
	})
	return p
}

func (p *Proc) add(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, line)
	close(p.changed)
	p.changed = make(chan struct{})
}

// Log returns everything logged so far.
func (p *Proc) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// Tail returns the last n lines of the log.
func (p *Proc) Tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines[max(0, len(p.lines)-n):], "\n")
}

// Mark returns a position in the log for WaitLogAfter.
func (p *Proc) Mark() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.lines)
}

// CountLog counts the log lines matching re.
func (p *Proc) CountLog(re *regexp.Regexp) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.lines {
		if re.MatchString(l) {
			n++
		}
	}
	return n
}

// LastMatch returns the first submatch (or the whole match) of the last
// log line matching re, "" when none does.
func (p *Proc) LastMatch(re *regexp.Regexp) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.lines) - 1; i >= 0; i-- {
		if m := re.FindStringSubmatch(p.lines[i]); m != nil {
			return m[len(m)-1]
		}
	}
	return ""
}

// WaitLog waits until a log line matches re and returns it.
func (p *Proc) WaitLog(re *regexp.Regexp, timeout time.Duration) (string, error) {
	return p.WaitLogAfter(0, re, timeout)
}

// WaitLogAfter is WaitLog for the lines logged after mark.
func (p *Proc) WaitLogAfter(mark int, re *regexp.Regexp, timeout time.Duration) (string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		p.mu.Lock()
		for i := mark; i < len(p.lines); i++ {
			if re.MatchString(p.lines[i]) {
				line := p.lines[i]
				p.mu.Unlock()
				return line, nil
			}
		}
		mark = len(p.lines)
		eof, changed := p.readEOF, p.changed
		p.mu.Unlock()
		if eof {
			return "", fmt.Errorf("%s in %s exited without logging /%s/", p.name, p.Host.Name, re)
		}
		select {
		case <-changed:
		case <-timer.C:
			return "", fmt.Errorf("%s in %s: no log line matching /%s/ within %v", p.name, p.Host.Name, re, timeout)
		}
	}
}

// Pid is the main process id (ip netns exec execs the daemon).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the main process.
func (p *Proc) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v to %s in %s: %w", sig, p.name, p.Host.Name, err)
	}
	return nil
}

// Exited reports whether the main process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the main process has ended.
func (p *Proc) Done() <-chan struct{} { return p.done }

// State is the main process's exit state, nil while it runs.
func (p *Proc) State() *os.ProcessState {
	if !p.Exited() {
		return nil
	}
	return p.cmd.ProcessState
}

// Stop sends SIGTERM and waits up to timeout for the exit.
func (p *Proc) Stop(timeout time.Duration) error {
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("still running %v after SIGTERM", timeout)
	}
}

// Kill makes the process vanish with SIGKILL, as a crashed node would,
// and waits for it.
func (p *Proc) Kill() error {
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("SIGKILL %s in %s: %w", p.name, p.Host.Name, err)
	}
	<-p.done
	return nil
}
