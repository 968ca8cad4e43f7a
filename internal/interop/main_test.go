package interop

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/nettest"
)

// vigilBin is the vigil binary TestMain builds once for every test, or
// $VIGIL_BIN when set; empty with buildErr set when the build failed,
// empty alone in -short mode.
var (
	vigilBin string
	buildErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	var dir string
	if bin := os.Getenv("VIGIL_BIN"); bin != "" {
		// A binary built elsewhere (make build's bin/vigil, a VM image).
		vigilBin = bin
	} else if !testing.Short() {
		var err error
		dir, err = os.MkdirTemp("", "vigil-interop-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "interop: %v\n", err)
			os.Exit(1)
		}
		vigilBin = filepath.Join(dir, "vigil")
		// The module root is two levels up from this package.
		cmd := exec.Command("go", "build", "-o", vigilBin, "./cmd/vigil")
		cmd.Dir = filepath.Join("..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/vigil: %w\n%s", err, out)
			vigilBin = ""
		}
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// requireVigil fails the test when TestMain could not build vigil.
func requireVigil(t testing.TB) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if vigilBin == "" {
		t.Skip("skipping: vigil binary not built (-short)")
	}
}

// node is one VRRP daemon of a test, vigil or keepalived. Both
// *nettest.Keepalived and *vigilProc satisfy it.
type node interface {
	Log() string
	Mark() int
	WaitLog(re *regexp.Regexp, timeout time.Duration) (string, error)
	WaitLogAfter(mark int, re *regexp.Regexp, timeout time.Duration) (string, error)
	LastMatch(re *regexp.Regexp) string
	Stop(timeout time.Duration) error
	Kill() error
}

// vigilProc is the vigil binary running in a lab host, in the foreground,
// logging to a pipe kept in memory: the vigil twin of nettest.Keepalived.
type vigilProc struct {
	Host *nettest.Host
	Dir  string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been reaped

	mu      sync.Mutex
	lines   []string
	changed chan struct{}
	readEOF bool
}

// startVigil writes config to a temporary keepalived.conf and runs
//
//	ip netns exec NS vigil -n -l -D -f CONF -i ID -p PID -r VRRP_PID -c CHECK_PID
//
// with debug logging (-D), so that dropped adverts show in its log.
// Cleanup stops it with SIGTERM and logs its output when the test failed.
func startVigil(t testing.TB, h *nettest.Host, config string) *vigilProc {
	t.Helper()
	requireVigil(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		t.Fatalf("startVigil: %v", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("startVigil: %v", err)
	}
	v := &vigilProc{Host: h, Dir: dir, done: make(chan struct{}), changed: make(chan struct{})}
	v.cmd = exec.Command("ip", "netns", "exec", h.Name, vigilBin,
		"-n", "-l", "-D",
		"-f", conf,
		"-i", h.Name,
		"-p", filepath.Join(dir, "vigil.pid"),
		"-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "check.pid"))
	v.cmd.Stdout, v.cmd.Stderr = w, w
	if err := v.cmd.Start(); err != nil {
		r.Close()
		w.Close()
		t.Fatalf("startVigil in %s: %v", h.Name, err)
	}
	w.Close()
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer r.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			v.add(sc.Text())
		}
		v.mu.Lock()
		v.readEOF = true
		close(v.changed)
		v.changed = make(chan struct{})
		v.mu.Unlock()
	}()
	go func() {
		_ = v.cmd.Wait()
		close(v.done)
	}()
	t.Cleanup(func() {
		if err := v.Stop(10 * time.Second); err != nil {
			t.Errorf("stop vigil in %s: %v", h.Name, err)
			_ = v.Kill()
		}
		<-readDone
		if t.Failed() {
			t.Logf("vigil in %s log:\n%s", h.Name, v.Log())
		}
	})
	return v
}

func (v *vigilProc) add(line string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lines = append(v.lines, line)
	close(v.changed)
	v.changed = make(chan struct{})
}

// Log returns everything vigil has logged so far.
func (v *vigilProc) Log() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return strings.Join(v.lines, "\n")
}

// Mark returns a position in the log for WaitLogAfter.
func (v *vigilProc) Mark() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.lines)
}

// LastMatch returns the first submatch (or the whole match) of the last
// log line matching re, "" when none does.
func (v *vigilProc) LastMatch(re *regexp.Regexp) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	for i := len(v.lines) - 1; i >= 0; i-- {
		if m := re.FindStringSubmatch(v.lines[i]); m != nil {
			return m[len(m)-1]
		}
	}
	return ""
}

// WaitLog waits until a log line matches re and returns it.
func (v *vigilProc) WaitLog(re *regexp.Regexp, timeout time.Duration) (string, error) {
	return v.WaitLogAfter(0, re, timeout)
}

// WaitLogAfter is WaitLog for the lines logged after mark.
func (v *vigilProc) WaitLogAfter(mark int, re *regexp.Regexp, timeout time.Duration) (string, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		v.mu.Lock()
		for i := mark; i < len(v.lines); i++ {
			if re.MatchString(v.lines[i]) {
				line := v.lines[i]
				v.mu.Unlock()
				return line, nil
			}
		}
		mark = len(v.lines)
		eof, changed := v.readEOF, v.changed
		v.mu.Unlock()
		if eof {
			return "", fmt.Errorf("vigil in %s exited without logging /%s/", v.Host.Name, re)
		}
		select {
		case <-changed:
		case <-timer.C:
			return "", fmt.Errorf("vigil in %s: no log line matching /%s/ within %v", v.Host.Name, re, timeout)
		}
	}
}

// Stop sends SIGTERM (vigil sends priority-0 adverts and removes its
// VIPs) and waits up to timeout for the process to exit.
func (v *vigilProc) Stop(timeout time.Duration) error {
	select {
	case <-v.done:
		return nil
	default:
	}
	if err := v.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-v.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("still running %v after SIGTERM", timeout)
	}
}

// Kill makes vigil vanish without a priority-0 advert, its VIPs left in
// place, as a crashed node would.
func (v *vigilProc) Kill() error {
	select {
	case <-v.done:
		return nil
	default:
	}
	if err := v.cmd.Process.Kill(); err != nil {
		return fmt.Errorf("SIGKILL vigil in %s: %w", v.Host.Name, err)
	}
	<-v.done
	return nil
}

// Exited reports whether the process has ended.
func (v *vigilProc) Exited() bool {
	select {
	case <-v.done:
		return true
	default:
		return false
	}
}
