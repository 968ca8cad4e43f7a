package status

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestDumperWritesKeepalivedFiles(t *testing.T) {
	dir := t.TempDir()
	src := &fakeSource{insts: fixture()}
	d := NewDumper(src, DumpOptions{Dir: dir, RouterID: "lb1"})
	for _, tc := range []struct {
		kind  DumpKind
		file  string
		write func(*bytes.Buffer) error
	}{
		{DumpData, "keepalived.data", func(b *bytes.Buffer) error { return WriteData(b, fixture(), DataInfo{RouterID: "lb1"}) }},
		{DumpStats, "keepalived.stats", func(b *bytes.Buffer) error { return WriteStats(b, fixture()) }},
		{DumpJSON, "keepalived.json", func(b *bytes.Buffer) error { return WriteJSON(b, fixture()) }},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path, err := d.Dump(tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			if path != filepath.Join(dir, tc.file) {
				t.Errorf("path = %s, want %s", path, filepath.Join(dir, tc.file))
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("mode = %v, want 0600 as keepalived", fi.Mode())
			}
			var want bytes.Buffer
			if err := tc.write(&want); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(path); !bytes.Equal(got, want.Bytes()) {
				t.Errorf("%s:\n%s\nwant:\n%s", tc.file, got, want.Bytes())
			}
		})
	}
	if n, _ := filepath.Glob(filepath.Join(dir, ".keepalived*")); len(n) != 0 {
		t.Errorf("temporary files left: %v", n)
	}
}

// A symlink planted at the dump path (a classic /tmp attack) is replaced,
// never written through.
func TestDumperReplacesSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "keepalived.stats")); err != nil {
		t.Fatal(err)
	}
	if _, err := NewDumper(&fakeSource{insts: fixture()}, DumpOptions{Dir: dir}).Dump(DumpStats); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("dump wrote through the symlink: victim = %q", b)
	}
	fi, err := os.Lstat(filepath.Join(dir, "keepalived.stats"))
	if err != nil || fi.Mode().Type() != 0 {
		t.Errorf("keepalived.stats = %v, %v; want a regular file", fi, err)
	}
}

func TestDumperErrorNamesFile(t *testing.T) {
	d := NewDumper(&fakeSource{}, DumpOptions{Dir: filepath.Join(t.TempDir(), "missing")})
	_, err := d.Dump(DumpJSON)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !bytes.Contains([]byte(err.Error()), []byte("keepalived.json")) {
		t.Errorf("Dump into a missing directory: %v, want the file named and ENOENT wrapped", err)
	}
}

func TestKindOf(t *testing.T) {
	for sig, want := range map[os.Signal]DumpKind{syscall.SIGUSR1: DumpData, syscall.SIGUSR2: DumpStats, syscall.Signal(36): DumpJSON} {
		if got, ok := KindOf(sig); !ok || got != want {
			t.Errorf("KindOf(%v) = %v, %v; want %v", sig, got, ok, want)
		}
	}
	if _, ok := KindOf(syscall.SIGHUP); ok {
		t.Error("KindOf(SIGHUP) is a dump")
	}
}

// Run answers keepalived's signals sent to this very process.
func TestDumperRunOnSignals(t *testing.T) {
	checkNoLeak(t)
	// Our own subscription keeps the default action (exit) away while Run
	// registers its handler.
	guard := make(chan os.Signal, 16)
	signal.Notify(guard, SignalData, SignalStats, SignalJSON)
	defer signal.Stop(guard)

	dir := t.TempDir()
	d := NewDumper(&fakeSource{insts: fixture()}, DumpOptions{Dir: dir})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, slog.New(slog.NewTextHandler(t.Output(), nil))) }()

	for _, sig := range []syscall.Signal{SignalData, SignalStats, SignalJSON} {
		k, _ := KindOf(sig)
		path := filepath.Join(dir, k.FileName())
		deadline := time.Now().Add(5 * time.Second)
		for {
			// Resend until the file appears: Run may not have registered yet.
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s after %v", path, sig)
			}
			time.Sleep(10 * time.Millisecond) // polling for the file
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
