package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildVigil compiles the command once per test binary run.
func buildVigil(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The -t exit codes are keepalived's: 0 clean, 5 for configuration
// errors, and findings printed in keepalived's "(FILE: Line N)" form.
func TestConfigTestExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, conf string
		code       int
		out        string
	}{
		{"clean", "global_defs {\n  router_id a\n}\n", 0, ""},
		{"unknown keyword", "global_defs {\n  intervl 1\n}\n", 5, ": Line 2) Unknown keyword 'intervl'"},
		{"vrid out of range", "vrrp_instance V {\n  interface lo\n  virtual_router_id 300\n}\n", 5, "Line 3) number '300' outside range [1, 255]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), []string{"vigil", "-t", "-f", write(strings.ReplaceAll(tt.name, " ", "_")+".conf", tt.conf)}, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.out) {
				t.Errorf("output lacks %q:\n%s", tt.out, stderr.String())
			}
		})
	}
}

// The systemd unit must pass systemd-analyze verify (with ExecStart
// pointed at a built binary, since /usr/sbin/vigil is not installed
// where tests run).
func TestUnitFileVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skipf("systemd-analyze not installed (Debian package systemd): %v", err)
	}
	unit, err := os.ReadFile("../../dist/vigil.service")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildVigil(t)
	text := strings.ReplaceAll(string(unit), "/usr/sbin/vigil", bin)
	p := filepath.Join(t.TempDir(), "vigil.service")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", p).CombinedOutput()
	// verify exits 0 with warnings about the host (no running systemd in
	// a container); only findings about our unit count.
	var bad []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "vigil.service") {
			bad = append(bad, l)
		}
	}
	if err != nil || len(bad) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// Type=notify: READY=1 once the configuration runs, RELOADING=1 and
// READY=1 around a SIGHUP, STOPPING=1 on SIGTERM, then exit 0.
func TestSystemdNotify(t *testing.T) {
	bin := buildVigil(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "notify.sock")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte("global_defs {\n  router_id notify-test\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-n", "-l", "-f", conf, "-p", dir+"/p", "-r", dir+"/r", "-c", dir+"/c", "--socket", dir+"/ctl.sock")
	// WATCHDOG_USEC without WATCHDOG_PID applies to the child (go-systemd
	// checks the pid only when it is set).
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// next waits for the message want, skipping watchdog pings unless
	// asked for one.
	next := func(want string) {
		t.Helper()
		buf := make([]byte, 4096)
		if err := ln.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		for {
			n, err := ln.Read(buf)
			if err != nil {
				t.Fatalf("waiting for %q: %v\nlog:\n%s", want, err, log.String())
			}
			got := string(buf[:n])
			if got == "WATCHDOG=1" && want != got {
				continue
			}
			if !strings.Contains(got, want) {
				t.Fatalf("sd_notify %q, want %q", got, want)
			}
			return
		}
	}
	next("READY=1")
	next("WATCHDOG=1") // every 200 ms with WatchdogSec=0.4
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	next("RELOADING=1")
	next("READY=1")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	next("STOPPING=1")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("vigil exited with %v\n%s", err, log.String())
	}
}
