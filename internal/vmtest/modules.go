package vmtest

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Module is one loadable kernel module found under a modules tree.
type Module struct {
	Name    string   // as in modinfo "name=", e.g. "ip_vs"
	Path    string   // host path of the .ko file
	Depends []string // modinfo "depends=", module names
}

// ReadModuleTree indexes every uncompressed .ko file under root (usually
// lib/modules/VERSION of an unpacked kernel package) by module name. The
// dependencies come from each module's .modinfo section, so no
// modules.dep (and no depmod) is needed.
func ReadModuleTree(root string) (map[string]Module, error) {
	mods := map[string]Module{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".ko") {
			return nil
		}
		info, err := readModinfo(path)
		if err != nil {
			return err
		}
		name := info["name"]
		if name == "" {
			name = strings.ReplaceAll(strings.TrimSuffix(filepath.Base(path), ".ko"), "-", "_")
		}
		var deps []string
		if s := info["depends"]; s != "" {
			deps = strings.Split(s, ",")
		}
		mods[name] = Module{Name: name, Path: path, Depends: deps}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index kernel modules under %s: %w", root, err)
	}
	return mods, nil
}

// readModinfo returns the key=value pairs of a module's .modinfo section.
func readModinfo(path string) (map[string]string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", path, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("module %s has no .modinfo section", path)
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read .modinfo of %s: %w", path, err)
	}
	return parseModinfo(data), nil
}

func parseModinfo(data []byte) map[string]string {
	info := map[string]string{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		if _, dup := info[k]; !dup { // first value wins (alias= repeats)
			info[k] = v
		}
	}
	return info
}

// LoadOrder returns the modules needed for want, dependencies first, each
// once, in an order in which busybox insmod can load them.
func LoadOrder(mods map[string]Module, want []string) ([]Module, error) {
	var order []Module
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, chain []string) error
	visit = func(name string, chain []string) error {
		name = strings.ReplaceAll(name, "-", "_")
		switch state[name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("kernel module dependency cycle: %s", strings.Join(append(chain, name), " -> "))
		}
		m, ok := mods[name]
		if !ok {
			if len(chain) == 0 {
				return fmt.Errorf("kernel module %q not found in the kernel package", name)
			}
			return fmt.Errorf("kernel module %q (needed by %s) not found in the kernel package", name, chain[len(chain)-1])
		}
		state[name] = 1
		for _, d := range m.Depends {
			if err := visit(d, append(chain, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, m)
		return nil
	}
	for _, w := range want {
		if err := visit(w, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// readFile is os.ReadFile with the path in the error.
func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}
