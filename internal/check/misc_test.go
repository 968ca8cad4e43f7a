package check

import (
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMiscCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	exit := func(code int) string {
		return writeScript(t, dir, "exit"+strconv.Itoa(code), "exit "+strconv.Itoa(code))
	}
	tests := []struct {
		name   string
		m      Misc
		ok     bool
		weight int // -1: no weight
		reason string
	}{
		{"exit 0", Misc{Argv: []string{exit(0)}}, true, -1, "succeeded"},
		{"exit 1", Misc{Argv: []string{exit(1)}}, false, -1, "exited with status 1"},
		{"exit 7 without misc_dynamic fails", Misc{Argv: []string{exit(7)}}, false, -1, "exited with status 7"},
		{"misc_dynamic exit 0 keeps the configured weight", Misc{Argv: []string{exit(0)}, Dynamic: true}, true, -1, "succeeded"},
		{"misc_dynamic exit 1 fails", Misc{Argv: []string{exit(1)}, Dynamic: true}, false, -1, "exited with status 1"},
		{"misc_dynamic exit 2 is weight 0", Misc{Argv: []string{exit(2)}, Dynamic: true}, true, 0, "status 2"},
		{"misc_dynamic exit 7 is weight 5", Misc{Argv: []string{exit(7)}, Dynamic: true}, true, 5, "status 7"},
		{"misc_dynamic exit 255 is weight 253", Misc{Argv: []string{exit(255)}, Dynamic: true}, true, 253, "status 255"},
		{"arguments are passed", Misc{Argv: []string{writeScript(t, dir, "args", `[ "$1" = "a b" ] && [ "$2" = c ]`), "a b", "c"}}, true, -1, "succeeded"},
		{"killed by a signal", Misc{Argv: []string{writeScript(t, dir, "kill", "kill -9 $$")}}, false, -1, "killed"},
		{"missing program", Misc{Argv: []string{filepath.Join(dir, "absent")}}, false, -1, "failed to start"},
		{"empty misc_path", Misc{}, false, -1, "no misc_path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.m.Check(ctxTimeout(t, 5*time.Second))
			if r.OK != tc.ok || !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("Check = %+v, want OK=%v with %q", r, tc.ok, tc.reason)
			}
			switch {
			case tc.weight < 0 && r.Weight != nil:
				t.Errorf("Weight = %d, want none", *r.Weight)
			case tc.weight >= 0 && (r.Weight == nil || *r.Weight != tc.weight):
				t.Errorf("Weight = %v, want %d", r.Weight, tc.weight)
			}
		})
	}
}

// TestMiscCheckTimeoutKillsScriptAndChildren runs a script that ignores
// SIGTERM and leaves a child; at misc_timeout both must die and no goroutine
// may remain.
func TestMiscCheckTimeoutKillsScriptAndChildren(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	script := writeScript(t, dir, "stubborn", `trap '' TERM
sleep 300 &
echo $! > `+pidFile+`
while :; do sleep 1; done`)
	before := runtime.NumGoroutine()
	m := Misc{Argv: []string{script}, KillGrace: 200 * time.Millisecond}
	start := time.Now()
	r := m.Check(ctxTimeout(t, 500*time.Millisecond))
	el := time.Since(start)
	if r.OK || !strings.Contains(r.Reason, "timed out") {
		t.Errorf("Check = %+v, want timed out", r)
	}
	// misc_timeout 0.5 s, then SIGTERM (ignored), then SIGKILL after 0.2 s.
	if el < 500*time.Millisecond || el > 3*time.Second {
		t.Errorf("Check took %v, want about 0.7s", el)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("script did not record its child: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		// The child may linger as a zombie until init reaps it; a zombie
		// has no /proc/PID/cmdline content.
		if c, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); len(c) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d of the timed-out script still runs", pid)
		}
		runtime.Gosched()
	}
	waitGoroutines(t, before)
}

func TestMiscCheckRunsAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching user needs root")
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} { // t.TempDir's dirs are 0700
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := writeScript(t, dir, "whoami", `[ "$(id -u)" = "`+u.Uid+`" ]`)
	m := Misc{Argv: []string{script}, User: &Cred{UID: uint32(uid), GID: uint32(gid)}}
	if r := m.Check(ctxTimeout(t, 5*time.Second)); !r.OK {
		t.Errorf("Check as nobody = %+v, want OK", r)
	}
	m.User = nil
	if r := m.Check(ctxTimeout(t, 5*time.Second)); r.OK {
		t.Errorf("Check as root = %+v, want the uid test to fail", r)
	}
}
