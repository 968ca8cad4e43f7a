package track

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigil-ha/vigil/internal/notify"
)

// DefaultInterval is vrrp_script's default interval (1 s).
const DefaultInterval = time.Second

// Script is one vrrp_script block.
type Script struct {
	Name string
	// Cmd is the parsed "script" line (notify.ParseCommand) and its
	// "user" (nil: Config.DefaultUser).
	Cmd notify.Command
	// Interval between runs; default 1 s.
	Interval time.Duration
	// Timeout kills a run; 0 means Interval, as keepalived.
	Timeout time.Duration
	// Weight (-253..253) and Reverse: the script's default weight,
	// passed along in events; track_script may override it.
	Weight  int
	Reverse bool
	// Rise and Fall: consecutive successes/failures needed to change
	// state; default 1.
	Rise, Fall int
	// InitFail is init_fail: the script starts DOWN.
	InitFail bool
}

// FileInit is track_file's init_file [VALUE] [overwrite].
type FileInit struct {
	Value     int
	Overwrite bool
}

// File is one track_file (vrrp_track_file) block.
type File struct {
	Name string
	// Path is the "file" to watch.
	Path string
	// Weight and Reverse: default weight (keepalived's default is 1;
	// the zero value here means weight 0, so set 1 explicitly).
	Weight  int
	Reverse bool
	// Init, if set, writes Init.Value to Path at startup when the file
	// is absent (or always, with Overwrite).
	Init *FileInit
}

// Config configures a Tracker.
type Config struct {
	Scripts []Script
	Files   []File
	// ScriptSecurity is enable_script_security.
	ScriptSecurity bool
	// DefaultUser runs scripts without a user; nil: the daemon's user.
	DefaultUser *notify.Credential
}

// Kind says what an Event is about.
type Kind uint8

// Event kinds.
const (
	KindScript Kind = iota + 1
	KindFile
)

// Event reports a tracked object's new state.
type Event struct {
	Kind Kind
	Name string
	// Status is a script's new status (KindScript).
	Status Status
	// Value is a file's new value (KindFile).
	Value int64
	// Initial marks the first report for an object at startup: a file's
	// value, or DOWN for an init_fail script.
	Initial bool
	// Weight and Reverse are the object's configured defaults.
	Weight  int
	Reverse bool
}

// Tracker runs the vrrp_scripts and watches the track files.
type Tracker struct {
	log      *slog.Logger
	def      notify.Credential
	scripts  []Script
	files    []File
	disabled map[string]error
	subs     []chan Event
	started  atomic.Bool
	subMu    sync.Mutex
}

// New checks every script as keepalived does (notify.CheckScript);
// scripts that fail are left out, logged, and listed by Disabled, so the
// VRRP layer can drop them from track_script as keepalived does. It
// starts nothing.
func New(cfg Config, log *slog.Logger) (*Tracker, error) {
	t := &Tracker{log: log, def: notify.Self(), disabled: map[string]error{}}
	if cfg.DefaultUser != nil {
		t.def = *cfg.DefaultUser
	}
	anyScript := false
	seen := map[string]bool{}
	for _, s := range cfg.Scripts {
		if seen[s.Name] {
			return nil, errors.New("vrrp_script " + s.Name + " defined twice")
		}
		seen[s.Name] = true
		res, err := notify.CheckScript(s.Cmd, cfg.ScriptSecurity, t.def)
		if err != nil {
			log.Warn(err.Error(), "check", s.Name)
			t.disabled[s.Name] = err
			continue
		}
		for _, w := range res.Warnings {
			log.Warn(w, "check", s.Name)
		}
		anyScript = anyScript || res.Script
		s.Cmd = res.Cmd
		if s.Interval <= 0 {
			s.Interval = DefaultInterval
		}
		if s.Timeout <= 0 {
			s.Timeout = s.Interval
		}
		s.Rise, s.Fall = max(s.Rise, 1), max(s.Fall, 1)
		t.scripts = append(t.scripts, s)
	}
	if anyScript && !cfg.ScriptSecurity {
		log.Warn(notify.SecurityViolation)
	}
	for _, f := range cfg.Files {
		if f.Path == "" {
			return nil, errors.New("track_file " + f.Name + ": no file set")
		}
		t.files = append(t.files, f)
	}
	return t, nil
}

// Disabled maps the names of vrrp_scripts that failed their checks to
// the reason.
func (t *Tracker) Disabled() map[string]error { return t.disabled }

// Subscribe returns a channel that receives every Event. Call it before
// Run. The channel is never closed; a subscriber that stops reading
// stalls the tracker's reports (not its callers), so read until Run's
// context ends.
func (t *Tracker) Subscribe() <-chan Event {
	t.subMu.Lock()
	defer t.subMu.Unlock()
	ch := make(chan Event, 16)
	t.subs = append(t.subs, ch)
	return ch
}

func (t *Tracker) publish(ctx context.Context, ev Event) {
	t.subMu.Lock()
	subs := t.subs
	t.subMu.Unlock()
	for _, ch := range subs {
		select {
		case ch <- ev:
		case <-ctx.Done():
			return
		}
	}
}

// Run runs every script on its interval and watches the files until ctx
// ends; it returns after every running script has been stopped.
func (t *Tracker) Run(ctx context.Context) error {
	if !t.started.CompareAndSwap(false, true) {
		return errors.New("track: Run called twice")
	}
	var wg sync.WaitGroup
	for _, s := range t.scripts {
		wg.Go(func() { t.runScript(ctx, s) })
	}
	var fileErr error
	if len(t.files) > 0 {
		wg.Go(func() { fileErr = t.watchFiles(ctx) })
	}
	wg.Wait()
	return fileErr
}

// runScript runs one script: at once, then every Interval. The run is
// synchronous, so a script is never run twice at the same time; ticks
// that pass while it runs are skipped, as keepalived skips a run when
// the previous one is still going.
func (t *Tracker) runScript(ctx context.Context, s Script) {
	log := t.log.With("check", s.Name)
	c := NewCounter(s.Rise, s.Fall, s.InitFail)
	base := Event{Kind: KindScript, Name: s.Name, Weight: s.Weight, Reverse: s.Reverse}
	if s.InitFail {
		ev := base
		ev.Status, ev.Initial = StatusDown, true
		t.publish(ctx, ev)
	}
	tick := time.NewTicker(s.Interval)
	defer tick.Stop()
	lastExit := -1
	for {
		res := s.Cmd.Exec(ctx, s.Timeout, t.def)
		if ctx.Err() != nil {
			return
		}
		if res.Duration > s.Interval {
			log.Info("Track script " + s.Name + " is already running, expect idle - skipping run")
		}
		if res.Err == nil && !res.TimedOut && res.Signal == 0 && res.ExitCode != lastExit {
			log.Info("Script `" + s.Name + "` now returning " + strconv.Itoa(res.ExitCode))
			lastExit = res.ExitCode
		}
		if c.Record(res.OK()) {
			msg := "VRRP_Script(" + s.Name + ") "
			switch {
			case res.OK():
				msg += "succeeded"
			case res.TimedOut:
				msg += "timed_out"
			case res.Err != nil:
				msg += "failed (" + res.Err.Error() + ")"
			case res.Signal != 0:
				msg += "failed (due to signal " + strconv.Itoa(int(res.Signal)) + ")"
			default:
				msg += "failed (exited with status " + strconv.Itoa(res.ExitCode) + ")"
			}
			log.Info(msg)
			ev := base
			ev.Status = c.Status()
			t.publish(ctx, ev)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}
