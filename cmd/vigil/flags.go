package main

import (
	"fmt"
	"strings"
)

// options holds keepalived's command-line options, with the same meaning.
type options struct {
	configFile    string // -f, --use-file
	configTest    bool   // -t, --config-test[=LOG_FILE]
	configTestLog string
	dontFork      bool   // -n
	logConsole    bool   // -l
	logDetail     bool   // -D
	logFacility   string // -S
	noSyslog      bool   // -G
	vrrpOnly      bool   // -P
	checkOnly     bool   // -C
	noBFD         bool   // -B
	all           bool   // --all
	pidFile       string // -p
	vrrpPidFile   string // -r
	checkPidFile  string // -c
	bfdPidFile    string // -b
	configID      string // -i
	umask         string // -u
	releaseVIPs   bool   // -X
	keepVRRP      bool   // -V, --dont-release-vrrp
	keepIPVS      bool   // -I, --dont-release-ipvs
	dontRespawn   bool   // -R
	dumpConf      bool   // -d
	addrMonitor   bool   // -a
	snmp          bool   // -x
	snmpSocket    string // -A
	namespace     string // -s
	coreDump      bool   // -m
	corePattern   string // -M
	allConfig     bool   // -e
	signum        string // --signum
	socket        string // --socket: vigil's control socket
	metricsAddr   string // --metrics: Prometheus listen address
	version       bool   // -v
	help          bool   // -h
}

// optSpec describes one option: its short letter (0 if none), long name,
// whether it takes an argument ("" no, "req" required, "opt" optional as
// getopt's optional_argument), and where to store it.
type optSpec struct {
	short byte
	long  string
	arg   string
	help  string
	set   func(o *options, v string)
}

func flagBool(p func(*options) *bool) func(*options, string) {
	return func(o *options, _ string) { *p(o) = true }
}

func flagStr(p func(*options) *string) func(*options, string) {
	return func(o *options, v string) { *p(o) = v }
}

// optSpecs mirrors `keepalived --help` of keepalived 2.2.7.
var optSpecs = []optSpec{
	{'f', "use-file", "req", "Use the specified configuration file", flagStr(func(o *options) *string { return &o.configFile })},
	{'P', "vrrp", "", "Only run with VRRP subsystem", flagBool(func(o *options) *bool { return &o.vrrpOnly })},
	{'C', "check", "", "Only run with Health-checker subsystem", flagBool(func(o *options) *bool { return &o.checkOnly })},
	{'B', "no_bfd", "", "Don't run BFD subsystem", flagBool(func(o *options) *bool { return &o.noBFD })},
	{0, "all", "", "Force all child processes to run, even if have no configuration", flagBool(func(o *options) *bool { return &o.all })},
	{'l', "log-console", "", "Log messages to local console", flagBool(func(o *options) *bool { return &o.logConsole })},
	{'D', "log-detail", "", "Detailed log messages", flagBool(func(o *options) *bool { return &o.logDetail })},
	{'S', "log-facility", "req", "Set syslog facility to LOG_LOCAL[0-7], user or daemon (default)", flagStr(func(o *options) *string { return &o.logFacility })},
	{'G', "no-syslog", "", "Don't log via syslog", flagBool(func(o *options) *bool { return &o.noSyslog })},
	{'u', "umask", "req", "umask for file creation (in numeric form)", flagStr(func(o *options) *string { return &o.umask })},
	{'X', "release-vips", "", "Drop VIP on transition from signal.", flagBool(func(o *options) *bool { return &o.releaseVIPs })},
	{'V', "dont-release-vrrp", "", "Don't remove VRRP VIPs and VROUTEs on daemon stop", flagBool(func(o *options) *bool { return &o.keepVRRP })},
	{'I', "dont-release-ipvs", "", "Don't remove IPVS topology on daemon stop", flagBool(func(o *options) *bool { return &o.keepIPVS })},
	{'R', "dont-respawn", "", "Don't respawn child processes", flagBool(func(o *options) *bool { return &o.dontRespawn })},
	{'n', "dont-fork", "", "Don't fork the daemon process", flagBool(func(o *options) *bool { return &o.dontFork })},
	{'d', "dump-conf", "", "Dump the configuration data", flagBool(func(o *options) *bool { return &o.dumpConf })},
	{'p', "pid", "req", "Use specified pidfile for parent process", flagStr(func(o *options) *string { return &o.pidFile })},
	{'r', "vrrp_pid", "req", "Use specified pidfile for VRRP child process", flagStr(func(o *options) *string { return &o.vrrpPidFile })},
	{'c', "checkers_pid", "req", "Use specified pidfile for checkers child process", flagStr(func(o *options) *string { return &o.checkPidFile })},
	{'a', "address-monitoring", "", "Report all address additions/deletions notified via netlink", flagBool(func(o *options) *bool { return &o.addrMonitor })},
	{'b', "bfd_pid", "req", "Use specified pidfile for BFD child process", flagStr(func(o *options) *string { return &o.bfdPidFile })},
	{'x', "snmp", "", "Enable SNMP subsystem", flagBool(func(o *options) *bool { return &o.snmp })},
	{'A', "snmp-agent-socket", "req", "Use the specified socket for master agent", flagStr(func(o *options) *string { return &o.snmpSocket })},
	{'s', "namespace", "req", "Run in network namespace NAME (overrides config)", flagStr(func(o *options) *string { return &o.namespace })},
	{'m', "core-dump", "", "Produce core dump if terminate abnormally", flagBool(func(o *options) *bool { return &o.coreDump })},
	{'M', "core-dump-pattern", "opt", "Also set /proc/sys/kernel/core_pattern to PATN (default 'core')", flagStr(func(o *options) *string { return &o.corePattern })},
	{'e', "all-config", "", "Error if any configuration file missing (same as includet)", flagBool(func(o *options) *bool { return &o.allConfig })},
	{'i', "config-id", "req", "Skip any configuration lines beginning '@' that don't match id", flagStr(func(o *options) *string { return &o.configID })},
	{0, "signum", "req", "Return signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON", flagStr(func(o *options) *string { return &o.signum })},
	{0, "socket", "req", "vigil: control socket for 'vigil status' (default /run/vigil/vigil.sock)", flagStr(func(o *options) *string { return &o.socket })},
	{0, "metrics", "req", "vigil: serve Prometheus metrics on ADDR (host:port); off by default", flagStr(func(o *options) *string { return &o.metricsAddr })},
	{'t', "config-test", "opt", "Check the configuration for obvious errors, output to stderr by default", func(o *options, v string) { o.configTest = true; o.configTestLog = v }},
	{'v', "version", "", "Display the version number", flagBool(func(o *options) *bool { return &o.version })},
	{'h', "help", "", "Display this help message", flagBool(func(o *options) *bool { return &o.help })},
}

