package conf

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/tools/txtar"
)

const keepalivedBin = "/usr/sbin/keepalived"

// diffCase is one configuration to give both keepalived -t and vigil.
type diffCase struct {
	name string // for t.Run
	path string // absolute path of the main file
}

// TestDifferentialKeepalived runs keepalived -t -f FILE on every sample
// shipped with Debian's keepalived and every configuration under the
// repository's testdata/ and this package's testdata/ (txtar archives are
// extracted to a temporary directory), and compares keepalived's exit code
// with ExitCode of vigil's Load on the same file, using the host's real
// interfaces. Every disagreement is listed with both outputs.
func TestDifferentialKeepalived(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the differential test against keepalived -t")
	}
	if _, err := os.Stat(keepalivedBin); err != nil {
		t.Skipf("differential test needs %s (Debian package keepalived): %v", keepalivedBin, err)
	}
	var cases []diffCase
	samples, _ := filepath.Glob("/usr/share/doc/keepalived/samples/keepalived.conf.*")
	for _, s := range samples {
		cases = append(cases, diffCase{name: "samples/" + filepath.Base(s), path: s})
	}
	for _, dir := range []string{"../../testdata", "testdata"} {
		confs, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
		for _, c := range confs {
			abs, err := filepath.Abs(c)
			if err != nil {
				t.Fatal(err)
			}
			cases = append(cases, diffCase{name: strings.TrimPrefix(c, "../../"), path: abs})
		}
	}
	archives, _ := filepath.Glob("testdata/*/*.txtar")
	for _, a := range archives {
		main, skip, err := extractArchive(t, a)
		if err != nil {
			t.Fatal(err)
		}
		if skip != "" {
			t.Logf("%s: not run: %s", a, skip)
			continue
		}
		cases = append(cases, diffCase{name: strings.TrimPrefix(a, "testdata/"), path: main})
	}
	if len(cases) == 0 {
		t.Fatal("no configurations found to compare")
	}
	opts := LoadOptions{Decode: DecodeOptions{
		InterfaceExists: func(name string) bool {
			_, err := net.InterfaceByName(name)
			return err == nil
		},
		ScriptExecutable: func(path string) bool {
			if !strings.Contains(path, "/") {
				// keepalived looks a bare command up in PATH.
				p, err := exec.LookPath(path)
				if err != nil {
					return false
				}
				path = p
			}
			fi, err := os.Stat(path)
			return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kaCode, kaOut, noVerdict := runKeepalivedTest(t, c.path)
			_, ds := Load(OSFS(), c.path, opts)
			if noVerdict != "" {
				// keepalived gave no verdict to compare with (it crashed or
				// hung); say so with vigil's verdict rather than fail.
				t.Skipf("%s: keepalived -t %s; vigil's ExitCode is %d\n--- keepalived -t output ---\n%s--- vigil diagnostics ---\n%s",
					c.path, noVerdict, ExitCode(ds), kaOut, ds)
			}
			logMessageDiff(t, c.path, kaOut, ds)
			got := ExitCode(ds)
			if got != kaCode {
				t.Errorf("%s: keepalived -t exits %d, vigil's ExitCode is %d\n--- keepalived -t output (each line once) ---\n%s--- vigil diagnostics ---\n%s",
					c.path, kaCode, got, kaOut, ds)
			}
		})
	}
}

// runKeepalivedTest runs keepalived -t on path and returns its exit code
// and its output with repeated lines removed (keepalived checks the file
// once per process and prints many findings two or three times). When
// keepalived gives no verdict, noVerdict says why: keepalived 2.2.7
// crashes on a track_file naming an undefined vrrp_track_file (SIGSEGV
// from a shell, a hang in its own process group), loops on include
// cycles, and SIGTERMs its own process group when a notify or MISC_CHECK
// script is to run as a non-root user. It runs in a
// process group of its own so that the last cannot reach the test.
func runKeepalivedTest(t *testing.T, path string) (code int, out string, noVerdict string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, keepalivedBin, "-t", "-f", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		noVerdict = "did not finish within 5s"
	case errors.As(err, &ee):
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			noVerdict = "was killed by " + ws.Signal().String()
		}
	case err != nil:
		t.Fatalf("run %s -t -f %s: %v", keepalivedBin, path, err)
	}
	seen := map[string]bool{}
	var lines []string
	for _, l := range strings.Split(buf.String(), "\n") {
		if l == "" || seen[l] {
			continue
		}
		seen[l] = true
		lines = append(lines, l)
	}
	sort.Strings(lines)
	if len(lines) > 0 {
		out = strings.Join(lines, "\n") + "\n"
	}
	return code, out, noVerdict
}

// extractArchive writes the configuration files of a txtar archive into a
// new temporary directory and returns the path of its keepalived.conf.
// Archives without keepalived.conf, or with files at absolute paths (which
// keepalived would read from the real /), are not run: skip says why.
func extractArchive(t *testing.T, archive string) (main, skip string, err error) {
	a, err := txtar.ParseFile(archive)
	if err != nil {
		return "", "", err
	}
	hasMain := false
	for _, f := range a.Files {
		if filepath.IsAbs(f.Name) {
			return "", "the archive has a file at the absolute path " + f.Name, nil
		}
		if f.Name == "keepalived.conf" {
			hasMain = true
		}
	}
	if !hasMain {
		return "", "no keepalived.conf in the archive", nil
	}
	dir := t.TempDir()
	for _, f := range a.Files {
		if strings.HasPrefix(f.Name, "want.") {
			continue
		}
		// As in testdata/front: a name ending in "*x" is an executable
		// file without the suffix.
		name, mode := f.Name, os.FileMode(0o644)
		if strings.HasSuffix(name, "*x") {
			name, mode = strings.TrimSuffix(name, "*x"), 0o755
		}
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(f.Name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return "", "", err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", "", err
		}
		if err := os.WriteFile(p, f.Data, mode); err != nil {
			return "", "", err
		}
	}
	return filepath.Join(dir, "keepalived.conf"), "", nil
}

// logMessageDiff logs the findings only one side reports, compared by
// message alone: vigil gives a position to findings keepalived prints
// without one, and keepalived puts some at a block's closing brace. It does not fail the
// test: vigil words some findings of its own (NotSupported, warnings
// keepalived does not give), and keepalived prints some positions only in
// its first pass. It shows how close the two are.
func logMessageDiff(t *testing.T, path, kaOut string, ds Diagnostics) {
	t.Helper()
	norm := func(line string) string {
		if strings.HasPrefix(line, "(") {
			if i := strings.Index(line, ") "); i > 0 {
				if strings.Contains(line[1:i], "Line ") {
					return line[i+2:]
				}
			}
		}
		return line
	}
	ka := map[string]bool{}
	for _, l := range strings.Split(kaOut, "\n") {
		if l != "" {
			ka[norm(l)] = true
		}
	}
	vg := map[string]bool{}
	for _, d := range ds {
		if d.Sev == NotSupported {
			continue
		}
		vg[norm(d.String())] = true
	}
	var only []string
	for k := range ka {
		if !vg[k] {
			only = append(only, "keepalived only: "+k)
		}
	}
	for k := range vg {
		if !ka[k] {
			only = append(only, "vigil only:      "+k)
		}
	}
	sort.Strings(only)
	if len(only) > 0 {
		t.Logf("%s: findings reported by one side only:\n%s", path, strings.Join(only, "\n"))
	}
}
