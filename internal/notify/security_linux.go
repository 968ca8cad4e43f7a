package notify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrScriptDisabled is wrapped by every CheckScript error: the script
// must not run. The message says why, in keepalived's words.
var ErrScriptDisabled = errors.New("script disabled")

// disabledError is a CheckScript failure: its text is keepalived's message
// alone, and it wraps ErrScriptDisabled (and any cause given with %w).
type disabledError struct {
	msg   string
	cause error
}

func (e *disabledError) Error() string { return e.msg }

func (e *disabledError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrScriptDisabled, e.cause}
	}
	return []error{ErrScriptDisabled}
}

// disabledf builds a disabledError; a %w verb in format wraps its cause.
func disabledf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &disabledError{msg: err.Error(), cause: errors.Unwrap(err)}
}

// Checked is the outcome of CheckScript for a script that may run.
type Checked struct {
	// Cmd is the command with Args[0] resolved to the absolute path
	// keepalived would execute.
	Cmd Command
	// Script is true when Cmd runs a file (not a "</path" file test);
	// any such script without enable_script_security makes keepalived
	// log a SECURITY VIOLATION.
	Script bool
	// Insecure is true when some part of the path is writable by a
	// non-root user and security is off (with security on, such a script
	// is disabled instead).
	Insecure bool
	// Warnings are keepalived's non-fatal messages about the script.
	Warnings []string
}

// SecurityViolation is keepalived's warning when scripts run without
// enable_script_security.
const SecurityViolation = "SECURITY VIOLATION - scripts are being executed but script_security not enabled."

// CheckScript applies keepalived 2.2.7's load-time checks to a script
// (lib/notify.c check_script_secure): a bare program name is resolved
// through $PATH; the path is made absolute and symbolic links resolved;
// the file must be executable by the script's user; and for scripts run
// as root (uid or gid 0, or set-uid/gid root) every directory on the path
// and the file itself must not be writable by non-root users. With
// security true an unsafe path disables the script; otherwise it is only
// flagged. def is the credential used when c.User is nil.
func CheckScript(c Command, security bool, def Credential) (Checked, error) {
	if len(c.Args) == 0 || c.Args[0] == "" {
		return Checked{}, disabledf("empty script")
	}
	cred := def
	if c.User != nil {
		cred = *c.User
	}
	c.Args = append([]string(nil), c.Args...)
	if isFileTest(c.Args[0]) {
		c.shell = true
		return Checked{Cmd: c}, nil
	}
	var out Checked
	if !strings.Contains(c.Args[0], "/") {
		found, err := findInPath(c.Args[0], cred)
		if err != nil {
			return Checked{}, err
		}
		out.Warnings = append(out.Warnings, fmt.Sprintf("WARNING - script `%s` resolved by path search to `%s`. Please specify full path.", c.Args[0], found))
		c.Args[0] = found
	}
	orig := c.Args[0]
	abs, err := filepath.Abs(orig)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return Checked{}, disabledf("Script %s cannot be accessed - %w", orig, unwrapPathError(err))
	}
	// keepalived keeps the configured file name when a symlink resolves
	// to a file of another name, because some programs act on argv[0];
	// it then checks both paths.
	real := ""
	if filepath.Base(abs) != filepath.Base(orig) {
		kept := filepath.Join(filepath.Dir(abs), filepath.Base(orig))
		if sameFile(kept, abs) {
			real = abs
			abs = kept
		}
	}
	c.Args[0] = abs
	st, err := statPath(statTarget(abs, real), false)
	if err != nil {
		return Checked{}, disabledf("Unable to access script `%s` - disabling", abs)
	}
	out.Script = true
	if !executableBy(st, cred.UID, cred.GID) {
		return Checked{}, disabledf("WARNING - script '%s' is not executable for uid:gid %d:%d - disabling", abs, cred.UID, cred.GID)
	}
	out.Cmd = c
	if !needsProtection(st, cred) {
		return out, nil
	}
	for _, p := range []string{abs, real} {
		if p == "" {
			continue
		}
		insecure, err := checkPathSecurity(p, security)
		if err != nil {
			return Checked{}, err
		}
		if insecure {
			out.Insecure = true
			out.Warnings = append(out.Warnings, fmt.Sprintf("Unsafe permissions found for script '%s'.", p))
		}
	}
	return out, nil
}

func statTarget(abs, real string) string {
	if real != "" {
		return real
	}
	return abs
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func sameFile(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

func statPath(p string, noFollow bool) (statInfo, error) {
	var st syscall.Stat_t
	var err error
	if noFollow {
		err = syscall.Lstat(p, &st)
	} else {
		err = syscall.Stat(p, &st)
	}
	if err != nil {
		return statInfo{}, err
	}
	return statInfo{mode: st.Mode, uid: st.Uid, gid: st.Gid}, nil
}

// checkPathSecurity walks "/", "/a", "/a/b", … "/a/b/file" without
// following symbolic links (lib/notify.c check_security).
func checkPathSecurity(p string, security bool) (insecure bool, err error) {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i := -1; i < len(parts); i++ {
		last := i == len(parts)-1
		if i >= 0 {
			cur = filepath.Join(cur, parts[i])
		}
		st, err := statPath(cur, true)
		if err != nil {
			return false, disabledf("check_script_secure could not find script '%s' - disabling", p)
		}
		if (!last && !st.isDir()) || (last && !st.isReg() && !st.isSymlink()) {
			return false, disabledf("Wrong file type found in script path '%s'", p)
		}
		if unsafePathPart(st) {
			if security {
				return true, disabledf("Unsafe permissions found for script '%s' - disabling.", p)
			}
			return true, nil
		}
	}
	return false, nil
}

// findInPath searches $PATH as keepalived does (glibc execvp rules): the
// first regular file executable by cred wins.
func findInPath(name string, cred Credential) (string, error) {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/bin:/usr/bin"
	}
	denied := false
	for _, dir := range filepath.SplitList(path) {
		cand := filepath.Join(dir, name)
		if dir == "" {
			cand = name
		}
		st, err := statPath(cand, false)
		if err != nil {
			continue
		}
		if !st.isReg() || !executableBy(st, cred.UID, cred.GID) {
			denied = true
			continue
		}
		return cand, nil
	}
	if denied {
		return "", disabledf("Permissions failure for script %s in path - disabling", name)
	}
	return "", disabledf("Cannot find script %s in path - disabling", name)
}
