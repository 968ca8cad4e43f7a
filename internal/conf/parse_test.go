package conf

import (
	"bytes"
	"flag"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"
)

var updateFront = flag.Bool("update", false, "rewrite want.nodes and want.diag in testdata/front")

// frontDir is where the archives' files live in the test file system;
// names starting with "/" are placed at the root instead.
const frontDir = "/etc/keepalived"

// archiveFS turns a txtar archive into a file system rooted at "/". A
// file name ending in "*x" is created executable (without the suffix), a
// name ending in "/" makes a directory. want.* files are left out.
func archiveFS(a *txtar.Archive) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, f := range a.Files {
		if strings.HasPrefix(f.Name, "want.") {
			continue
		}
		name := f.Name
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, "*x") {
			name = strings.TrimSuffix(name, "*x")
			mode = 0o755
		}
		if !path.IsAbs(name) {
			name = path.Join(frontDir, name)
		}
		if strings.HasSuffix(f.Name, "/") {
			fsys[fsName(name)] = &fstest.MapFile{Mode: os.ModeDir | 0o755}
			continue
		}
		fsys[fsName(name)] = &fstest.MapFile{Data: f.Data, Mode: mode}
	}
	return fsys
}

// archiveOptions reads "key: value" lines from the archive comment:
// config-id, main (the path given to Parse), workdir.
func archiveOptions(a *txtar.Archive) (string, ParseOptions) {
	main := path.Join(frontDir, "keepalived.conf")
	opts := ParseOptions{ConfigID: "main"}
	for _, l := range strings.Split(string(a.Comment), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "config-id":
			opts.ConfigID = v
		case "main":
			main = v
		case "workdir":
			opts.WorkDir = v
		}
	}
	return main, opts
}

