package genhash

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/check"
)

// defaultTimeout mirrors keepalived's genhash, whose connection timeout
// defaults to UINT_MAX microseconds when -t is not given.
const defaultTimeout = time.Duration(math.MaxUint32) * time.Microsecond

type options struct {
	ssl, sni, verbose bool
	server            netip.Addr
	port              uint16
	url               string
	vhost             string
	fwmark            uint32
	proto             check.HTTPProtocol
	timeout           time.Duration
	haveServer        bool
	havePort          bool
	haveURL           bool
}

func usage(w io.Writer, prog string) {
	fmt.Fprintf(w, "Usage: %s COMMAND [OPTIONS]\n"+
		"Commands:\n"+
		"   -s server-address -p port -u url\n"+
		"   -S -s server-address -p port -u url\n"+
		"   -h\n\n", prog)
	fmt.Fprint(w, "Options:\n"+
		"Either long or short options are allowed.\n"+
		"   --use-ssl         -S       Use SSL connection to remote server.\n"+
		"   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).\n"+
		"   --server          -s       Use the specified remote server address.\n"+
		"   --port            -p       Use the specified remote server port.\n"+
		"   --url             -u       Use the specified remote server url.\n"+
		"   --use-virtualhost -V       Use the specified virtualhost in GET query.\n"+
		"   --verbose         -v       Use verbose mode output.\n"+
		"   --help            -h       Display this short inlined help screen.\n"+
		"   --fwmark          -m       Use the specified FW mark.\n"+
		"   --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.\n"+
		"                                1.0c means 1.0 with 'Connection: close'\n"+
		"   --timeout         -t       Timeout in seconds\n")
}

// longOpts maps genhash's long options to their short letters.
var longOpts = map[string]byte{
	"help": 'h', "verbose": 'v', "use-ssl": 'S', "use-sni": 'I', "server": 's',
	"use-virtualhost": 'V', "port": 'p', "url": 'u', "fwmark": 'm', "protocol": 'P', "timeout": 't',
}

func takesArg(c byte) bool { return strings.IndexByte("sVpumPt", c) >= 0 }

// errUsage means: print the usage and exit 1 (any message is already out).
var errUsage = errors.New("usage")

// parse reads args (without the program name) as getopt_long would with
// keepalived's option string, permuting non-options to the end.
func parse(args []string, stderr io.Writer) (*options, error) {
	o := &options{timeout: defaultTimeout}
	if len(args) <= 1 {
		return nil, errUsage // keepalived: "argc <= 2" is a usage error
	}
	var rest []string
	bad := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			rest = append(rest, a)
			continue
		}
		if strings.HasPrefix(a, "--") {
			name, val, hasVal := strings.Cut(a[2:], "=")
			c, ok := longOpts[name]
			if !ok {
				fmt.Fprintf(stderr, "Unknown option %s\n", a)
				bad = true
				continue
			}
			if takesArg(c) && !hasVal {
				if i+1 >= len(args) {
					fmt.Fprintf(stderr, "Missing parameter for option --%s\n", name)
					bad = true
					continue
				}
				i++
				val = args[i]
			}
			stop, err := o.apply(c, val, stderr)
			if err != nil {
				return nil, err
			}
			bad = bad || stop
			continue
		}
		// A cluster of short options, the last of which may take an argument.
		for j := 1; j < len(a); j++ {
			c := a[j]
			if _, ok := shortSet[c]; !ok {
				fmt.Fprintf(stderr, "Unknown option -%c\n", c)
				bad = true
				continue
			}
			var val string
			if takesArg(c) {
				switch {
				case j+1 < len(a):
					val = a[j+1:]
				case i+1 < len(args):
					i++
					val = args[i]
				default:
					fmt.Fprintf(stderr, "Missing parameter for option -%c\n", c)
					bad = true
					j = len(a)
					continue
				}
				j = len(a)
			}
			stop, err := o.apply(c, val, stderr)
			if err != nil {
				return nil, err
			}
			bad = bad || stop
		}
	}
	if bad {
		return nil, errUsage
	}
	if len(rest) > 0 {
		fmt.Fprintf(stderr, "Unexpected argument(s): %s\n", strings.Join(rest, " "))
		return nil, errUsage
	}
	if !o.haveServer || !o.havePort || !o.haveURL {
		return nil, errUsage
	}
	return o, nil
}

var shortSet = map[byte]struct{}{'h': {}, 'v': {}, 'S': {}, 'I': {}, 's': {}, 'V': {}, 'p': {}, 'u': {}, 'm': {}, 'P': {}, 't': {}}

