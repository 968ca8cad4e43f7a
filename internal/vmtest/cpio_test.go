package vmtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type cpioEntry struct {
	Mode uint32
	Data string
}

// readNewc is an independent reader of the newc format, for the tests.
func readNewc(t *testing.T, b []byte) map[string]cpioEntry {
	t.Helper()
	out := map[string]cpioEntry{}
	off := 0
	align := func() { off = (off + 3) &^ 3 }
	for {
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at %d", off)
		}
		field := func(i int) int {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatal(err)
			}
			return int(v)
		}
		mode, size, nameLen := field(1), field(6), field(11)
		name := string(b[off+110 : off+110+nameLen-1])
		off += 110 + nameLen
		align()
		data := string(b[off : off+size])
		off += size
		align()
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		out[name] = cpioEntry{uint32(mode), data}
	}
}

func TestArchiveNewc(t *testing.T) {
	a := NewArchive()
	a.AddFile("/bin/busybox", 0o755, []byte("ELF..."))
	a.AddFile("init", 0o755, []byte("#!/bin/sh\n"))
	a.AddSymlink("/lib64/ld.so", "/lib/x86_64-linux-gnu/ld.so")
	a.AddDir("proc")
	a.AddFile("a/b/c/odd", 0o600, []byte("123")) // odd sizes need padding
	got := readNewc(t, a.Bytes())
	want := map[string]cpioEntry{
		"bin":         {0o040755, ""},
		"bin/busybox": {0o100755, "ELF..."},
		"init":        {0o100755, "#!/bin/sh\n"},
		"lib64":       {0o040755, ""},
		"lib64/ld.so": {0o120777, "/lib/x86_64-linux-gnu/ld.so"},
		"proc":        {0o040755, ""},
		"a":           {0o040755, ""},
		"a/b":         {0o040755, ""},
		"a/b/c":       {0o040755, ""},
		"a/b/c/odd":   {0o100600, "123"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive contents (-want +got):\n%s", diff)
	}
	if !bytes.Equal(a.Bytes(), a.Bytes()) {
		t.Error("two writes of the same archive differ; the base cache relies on stable bytes")
	}
}

// TestArchiveExtractsWithBusybox cross-checks the writer with another
// implementation, and concatenation as the kernel sees it.
func TestArchiveExtractsWithBusybox(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skipf("busybox not installed (Debian package busybox-static): %v", err)
	}
	one, two := NewArchive(), NewArchive()
	one.AddFile("x/first", 0o644, []byte("1"))
	two.AddFile("x/second", 0o644, []byte("22"))
	dir := t.TempDir()
	for _, a := range []*Archive{one, two} {
		cmd := exec.Command(bb, "cpio", "-i", "-d")
		cmd.Dir = dir
		cmd.Stdin = bytes.NewReader(a.Bytes())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("busybox cpio -i: %v\n%s", err, out)
		}
	}
	for name, want := range map[string]string{"x/first": "1", "x/second": "22"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
}

func TestRunArchiveQuotes(t *testing.T) {
	a := RunArchive([]byte("bin"), []string{"-test.run=^TestA$", "it's"}, []string{"A=b c"}, map[string][]byte{"vmtest/testdata/f": []byte("x")})
	got := readNewc(t, a.Bytes())
	want := "cd /vmtest\nexport 'A=b c'\nexec /vmtest/cmd '-test.run=^TestA$' 'it'\\''s' 2>&1\n"
	if got["vmtest/run"].Data != want {
		t.Errorf("run script:\n%s\nwant:\n%s", got["vmtest/run"].Data, want)
	}
	if got["vmtest/testdata/f"].Data != "x" || got["vmtest/cmd"].Mode != 0o100755 {
		t.Errorf("files: %v", got)
	}
	if _, err := exec.LookPath("sh"); err == nil {
		// The quoting must survive a real shell.
		out, err := exec.Command("sh", "-c", fmt.Sprintf("printf '%%s\\n' %s %s", shellQuote("it's"), shellQuote("$HOME"))).Output()
		if err != nil || string(out) != "it's\n$HOME\n" {
			t.Errorf("sh saw %q, %v", out, err)
		}
	}
}
