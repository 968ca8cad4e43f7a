package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseFlags checks getopt_long behaviour on keepalived's options.
func TestParseFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want options
		rest []string
		err  string
	}{
		{name: "lab invocation", args: []string{"-n", "-l", "-D", "-P", "-f", "/x.conf", "-p", "/a", "-r", "/b", "-c", "/c"},
			want: options{dontFork: true, logConsole: true, logDetail: true, vrrpOnly: true, configFile: "/x.conf", pidFile: "/a", vrrpPidFile: "/b", checkPidFile: "/c"}},
		{name: "bundled short", args: []string{"-nlDf/x.conf"},
			want: options{dontFork: true, logConsole: true, logDetail: true, configFile: "/x.conf"}},
		{name: "long with equals", args: []string{"--use-file=/y.conf", "--config-id", "lb1"},
			want: options{configFile: "/y.conf", configID: "lb1"}},
		{name: "config test bare", args: []string{"-t", "-f", "k.conf"},
			want: options{configTest: true, configFile: "k.conf"}},
		{name: "config test attached log", args: []string{"-t/tmp/log"},
			want: options{configTest: true, configTestLog: "/tmp/log"}},
		{name: "config test long", args: []string{"--config-test=/tmp/log"},
			want: options{configTest: true, configTestLog: "/tmp/log"}},
		{name: "operand kept", args: []string{"dump-conf", "-f", "a.conf"},
			want: options{configFile: "a.conf"}, rest: []string{"dump-conf"}},
		{name: "unknown short", args: []string{"-Z"}, err: "invalid option -- 'Z'"},
		{name: "unknown long", args: []string{"--bogus"}, err: "unrecognized option '--bogus'"},
		{name: "missing arg", args: []string{"-f"}, err: "option requires an argument -- 'f'"},
		{name: "long missing arg", args: []string{"--pid"}, err: "option '--pid' requires an argument"},
		{name: "long arg on flag", args: []string{"--dont-fork=yes"}, err: "option '--dont-fork' doesn't allow an argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rest, err := parseFlags(tt.args)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(options{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.rest, rest); diff != "" {
				t.Errorf("operands (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUsageListsEveryOption guards against an option that parses but is
// not documented in -h.
func TestUsageListsEveryOption(t *testing.T) {
	u := usage("vigil")
	for _, sp := range optSpecs {
		if !strings.Contains(u, "--"+sp.long) {
			t.Errorf("usage lacks --%s", sp.long)
		}
	}
}
