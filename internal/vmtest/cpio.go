package vmtest

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Archive collects files, directories and symlinks and writes them as one
// newc ("070701") cpio archive, the format the Linux initramfs unpacker
// reads. Parent directories are created implicitly.
type Archive struct {
	entries map[string]entry
}

type entry struct {
	mode uint32 // type bits and permissions
	data []byte // file contents or symlink target
}

const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
)

// NewArchive returns an empty archive.
func NewArchive() *Archive { return &Archive{entries: map[string]entry{}} }

// AddFile adds a regular file at name (a path inside the archive, with or
// without a leading slash) with permission bits perm.
func (a *Archive) AddFile(name string, perm uint32, data []byte) {
	name = clean(name)
	a.addParents(name)
	a.entries[name] = entry{mode: modeRegular | perm&0o7777, data: data}
}

// AddSymlink adds a symbolic link at name pointing to target.
func (a *Archive) AddSymlink(name, target string) {
	name = clean(name)
	a.addParents(name)
	a.entries[name] = entry{mode: modeSymlink | 0o777, data: []byte(target)}
}

// AddDir adds a directory.
func (a *Archive) AddDir(name string) {
	name = clean(name)
	if name == "" {
		return
	}
	a.addParents(name)
	if _, ok := a.entries[name]; !ok {
		a.entries[name] = entry{mode: modeDir | 0o755}
	}
}

func (a *Archive) addParents(name string) {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			dir := name[:i]
			if _, ok := a.entries[dir]; !ok {
				a.entries[dir] = entry{mode: modeDir | 0o755}
			}
		}
	}
}

func clean(name string) string { return strings.Trim(name, "/") }

// Len reports the number of entries, including implicit directories.
func (a *Archive) Len() int { return len(a.entries) }

// WriteTo writes the archive, entries sorted by name so that directories
// come before their contents, and ends it with the TRAILER!!! record.
func (a *Archive) WriteTo(w io.Writer) (int64, error) {
	names := make([]string, 0, len(a.entries))
	for n := range a.entries {
		names = append(names, n)
	}
	sort.Strings(names)
	cw := &countWriter{w: w}
	ino := uint32(1)
	for _, n := range names {
		e := a.entries[n]
		nlink := uint32(1)
		if e.mode&0o170000 == modeDir {
			nlink = 2
		}
		if err := writeRecord(cw, n, ino, e.mode, nlink, e.data); err != nil {
			return cw.n, err
		}
		ino++
	}
	if err := writeRecord(cw, "TRAILER!!!", 0, 0, 1, nil); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

// Bytes returns the archive as written by WriteTo.
func (a *Archive) Bytes() []byte {
	var b bytes.Buffer
	_, _ = a.WriteTo(&b) // a bytes.Buffer write cannot fail
	return b.Bytes()
}

func writeRecord(w *countWriter, name string, ino, mode, nlink uint32, data []byte) error {
	// newc header: magic then 13 fields of 8 hex digits. mtime is 0 so that
	// the same inputs always give the same bytes (the base archive is
	// cached by content).
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	if _, err := io.WriteString(w, hdr); err != nil {
		return err
	}
	if _, err := io.WriteString(w, name+"\x00"); err != nil {
		return err
	}
	if err := w.pad4(); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.pad4()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func (c *countWriter) pad4() error {
	if r := c.n % 4; r != 0 {
		_, err := c.Write(make([]byte, 4-r))
		return err
	}
	return nil
}
