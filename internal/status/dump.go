package status

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// DumpKind selects one of keepalived's state dumps.
type DumpKind int

// The dumps keepalived writes on its signals.
const (
	DumpData  DumpKind = iota // SIGUSR1: keepalived.data
	DumpStats                 // SIGUSR2: keepalived.stats
	DumpJSON                  // SIGRTMIN+2: keepalived.json
)

// FileName is the dump's file name in the dump directory.
func (k DumpKind) FileName() string {
	switch k {
	case DumpData:
		return "keepalived.data"
	case DumpStats:
		return "keepalived.stats"
	case DumpJSON:
		return "keepalived.json"
	}
	return fmt.Sprintf("keepalived.dump%d", int(k))
}

// DefaultDumpDir is where keepalived writes its dumps.
const DefaultDumpDir = "/tmp"

// DumpOptions configure a Dumper.
type DumpOptions struct {
	// Dir holds the dump files; DefaultDumpDir when empty.
	Dir string
	// RouterID is printed at the top of keepalived.data.
	RouterID string
}

// Dumper writes keepalived's dump files from a Source.
type Dumper struct {
	src Source
	opt DumpOptions
}

// NewDumper returns a dumper over src.
func NewDumper(src Source, opt DumpOptions) *Dumper {
	if opt.Dir == "" {
		opt.Dir = DefaultDumpDir
	}
	return &Dumper{src: src, opt: opt}
}

// Dump writes one dump file and returns its path. The file is mode 0600,
// as keepalived's, and replaced atomically: a reader polling for it never
// sees half a dump, and a symlink planted at the path is replaced, not
// followed.
func (d *Dumper) Dump(k DumpKind) (string, error) {
	insts := d.src.Instances()
	var write func(io.Writer) error
	switch k {
	case DumpData:
		write = func(w io.Writer) error { return WriteData(w, insts, DataInfo{RouterID: d.opt.RouterID}) }
	case DumpStats:
		write = func(w io.Writer) error { return WriteStats(w, insts) }
	case DumpJSON:
		write = func(w io.Writer) error { return WriteJSON(w, insts) }
	default:
		return "", fmt.Errorf("unknown dump kind %d", int(k))
	}
	path := filepath.Join(d.opt.Dir, k.FileName())
	return path, writeFileAtomic(path, write)
}

func writeFileAtomic(path string, write func(io.Writer) error) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := write(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
