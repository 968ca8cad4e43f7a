package lvs

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-ha/vigil/internal/conf"
	"golang.org/x/tools/txtar"
)

var update = flag.Bool("update", false, "rewrite the '-- vigil table --' sections of ../../testdata/ipvs")

// caseDir is the shared keepalived.conf cases: testdata/ipvs at the repo
// root, copied to ./testdata/ipvs inside the VM.
func caseDir(tb testing.TB) string {
	tb.Helper()
	for _, d := range []string{"testdata/ipvs", "../../testdata/ipvs"} {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d
		}
	}
	tb.Fatal("no testdata/ipvs directory")
	return ""
}

type confCase struct {
	name, file string
	ar         *txtar.Archive
	sec        map[string]string
}

func loadCases(tb testing.TB) []confCase {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(caseDir(tb), "*.txtar"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no cases: %v", err)
	}
	var out []confCase
	for _, f := range files {
		ar, err := txtar.ParseFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		c := confCase{name: strings.TrimSuffix(filepath.Base(f), ".txtar"), file: f, ar: ar, sec: map[string]string{}}
		for _, s := range ar.Files {
			c.sec[s.Name] = string(s.Data)
		}
		out = append(out, c)
	}
	return out
}

// mustLoad parses a keepalived.conf text with conf.Load; errors (not
// warnings or keepalived's own corrections) fail the test.
func mustLoad(tb testing.TB, text string) *conf.Config {
	tb.Helper()
	fsys := fstest.MapFS{"keepalived.conf": {Data: []byte(text)}}
	cfg, ds := conf.Load(fsys, "keepalived.conf", conf.LoadOptions{})
	if cfg == nil {
		tb.Fatalf("conf.Load: %v", ds)
	}
	for _, d := range ds {
		tb.Logf("conf: %s", d)
	}
	return cfg
}

// TestConfigTables maps every shared case to the table vigil programs at
// start-up (no checkers: every real server up) and compares it with the
// case's "vigil table" section; the VM test checks the same cases against
// the kernel and keepalived.
func TestConfigTables(t *testing.T) {
	for _, c := range loadCases(t) {
		t.Run(c.name, func(t *testing.T) {
			p, ds := NewPlan(mustLoad(t, c.sec["keepalived.conf"]))
			for _, d := range ds {
				t.Logf("plan: %s", d.Msg)
			}
			p.Start()
			tab := p.Table()
			if err := tab.Validate(); err != nil {
				t.Fatalf("invalid table: %v", err)
			}
			got := tab.String()
			if *update {
				setSection(c.ar, "vigil table", got)
				if err := os.WriteFile(c.file, txtar.Format(c.ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, ok := c.sec["vigil table"]
			if !ok {
				t.Fatalf("no 'vigil table' section (run with -update); got:\n%s", got)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("table (-want +got):\n%s", diff)
			}
		})
	}
}

func setSection(ar *txtar.Archive, name, data string) {
	for i := range ar.Files {
		if ar.Files[i].Name == name {
			ar.Files[i].Data = []byte(data)
			return
		}
	}
	ar.Files = append(ar.Files, txtar.File{Name: name, Data: []byte(data)})
}
