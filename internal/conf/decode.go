package conf

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DecodeOptions configures Decode.
type DecodeOptions struct {
	// InterfaceExists reports whether a network interface exists. keepalived
	// -t fails when a configuration names an interface that does not exist
	// ("Non-existent interface specified in configuration"). Nil skips the
	// check, which keeps Decode pure; cmd/vigil passes a real lookup.
	InterfaceExists func(name string) bool

	// ScriptExecutable reports whether a script path names an executable
	// file. keepalived -t fails with a SECURITY VIOLATION (exit 6) when an
	// executable script would run as root without enable_script_security;
	// it only counts scripts it can find. Nil skips the check.
	ScriptExecutable func(path string) bool
}

// handler decodes one keyword line.
type handler func(d *decoder, n *Node)

// table maps the keywords of one block to their handlers. Aliases and
// deprecated spellings are entries of the same table (see alias and
// deprecated), so that the whole grammar of a block reads in one place.
type table map[string]handler

// decoder walks the generic tree and fills a Config. It holds the block
// being decoded, so that handlers in the keyword tables stay small.
type decoder struct {
	opts  DecodeOptions
	cfg   *Config
	diags Diagnostics

	raw *[]RawSetting // where the current block keeps unsupported keywords

	vi  *VRRPInstance
	sg  *SyncGroup
	vs  *VirtualServer
	rs  *RealServer
	chk *Checker
	u   *URL
	cd  *CheckerDefaults // timing keywords of the innermost LVS block

	tables map[string]table // built once per decoder: no package state

	rulePrio uint32 // last default rule priority handed out
}

// Decode turns parsed nodes into a typed Config and validates it (see
// validate.go). It never stops at the first problem: every finding is
// returned, in the order found, and the Config holds whatever keepalived
// would have kept. The Config is never nil.
func Decode(nodes []*Node, opts DecodeOptions) (*Config, Diagnostics) {
	d := &decoder{opts: opts, cfg: &Config{}}
	d.cfg.Global = defaultGlobal()
	d.block(nodes, d.table("top"), &d.cfg.Unsupported)
	d.validate()
	return d.cfg, d.diags
}

// table returns the keyword table of a block, building it on first use.
func (d *decoder) table(name string) table {
	if d.tables == nil {
		d.tables = map[string]table{
			"top":         topKeywords(),
			"global":      globalKeywords(),
			"vrrp_script": vrrpScriptKeywords(),
			"track_file":  trackFileKeywords(),
			"sync_group":  syncGroupKeywords(),
			"instance":    instanceKeywords(),
			"auth":        authKeywords(),
			"vs":          virtualServerKeywords(),
			"rs":          realServerKeywords(),
			"url":         urlKeywords(),
		}
	}
	t, ok := d.tables[name]
	if !ok && strings.HasPrefix(name, "checker:") {
		t = checkerKeywords(CheckerType(strings.TrimPrefix(name, "checker:")))
		d.tables[name] = t
	}
	return t
}

func topKeywords() table {
	return table{
		"global_defs":          (*decoder).globalDefs,
		"vrrp_script":          (*decoder).vrrpScript,
		"vrrp_track_file":      (*decoder).trackFile,
		"vrrp_sync_group":      (*decoder).syncGroup,
		"vrrp_instance":        (*decoder).instance,
		"virtual_server_group": (*decoder).virtualServerGroup,
		"virtual_server":       (*decoder).virtualServer,
		"static_ipaddress": func(d *decoder, n *Node) {
			for _, c := range n.Block {
				if v, ok := d.vip(c); ok {
					d.cfg.StaticIPAddresses = append(d.cfg.StaticIPAddresses, v)
				}
			}
		},
		"static_routes": func(d *decoder, n *Node) { d.cfg.StaticRoutes = append(d.cfg.StaticRoutes, d.routeList(n, false)...) },
		"static_rules":  func(d *decoder, n *Node) { d.cfg.StaticRules = append(d.cfg.StaticRules, d.routeList(n, true)...) },
		"SSL":           (*decoder).ssl,
		// Documented top-level blocks vigil does not act on yet.
		"linkbeat_interfaces": unsupported,
		"track_group":         unsupported,
		"vrrp_track_process":  unsupported,
		"garp_group":          unsupported,
		"bfd_instance":        unsupported,
	}
}

// block decodes the nodes of one block with its keyword table. Keywords
// keepalived does not know are reported as keepalived does, and decoding
// goes on with the next line.
func (d *decoder) block(nodes []*Node, t table, raw *[]RawSetting) {
	saved := d.raw
	d.raw = raw
	defer func() { d.raw = saved }()
	for _, n := range nodes {
		h, ok := t[n.Key.Text]
		if !ok {
			d.addNode(n, UnknownKeyword, "Unknown keyword '%s'", n.Key.Text)
			continue
		}
		if n.HasBlock && !takesBlock(n.Key.Text) {
			// keepalived ignores the '{' and reads what follows at the
			// same level; vigil does the same with the block's lines.
			d.addNode(n, UnexpectedBOB, "Unexpected '{' - ignoring")
			h(d, &Node{Key: n.Key, Args: n.Args})
			d.block(n.Block, t, raw)
			continue
		}
		h(d, n)
	}
}

