package conf

import (
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// TestExitCode checks the verdict → exit code mapping measured on
// keepalived 2.2.7 -t (see ExitCode and difftest_test.go).
func TestExitCode(t *testing.T) {
	at := Pos{File: "k.conf", Line: 1}
	d := func(s Severity) Diagnostic { return Diagnostic{Pos: at, Sev: s, Msg: s.String()} }
	tests := []struct {
		name string
		ds   Diagnostics
		want int
	}{
		{"nothing", nil, 0},
		{"warnings and unsupported keywords do not fail", Diagnostics{d(Warning), d(NotSupported)}, 0},
		{"a missing main file does not fail keepalived -t", Diagnostics{{Pos: Pos{File: "k.conf"}, Sev: FileNotFound}}, 0},
		{"a file a checked include needs is missing", Diagnostics{d(FileNotFound)}, 6},
		{"a missing included file wins over everything", Diagnostics{d(MissingParameter), d(BadIf), d(FileNotFound)}, 6},
		{"a deprecated keyword fails like any config error", Diagnostics{d(Deprecated)}, 5},
		{"unknown keyword", Diagnostics{d(UnknownKeyword)}, 5},
		{"range error", Diagnostics{d(InvalidNumber), d(GeneralError)}, 5},
		{"brace errors", Diagnostics{d(UnexpectedBOB)}, 5},
		{"non-existent interface is 5, not 4", Diagnostics{d(BadIf)}, 5},
		{"security violation", Diagnostics{d(UnknownKeyword), d(SecurityError)}, 6},
		{"interface check stops keepalived before scripts", Diagnostics{d(SecurityError), d(BadIf)}, 5},
		{"missing parameter stops keepalived at once", Diagnostics{d(SecurityError), d(MissingParameter), d(BadIf)}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.ds); got != tt.want {
				t.Errorf("ExitCode(%v) = %d, want %d", tt.ds, got, tt.want)
			}
		})
	}
}

// TestDedupSortsAndDropsRepeats: keepalived prints some findings once per
// process; vigil prints each once, in file order.
func TestDedupSortsAndDropsRepeats(t *testing.T) {
	a := Diagnostic{Pos: Pos{File: "k.conf", Line: 3}, Sev: UnknownKeyword, Msg: "Unknown keyword ';'"}
	b := Diagnostic{Pos: Pos{File: "k.conf", Line: 1}, Sev: UnknownKeyword, Msg: "Unknown keyword 'foo'"}
	c := Diagnostic{Pos: Pos{File: "k.conf", Line: 3}, Sev: GeneralError, Msg: "other finding on the same line"}
	got := Dedup(Diagnostics{a, b, a, c, b, a})
	want := Diagnostics{b, a, c}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Dedup mismatch (-want +got):\n%s", diff)
	}
}

// TestLoadMissingFileGivesEmptyConfig: Load never returns a nil Config.
func TestLoadMissingFileGivesEmptyConfig(t *testing.T) {
	cfg, ds := Load(fstest.MapFS{}, "keepalived.conf", LoadOptions{})
	if cfg == nil {
		t.Fatal("Load returned a nil Config for a missing file")
	}
	if len(cfg.Instances)+len(cfg.VirtualServers) != 0 {
		t.Errorf("Config from a missing file has content: %+v", cfg)
	}
	if w := ds.Worst(); w != FileNotFound {
		t.Errorf("Worst() = %v, want %v; findings:\n%s", w, FileNotFound, ds)
	}
}

// TestLoadDefaultsWithoutGlobalDefs: keepalived.conf(5) defaults apply when
// global_defs is absent.
func TestLoadDefaultsWithoutGlobalDefs(t *testing.T) {
	fsys := fstest.MapFS{"keepalived.conf": {Data: []byte("vrrp_instance V {\n interface eth0\n virtual_router_id 9\n virtual_ipaddress {\n  10.99.0.1\n }\n}\n")}}
	cfg, ds := Load(fsys, "keepalived.conf", LoadOptions{})
	if ds.HasErrors() {
		t.Fatalf("unexpected errors:\n%s", ds)
	}
	g := cfg.Global
	if g.VRRPMcastGroup4.String() != "224.0.0.18" || g.VRRPMcastGroup6.String() != "ff02::12" || g.VRRPVersion != 2 {
		t.Errorf("global defaults = %s %s v%d, want 224.0.0.18 ff02::12 v2", g.VRRPMcastGroup4, g.VRRPMcastGroup6, g.VRRPVersion)
	}
	vi := cfg.Instances[0]
	if vi.Priority != 100 || vi.AdvertInt.Seconds() != 1 || vi.Family() != 4 {
		t.Errorf("instance defaults = prio %d advert %v family %d, want 100 1s 4", vi.Priority, vi.AdvertInt, vi.Family())
	}
}
