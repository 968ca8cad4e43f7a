package notify

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExecutableBy(t *testing.T) {
	file := func(mode, uid, gid uint32) statInfo { return statInfo{mode: modeReg | mode, uid: uid, gid: gid} }
	tests := []struct {
		name     string
		st       statInfo
		uid, gid uint32
		want     bool
	}{
		{"root needs any x", file(0o001, 5, 5), 0, 0, true},
		{"root without x", file(0o644, 0, 0), 0, 0, false},
		{"owner u+x", file(0o700, 5, 5), 5, 5, true},
		{"owner only g+x", file(0o070, 5, 5), 5, 5, false},
		{"group g+x", file(0o710, 5, 6), 7, 6, true},
		{"group without g+x ignores o+x", file(0o701, 5, 6), 7, 6, false},
		{"other o+x", file(0o701, 5, 6), 7, 8, true},
		{"other without o+x", file(0o770, 5, 6), 7, 8, false},
	}
	for _, tt := range tests {
		if got := executableBy(tt.st, tt.uid, tt.gid); got != tt.want {
			t.Errorf("%s: executableBy(%o, %d:%d) = %v, want %v", tt.name, tt.st.mode, tt.uid, tt.gid, got, tt.want)
		}
	}
}

// keepalived lib/notify.c check_security.
func TestUnsafePathPart(t *testing.T) {
	tests := []struct {
		name string
		st   statInfo
		want bool
	}{
		{"root dir 0755", statInfo{mode: modeDir | 0o755}, false},
		{"non-root owner", statInfo{mode: modeDir | 0o755, uid: 1000}, true},
		{"world-writable dir", statInfo{mode: modeDir | 0o777}, true},
		{"world-writable sticky dir (/tmp)", statInfo{mode: modeDir | modeSticky | 0o777}, false},
		{"group-writable dir, root group", statInfo{mode: modeDir | 0o775}, false},
		{"group-writable dir, other group", statInfo{mode: modeDir | 0o775, gid: 50}, true},
		{"world-writable file", statInfo{mode: modeReg | 0o757}, true},
		{"sticky bit does not save a file", statInfo{mode: modeReg | modeSticky | 0o757}, true},
		{"group-writable file, other group", statInfo{mode: modeReg | 0o775, gid: 50}, true},
		{"root file 0755", statInfo{mode: modeReg | 0o755}, false},
		{"root symlink 0777", statInfo{mode: modeSymlink | 0o777}, false},
	}
	for _, tt := range tests {
		if got := unsafePathPart(tt.st); got != tt.want {
			t.Errorf("%s: unsafePathPart(%o uid %d gid %d) = %v, want %v", tt.name, tt.st.mode, tt.st.uid, tt.st.gid, got, tt.want)
		}
	}
}

func TestNeedsProtection(t *testing.T) {
	tests := []struct {
		name string
		st   statInfo
		cred Credential
		want bool
	}{
		{"run as root", statInfo{mode: modeReg | 0o755, uid: 5}, Credential{}, true},
		{"root group", statInfo{mode: modeReg | 0o755, uid: 5}, Credential{UID: 5, GID: 0}, true},
		{"unprivileged", statInfo{mode: modeReg | 0o755, uid: 5}, Credential{UID: 5, GID: 5}, false},
		{"setuid root", statInfo{mode: modeReg | modeSetUID | 0o755}, Credential{UID: 5, GID: 5}, true},
		{"setgid root", statInfo{mode: modeReg | modeSetGID | 0o755, uid: 5}, Credential{UID: 5, GID: 5}, true},
		{"setuid without u+x", statInfo{mode: modeReg | modeSetUID | 0o655}, Credential{UID: 5, GID: 5}, false},
	}
	for _, tt := range tests {
		if got := needsProtection(tt.st, tt.cred); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

// requireRoot skips tests whose permission rules only apply to scripts
// run as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("script security applies to scripts run as root; running as uid %d", os.Geteuid())
	}
}

// secureDir returns a root-owned 0755 directory under t.TempDir().
func secureDir(t *testing.T) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "scripts")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil { // umask
		t.Fatal(err)
	}
	return d
}