// takesBlock reports whether a keyword is followed by a { } block in
// keepalived.conf(5). Other keywords given a block get "Unexpected '{'".
func takesBlock(key string) bool {
	switch key {
	case "global_defs", "notification_email", "vrrp_script", "vrrp_track_file", "vrrp_sync_group", "group",
		"vrrp_instance", "authentication", "virtual_ipaddress", "virtual_ipaddress_excluded",
		"virtual_routes", "virtual_rules", "unicast_peer", "track_interface", "track_script", "track_file",
		"track_process", "track_bfd", "virtual_server_group", "virtual_server", "real_server",
		"HTTP_GET", "SSL_GET", "TCP_CHECK", "SMTP_CHECK", "MISC_CHECK", "DNS_CHECK", "PING_CHECK",
		"UDP_CHECK", "FILE_CHECK", "BFD_CHECK", "url", "host", "static_ipaddress", "static_routes",
		"static_rules", "linkbeat_interfaces", "track_group", "vrrp_track_process", "garp_group",
		"bfd_instance", "net_namespace_ipvs", "lvs_sync_daemon", "SSL":
		return true
	}
	return false
}

// alias makes a keyword another spelling of h; keepalived accepts both
// without comment.
func alias(h handler) handler { return h }

// deprecated makes a keyword an old spelling of h that keepalived still
// accepts with a warning: msg is keepalived's own wording.
func deprecated(msg string, h handler) handler {
	return func(d *decoder, n *Node) {
		d.add(n.Pos(), Deprecated, "%s", msg)
		h(d, n)
	}
}

// unsupported records a keyword that keepalived.conf(5) documents but vigil
// does not implement yet. It is kept in the block's Unsupported list and
// reported, never silently dropped.
func unsupported(d *decoder, n *Node) {
	if d.raw != nil {
		*d.raw = append(*d.raw, rawSetting(n))
	}
	d.add(n.Pos(), NotSupported, "'%s' is not supported by vigil yet - ignored", n.Key.Text)
}

func rawSetting(n *Node) RawSetting {
	r := RawSetting{Key: n.Key.Text, Pos: n.Pos()}
	for _, a := range n.Args {
		r.Args = append(r.Args, a.Text)
	}
	for _, c := range n.Block {
		r.Block = append(r.Block, rawSetting(c))
	}
	return r
}

// ---- diagnostics and the dispenser ----

func (d *decoder) add(pos Pos, sev Severity, format string, args ...any) {
	d.diags = append(d.diags, Diagnostic{Pos: pos, Sev: sev, Msg: fmt.Sprintf(format, args...)})
}

// addNode is add with the include chain of the node's file.
func (d *decoder) addNode(n *Node, sev Severity, format string, args ...any) {
	d.diags = append(d.diags, Diagnostic{Pos: n.Pos(), Sev: sev, Msg: fmt.Sprintf(format, args...), Chain: n.Key.Chain})
}

// argCount returns the number of arguments on the keyword's line.
func argCount(n *Node) int { return len(n.Args) }

// arg returns argument i (0 is the first word after the keyword), or ""
// when there are fewer arguments.
func arg(n *Node, i int) string {
	if i < len(n.Args) {
		return n.Args[i].Text
	}
	return ""
}

// need reports whether argument i exists. When it does not, it reports
// keepalived's fatal "missing a parameter" error (keepalived -t exits 2).
func (d *decoder) need(n *Node, i int) bool {
	if i < len(n.Args) {
		return true
	}
	d.addNode(n, MissingParameter, "*** Configuration line starting `%s` is missing a parameter after keyword `%s` at word position %d",
		n.Key.Text, n.Key.Text, i+2)
	return false
}

// needBlock reports whether the keyword opened a { } block.
func (d *decoder) needBlock(n *Node) bool {
	if n.HasBlock {
		return true
	}
	d.addNode(n, MissingBOB, "Missing '{' at beginning of configuration block")
	return false
}

// intArg parses argument i as an integer in [lo, hi], reporting keepalived's
// "invalid number" or "number 'X' outside range [lo, hi]" otherwise.
func (d *decoder) intArg(n *Node, i int, lo, hi int64) (int64, bool) {
	if !d.need(n, i) {
		return 0, false
	}
	s := arg(n, i)
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			kind := "integer"
			if lo >= 0 {
				kind = "unsigned integer"
			}
			d.addNode(n, InvalidNumber, "number '%s' outside %s range", s, kind)
			return 0, false
		}
		d.addNode(n, InvalidNumber, "invalid number '%s'", s)
		return 0, false
	}
	// keepalived reads into 32 bits first, and says so when that overflows.
	if lo >= 0 && v < 0 {
		d.addNode(n, InvalidNumber, "negative number '%s'", s)
		return 0, false
	}
	if lo >= 0 && v > math.MaxUint32 {
		d.addNode(n, InvalidNumber, "number '%s' outside unsigned integer range", s)
		return 0, false
	}
	if lo < 0 && (v > math.MaxInt32 || v < math.MinInt32) {
		d.addNode(n, InvalidNumber, "number '%s' outside integer range", s)
		return 0, false
	}
	if v < lo || v > hi {
		d.addNode(n, InvalidNumber, "number '%s' outside range [%d, %d]", s, lo, hi)
		return 0, false
	}
	return v, true
}

