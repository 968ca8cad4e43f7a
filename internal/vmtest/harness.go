package vmtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// EnvInVM is set to "1" by the harness for the test binary inside the VM.
const EnvInVM = "VIGIL_IN_VM"

// InVM reports whether the caller runs inside a vmtest VM.
func InVM() bool { return os.Getenv(EnvInVM) == "1" }

// GoTest describes one run of a package's tests inside a VM.
type GoTest struct {
	// Package is the package to build with `go test -c`, as a directory
	// or import path; default ".".
	Package string
	// Run and Bench become -test.run and -test.bench inside the VM.
	Run, Bench string
	// Args are further test binary flags (e.g. "-test.benchtime=1x").
	Args []string
	// Env is added to the environment inside the VM.
	Env []string
	// Files are extra files for the initramfs, by path inside the VM.
	Files map[string][]byte
	// Modules are kernel modules to load before the test (see BaseOptions).
	Modules []string
	// Programs are host programs to copy in with their libraries.
	Programs []string
	// MemoryMB is the guest RAM; default 512.
	MemoryMB int
	// CPUs is the number of virtual CPUs; default 1.
	CPUs int
	// Timeout bounds the boot and test run; default 3 minutes.
	Timeout time.Duration
	// Dirs are host directories, relative to the package directory,
	// copied under /vmtest, the test's working directory in the VM
	// (typically "testdata").
	Dirs []string
	// CacheDir holds the kernel and the base initramfs; default
	// $VIGIL_VM_CACHE or MODULE_ROOT/.cache/vmtest.
	CacheDir string
}

// Timings are the measured phases of RunGoTest.
type Timings struct {
	Kernel, Base, Build time.Duration
	// Boot is qemu start to test start; VM is qemu start to exit.
	Boot, VM time.Duration
}

// RunGoTest builds the package's test binary statically, boots it in a VM
// and replays its results as subtests of t. It skips t when run inside a
// VM already. When testing.Short() is set it uses only what is cached and
// installed and skips, with the reason, when the kernel package or qemu
// is missing; otherwise missing pieces are fetched and their absence
// fails the test.
func RunGoTest(t *testing.T, g GoTest) Timings {
	t.Helper()
	var tm Timings
	if InVM() {
		t.Skip("already inside the VM")
	}
	unavail := func(err error) {
		t.Helper()
		if errors.Is(err, ErrUnavailable) && testing.Short() {
			t.Skipf("VM test skipped in -short mode: %v", err)
		}
		t.Fatal(err)
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		unavail(&unavailable{what: "qemu-system-x86_64 (Debian package qemu-system-x86)", err: err})
	}
	timeout := g.Timeout
	if timeout == 0 {
		timeout = 3 * time.Minute
	}
	// End the VM before go test's own -timeout kills this process, or
	// everything the VM printed is lost.
	if d, ok := t.Deadline(); ok {
		if left := time.Until(d) - 20*time.Second; left < timeout {
			timeout = max(left, time.Second)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cache := g.CacheDir
	if cache == "" {
		var err error
		if cache, err = DefaultCacheDir(); err != nil {
			t.Fatal(err)
		}
	}

	start := time.Now()
	k, err := EnsureKernel(ctx, KernelOptions{CacheDir: cache, Offline: testing.Short()})
	if err != nil {
		unavail(err)
	}
	tm.Kernel = time.Since(start)

	start = time.Now()
	base, err := BuildBase(ctx, cache, BaseOptions{Kernel: k, Modules: g.Modules, Programs: g.Programs})
	if err != nil {
		unavail(err)
	}
	tm.Base = time.Since(start)

	start = time.Now()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "pkg.test")
	pkg := g.Package
	if pkg == "" {
		pkg = "."
	}
	build := exec.CommandContext(ctx, goTool(), "test", "-c", "-o", bin, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build static test binary for the VM: %v\n%s", err, out)
	}
	binData, err := readFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for name, b := range g.Files {
		files[name] = b
	}
	for _, d := range g.Dirs {
		if err := addDir(files, d); err != nil {
			t.Fatal(err)
		}
	}
	// The binary's own timeout fires first, so a hung test ends with a
	// goroutine dump on the console instead of a silent VM kill.
	args := []string{"-test.v=test2json", "-test.run=" + g.Run,
		"-test.timeout=" + max(timeout-timeout/8, time.Second).String()}
	if g.Bench != "" {
		args = append(args, "-test.bench="+g.Bench)
	}
	args = append(args, g.Args...)
	env := append([]string{EnvInVM + "=1", "HOME=/tmp", "TMPDIR=/tmp"}, g.Env...)
	runPath := filepath.Join(tmp, "run.cpio")
	if err := os.WriteFile(runPath, RunArchive(binData, args, env, files).Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tm.Build = time.Since(start)

	m := &Machine{Kernel: k.Image, Initrd: []string{base, runPath}, MemoryMB: g.MemoryMB, CPUs: g.CPUs}
	if os.Getenv("VIGIL_VM_SERIAL") == "1" {
		// Debugging aid: the console as it happens, not only at the end.
		m.Line = func(l string) { fmt.Fprintf(os.Stderr, "vm| %s\n", l) }
	}
	res, runErr := m.Run(ctx, tmp)
	tm.Boot, tm.VM = res.Boot, res.Duration
	rep := ParseTestOutput(res.Output)
	mem := g.MemoryMB
	if mem == 0 {
		mem = 512
	}
	t.Logf("VM: kernel %s, %d MB; kernel+base initramfs ready in %v, static test binary built in %v, boot to test start %v, whole VM run %v (exit %d)",
		k.Version, mem, (tm.Kernel + tm.Base).Round(time.Millisecond), tm.Build.Round(time.Millisecond),
		res.Boot.Round(time.Millisecond), res.Duration.Round(time.Millisecond), res.Exit)
	Replay(t, rep.Tests)
	if len(rep.Output) > 0 {
		t.Logf("output outside any test:\n%s", strings.Join(rep.Output, "\n"))
	}
	switch {
	case runErr != nil:
		t.Errorf("%v\nserial console tail:\n%s", runErr, tail(res.Serial, 40))
	case res.Exit != 0 && rep.Failed():
		t.Errorf("test binary exited %d inside the VM", res.Exit)
	case res.Exit != 0:
		t.Errorf("test binary exited %d inside the VM (final %q)\nserial console tail:\n%s", res.Exit, rep.Final, tail(res.Serial, 40))
	case len(rep.Tests) == 0 && g.Bench == "":
		t.Errorf("no test matching %q ran inside the VM\nserial console tail:\n%s", g.Run, tail(res.Serial, 40))
	}
	return tm
}

// DefaultCacheDir is $VIGIL_VM_CACHE, or .cache/vmtest at the root of the
// module containing the working directory.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("VIGIL_VM_CACHE"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache", "vmtest"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory: set VIGIL_VM_CACHE")
		}
		dir = parent
	}
}

// addDir adds the regular files under host directory dir to files, at
// vmtest/DIR/... (the VM's working directory is /vmtest).
func addDir(files map[string][]byte, dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("copy %s into the VM: %w", dir, err)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := readFile(p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(filepath.Join("vmtest", p))] = b
		return nil
	})
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