// apply sets one option. It returns stop=true for -h (usage after parsing
// the rest) and errUsage for a fatal bad value, as keepalived does.
func (o *options) apply(c byte, val string, stderr io.Writer) (stop bool, err error) {
	switch c {
	case 'h':
		return true, nil
	case 'v':
		o.verbose = true
	case 'S':
		o.ssl = true
	case 'I':
		o.sni = true
	case 's':
		a, perr := netip.ParseAddr(strings.Trim(val, "[]"))
		if perr != nil {
			fmt.Fprintf(stderr, "server should be an IP, not %s\n", val)
			return false, errUsage
		}
		o.server, o.haveServer = a, true
	case 'V':
		o.vhost = val
	case 'p':
		n, perr := strconv.ParseInt(val, 10, 64)
		if perr != nil || n <= 0 || n > 65535 {
			fmt.Fprintf(stderr, "invalid port number '%s'\n", val)
			return false, errUsage
		}
		o.port, o.havePort = uint16(n), true
	case 'u':
		o.url, o.haveURL = val, true
	case 'm':
		s := strings.TrimLeft(val, " \t")
		n, perr := strconv.ParseUint(s, 10, 32)
		if perr != nil || s == "" {
			fmt.Fprintf(stderr, "invalid fwmark '%s'\n", val)
			return false, errUsage
		}
		o.fwmark = uint32(n)
	case 'P':
		p, perr := check.ParseHTTPProtocol(val)
		if perr != nil {
			fmt.Fprintf(stderr, "invalid HTTP protocol version '%s'\n", val)
			return false, errUsage
		}
		o.proto = p
	case 't':
		s := strings.TrimLeft(val, " \t")
		n, perr := strconv.ParseUint(s, 10, 32)
		if perr != nil || s == "" {
			fmt.Fprintf(stderr, "invalid timeout '%s'\n", val)
			return false, errUsage
		}
		o.timeout = time.Duration(n) * time.Second
	}
	return false, nil
}

// Run is the genhash command. args are the arguments after the program
// name. It returns the process exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if err != nil {
		usage(stderr, "genhash")
		return 1
	}
	h := &check.HTTPGet{
		Conn:        check.Conn{Addr: netip.AddrPortFrom(o.server, o.port), FWMark: o.fwmark},
		SSL:         o.ssl,
		EnableSNI:   o.sni,
		Protocol:    o.proto,
		VirtualHost: o.vhost,
		URLs:        []check.URL{{Path: o.url}},
		KeepBody:    o.verbose,
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	start := time.Now()
	resp, err := h.Fetch(ctx, 0)
	var fe *check.FetchError
	switch {
	case errors.As(err, &fe):
		// keepalived's genhash prints the failure on stdout and exits 0.
		fmt.Fprintln(stdout, fe.Msg)
		return 0
	case err != nil:
		fmt.Fprintln(stdout, err)
		return 0
	}
	if o.verbose {
		writeVerbose(stdout, resp)
	}
	if !resp.HeaderComplete {
		fmt.Fprintln(stderr, "no data received from remote webserver")
	} else {
		fmt.Fprintf(stdout, "%x\n", resp.Digest)
	}
	if o.verbose {
		fmt.Fprintf(stdout, "\nGlobal response time for [%s] = %d usecs\n", o.url, time.Since(start).Microseconds())
	}
	return 0
}

const (
	delimBegin = "-----------------------["
	delimEnd   = "]-----------------------\n"
)

func section(w io.Writer, title string) { fmt.Fprint(w, delimBegin+title+delimEnd) }

func writeVerbose(w io.Writer, r *check.HTTPResponse) {
	if !r.HeaderComplete {
		return
	}
	section(w, "    HTTP Header Buffer    ")
	dump(w, r.Header)
	section(w, " HTTP Header Ascii Buffer ")
	fmt.Fprintf(w, "%s\n", r.Header)
	if len(r.Body) > 0 {
		body := r.Body
		if r.ContentLength >= 0 && int64(len(body)) > r.ContentLength {
			body = body[:r.ContentLength]
		}
		section(w, "        HTML Buffer        ")
		dump(w, body)
	}
	fmt.Fprintln(w)
	section(w, "    HTML hash resulting    ")
	dump(w, r.Digest[:])
	section(w, " HTML hash final resulting ")
}

// dump writes b as keepalived's dump_buffer does: offset, 16 hex bytes with
// a dash after the eighth, then the printable characters.
func dump(w io.Writer, b []byte) {
	var sb strings.Builder
	for off := 0; off < len(b); off += 16 {
		fmt.Fprintf(&sb, "%.4d ", off&0xffff)
		for i := off; i < off+16; i++ {
			if i < len(b) {
				fmt.Fprintf(&sb, "%3.2x", b[i])
			} else {
				sb.WriteString("   ")
			}
			if i-off == 7 {
				sb.WriteString(" -")
			}
		}
		sb.WriteString("   ")
		for i := off; i < off+16; i++ {
			switch {
			case i >= len(b):
				sb.WriteByte(' ')
			case b[i] >= 0x20 && b[i] <= 0x7e:
				sb.WriteByte(b[i])
			default:
				sb.WriteByte('.')
			}
		}
		sb.WriteByte('\n')
	}
	io.WriteString(w, sb.String())
}