// formatDiags renders one finding per line: severity, keepalived's text,
// then the include chain if any.
func formatDiags(ds Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("[" + d.Sev.String() + "] " + d.String())
		if d.Pos.Col > 0 {
			b.WriteString(" @" + itoa(d.Pos.Col))
		}
		for i, c := range d.Chain {
			if i == 0 {
				b.WriteString("  (via")
			}
			b.WriteString(" " + c.String())
			if i == len(d.Chain)-1 {
				b.WriteString(")")
			}
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestFrontGolden runs every archive in testdata/front: the files are
// parsed and the tree and findings compared with want.nodes and want.diag.
// go test -run TestFrontGolden -update rewrites the expectations.
func TestFrontGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/front/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no archives in testdata/front (err %v)", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			a, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			main, opts := archiveOptions(a)
			nodes, ds := Parse(archiveFS(a), main, opts)
			got := map[string]string{"want.nodes": FormatNodes(nodes), "want.diag": formatDiags(ds)}
			if *updateFront {
				for name, text := range got {
					found := false
					for i := range a.Files {
						if a.Files[i].Name == name {
							a.Files[i].Data = []byte(text)
							found = true
						}
					}
					if !found {
						a.Files = append(a.Files, txtar.File{Name: name, Data: []byte(text)})
					}
				}
				if err := os.WriteFile(file, txtar.Format(a), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, name := range []string{"want.nodes", "want.diag"} {
				var want []byte
				for _, f := range a.Files {
					if f.Name == name {
						want = f.Data
					}
				}
				if diff := cmp.Diff(string(want), got[name]); diff != "" {
					t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

func mustParse(t *testing.T, files map[string]string, opts ParseOptions) ([]*Node, Diagnostics) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[fsName(name)] = &fstest.MapFile{Data: []byte(text), Mode: 0o644}
	}
	if opts.ConfigID == "" {
		opts.ConfigID = "main"
	}
	return Parse(fsys, "/k.conf", opts)
}

func TestParseBraceErrors(t *testing.T) {
	tests := []struct {
		name string
		conf string
		tree string
		diag string
	}{
		{
			name: "BlockOnSameLine",
			conf: "a x {\n b 1\n}\n",
			tree: "/k.conf:1:1 a x {\n  /k.conf:2:2 b 1\n}\n",
		},
		{
			name: "BlockOpensOnNextLine",
			conf: "a\n\n# c\n{\n b\n}\n",
			tree: "/k.conf:1:1 a {\n  /k.conf:5:2 b\n}\n",
		},
		{
			name: "ValuesInsideBracesOnOneLine",
			conf: "virtual_ipaddress { 10.0.0.1 10.0.0.2 }\n",
			tree: "/k.conf:1:1 virtual_ipaddress {\n  /k.conf:1:21 10.0.0.1 10.0.0.2\n}\n",
		},
		{
			name: "EmptyBlock",
			conf: "a {}\n",
			tree: "/k.conf:1:1 a {\n}\n",
		},
		{
			name: "ExtraCloseAtTopLevel",
			conf: "a\n}\n",
			tree: "/k.conf:1:1 a\n",
			diag: "[unexpected-}] (/k.conf: Line 2) Extra '}' found @1\n[unknown-keyword] (/k.conf: Line 2) Unknown keyword '}' @1\n",
		},
		{
			name: "MissingCloseAtEOF",
			conf: "a {\n b {\n",
			tree: "/k.conf:1:1 a {\n  /k.conf:2:2 b {\n  }\n}\n",
			diag: "[missing-}] (/k.conf) There are 2 missing '}'s or extra '{'s\n",
		},
		{
			name: "OpenWithNoKeyword",
			conf: "{\n a\n}\n",
			tree: "/k.conf:2:2 a\n",
			diag: "[unexpected-{] (/k.conf: Line 1) Unexpected '{' - ignoring @1\n[unknown-keyword] (/k.conf: Line 3) Unknown keyword '}' @1\n",
		},
		{
			name: "SecondOpenAfterBlock",
			conf: "a { } {\nb\n}\n",
			tree: "/k.conf:1:1 a {\n}\n/k.conf:2:1 b\n",
			diag: "[unexpected-{] (/k.conf: Line 1) Unexpected '{' - ignoring @7\n[unknown-keyword] (/k.conf: Line 3) Unknown keyword '}' @1\n",
		},
		{
			name: "QuotedBracesAreText",
			conf: "a \"{\" \"}\"\n",
			tree: "/k.conf:1:1 a \"{\" \"}\"\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes, ds := mustParse(t, map[string]string{"/k.conf": tt.conf}, ParseOptions{})
			if diff := cmp.Diff(tt.tree, FormatNodes(nodes)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.diag, formatDiags(ds)); diff != "" {
				t.Errorf("diagnostics (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOSFSMapsAbsolutePaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("keepalived.conf", "top 1\ninclude conf.d/*.conf\n")
	write("conf.d/a.conf", "inner ${_PWD}\n")
	main := filepath.ToSlash(filepath.Join(dir, "keepalived.conf"))
	nodes, ds := Parse(OSFS(), main, ParseOptions{ConfigID: "x"})
	if len(ds) != 0 {
		t.Fatalf("unexpected findings:\n%s", ds)
	}
	want := main + ":1:1 top 1\n" +
		"conf.d/a.conf:1:1 inner " + filepath.ToSlash(filepath.Join(dir, "conf.d")) + "  (via " + main + ":2)\n"
	if diff := cmp.Diff(want, FormatNodes(nodes)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The same file read through a relative name and WorkDir.
	nodes2, _ := Parse(OSFS(), "keepalived.conf", ParseOptions{ConfigID: "x", WorkDir: filepath.ToSlash(dir)})
	if len(nodes2) != 2 || nodes2[0].Key.Pos.File != "keepalived.conf" {
		t.Errorf("relative main: got %q", FormatNodes(nodes2))
	}
	if !bytes.Contains([]byte(FormatNodes(nodes2)), []byte("inner")) {
		t.Errorf("relative main did not follow the include: %q", FormatNodes(nodes2))
	}
}

// TestDebianSamplesParse reads keepalived's own sample configurations, as
// installed by the Debian package, through OSFS. keepalived 2.2.7 -t
// reports no brace, quote or include findings for any of them, so the
// front end must not either.
func TestDebianSamplesParse(t *testing.T) {
	const dir = "/usr/share/doc/keepalived/samples"
	files, _ := filepath.Glob(dir + "/keepalived.conf.*")
	if len(files) == 0 {
		t.Skipf("no keepalived samples in %s (Debian package keepalived not installed)", dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			nodes, ds := Parse(OSFS(), f, ParseOptions{ConfigID: "main"})
			if len(ds) != 0 {
				t.Errorf("findings:\n%s", ds)
			}
			if len(nodes) == 0 {
				t.Errorf("no nodes")
			}
		})
	}
}