// decimalArg parses argument i as a decimal number of seconds in [lo, hi]
// (keepalived's read_decimal_unsigned_strvec), returning it as a Duration.
func (d *decoder) decimalArg(n *Node, i int, lo, hi float64) (time.Duration, bool) {
	return d.decimalArgText(n, i, lo, hi, fmt.Sprintf("[%f, %f]", lo, hi))
}

// decimalArgText is decimalArg with the range as keepalived prints it,
// for bounds a float64 cannot print exactly (2^64-1 microseconds).
func (d *decoder) decimalArgText(n *Node, i int, lo, hi float64, rng string) (time.Duration, bool) {
	if !d.need(n, i) {
		return 0, false
	}
	s := arg(n, i)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || strings.ContainsAny(s, "eExXpP") {
		d.addNode(n, InvalidNumber, "invalid number '%s'", s)
		return 0, false
	}
	if v < 0 && lo >= 0 {
		d.addNode(n, InvalidNumber, "negative number '%s'", s)
		return 0, false
	}
	if v < lo || v > hi {
		d.addNode(n, InvalidNumber, "number '%s' outside range %s", s, rng)
		return 0, false
	}
	return time.Duration(math.Round(v * float64(time.Second))), true
}

// secondsArg parses argument i as whole seconds in [lo, hi], which is how
// keepalived reads most timers (delay_loop, connect_timeout, …); decimals
// are accepted where keepalived accepts them (see decimalArg).
func (d *decoder) secondsArg(n *Node, i int, lo, hi int64) (time.Duration, bool) {
	v, ok := d.intArg(n, i, lo, hi)
	return time.Duration(v) * time.Second, ok
}

// boolArg reads an optional on/off argument: no argument means true.
func (d *decoder) boolArg(n *Node, i int) (bool, bool) {
	if i >= len(n.Args) {
		return true, true
	}
	switch strings.ToLower(arg(n, i)) {
	case "true", "on", "yes":
		return true, true
	case "false", "off", "no":
		return false, true
	}
	d.addNode(n, InvalidNumber, "invalid boolean '%s' for %s - must be true/false, on/off or yes/no", arg(n, i), n.Key.Text)
	return false, false
}

// script reads a notify-style script line, keepalived.conf(5) "SCRIPTS":
// <STRING>|<QUOTED-STRING> [username [groupname]]. A command with
// arguments must be quoted: an unquoted second word is the user to run
// the script as, not an argument.
func (d *decoder) script(n *Node) *Script {
	if !d.need(n, 0) {
		return nil
	}
	return &Script{Pos: n.Pos(), Cmd: arg(n, 0), User: arg(n, 1), Group: arg(n, 2)}
}

// commandLine reads a keyword whose whole rest of line is the command
// (vrrp_script's script, MISC_CHECK's misc_path).
func (d *decoder) commandLine(n *Node) *Script {
	if !d.need(n, 0) {
		return nil
	}
	return &Script{Pos: n.Pos(), Cmd: strings.Join(argsText(n), " ")}
}

// parseAddr parses an address as keepalived's inet_stosockaddr does; a
// zone is accepted for IPv6 link-local addresses.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	return a, err == nil
}

// parsePrefix parses "ADDR[/LEN]"; without a length it is a host prefix.
// bad is "" on success, else the part that is wrong: "addr" or "len".
func parsePrefix(s string) (netip.Prefix, string) {
	addr, bits, hasBits := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return netip.Prefix{}, "addr"
	}
	if !hasBits {
		return netip.PrefixFrom(a, a.BitLen()), ""
	}
	b, err := strconv.Atoi(bits)
	if err != nil || b < 0 || b > a.BitLen() {
		return netip.PrefixFrom(a, a.BitLen()), "len"
	}
	return netip.PrefixFrom(a, b), ""
}

func boolp(b bool) *bool { return &b }
func intp(i int) *int    { return &i }
func durp(t time.Duration) *time.Duration {
	return &t
}

// setFlag returns a handler that sets a boolean.
func setFlag(get func(d *decoder) *bool) handler {
	return func(d *decoder, n *Node) { *get(d) = true }
}

// optFlag returns a handler for a keyword that takes an optional on/off
// argument and is tri-state (nil when absent).
func optFlag(get func(d *decoder) **bool) handler {
	return func(d *decoder, n *Node) {
		if v, ok := d.boolArg(n, 0); ok {
			*get(d) = boolp(v)
		}
	}
}

// str returns a handler that stores the first argument.
func str(get func(d *decoder) *string) handler {
	return func(d *decoder, n *Node) {
		if d.need(n, 0) {
			*get(d) = arg(n, 0)
		}
	}
}