// parseFlags parses args (without the program name) the way getopt_long
// does for keepalived: short options may be bundled (-nlD), a required
// argument may be attached (-fFILE) or separate (-f FILE), an optional
// argument must be attached (-tFILE, --config-test=FILE), and long options
// take --name=value or --name value. It returns the options and the
// remaining operands.
func parseFlags(args []string) (options, []string, error) {
	var o options
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i+1:]...)
			return o, rest, nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			sp := findLong(name)
			if sp == nil {
				return o, nil, fmt.Errorf("unrecognized option '--%s'", name)
			}
			switch sp.arg {
			case "":
				if hasVal {
					return o, nil, fmt.Errorf("option '--%s' doesn't allow an argument", name)
				}
			case "req":
				if !hasVal {
					if i+1 >= len(args) {
						return o, nil, fmt.Errorf("option '--%s' requires an argument", name)
					}
					i++
					val = args[i]
				}
			}
			sp.set(&o, val)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			for j := 1; j < len(a); j++ {
				sp := findShort(a[j])
				if sp == nil {
					return o, nil, fmt.Errorf("invalid option -- '%c'", a[j])
				}
				if sp.arg == "" {
					sp.set(&o, "")
					continue
				}
				val := a[j+1:]
				if val == "" && sp.arg == "req" {
					if i+1 >= len(args) {
						return o, nil, fmt.Errorf("option requires an argument -- '%c'", a[j])
					}
					i++
					val = args[i]
				}
				sp.set(&o, val)
				break
			}
		default:
			rest = append(rest, a)
		}
	}
	return o, rest, nil
}

func findLong(name string) *optSpec {
	for i := range optSpecs {
		if optSpecs[i].long == name {
			return &optSpecs[i]
		}
	}
	return nil
}

func findShort(c byte) *optSpec {
	for i := range optSpecs {
		if optSpecs[i].short == c {
			return &optSpecs[i]
		}
	}
	return nil
}

// usage renders the help text in keepalived's layout.
func usage(prog string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s [OPTION...]\n", prog)
	for _, sp := range optSpecs {
		var left string
		if sp.short != 0 {
			left = fmt.Sprintf("  -%c, --%s", sp.short, sp.long)
		} else {
			left = fmt.Sprintf("      --%s", sp.long)
		}
		switch sp.arg {
		case "req":
			left += "=ARG"
		case "opt":
			left += "[=ARG]"
		}
		fmt.Fprintf(&b, "%-31s%s\n", left, sp.help)
	}
	b.WriteString("\nCommands:\n")
	b.WriteString("  vigil dump-conf [-f FILE]     Print the typed configuration as JSON\n")
	b.WriteString("  vigil genhash ARGS...         keepalived's genhash (also: vigil -T ARGS...)\n")
	b.WriteString("  vigil status                  Show instances, VIPs and real servers of the running daemon\n")
	return b.String()
}
