package notify

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// KillGrace is how long a timed-out script has between SIGTERM and
// SIGKILL, as keepalived's vrrp_script handling (2 s).
const KillGrace = 2 * time.Second

// Result is the outcome of one script run.
type Result struct {
	// ExitCode is the exit status, or -1 if the script was killed by a
	// signal or did not start.
	ExitCode int
	// Signal is the signal that ended the script, if any.
	Signal syscall.Signal
	// TimedOut is true when the run was stopped because its timeout
	// expired (or its context ended) rather than ending by itself.
	TimedOut bool
	// Err is set when the script could not be started at all.
	Err error
	// Duration is how long the run took.
	Duration time.Duration
}

// OK reports whether the script exited with status 0.
func (r Result) OK() bool { return r.Err == nil && !r.TimedOut && r.ExitCode == 0 }

// String describes the outcome for logs: "exited with status 1",
// "timed out", "killed by signal 9 (killed)" or "failed to start: …".
func (r Result) String() string {
	switch {
	case r.Err != nil:
		return "failed to start: " + r.Err.Error()
	case r.TimedOut:
		return "timed out"
	case r.Signal != 0:
		return fmt.Sprintf("killed by signal %d (%s)", int(r.Signal), r.Signal)
	default:
		return fmt.Sprintf("exited with status %d", r.ExitCode)
	}
}

// Exec runs the command with extra arguments appended, waits for it, and
// returns how it ended. It never outlives ctx or timeout (if > 0) by more
// than KillGrace: on expiry the script's process group gets SIGTERM and,
// KillGrace later, SIGKILL. The script runs in its own process group (as
// keepalived's setpgid) so its children are killed with it, with stdin,
// stdout and stderr on /dev/null, and as c.User (or def when nil).
func (c Command) Exec(ctx context.Context, timeout time.Duration, def Credential, extra ...string) Result {
	start := time.Now()
	if len(c.Args) == 0 {
		return Result{ExitCode: -1, Err: errors.New("empty command")}
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	argv := make([]string, 0, len(c.Args)+len(extra))
	argv = append(append(argv, c.Args...), extra...)
	cred := def
	if c.User != nil {
		cred = *c.User
	}
	res := execArgv(ctx, argv, c.shell, cred)
	if res.Err != nil && errors.Is(res.Err, syscall.ENOEXEC) && !c.shell {
		// A script without a #! line: keepalived (with libmagic) runs it
		// through system(3) instead of execve(2).
		res = execArgv(ctx, argv, true, cred)
	}
	res.Duration = time.Since(start)
	return res
}

func execArgv(ctx context.Context, argv []string, shell bool, cred Credential) Result {
	var cmd *exec.Cmd
	if shell {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", shellLine(argv))
	} else {
		cmd = exec.CommandContext(ctx, argv[0])
		cmd.Args = argv
	}
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	self := Self()
	if cred.UID != self.UID || cred.GID != self.GID {
		// keepalived: setgid, setgroups(1, &gid), setuid.
		attr.Credential = &syscall.Credential{Uid: cred.UID, Gid: cred.GID, Groups: []uint32{cred.GID}}
	}
	cmd.SysProcAttr = attr
	cmd.Cancel = func() error {
		// Negative pid: the whole process group the script leads.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	cmd.WaitDelay = KillGrace
	err := cmd.Start()
	if err != nil {
		return Result{ExitCode: -1, Err: err}
	}
	err = cmd.Wait()
	res := Result{ExitCode: -1}
	expired := ctx.Err() != nil
	if expired {
		// Anything left in the group (children that ignored SIGTERM, or
		// the leader after WaitDelay) is killed now, as keepalived does
		// after a timed-out script.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if ps := cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok {
			switch {
			case ws.Exited():
				// A script that exits by itself, even after SIGTERM,
				// reports its own status (keepalived does the same).
				res.ExitCode = ws.ExitStatus()
			case ws.Signaled():
				res.Signal = ws.Signal()
				res.TimedOut = expired
			}
		}
	} else if err != nil {
		res.Err = err
	}
	return res
}