func writeScript(t *testing.T, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckScriptRefusesWorldWritableUnderSecurity(t *testing.T) {
	requireRoot(t)
	dir := secureDir(t)
	p := writeScript(t, dir, "notify.sh", "#!/bin/sh\nexit 0\n", 0o777)
	_, err := CheckScript(Command{Args: []string{p, "x"}}, true, Credential{})
	if !errors.Is(err, ErrScriptDisabled) {
		t.Fatalf("CheckScript(world-writable, security) = %v, want ErrScriptDisabled", err)
	}
	want := "Unsafe permissions found for script '" + p + "' - disabling"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain keepalived's %q", err, want)
	}

	// Without security the script runs, flagged insecure.
	got, err := CheckScript(Command{Args: []string{p}}, false, Credential{})
	if err != nil {
		t.Fatalf("CheckScript(world-writable, no security): %v", err)
	}
	if !got.Insecure || !got.Script {
		t.Errorf("CheckScript = %+v, want Insecure and Script", got)
	}
}

func TestCheckScriptRefusesWritableParentDirectory(t *testing.T) {
	requireRoot(t)
	dir := secureDir(t)
	sub := filepath.Join(dir, "open")
	if err := os.Mkdir(sub, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sub, 0o777); err != nil {
		t.Fatal(err)
	}
	p := writeScript(t, sub, "notify.sh", "#!/bin/sh\n", 0o755)
	if _, err := CheckScript(Command{Args: []string{p}}, true, Credential{}); !errors.Is(err, ErrScriptDisabled) {
		t.Fatalf("script in world-writable directory: err = %v, want ErrScriptDisabled", err)
	}
	// The sticky bit makes such a directory safe, as for /tmp.
	if err := os.Chmod(sub, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, err := CheckScript(Command{Args: []string{p}}, true, Credential{}); err != nil {
		t.Fatalf("script in sticky directory: %v", err)
	}
}

func TestCheckScriptAcceptsSafeScriptAndResolvesLinks(t *testing.T) {
	requireRoot(t)
	dir := secureDir(t)
	p := writeScript(t, dir, "real.sh", "#!/bin/sh\n", 0o755)
	link := filepath.Join(dir, "link.sh")
	if err := os.Symlink("real.sh", link); err != nil {
		t.Fatal(err)
	}
	got, err := CheckScript(Command{Args: []string{link, "a"}}, true, Credential{})
	if err != nil {
		t.Fatalf("CheckScript: %v", err)
	}
	// keepalived keeps the configured name (programs may act on argv[0])
	// in the resolved directory.
	if got.Cmd.Args[0] != link || got.Cmd.Args[1] != "a" || got.Insecure {
		t.Errorf("CheckScript = %+v, want args [%s a], secure", got, link)
	}
	_ = p
}

func TestCheckScriptPathSearchAndNotExecutable(t *testing.T) {
	requireRoot(t)
	dir := secureDir(t)
	writeScript(t, dir, "vigil-test-notify", "#!/bin/sh\n", 0o755)
	t.Setenv("PATH", dir+":/usr/bin:/bin")
	got, err := CheckScript(Command{Args: []string{"vigil-test-notify"}}, true, Credential{})
	if err != nil {
		t.Fatalf("CheckScript(bare name): %v", err)
	}
	if want := filepath.Join(dir, "vigil-test-notify"); got.Cmd.Args[0] != want {
		t.Errorf("resolved to %q, want %q", got.Cmd.Args[0], want)
	}
	if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "resolved by path search") {
		t.Errorf("warnings = %q, want keepalived's path search warning", got.Warnings)
	}
	if _, err := CheckScript(Command{Args: []string{"vigil-no-such-script"}}, false, Credential{}); err == nil ||
		!strings.Contains(err.Error(), "Cannot find script vigil-no-such-script in path - disabling") {
		t.Errorf("missing bare name: err = %v", err)
	}
	np := writeScript(t, dir, "plain.txt", "x", 0o644)
	if _, err := CheckScript(Command{Args: []string{np}}, false, Credential{}); err == nil ||
		!strings.Contains(err.Error(), "is not executable for uid:gid 0:0 - disabling") {
		t.Errorf("non-executable: err = %v", err)
	}
	if _, err := CheckScript(Command{Args: []string{filepath.Join(dir, "absent")}}, false, Credential{}); !errors.Is(err, ErrScriptDisabled) {
		t.Errorf("absent script: err = %v, want ErrScriptDisabled", err)
	}
}

func TestCheckScriptFileTestUsesShell(t *testing.T) {
	got, err := CheckScript(Command{Args: []string{"</etc/hostname"}}, true, Credential{})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cmd.shell || got.Script {
		t.Errorf("CheckScript(</path) = %+v, want shell file test", got)
	}
}
