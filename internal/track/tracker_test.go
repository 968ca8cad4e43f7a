package track

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-ha/vigil/internal/notify"
)

func writeFile(t *testing.T, p, body string, mode os.FileMode) string {
	t.Helper()
	// Write then rename, so a reader never sees a partial file.
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func command(t *testing.T, s string) notify.Command {
	t.Helper()
	args, err := notify.ParseCommand(s)
	if err != nil {
		t.Fatal(err)
	}
	return notify.Command{Args: args}
}

func newLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), nil))
}

// runTracker starts tr and returns its first subscription; the tracker
// stops when the test ends.
func runTracker(t *testing.T, tr *Tracker) <-chan Event {
	t.Helper()
	ch := tr.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tr.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return ch
}

func nextEvent(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("no tracker event within 15s")
		return Event{}
	}
}

func scriptDir(t *testing.T) string {
	d := filepath.Join(t.TempDir(), "s")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestScriptStatusFollowsExitCodes(t *testing.T) {
	dir := scriptDir(t)
	rc := writeFile(t, filepath.Join(dir, "rc"), "0", 0o644)
	runs := filepath.Join(dir, "runs")
	chk := writeFile(t, filepath.Join(dir, "chk.sh"), "#!/bin/sh\necho $1 >> "+runs+"\nexit $(cat "+rc+")\n", 0o755)
	tr, err := New(Config{Scripts: []Script{{
		Name: "chk_svc", Cmd: command(t, chk+" arg"), Interval: 20 * time.Millisecond,
		Weight: -30, Rise: 2, Fall: 3,
	}}}, newLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ch := runTracker(t, tr)
	want := Event{Kind: KindScript, Name: "chk_svc", Status: StatusUp, Weight: -30}
	if diff := cmp.Diff(want, nextEvent(t, ch)); diff != "" {
		t.Fatalf("first event (-want +got):\n%s", diff)
	}
	countRuns := func() int { b, _ := os.ReadFile(runs); return strings.Count(string(b), "arg\n") }
	writeFile(t, rc, "1", 0o644)
	failFrom := countRuns()
	want.Status = StatusDown
	if diff := cmp.Diff(want, nextEvent(t, ch)); diff != "" {
		t.Fatalf("second event (-want +got):\n%s", diff)
	}
	// fall 3: at least three runs since the exit code changed.
	if n := countRuns() - failFrom; n < 3 {
		t.Errorf("DOWN after %d runs, want fall=3", n)
	}
	writeFile(t, rc, "0", 0o644)
	upFrom := countRuns()
	want.Status = StatusUp
	if diff := cmp.Diff(want, nextEvent(t, ch)); diff != "" {
		t.Fatalf("third event (-want +got):\n%s", diff)
	}
	if n := countRuns() - upFrom; n < 2 {
		t.Errorf("UP after %d runs, want rise=2", n)
	}
}

func TestScriptTimeoutIsFailureAndKillsScript(t *testing.T) {
	dir := scriptDir(t)
	pids := filepath.Join(dir, "pids")
	chk := writeFile(t, filepath.Join(dir, "hang.sh"), "#!/bin/sh\necho $$ >> "+pids+"\nexec sleep 3600\n", 0o755)
	tr, err := New(Config{Scripts: []Script{{
		Name: "hang", Cmd: command(t, chk), Interval: 100 * time.Millisecond, Timeout: time.Second,
	}}}, newLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ch := runTracker(t, tr)
	if ev := nextEvent(t, ch); ev.Status != StatusDown {
		t.Fatalf("event %+v, want DOWN after timeout", ev)
	}
	b, _ := os.ReadFile(pids)
	f := strings.Fields(string(b))
	if len(f) == 0 {
		t.Fatal("script timed out before it started")
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("timed-out script %d still running", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b))
	return len(f) > 2 && f[2] == "Z"
}

func TestScriptNeverRunsTwiceAtOnce(t *testing.T) {
	dir := scriptDir(t)
	lock := filepath.Join(dir, "lock")
	overlap := filepath.Join(dir, "overlap")
	runs := filepath.Join(dir, "runs")
	// Runs take 10 intervals; mkdir fails if another run holds the lock.
	chk := writeFile(t, filepath.Join(dir, "slow.sh"), fmt.Sprintf(
		"#!/bin/sh\nmkdir %s 2>/dev/null || { echo x >> %s; exit 1; }\nsleep 0.2\nrmdir %s\necho r >> %s\n",
		lock, overlap, lock, runs), 0o755)
	tr, err := New(Config{Scripts: []Script{{
		Name: "slow", Cmd: command(t, chk), Interval: 20 * time.Millisecond, Timeout: 5 * time.Second,
	}}}, newLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ch := runTracker(t, tr)
	go func() {
		for range ch {
		}
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(runs)
		if strings.Count(string(b), "r\n") >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d runs completed", strings.Count(string(b), "r\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b, err := os.ReadFile(overlap); err == nil {
		t.Errorf("script ran concurrently with itself %d times", strings.Count(string(b), "x"))
	}
}

func TestInitFailStartsDown(t *testing.T) {
	dir := scriptDir(t)
	rc := writeFile(t, filepath.Join(dir, "rc"), "1", 0o644)
	chk := writeFile(t, filepath.Join(dir, "chk.sh"), "#!/bin/sh\nexit $(cat "+rc+")\n", 0o755)
	tr, err := New(Config{Scripts: []Script{{
		Name: "c", Cmd: command(t, chk), Interval: 20 * time.Millisecond, Weight: 10, Reverse: true, InitFail: true,
	}}}, newLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ch := runTracker(t, tr)
	want := Event{Kind: KindScript, Name: "c", Status: StatusDown, Initial: true, Weight: 10, Reverse: true}
	if diff := cmp.Diff(want, nextEvent(t, ch)); diff != "" {
		t.Fatalf("initial event (-want +got):\n%s", diff)
	}
	writeFile(t, rc, "0", 0o644)
	// Failures before this did not produce events: the next one is UP.
	want = Event{Kind: KindScript, Name: "c", Status: StatusUp, Weight: 10, Reverse: true}
	if diff := cmp.Diff(want, nextEvent(t, ch)); diff != "" {
		t.Fatalf("event (-want +got):\n%s", diff)
	}
}

func TestInsecureScriptDisabled(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("script security applies to root scripts; running as uid %d", os.Geteuid())
	}
	dir := scriptDir(t)
	chk := writeFile(t, filepath.Join(dir, "chk.sh"), "#!/bin/sh\n", 0o777)
	tr, err := New(Config{ScriptSecurity: true, Scripts: []Script{{Name: "bad", Cmd: command(t, chk)}}}, newLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Disabled()["bad"]; err == nil || !strings.Contains(err.Error(), "Unsafe permissions found for script") {
		t.Errorf("Disabled()[bad] = %v, want unsafe permissions", err)
	}
}

func TestTrackFileValues(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "prio")
	tr, err := New(Config{Files: []File{{Name: "tf", Path: p, Weight: 2, Init: &FileInit{Value: 5}}}}, newLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ch := runTracker(t, tr)
	ev := nextEvent(t, ch)
	if diff := cmp.Diff(Event{Kind: KindFile, Name: "tf", Value: 5, Initial: true, Weight: 2}, ev); diff != "" {
		t.Fatalf("initial event from init_file (-want +got):\n%s", diff)
	}
	if b, _ := os.ReadFile(p); string(b) != "5\n" {
		t.Errorf("init_file wrote %q, want %q", b, "5\n")
	}
	expect := func(v int64) {
		t.Helper()
		if diff := cmp.Diff(Event{Kind: KindFile, Name: "tf", Value: v, Weight: 2}, nextEvent(t, ch)); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
	}
	// Written in place: IN_CLOSE_WRITE.
	if err := os.WriteFile(p, []byte("7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect(7)
	// Out of range: ignored, value stays 7; the next event is 0x10.
	if err := os.WriteFile(p, []byte("99999999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Replaced atomically: the out-of-range write above gives no event to
	// wait for, so its IN_CLOSE_WRITE may still be handled while this
	// value is written; an in-place write could then be read half done.
	writeFile(t, p+".new", "0x10", 0o644)
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	expect(16)
	// Deleted: 0.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	expect(0)
	// Moved in: IN_MOVED_TO.
	writeFile(t, p, "-3", 0o644)
	expect(-3)
	// Moved away: 0.
	if err := os.Rename(p, p+".old"); err != nil {
		t.Fatal(err)
	}
	expect(0)
}

func TestTrackFileInitDoesNotOverwriteUnlessAsked(t *testing.T) {
	dir := t.TempDir()
	keep := writeFile(t, filepath.Join(dir, "keep"), "9\n", 0o644)
	over := writeFile(t, filepath.Join(dir, "over"), "9\n", 0o644)
	tr, err := New(Config{Files: []File{
		{Name: "keep", Path: keep, Weight: 1, Init: &FileInit{Value: 1}},
		{Name: "over", Path: over, Weight: 1, Init: &FileInit{Value: 2, Overwrite: true}},
	}}, newLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ch := runTracker(t, tr)
	got := map[string]int64{}
	for range 2 {
		ev := nextEvent(t, ch)
		got[ev.Name] = ev.Value
	}
	if diff := cmp.Diff(map[string]int64{"keep": 9, "over": 2}, got); diff != "" {
		t.Errorf("initial values (-want +got):\n%s", diff)
	}
}
