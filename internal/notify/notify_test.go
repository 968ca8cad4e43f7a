package notify

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// logRecorder is a slog.Handler that keeps every message, and also
// writes it to the test's output.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
	next slog.Handler
}

func newLogRecorder(t *testing.T) (*slog.Logger, *logRecorder) {
	r := &logRecorder{next: slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})}
	return slog.New(r), r
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Message)
	r.mu.Unlock()
	return r.next.Handle(ctx, rec)
}
func (r *logRecorder) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecorder2{r, r.next.WithAttrs(as)}
}
func (r *logRecorder) WithGroup(g string) slog.Handler { return &logRecorder2{r, r.next.WithGroup(g)} }

// logRecorder2 shares its parent's message list.
type logRecorder2 struct {
	root *logRecorder
	next slog.Handler
}

func (r *logRecorder2) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder2) Handle(ctx context.Context, rec slog.Record) error {
	r.root.mu.Lock()
	r.root.msgs = append(r.root.msgs, rec.Message)
	r.root.mu.Unlock()
	return r.next.Handle(ctx, rec)
}
func (r *logRecorder2) WithAttrs(as []slog.Attr) slog.Handler {
	return &logRecorder2{r.root, r.next.WithAttrs(as)}
}
func (r *logRecorder2) WithGroup(g string) slog.Handler {
	return &logRecorder2{r.root, r.next.WithGroup(g)}
}

