package conf

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"
)

// updating reports whether -update was given. The flag itself is declared
// once for the package (parse_test.go); the golden tests here share it.
func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// goldenInterfaces are the interfaces the golden cases pretend exist. They
// match this project's test machines (lo and eth0), so that the same files
// also pass keepalived -t in difftest_test.go.
var goldenInterfaces = map[string]bool{"lo": true, "eth0": true}

// goldenExecutables are the scripts the golden cases pretend are
// executable (all present on Debian bookworm, so keepalived agrees; the
// bare "script" of seed_blog is /usr/bin/script found in PATH).
var goldenExecutables = map[string]bool{"/bin/true": true, "/bin/echo": true, "/usr/bin/killall": true, "script": true}

// goldenFS puts every file of the archive except the want.* ones at the
// root of a MapFS.
func goldenFS(a *txtar.Archive) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, f := range a.Files {
		if strings.HasPrefix(f.Name, "want.") {
			continue
		}
		fsys[strings.TrimPrefix(f.Name, "/")] = &fstest.MapFile{Data: f.Data, Mode: 0o644}
	}
	return fsys
}

// marshalSorted renders v as indented JSON with object keys sorted, so that
// golden files do not depend on struct field order.
func marshalSorted(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false) // keep "<" and ">" readable in golden files
	enc.SetIndent("", "  ")
	if err := enc.Encode(generic); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// formatFindings renders one finding per line: severity, then keepalived's form.
func formatFindings(ds Diagnostics) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "%s: %s\n", d.Sev, d)
	}
	return b.String()
}

func loadGolden(t *testing.T, a *txtar.Archive) (*Config, Diagnostics) {
	t.Helper()
	return Load(goldenFS(a), "keepalived.conf", LoadOptions{
		Decode: DecodeOptions{
			InterfaceExists:  func(name string) bool { return goldenInterfaces[name] },
			ScriptExecutable: func(path string) bool { return goldenExecutables[path] },
		},
	})
}

// TestDecodeGolden runs every case in testdata/golden: keepalived.conf (and
// any included files) → want.json (the typed Config, keys sorted),
// want.diag (one finding per line) and want.exit (ExitCode, as keepalived
// -t would exit). -update rewrites the expectations.
func TestDecodeGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no golden cases in testdata/golden")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			a, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, ds := loadGolden(t, a)
			if cfg == nil {
				t.Fatal("Load returned a nil Config")
			}
			for _, d := range ds {
				if d.Sev == 0 {
					t.Errorf("finding without a severity: %v", d)
				}
			}
			js, err := marshalSorted(cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{
				"want.json": string(js),
				"want.diag": formatFindings(ds),
				"want.exit": fmt.Sprintf("%d\n", ExitCode(ds)),
			}
			if updating() {
				for _, name := range []string{"want.json", "want.diag", "want.exit"} {
					setArchiveFile(a, name, got[name])
				}
				if err := os.WriteFile(file, txtar.Format(a), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, name := range []string{"want.json", "want.diag", "want.exit"} {
				want, ok := archiveFile(a, name)
				if !ok {
					t.Errorf("%s: missing section %s (run with -update)", file, name)
					continue
				}
				if diff := cmp.Diff(want, got[name]); diff != "" {
					t.Errorf("%s: %s mismatch (-want +got):\n%s", file, name, diff)
				}
			}
		})
	}
}

func archiveFile(a *txtar.Archive, name string) (string, bool) {
	for _, f := range a.Files {
		if f.Name == name {
			return string(f.Data), true
		}
	}
	return "", false
}

func setArchiveFile(a *txtar.Archive, name, text string) {
	for i := range a.Files {
		if a.Files[i].Name == name {
			a.Files[i].Data = []byte(text)
			return
		}
	}
	a.Files = append(a.Files, txtar.File{Name: name, Data: []byte(text)})
}

// TestGoldenJSONRoundTrips checks that want.json files are valid JSON
// objects with sorted keys: what reviewers read is what Marshal produces.
func TestGoldenJSONSorted(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.txtar")
	for _, file := range files {
		a, err := txtar.ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := archiveFile(a, "want.json")
		if !ok {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(want), &v); err != nil {
			t.Errorf("%s: want.json: %v", file, err)
			continue
		}
		again, _ := marshalSorted(v)
		if !bytes.Equal(again, []byte(want)) {
			t.Errorf("%s: want.json is not in sorted, indented form", file)
		}
	}
}

// node builds "key args..." for dispenser tests.
func node(key string, args ...string) *Node {
	n := &Node{Key: Token{Kind: Word, Text: key, Pos: Pos{File: "k.conf", Line: 7}}}
	for _, a := range args {
		n.Args = append(n.Args, Token{Kind: Word, Text: a})
	}
	return n
}

// TestIntArgMessages: range and number errors use keepalived's wording.
func TestIntArgMessages(t *testing.T) {
	tests := []struct {
		arg    string
		lo, hi int64
		want   int64
		msg    string // "" means accepted
	}{
		{"51", 1, 255, 51, ""},
		{"500", 1, 255, 0, "number '500' outside range [1, 255]"},
		{"abc", 1, 255, 0, "invalid number 'abc'"},
		{"1.5", 0, 4294, 0, "invalid number '1.5'"},
		{"99999999999", 0, 2147483647, 0, "number '99999999999' outside unsigned integer range"},
		{"-300", -253, 253, 0, "number '-300' outside range [-253, 253]"},
		{"-1", 0, 2147483647, 0, "negative number '-1'"},
		{"-3000000000", -253, 253, 0, "number '-3000000000' outside integer range"},
	}
	for _, tt := range tests {
		d := &decoder{}
		got, ok := d.intArg(node("k", tt.arg), 0, tt.lo, tt.hi)
		if tt.msg == "" {
			if !ok || got != tt.want || len(d.diags) != 0 {
				t.Errorf("intArg(%q) = %d, %v, %v; want %d, true, no findings", tt.arg, got, ok, d.diags, tt.want)
			}
			continue
		}
		if ok || len(d.diags) != 1 || d.diags[0].Msg != tt.msg || d.diags[0].Sev != InvalidNumber || d.diags[0].Pos.Line != 7 {
			t.Errorf("intArg(%q) = %v, %v; want one InvalidNumber finding on line 7: %q", tt.arg, ok, d.diags, tt.msg)
		}
	}
}

