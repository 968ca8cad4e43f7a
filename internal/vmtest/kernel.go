package vmtest

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Kernel is an unpacked kernel package.
type Kernel struct {
	Version string // e.g. "6.1.0-56-amd64"
	// Image is the host path of the kernel qemu boots: the uncompressed
	// vmlinux (booted through its PVH entry point) when it could be
	// extracted, else vmlinuz. Under TCG the xz decompression of vmlinuz
	// costs about three seconds of every boot.
	Image   string
	Modules string // host path of lib/modules/VERSION
}

// ErrUnavailable marks failures to obtain a tool or package, as opposed to
// failures of the test itself; callers may skip on it.
var ErrUnavailable = errors.New("not available on this host")

// unavailable wraps err so that errors.Is(err, ErrUnavailable) holds.
type unavailable struct {
	what string
	err  error
}

func (u *unavailable) Error() string {
	if u.err == nil {
		return u.what
	}
	return u.what + ": " + u.err.Error()
}
func (u *unavailable) Unwrap() []error { return []error{ErrUnavailable, u.err} }

// KernelOptions says where to find or fetch the kernel.
type KernelOptions struct {
	// CacheDir holds downloaded packages and unpacked trees.
	CacheDir string
	// Package is the Debian binary package name, e.g.
	// "linux-image-6.1.0-56-amd64". Empty: resolve the dependency of the
	// metapackage linux-image-amd64 with apt-cache, or reuse the newest
	// package already in CacheDir.
	Package string
	// Offline forbids apt-get: only what is already in CacheDir is used.
	Offline bool
}

var debNameRE = regexp.MustCompile(`^(linux-image-[0-9][^_]*)_[^_]+_amd64\.deb$`)

// EnsureKernel returns an unpacked kernel, downloading and unpacking the
// package into opts.CacheDir the first time. Later calls only stat files.
func EnsureKernel(ctx context.Context, opts KernelOptions) (*Kernel, error) {
	if _, err := os.Stat(opts.CacheDir); err != nil && opts.Offline {
		return nil, &unavailable{what: "no VM cache directory " + opts.CacheDir + " and downloads are off (run the test without -short once)", err: err}
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("create VM cache directory: %w", err)
	}
	deb, err := findDeb(opts.CacheDir, opts.Package)
	if err != nil {
		return nil, err
	}
	if deb == "" {
		if opts.Offline {
			return nil, &unavailable{what: fmt.Sprintf("no linux-image package cached in %s and downloads are off (run the test without -short once)", opts.CacheDir)}
		}
		pkg := opts.Package
		if pkg == "" {
			if pkg, err = resolveKernelPackage(ctx); err != nil {
				return nil, err
			}
		}
		if err := run(ctx, opts.CacheDir, "apt-get", "download", pkg); err != nil {
			return nil, &unavailable{what: "apt-get download " + pkg, err: err}
		}
		if deb, err = findDeb(opts.CacheDir, pkg); err != nil {
			return nil, err
		}
		if deb == "" {
			return nil, fmt.Errorf("apt-get download %s left no .deb in %s", pkg, opts.CacheDir)
		}
	}
	root := strings.TrimSuffix(deb, ".deb")
	done := root + ".unpacked"
	if _, err := os.Stat(done); err != nil {
		if err := os.RemoveAll(root); err != nil {
			return nil, err
		}
		if err := run(ctx, "", "dpkg-deb", "-x", deb, root); err != nil {
			return nil, &unavailable{what: "unpack " + deb, err: err}
		}
		if err := os.WriteFile(done, nil, 0o644); err != nil {
			return nil, err
		}
	}
	vers, err := os.ReadDir(filepath.Join(root, "lib", "modules"))
	if err != nil || len(vers) != 1 {
		return nil, fmt.Errorf("kernel package %s: want exactly one lib/modules/VERSION directory (err %v)", deb, err)
	}
	k := &Kernel{
		Version: vers[0].Name(),
		Modules: filepath.Join(root, "lib", "modules", vers[0].Name()),
		Image:   filepath.Join(root, "boot", "vmlinuz-"+vers[0].Name()),
	}
	if _, err := os.Stat(k.Image); err != nil {
		return nil, fmt.Errorf("kernel package %s has no vmlinuz: %w", deb, err)
	}
	vmlinux := filepath.Join(root, "vmlinux")
	if _, err := os.Stat(vmlinux); err != nil {
		// Best effort: without xz(1) or a PVH note, boot vmlinuz.
		_ = extractVmlinux(ctx, k.Image, vmlinux)
	}
	if _, err := os.Stat(vmlinux); err == nil {
		k.Image = vmlinux
	}
	return k, nil
}