func (r *logRecorder) contains(sub string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

// recorder writes a script that appends one line per run to out: its
// arguments joined by spaces.
func recorder(t *testing.T, dir string) string {
	t.Helper()
	return writeScript(t, dir, "rec.sh", "#!/bin/sh\nout=$1\nshift\necho \"$*\" >> \"$out\"\n", 0o755)
}

func mustCommand(t *testing.T, s string) *Command {
	t.Helper()
	args, err := ParseCommand(s)
	if err != nil {
		t.Fatal(err)
	}
	return &Command{Args: args}
}

// startNotifier runs n until the test ends and returns a stop function
// that cancels it and waits for Run to return.
func startNotifier(t *testing.T, n *Notifier) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestNotifyScriptsRunInOrderWithKeepalivedArguments(t *testing.T) {
	dir := secureDir(t)
	rec := recorder(t, dir)
	vi1 := filepath.Join(dir, "vi1")
	g1 := filepath.Join(dir, "g1")
	log, _ := newLogRecorder(t)
	n, err := New(Config{
		Instances: map[string]Scripts{"VI_1": {
			Master:           mustCommand(t, rec+" "+vi1+" notify_master 'arg one'"),
			Backup:           mustCommand(t, rec+" "+vi1+" notify_backup"),
			Fault:            mustCommand(t, rec+" "+vi1+" notify_fault"),
			Stop:             mustCommand(t, rec+" "+vi1+" notify_stop"),
			Notify:           mustCommand(t, rec+" "+vi1+" notify"),
			MasterRxLowerPri: mustCommand(t, rec+" "+vi1+" rx_lower"),
		}},
		Groups: map[string]Scripts{"G1": {
			Master: mustCommand(t, rec+" "+g1+" group_master"),
			Notify: mustCommand(t, rec+" "+g1+" notify"),
		}},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	stop := startNotifier(t, n)
	for _, ev := range []Event{
		{Name: "VI_1", State: StateBackup, Priority: 100},
		{Name: "VI_1", State: StateMaster, Priority: 100},
		{Name: "VI_1", State: EventMasterRxLowerPri, Priority: 100},
		{Name: "VI_1", State: EventMasterPriority, Priority: 90},
		{Name: "VI_1", State: StateFault, Priority: 90},
		// notify_deleted not set: reported as FAULT.
		{Name: "VI_1", State: StateDeleted, Priority: 90},
		{Group: true, Name: "G1", State: StateMaster, Priority: 100},
		{Name: "VI_1", State: StateStop, Priority: 90},
	} {
		if !n.Enqueue(ev) {
			t.Fatalf("Enqueue(%+v) = false", ev)
		}
	}
	want := []string{
		"notify_backup",
		"notify INSTANCE VI_1 BACKUP 100",
		"notify_master arg one",
		"notify INSTANCE VI_1 MASTER 100",
		"rx_lower",
		"notify_fault",
		"notify INSTANCE VI_1 FAULT 90",
		"notify_fault",
		"notify INSTANCE VI_1 FAULT 90",
		"notify_stop",
		"notify INSTANCE VI_1 STOP 90",
	}
	waitFor(t, 10*time.Second, func() string { return readFile(t, vi1) }, func() bool { return len(lines(readFile(t, vi1))) >= len(want) })
	stop()
	if diff := cmp.Diff(want, lines(readFile(t, vi1))); diff != "" {
		t.Errorf("VI_1 script runs (-want +got):\n%s", diff)
	}
	// Groups always report priority 0.
	if diff := cmp.Diff([]string{"group_master", "notify GROUP G1 MASTER 0"}, lines(readFile(t, g1))); diff != "" {
		t.Errorf("G1 script runs (-want +got):\n%s", diff)
	}
}

func TestNotifyDeletedReportsDeleted(t *testing.T) {
	dir := secureDir(t)
	rec := recorder(t, dir)
	out := filepath.Join(dir, "out")
	log, _ := newLogRecorder(t)
	n, err := New(Config{Instances: map[string]Scripts{"VI_1": {
		Deleted:       mustCommand(t, rec+" "+out+" notify_deleted"),
		Fault:         mustCommand(t, rec+" "+out+" notify_fault"),
		Notify:        mustCommand(t, rec+" "+out+" notify"),
		NotifyDeleted: true,
	}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	startNotifier(t, n)
	n.Enqueue(Event{Name: "VI_1", State: StateDeleted, Priority: 100})
	want := []string{"notify_deleted", "notify INSTANCE VI_1 DELETED 100"}
	waitFor(t, 10*time.Second, func() string { return readFile(t, out) }, func() bool { return len(lines(readFile(t, out))) >= 2 })
	if diff := cmp.Diff(want, lines(readFile(t, out))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// hanger writes a script that records that it started, then hangs.
func hanger(t *testing.T, dir string) (script, started string) {
	started = filepath.Join(dir, "started")
	script = writeScript(t, dir, "hang.sh", "#!/bin/sh\necho $$ >> "+started+"\nexec sleep 3600\n", 0o755)
	return script, started
}

func TestHangingNotifyScriptIsKilledAtTimeout(t *testing.T) {
	dir := secureDir(t)
	rec := recorder(t, dir)
	out := filepath.Join(dir, "out")
	hang, started := hanger(t, dir)
	log, _ := newLogRecorder(t)
	n, err := New(Config{
		Instances: map[string]Scripts{"VI_1": {
			Master: mustCommand(t, hang),
			Notify: mustCommand(t, rec+" "+out),
		}},
		Timeout: time.Second,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	startNotifier(t, n)
	n.Enqueue(Event{Name: "VI_1", State: StateMaster, Priority: 100})
	n.Enqueue(Event{Name: "VI_1", State: StateBackup, Priority: 100})
	// The generic notify for MASTER runs once notify_master is killed,
	// then BACKUP's.
	waitFor(t, 10*time.Second, func() string { return readFile(t, out) }, func() bool { return len(lines(readFile(t, out))) >= 2 })
	if diff := cmp.Diff([]string{"INSTANCE VI_1 MASTER 100", "INSTANCE VI_1 BACKUP 100"}, lines(readFile(t, out))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var pid int
	if _, err := fmt.Sscan(readFile(t, started), &pid); err != nil {
		t.Fatalf("hanging script pid: %v", err)
	}
	if !processGone(pid) {
		t.Errorf("hanging script %d still running after its timeout", pid)
	}
}

func TestEnqueueDoesNotWaitForRunningScript(t *testing.T) {
	dir := secureDir(t)
	hang, started := hanger(t, dir)
	log, _ := newLogRecorder(t)
	n, err := New(Config{
		Instances: map[string]Scripts{"VI_1": {Master: mustCommand(t, hang)}},
		Timeout:   time.Hour,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	stop := startNotifier(t, n)
	n.Enqueue(Event{Name: "VI_1", State: StateMaster, Priority: 100})
	waitFor(t, 10*time.Second, func() string { return "no start" }, func() bool { return readFile(t, started) != "" })
	// The script now hangs for an hour; Enqueue must still return.
	done := make(chan bool)
	go func() { done <- n.Enqueue(Event{Name: "VI_1", State: StateBackup, Priority: 100}) }()
	select {
	case ok := <-done:
		if !ok {
			t.Errorf("Enqueue behind a running script = false, want queued")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Enqueue blocked behind a running script")
	}
	// Shutdown kills the hanging script after StopTimeout.
	stop()
	var pid int
	if _, err := fmt.Sscan(readFile(t, started), &pid); err != nil {
		t.Fatal(err)
	}
	if !processGone(pid) {
		t.Errorf("hanging script %d survived shutdown", pid)
	}
}

func TestQueueOverflowDropsAndCounts(t *testing.T) {
	dir := secureDir(t)
	hang, started := hanger(t, dir)
	log, logs := newLogRecorder(t)
	n, err := New(Config{
		Instances: map[string]Scripts{"VI_1": {Master: mustCommand(t, hang)}},
		QueueLen:  2,
		Timeout:   time.Hour,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	startNotifier(t, n)
	n.Enqueue(Event{Name: "VI_1", State: StateMaster, Priority: 100})
	waitFor(t, 10*time.Second, func() string { return "no start" }, func() bool { return readFile(t, started) != "" })
	// The worker is busy: two events fill the queue, the rest drop.
	got := []bool{}
	for range 4 {
		got = append(got, n.Enqueue(Event{Name: "VI_1", State: StateBackup, Priority: 100}))
	}
	if diff := cmp.Diff([]bool{true, true, false, false}, got); diff != "" {
		t.Errorf("Enqueue results (-want +got):\n%s", diff)
	}
	if d := n.Dropped(); d != 2 {
		t.Errorf("Dropped() = %d, want 2", d)
	}
	if !logs.contains("notify queue full, dropping notify") {
		t.Errorf("no warning logged for the dropped notifies")
	}
}

func TestWorldWritableScriptRefusedUnderScriptSecurity(t *testing.T) {
	requireRoot(t)
	dir := secureDir(t)
	out := filepath.Join(dir, "out")
	bad := writeScript(t, dir, "bad.sh", "#!/bin/sh\necho ran >> "+out+"\n", 0o777)
	good := writeScript(t, dir, "good.sh", "#!/bin/sh\necho \"$@\" >> "+out+"\n", 0o755)
	log, logs := newLogRecorder(t)
	n, err := New(Config{
		Instances: map[string]Scripts{"VI_1": {
			Master: mustCommand(t, bad),
			Notify: mustCommand(t, good),
		}},
		ScriptSecurity: true,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Unsafe permissions found for script '" + bad + "' - disabling"; !logs.contains(want) {
		t.Errorf("log lacks %q", want)
	}
	if logs.contains("SECURITY VIOLATION") {
		t.Errorf("SECURITY VIOLATION logged with script security enabled")
	}
	stop := startNotifier(t, n)
	n.Enqueue(Event{Name: "VI_1", State: StateMaster, Priority: 100})
	waitFor(t, 10*time.Second, func() string { return readFile(t, out) }, func() bool { return readFile(t, out) != "" })
	stop()
	if diff := cmp.Diff([]string{"INSTANCE VI_1 MASTER 100"}, lines(readFile(t, out))); diff != "" {
		t.Errorf("the insecure notify_master ran, or notify did not (-want +got):\n%s", diff)
	}
}

func TestSecurityViolationLoggedWithoutScriptSecurity(t *testing.T) {
	dir := secureDir(t)
	log, logs := newLogRecorder(t)
	if _, err := New(Config{Instances: map[string]Scripts{"VI_1": {Master: mustCommand(t, recorder(t, dir))}}}, log); err != nil {
		t.Fatal(err)
	}
	if !logs.contains(SecurityViolation) {
		t.Errorf("no %q", SecurityViolation)
	}
}

func TestNotifyFIFOLines(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "vrrp.fifo")
	log, _ := newLogRecorder(t)
	n, err := New(Config{
		FIFOs:     []FIFO{{Path: fifo}},
		Instances: map[string]Scripts{"VI_1": {}},
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	stop := startNotifier(t, n)
	waitFor(t, 10*time.Second, func() string { return "no fifo" }, func() bool {
		st, err := os.Stat(fifo)
		return err == nil && st.Mode()&os.ModeNamedPipe != 0
	})
	// The notifier holds the FIFO open read-write, so this open does not
	// block.
	f, err := os.OpenFile(fifo, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, ev := range []Event{
		{Name: "VI_1", State: StateMaster, Priority: 100},
		{Group: true, Name: "G1", State: StateBackup, Priority: 100},
		{Name: "VI_1", State: EventMasterRxLowerPri, Priority: 100},
		{Name: "VI_1", State: EventMasterPriority, Priority: 90},
		{Name: "VI_2", State: EventBackupPriority, Priority: 80},
		{Name: "VI_1", State: StateDeleted, Priority: 90},
		{Name: "VI_2", State: StateDeleted, Priority: 90},
		{Name: "VI_1", State: StateStop, Priority: 90},
	} {
		n.Enqueue(ev)
	}
	want := []string{
		`INSTANCE "VI_1" MASTER 100`,
		`GROUP "G1" BACKUP 0`,
		`INSTANCE "VI_1" MASTER_RX_LOWER_PRI 100`,
		`INSTANCE "VI_1" MASTER_PRIORITY 90`,
		`INSTANCE "VI_2" BACKUP_PRIORITY 80`,
		`INSTANCE "VI_1" FAULT 90`,   // no notify_deleted
		`INSTANCE "VI_2" DELETED 90`, // not configured here: passed as is
		`INSTANCE "VI_1" STOP 90`,
	}
	sc := bufio.NewScanner(f)
	var got []string
	for len(got) < len(want) && sc.Scan() {
		got = append(got, sc.Text())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FIFO lines (-want +got):\n%s", diff)
	}
	stop()
	if _, err := os.Lstat(fifo); !os.IsNotExist(err) {
		t.Errorf("FIFO created by the notifier not removed at exit: %v", err)
	}
}

func TestNotifyFIFOScriptGetsFIFOPath(t *testing.T) {
	dir := secureDir(t)
	fifo := filepath.Join(dir, "n.fifo")
	out := filepath.Join(dir, "out")
	// keepalived's sample_notify_fifo.sh in miniature: read the FIFO
	// named by the last argument.
	reader := writeScript(t, dir, "reader.sh", "#!/bin/sh\nwhile read line; do echo \"$1|$line\" >> "+out+"; done < \"$2\"\n", 0o755)
	log, _ := newLogRecorder(t)
	n, err := New(Config{FIFOs: []FIFO{{Path: fifo, Script: mustCommand(t, reader+" tag")}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	stop := startNotifier(t, n)
	n.Enqueue(Event{Name: "VI_9", State: StateBackup, Priority: 50})
	waitFor(t, 10*time.Second, func() string { return readFile(t, out) }, func() bool { return readFile(t, out) != "" })
	stop()
	if got, want := readFile(t, out), "tag|INSTANCE \"VI_9\" BACKUP 50\n"; got != want {
		t.Errorf("fifo script saw %q, want %q", got, want)
	}
}

func TestStopNotifiesQueuedBeforeShutdownRun(t *testing.T) {
	dir := secureDir(t)
	rec := recorder(t, dir)
	out := filepath.Join(dir, "out")
	log, _ := newLogRecorder(t)
	n, err := New(Config{Instances: map[string]Scripts{"VI_1": {Stop: mustCommand(t, rec+" "+out+" stop")}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// Cancel before Run even starts: the queued STOP must still run.
	n.Enqueue(Event{Name: "VI_1", State: StateStop, Priority: 100})
	cancel()
	if err := n.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, out); got != "stop\n" {
		t.Errorf("notify_stop output %q, want %q", got, "stop\n")
	}
	if n.Enqueue(Event{Name: "VI_1", State: StateStop}) {
		t.Errorf("Enqueue after Run returned = true, want false")
	}
}

func TestEnqueueBeforeRunIsKept(t *testing.T) {
	dir := secureDir(t)
	rec := recorder(t, dir)
	out := filepath.Join(dir, "out")
	log, _ := newLogRecorder(t)
	n, err := New(Config{Instances: map[string]Scripts{"VI_1": {Notify: mustCommand(t, rec+" "+out)}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	n.Enqueue(Event{Name: "VI_1", State: StateBackup, Priority: 100})
	startNotifier(t, n)
	waitFor(t, 10*time.Second, func() string { return readFile(t, out) }, func() bool { return readFile(t, out) != "" })
	if got := readFile(t, out); got != "INSTANCE VI_1 BACKUP 100\n" {
		t.Errorf("got %q", got)
	}
}