// TestDecimalArg: keepalived's decimal seconds (advert_int, delay_loop, …).
func TestDecimalArg(t *testing.T) {
	tests := []struct {
		arg  string
		want time.Duration
		ok   bool
	}{
		{"1", time.Second, true},
		{"0.5", 500 * time.Millisecond, true},
		{"0.015", 15 * time.Millisecond, true},
		{"255", 255 * time.Second, true},
		{"0", 0, false},
		{"256", 0, false},
		{"1e2", 0, false},
		{"x", 0, false},
		{"-1", 0, false},
	}
	for _, tt := range tests {
		d := &decoder{}
		got, ok := d.decimalArg(node("advert_int", tt.arg), 0, 0.01, 255)
		if got != tt.want || ok != tt.ok {
			t.Errorf("decimalArg(%q) = %v, %v; want %v, %v (findings %v)", tt.arg, got, ok, tt.want, tt.ok, d.diags)
		}
	}
}

// TestMissingParameter: keepalived's fatal wording, word positions from 2.
func TestMissingParameter(t *testing.T) {
	d := &decoder{}
	if d.need(node("interface"), 0) {
		t.Fatal("need reported an argument that is not there")
	}
	want := "*** Configuration line starting `interface` is missing a parameter after keyword `interface` at word position 2"
	if len(d.diags) != 1 || d.diags[0].Msg != want || d.diags[0].Sev != MissingParameter {
		t.Errorf("findings = %v, want one MissingParameter %q", d.diags, want)
	}
}

// aliases are table keywords that keepalived 2.2.7 accepts but its man
// page no longer documents.
var aliases = map[string]string{
	"lb_algo":                   "old name of lvs_sched",
	"lb_kind":                   "old name of lvs_method",
	"nb_get_retry":              "deprecated name of retry",
	"lvs_sync_daemon_interface": "deprecated in vrrp_instance",
	"enable_snmp_keepalived":    "older spelling of enable_snmp_vrrp, accepted silently",
	"lvs_flush_onstop":          "undocumented spelling of lvs_flush_on_stop, accepted silently",
}

// TestKeywordTablesAreDocumented checks every keyword of every table
// against keepalived.conf(5) as installed, so that a typo in a table
// cannot turn a real keyword into an "Unknown keyword".
func TestKeywordTablesAreDocumented(t *testing.T) {
	const man = "/usr/share/man/man5/keepalived.conf.5.gz"
	f, err := os.Open(man)
	if err != nil {
		t.Skipf("needs %s (Debian package keepalived): %v", man, err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	// Drop troff font escapes (\fB, \fR, …) so "\fBauth_pass \fR" reads plainly.
	text := regexp.MustCompile(`\\f[A-Z]`).ReplaceAllString(string(raw), " ")
	words := map[string]bool{}
	for _, w := range regexp.MustCompile(`[A-Za-z0-9_-]+`).FindAllString(text, -1) {
		words[w] = true
	}
	d := &decoder{}
	blocks := []string{"top", "global", "vrrp_script", "track_file", "sync_group", "instance", "auth", "vs", "rs", "url"}
	for _, typ := range []CheckerType{HTTPGet, SSLGet, TCPCheck, SMTPCheck, MiscCheck, DNSCheck} {
		blocks = append(blocks, "checker:"+string(typ))
	}
	for _, b := range blocks {
		tbl := d.table(b)
		if len(tbl) == 0 {
			t.Errorf("table %q is empty", b)
		}
		for k := range tbl {
			if !words[k] && aliases[k] == "" {
				t.Errorf("%s keyword %q is not in keepalived.conf(5)", b, k)
			}
		}
	}
}

// FuzzLoad: decoding never panics, always returns a Config, and every
// finding has a severity and names a file, except the few summary lines
// keepalived itself prints without one.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/golden/*.txtar")
	for _, file := range files {
		a, err := txtar.ParseFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if conf, ok := archiveFile(a, "keepalived.conf"); ok {
			f.Add(conf)
		}
	}
	posless := map[string]bool{
		"Non-existent interface specified in configuration":                                true,
		"SECURITY VIOLATION - scripts are being executed but script_security not enabled.": true,
	}
	f.Fuzz(func(t *testing.T, conf string) {
		fsys := fstest.MapFS{"keepalived.conf": {Data: []byte(conf)}}
		cfg, ds := Load(fsys, "keepalived.conf", LoadOptions{Decode: DecodeOptions{
			InterfaceExists:  func(name string) bool { return name == "eth0" },
			ScriptExecutable: func(string) bool { return true },
		}})
		if cfg == nil {
			t.Fatal("nil Config")
		}
		for _, d := range ds {
			if d.Sev == 0 {
				t.Errorf("finding without severity: %q", d)
			}
			if d.Pos.File == "" && !posless[d.Msg] {
				t.Errorf("finding without a position: %q", d)
			}
		}
		if _, err := json.Marshal(cfg); err != nil {
			t.Errorf("Config does not marshal: %v", err)
		}
	})
}
