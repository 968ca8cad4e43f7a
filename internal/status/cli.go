package status

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
)

// cliTimeout bounds one CLI request: the daemon answers from memory.
const cliTimeout = 10 * time.Second

// RunCLI implements `vigil status` and `vigil explain`; args start with
// the subcommand:
//
//	vigil status  [--socket PATH] [--json]
//	vigil explain [--socket PATH] [--json] INSTANCE
//
// It returns the process exit code: 0 on success, 1 when the daemon
// cannot be reached or refuses, 2 on a usage error.
func RunCLI(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: vigil status|explain [--socket PATH] [--json] [INSTANCE]")
		return 2
	}
	cmd := args[0]
	fs := flag.NewFlagSet("vigil "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", DefaultSocket, "control socket of the running vigil")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	switch cmd {
	case "status":
		fs.Usage = func() {
			fmt.Fprintln(stderr, "usage: vigil status [--socket PATH] [--json]")
			fs.PrintDefaults()
		}
	case "explain":
		fs.Usage = func() {
			fmt.Fprintln(stderr, "usage: vigil explain [--socket PATH] [--json] INSTANCE")
			fs.PrintDefaults()
		}
	default:
		fmt.Fprintf(stderr, "vigil: unknown command %q: use status or explain\n", cmd)
		return 2
	}
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()

	switch cmd {
	case "status":
		if len(pos) != 0 {
			fmt.Fprintf(stderr, "vigil status: unexpected argument %q\n", pos[0])
			fs.Usage()
			return 2
		}
		r, err := Status(ctx, *socket)
		if err != nil {
			fmt.Fprintf(stderr, "vigil status: %v\n", err)
			return 1
		}
		if *asJSON {
			return printJSON(stdout, stderr, r)
		}
		if err := FormatTable(stdout, r); err != nil {
			fmt.Fprintf(stderr, "vigil status: %v\n", err)
			return 1
		}
	case "explain":
		if len(pos) != 1 {
			fmt.Fprintln(stderr, "vigil explain: name one VRRP instance")
			fs.Usage()
			return 2
		}
		e, err := Explain(ctx, *socket, pos[0])
		if err != nil {
			fmt.Fprintf(stderr, "vigil explain: %v\n", err)
			return 1
		}
		if *asJSON {
			return printJSON(stdout, stderr, e)
		}
		if err := FormatExplanation(stdout, e); err != nil {
			fmt.Fprintf(stderr, "vigil explain: %v\n", err)
			return 1
		}
	}
	return 0
}

// parseInterspersed lets flags follow positional arguments, as in
// `vigil explain VI_1 --json`.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag drops a "--" terminator: what follows it is positional.
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func printJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return 1
	}
	return 0
}
