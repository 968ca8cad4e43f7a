package check

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// MiscKillGrace is how long a timed-out MISC_CHECK script has between
// SIGTERM and SIGKILL. keepalived also terminates first and kills after.
const MiscKillGrace = 2 * time.Second

// Misc is MISC_CHECK: run misc_path; exit 0 means up. With misc_dynamic,
// exit 1 means down and 2..255 means up with weight code-2 (keepalived.conf(5)
// MISC_CHECK); without it any non-zero exit means down. A script killed by a
// signal, or still running at misc_timeout (carried in ctx), fails.
type Misc struct {
	// Argv is misc_path split into words (Argv[0] is the program).
	Argv []string
	// Dynamic is misc_dynamic.
	Dynamic bool
	// User runs the script under another uid/gid (user); nil runs it as the
	// daemon.
	User *Cred
	// KillGrace overrides MiscKillGrace when non-zero.
	KillGrace time.Duration
}

// Cred is a resolved "user USERNAME [GROUPNAME]".
type Cred struct {
	UID, GID uint32
	Groups   []uint32
}

// Check runs the script once and waits for it, or kills it (and its process
// group) when ctx is done. No goroutine outlives Check.
func (m *Misc) Check(ctx context.Context) Result {
	start := time.Now()
	if len(m.Argv) == 0 {
		return fail(start, "MISC_CHECK has no misc_path")
	}
	name := m.Argv[0]
	cmd := exec.CommandContext(ctx, name, m.Argv[1:]...)
	// Stdin, Stdout and Stderr stay nil (/dev/null): no copy goroutines.
	setProcAttrs(cmd, m.User)
	grace := m.KillGrace
	if grace == 0 {
		grace = MiscKillGrace
	}
	// On timeout, SIGTERM the whole group as keepalived does; WaitDelay
	// then SIGKILLs the script if it ignores that.
	cmd.Cancel = func() error { return terminateGroup(cmd) }
	cmd.WaitDelay = grace
	err := cmd.Run()
	if ctx.Err() != nil {
		// A timed-out script's children die with it, as in keepalived.
		killGroup(cmd)
	}

	if ctx.Err() != nil && cmd.ProcessState != nil && !cmd.ProcessState.Success() {
		return fail(start, "Misc check by [%s] timed out", name)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
		return pass(start, "Misc check by ["+name+"] succeeded")
	case errors.As(err, &ee):
		if code := ee.ExitCode(); code >= 0 {
			if m.Dynamic && code >= 2 && code <= 255 {
				w := code - 2
				r := pass(start, fmt.Sprintf("Misc check by [%s] succeeded (exited with status %d)", name, code))
				r.Weight = &w
				return r
			}
			return fail(start, "Misc check by [%s] failed (exited with status %d)", name, code)
		}
		return fail(start, "Misc check by [%s] failed (%s)", name, strings.TrimPrefix(ee.String(), "signal: "))
	case ctx.Err() != nil:
		return fail(start, "Misc check by [%s] timed out", name)
	}
	return fail(start, "Misc check by [%s] failed to start: %v", name, err)
}
