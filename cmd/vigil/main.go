// Command vigil is a keepalived-compatible high-availability daemon: it reads
// /etc/keepalived/keepalived.conf and runs VRRP, IPVS and health checks.
// Its flags, config-test verdicts and exit codes are keepalived's.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/vigil-ha/vigil/internal/conf"
)

// Version is vigil's version, set at build time with -ldflags "-X main.Version=…".
var Version = "0.1.0-dev"

const defaultConfig = "/etc/keepalived/keepalived.conf"

func main() {
	os.Exit(run(context.Background(), os.Args, os.Stdout, os.Stderr))
}

// run is main without the process exit, so tests can call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	prog := filepath.Base(args[0])
	argv := args[1:]
	if prog == "genhash" {
		// Installed as (or linked to) genhash, like keepalived's.
		return runGenhash(ctx, argv, stdout, stderr)
	}
	// Subcommands that keepalived spells as flags come first: `-T` turns
	// keepalived into genhash when it is the first option.
	if len(argv) > 0 {
		switch argv[0] {
		case "genhash", "-T", "--genhash":
			return runGenhash(ctx, argv[1:], stdout, stderr)
		case "status", "explain":
			return runStatus(ctx, argv, stdout, stderr)
		}
	}
	o, rest, err := parseFlags(argv)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n%s", prog, err, usage(prog))
		return 1
	}
	if o.help {
		fmt.Fprint(stdout, usage(prog))
		return 0
	}
	if o.version {
		fmt.Fprintf(stdout, "vigil %s (keepalived 2.2.7 compatible)\n", Version)
		return 0
	}
	if o.configFile == "" {
		o.configFile = defaultConfig
	}
	if len(rest) > 0 {
		switch rest[0] {
		case "dump-conf":
			return dumpConf(o, stdout, stderr)
		default:
			fmt.Fprintf(stderr, "%s: unknown command %q\n%s", prog, rest[0], usage(prog))
			return 1
		}
	}
	if o.configTest {
		return configTest(o, stderr)
	}
	if o.dumpConf {
		return dumpConf(o, stdout, stderr)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return runDaemon(ctx, o, stderr)
}

// load reads the configuration the way the daemon does, checking interface
// names against this machine as keepalived does.
func load(o options) (*conf.Config, conf.Diagnostics) {
	abs, err := filepath.Abs(o.configFile)
	if err != nil {
		abs = o.configFile
	}
	return conf.Load(conf.OSFS(), abs, conf.LoadOptions{
		Parse:  conf.ParseOptions{ConfigID: configID(o)},
		Decode: conf.DecodeOptions{InterfaceExists: interfaceExists},
	})
}

// configID is the id that selects @ lines: -i, else the host name as
// keepalived uses it.
func configID(o options) string {
	if o.configID != "" {
		return o.configID
	}
	h, _ := os.Hostname()
	return h
}

// configTest implements -t: print each finding once, exit with keepalived's
// code for the worst of them.
func configTest(o options, stderr io.Writer) int {
	out := stderr
	if o.configTestLog != "" {
		f, err := os.Create(o.configTestLog)
		if err != nil {
			fmt.Fprintf(stderr, "cannot open config test log: %v\n", err)
			return 1
		}
		defer f.Close()
		out = f
	}
	_, ds := load(o)
	fmt.Fprint(out, ds.String())
	return conf.ExitCode(ds)
}

func dumpConf(o options, stdout, stderr io.Writer) int {
	c, ds := load(o)
	fmt.Fprint(stderr, ds.String())
	if c == nil {
		return conf.ExitCode(ds)
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		fmt.Fprintf(stderr, "dump-conf: %v\n", err)
		return 1
	}
	return 0
}