// extractVmlinux writes the uncompressed kernel inside an xz-compressed
// bzImage to out, if it is an ELF file with a PVH entry note.
func extractVmlinux(ctx context.Context, vmlinuz, out string) error {
	data, err := os.ReadFile(vmlinuz)
	if err != nil {
		return err
	}
	off := bytes.Index(data, []byte("\xfd7zXZ\x00"))
	if off < 0 {
		return errors.New("no xz stream in " + vmlinuz)
	}
	cmd := exec.CommandContext(ctx, "xz", "-dc", "--single-stream")
	cmd.Stdin = bytes.NewReader(data[off:])
	elfData, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("xz -dc: %w", err)
	}
	if !hasPVHNote(elfData) {
		return errors.New("vmlinux has no PVH entry note")
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, elfData, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// hasPVHNote reports whether an ELF kernel carries the Xen note
// XEN_ELFNOTE_PHYS32_ENTRY (type 18) that qemu needs to boot it directly.
func hasPVHNote(data []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return false
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return false
		}
		for len(b) >= 12 {
			nsz, dsz, typ := f.ByteOrder.Uint32(b), f.ByteOrder.Uint32(b[4:]), f.ByteOrder.Uint32(b[8:])
			name := b[12:min(len(b), 12+int(nsz))]
			if typ == 18 && bytes.Equal(bytes.TrimRight(name, "\x00"), []byte("Xen")) {
				return true
			}
			next := 12 + int(nsz+3)&^3 + int(dsz+3)&^3
			if next > len(b) {
				break
			}
			b = b[next:]
		}
	}
	return false
}

// findDeb returns the newest-named cached linux-image .deb matching pkg
// (any, if pkg is empty), or "".
func findDeb(dir, pkg string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	best := ""
	for _, e := range ents {
		m := debNameRE.FindStringSubmatch(e.Name())
		if m == nil || (pkg != "" && m[1] != pkg) {
			continue
		}
		if e.Name() > best {
			best = e.Name()
		}
	}
	if best == "" {
		return "", nil
	}
	return filepath.Join(dir, best), nil
}

// resolveKernelPackage asks apt which versioned package the
// linux-image-amd64 metapackage depends on.
func resolveKernelPackage(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", "linux-image-amd64").Output()
	if err != nil {
		return "", &unavailable{what: "apt-cache depends linux-image-amd64", err: err}
	}
	return parseAptDepends(out)
}

func parseAptDepends(out []byte) (string, error) {
	for _, line := range strings.Split(string(out), "\n") {
		dep, ok := strings.CutPrefix(strings.TrimSpace(line), "Depends: ")
		if ok && strings.HasPrefix(dep, "linux-image-") {
			return strings.TrimSpace(dep), nil
		}
	}
	return "", &unavailable{what: "apt-cache depends linux-image-amd64 names no linux-image-VERSION package"}
}

func run(ctx context.Context, dir, name string, args ...string) error {
	if _, err := exec.LookPath(name); err != nil {
		return &unavailable{what: name + " is not installed", err: err}
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.Bytes())
	}
	return nil
}
