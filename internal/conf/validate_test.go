package conf

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

const ifaceConf = `vrrp_instance V {
  interface if-main
  virtual_router_id 5
  track_interface {
    if-track
  }
  virtual_ipaddress {
    10.99.0.1 dev if-vip
  }
  virtual_routes {
    10.99.1.0/24 via 10.99.0.254 dev if-route
  }
}
static_ipaddress {
  10.99.2.1/24 dev if-static
}
`

// TestInterfaceCheckAsksForEveryNamedInterface records the names the
// injected check is asked about and asserts on them.
func TestInterfaceCheckAsksForEveryNamedInterface(t *testing.T) {
	var asked []string
	exists := func(name string) bool {
		asked = append(asked, name)
		return name == "if-main"
	}
	fsys := fstest.MapFS{"keepalived.conf": {Data: []byte(ifaceConf)}}
	_, ds := Load(fsys, "keepalived.conf", LoadOptions{Decode: DecodeOptions{InterfaceExists: exists}})
	slices.Sort(asked)
	want := []string{"if-main", "if-route", "if-static", "if-track", "if-vip"}
	if !slices.Equal(asked, want) {
		t.Errorf("InterfaceExists asked for %v, want %v", asked, want)
	}
	var bad []string
	for _, d := range ds {
		if d.Sev == BadIf {
			bad = append(bad, d.String())
		}
	}
	wantBad := []string{
		"Non-existent interface specified in configuration",
		"(keepalived.conf: Line 5) (V) tracked interface if-track doesn't exist",
		"(keepalived.conf: Line 8) WARNING - interface if-vip for ip address 10.99.0.1 doesn't exist",
		"(keepalived.conf: Line 11) WARNING - interface if-route for VROUTE nexthop doesn't exist",
		"(keepalived.conf: Line 15) WARNING - interface if-static for ip address 10.99.2.1 doesn't exist",
	}
	if !slices.Equal(bad, wantBad) {
		t.Errorf("BadIf findings:\n%s\nwant:\n%s", strings.Join(bad, "\n"), strings.Join(wantBad, "\n"))
	}
	if ExitCode(ds) != 5 {
		t.Errorf("ExitCode = %d, want 5", ExitCode(ds))
	}
}

// TestInterfaceCheckSkippedWhenNil: Decode stays pure without the check.
func TestInterfaceCheckSkippedWhenNil(t *testing.T) {
	fsys := fstest.MapFS{"keepalived.conf": {Data: []byte(ifaceConf)}}
	_, ds := Load(fsys, "keepalived.conf", LoadOptions{})
	for _, d := range ds {
		if d.Sev == BadIf {
			t.Errorf("BadIf finding without InterfaceExists: %v", d)
		}
	}
}

// TestScriptSecurity: an executable script running as root without
// enable_script_security or script_user is a SECURITY VIOLATION (exit 6);
// script_user, enable_script_security or a non-root user clears it.
func TestScriptSecurity(t *testing.T) {
	script := "vrrp_script s {\n script \"/x/check arg\"\n %s\n}\n"
	tests := []struct {
		name, global, user string
		executable         bool
		want               bool
	}{
		{"root script", "", "", true, true},
		{"not executable", "", "", false, false},
		{"script_user set", "global_defs {\n script_user root\n}\n", "", true, false},
		{"security enabled", "global_defs {\n enable_script_security\n}\n", "", true, false},
		{"runs as nobody", "", "user nobody", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			fsys := fstest.MapFS{"keepalived.conf": {Data: []byte(tt.global + strings.Replace(script, "%s", tt.user, 1))}}
			_, ds := Load(fsys, "keepalived.conf", LoadOptions{Decode: DecodeOptions{ScriptExecutable: func(p string) bool {
				asked = append(asked, p)
				return tt.executable
			}}})
			got := false
			for _, d := range ds {
				got = got || d.Sev == SecurityError
			}
			if got != tt.want {
				t.Errorf("security violation reported = %v, want %v; findings:\n%s", got, tt.want, ds)
			}
			if len(asked) == 0 || asked[0] != "/x/check" {
				t.Errorf("ScriptExecutable asked for %v, want the command path /x/check first", asked)
			}
		})
	}
}
