package notify

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitFor polls cond until it holds or the deadline passes, then fails
// with what last describes.
func waitFor(t *testing.T, d time.Duration, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting; last state: %s", d, what())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func processGone(pid int) bool {
	// A zombie still answers kill(0); look at /proc state too.
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

func TestExecPassesArgumentsWithoutShell(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	p := writeScript(t, dir, "rec.sh", "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done > \""+out+"\"\n", 0o755)
	args, err := ParseCommand(p + ` 'a b' "$HOME" '*'`)
	if err != nil {
		t.Fatal(err)
	}
	res := Command{Args: args}.Exec(context.Background(), 10*time.Second, Self(), "INSTANCE", "VI_1")
	if !res.OK() {
		t.Fatalf("Exec: %v", res)
	}
	if got, want := readFile(t, out), "[a b][$HOME][*][INSTANCE][VI_1]"; got != want {
		t.Errorf("script saw %s, want %s", got, want)
	}
}

func TestExecReportsExitStatus(t *testing.T) {
	dir := t.TempDir()
	p := writeScript(t, dir, "x.sh", "#!/bin/sh\nexit 3\n", 0o755)
	res := Command{Args: []string{p}}.Exec(context.Background(), 10*time.Second, Self())
	if res.OK() || res.ExitCode != 3 || res.TimedOut || res.Err != nil {
		t.Errorf("Exec = %+v, want exit 3", res)
	}
	res = Command{Args: []string{filepath.Join(dir, "absent")}}.Exec(context.Background(), 10*time.Second, Self())
	if res.Err == nil || res.OK() {
		t.Errorf("Exec(absent) = %+v, want start error", res)
	}
}

func TestExecKillsProcessGroupAtTimeout(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "pids")
	// The script starts a background child and then hangs; both must
	// die at the timeout.
	p := writeScript(t, dir, "hang.sh", "#!/bin/sh\nsleep 3600 &\necho $! > "+pids+".tmp\nmv "+pids+".tmp "+pids+"\nexec sleep 3600\n", 0o755)
	// The context ends once the script is known to be hanging; its
	// expiry works like the timeout.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for readFile(t, pids) == "" {
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	res := Command{Args: []string{p}}.Exec(ctx, time.Hour, Self())
	if !res.TimedOut || res.OK() {
		t.Fatalf("Exec = %+v, want timed out", res)
	}
	if res.Signal != syscall.SIGTERM {
		t.Errorf("signal = %v, want SIGTERM first", res.Signal)
	}
	child, err := strconv.Atoi(strings.TrimSpace(readFile(t, pids)))
	if err != nil {
		t.Fatalf("child pid: %v", err)
	}
	waitFor(t, 5*time.Second, func() string { return "child " + strconv.Itoa(child) + " alive" }, func() bool { return processGone(child) })
}

func TestExecEscalatesToSIGKILL(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready")
	p := writeScript(t, dir, "stubborn.sh", "#!/bin/sh\ntrap '' TERM\ntouch "+ready+"\nwhile :; do sleep 1; done\n", 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			if _, err := os.Stat(ready); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
	}()
	res := Command{Args: []string{p}}.Exec(ctx, time.Hour, Self())
	if !res.TimedOut || res.Signal != syscall.SIGKILL {
		t.Fatalf("Exec = %+v, want SIGKILL after ignoring SIGTERM", res)
	}
	if res.Duration < KillGrace {
		t.Errorf("killed after %v, want SIGTERM then %v grace", res.Duration, KillGrace)
	}
}

func TestExecRunsScriptWithoutShebangThroughShell(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	p := writeScript(t, dir, "noshebang", "echo \"$1\" > "+out+"\n", 0o755)
	res := Command{Args: []string{p, "x y"}}.Exec(context.Background(), 10*time.Second, Self())
	if !res.OK() {
		t.Fatalf("Exec: %v", res)
	}
	if got := readFile(t, out); got != "x y\n" {
		t.Errorf("output %q, want %q", got, "x y\n")
	}
}

func TestExecFileTest(t *testing.T) {
	dir := t.TempDir()
	present := writeScript(t, dir, "present", "", 0o644)
	for _, tt := range []struct {
		path string
		ok   bool
	}{{present, true}, {filepath.Join(dir, "absent"), false}} {
		c, err := CheckScript(Command{Args: []string{"<" + tt.path}}, false, Self())
		if err != nil {
			t.Fatal(err)
		}
		if res := c.Cmd.Exec(context.Background(), 10*time.Second, Self()); res.OK() != tt.ok {
			t.Errorf("<%s: %v, want ok=%v", tt.path, res, tt.ok)
		}
	}
}

func TestExecAsOtherUser(t *testing.T) {
	requireRoot(t)
	nobody, err := LookupCredential("nobody", "")
	if err != nil {
		t.Skipf("no nobody user: %v", err)
	}
	dir := secureDir(t)
	// t.TempDir's directories are 0700: let nobody in.
	for _, d := range []string{filepath.Dir(filepath.Dir(dir)), filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	outDir := filepath.Join(dir, "out")
	if err := os.Mkdir(outDir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(outDir, 0o777); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(outDir, "id")
	p := writeScript(t, dir, "id.sh", "#!/bin/sh\necho $(id -u):$(id -g):$(id -G) > "+out+"\n", 0o755)
	res := Command{Args: []string{p}, User: &nobody}.Exec(context.Background(), 10*time.Second, Self())
	if !res.OK() {
		t.Fatalf("Exec as nobody: %v", res)
	}
	want := strconv.Itoa(int(nobody.UID)) + ":" + strconv.Itoa(int(nobody.GID)) + ":" + strconv.Itoa(int(nobody.GID)) + "\n"
	if got := readFile(t, out); got != want {
		t.Errorf("id = %q, want %q (uid:gid:groups)", got, want)
	}
}
