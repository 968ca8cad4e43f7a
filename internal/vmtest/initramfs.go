package vmtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// BaseOptions describes the part of the initramfs that does not change
// between runs.
type BaseOptions struct {
	Kernel *Kernel
	// Modules are loaded by /init, after their dependencies, before the
	// test runs. Names as modinfo spells them ("ip_vs_rr").
	Modules []string
	// Programs are host executables copied to the same path inside the
	// VM, together with the shared libraries ldd lists for them.
	Programs []string
	// Busybox is a statically linked busybox; default /bin/busybox
	// (Debian package busybox-static).
	Busybox string
}

// initScript is /init: it mounts the pseudo file systems, loads the
// modules, runs /vmtest/run between two marker lines and prints its exit
// status as EXIT=<n> before powering off. Kernel messages are limited to
// emergencies so that they do not interleave with the test output.
const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /tmp /run
dmesg -n 1
for m in $(cat /vmtest/modules); do
	insmod "$m" || echo "VMTEST: insmod $m failed"
done
ip link set lo up
echo VMTEST-BEGIN
sh /vmtest/run
rc=$?
echo VMTEST-END
echo EXIT=$rc
sync
poweroff -f
`

// BuildBase writes the base initramfs archive into cacheDir and returns
// its path. The file name carries a hash of the contents, so an unchanged
// base is written once and reused.
func BuildBase(ctx context.Context, cacheDir string, opts BaseOptions) (string, error) {
	a, err := baseArchive(ctx, opts)
	if err != nil {
		return "", err
	}
	data := a.Bytes()
	sum := sha256.Sum256(data)
	out := filepath.Join(cacheDir, "base-"+hex.EncodeToString(sum[:8])+".cpio")
	pruneBases(cacheDir, out)
	if _, err := os.Stat(out); err == nil {
		now := time.Now()
		_ = os.Chtimes(out, now, now) // mark as in use for pruneBases
		return out, nil
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", fmt.Errorf("write base initramfs: %w", err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", fmt.Errorf("write base initramfs: %w", err)
	}
	return out, nil
}

// pruneBases removes base archives other than keep that no run has used
// for a week (each package's module list makes its own base).
func pruneBases(dir, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, "base-*.cpio"))
	for _, p := range old {
		if fi, err := os.Stat(p); err == nil && p != keep && time.Since(fi.ModTime()) > 7*24*time.Hour {
			_ = os.Remove(p)
		}
	}
}

func baseArchive(ctx context.Context, opts BaseOptions) (*Archive, error) {
	a := NewArchive()
	for _, d := range []string{"proc", "sys", "dev", "tmp", "run", "sbin", "usr/bin", "usr/sbin"} {
		a.AddDir(d)
	}
	bb := opts.Busybox
	if bb == "" {
		bb = "/bin/busybox"
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		return nil, &unavailable{what: "busybox (Debian package busybox-static)", err: err}
	}
	if err := requireStatic(bb); err != nil {
		return nil, err
	}
	a.AddFile("bin/busybox", 0o755, data)
	a.AddFile("init", 0o755, []byte(initScript))

	mods, err := ReadModuleTree(opts.Kernel.Modules)
	if err != nil {
		return nil, err
	}
	order, err := LoadOrder(mods, opts.Modules)
	if err != nil {
		return nil, err
	}
	var list, dep strings.Builder
	modRoot := path.Join("lib/modules", opts.Kernel.Version)
	rel := map[string]string{}
	for _, m := range order {
		r, err := filepath.Rel(opts.Kernel.Modules, m.Path)
		if err != nil {
			return nil, err
		}
		rel[m.Name] = filepath.ToSlash(r)
		b, err := readFile(m.Path)
		if err != nil {
			return nil, err
		}
		a.AddFile(path.Join(modRoot, rel[m.Name]), 0o644, b)
		fmt.Fprintf(&list, "/%s\n", path.Join(modRoot, rel[m.Name]))
	}
	// A modules.dep lets busybox modprobe (run by libraries such as
	// moby/ipvs) see that the modules are there; they are loaded already.
	for _, m := range order {
		fmt.Fprintf(&dep, "%s:", rel[m.Name])
		deps, _ := LoadOrder(mods, m.Depends)
		for i := len(deps) - 1; i >= 0; i-- {
			fmt.Fprintf(&dep, " %s", rel[deps[i].Name])
		}
		dep.WriteString("\n")
	}
	a.AddFile(path.Join(modRoot, "modules.dep"), 0o644, []byte(dep.String()))
	a.AddFile("vmtest/modules", 0o644, []byte(list.String()))

	for _, p := range opts.Programs {
		if err := addProgram(ctx, a, p); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// requireStatic fails if the ELF file at p asks for a dynamic loader.
func requireStatic(p string) error {
	out, err := exec.Command("file", "-L", p).Output()
	if err != nil {
		return nil // no file(1): let the boot fail loudly instead
	}
	if bytes.Contains(out, []byte("dynamically linked")) {
		return &unavailable{what: p + " is dynamically linked; install busybox-static"}
	}
	return nil
}

// addProgram copies a host executable and the shared objects it needs to
// the same paths inside the archive.
func addProgram(ctx context.Context, a *Archive, prog string) error {
	p, err := exec.LookPath(prog)
	if err != nil {
		return &unavailable{what: "program " + prog, err: err}
	}
	data, err := readFile(p)
	if err != nil {
		return err
	}
	a.AddFile(p, 0o755, data)
	out, err := exec.CommandContext(ctx, "ldd", p).Output()
	if err != nil {
		// "not a dynamic executable" exits 1: nothing more to copy.
		return nil
	}
	for _, lib := range parseLdd(out) {
		b, err := readFile(lib)
		if err != nil {
			return err
		}
		a.AddFile(lib, 0o755, b)
	}
	return nil
}

// parseLdd returns the absolute library paths in ldd output.
func parseLdd(out []byte) []string {
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			libs = append(libs, f[2])
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			libs = append(libs, f[0])
		}
	}
	return libs
}

// RunArchive builds the per-run archive: the executable at /vmtest/cmd,
// extra files, and /vmtest/run, a shell script that runs it with args and
// env (single-quoted, so any bytes are safe).
func RunArchive(cmd []byte, args, env []string, files map[string][]byte) *Archive {
	a := NewArchive()
	a.AddFile("vmtest/cmd", 0o755, cmd)
	for name, b := range files {
		a.AddFile(name, 0o644, b)
	}
	var s strings.Builder
	s.WriteString("cd /vmtest\n")
	for _, e := range env {
		fmt.Fprintf(&s, "export %s\n", shellQuote(e))
	}
	s.WriteString("exec /vmtest/cmd")
	for _, arg := range args {
		s.WriteString(" " + shellQuote(arg))
	}
	s.WriteString(" 2>&1\n")
	a.AddFile("vmtest/run", 0o755, []byte(s.String()))
	return a
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
