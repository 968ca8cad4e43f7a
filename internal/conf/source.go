package conf

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"strconv"
	"strings"
)

// ParseOptions control the front end (source, lexer, parser).
type ParseOptions struct {
	// ConfigID is keepalived's config-id (-i/--config-id), matched by
	// "@id" and "@^id" lines and returned by ${_INSTANCE}. Empty means
	// DefaultConfigID().
	ConfigID string

	// WorkDir is the absolute directory a relative main path is resolved
	// against (keepalived's current directory). Empty means "/".
	WorkDir string

	// MaxIncludeDepth bounds include nesting. keepalived has no limit of
	// its own and stops only when it runs out of file descriptors; vigil
	// reports an error instead. Zero means 32.
	MaxIncludeDepth int

	// AllConfig is keepalived's -e/--all-config: every include check is on
	// from the start, as after "include_check" with no options.
	AllConfig bool

	// MaxLines bounds the number of logical lines, so that a ~SEQ over a
	// huge range or a definition that expands itself ends (keepalived
	// would run until killed). Zero means 5,000,000.
	MaxLines int

	// RandomSeed seeds ${_RANDOM}. keepalived seeds from the clock unless
	// global_defs random_seed is set; vigil is deterministic so that a
	// parse is a pure function of its input.
	RandomSeed uint64
}

// DefaultConfigID returns keepalived's default config-id: the node name
// up to its first dot (keepalived.conf(5), "Conditional configuration and
// configuration id"). It returns "" when the host name cannot be read.
func DefaultConfigID() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	if i := strings.IndexByte(h, '.'); i >= 0 {
		h = h[:i]
	}
	return h
}

// Line is one logical line after keepalived's preprocessing: comments
// removed, conditionals resolved, definitions substituted, sequences
// expanded, includes followed and text split at '{' and '}'.
//
// Pos is the physical line the text came from (for lines produced by a
// ~SEQ, ~LST or multiline definition, the line that produced them); Col is
// the column of Text[0] and is exact only when no substitution changed
// the line. Chain holds the include lines that led to Pos.File, outermost
// first.
type Line struct {
	Text  string
	Pos   Pos
	Chain []Pos
}

// keepalived's include checks (lib/parser.c include_t).
type includeCheck uint8

const (
	incReadable includeCheck = 1 << iota // error if a match cannot be read
	incMatch                             // error if nothing matches a name without wildcards
	incWildcard                          // error if nothing matches a wildcard
	incBrace                             // error if a brace alternative matches nothing

	incAll = incReadable | incMatch | incWildcard | incBrace
)

// maxLine mirrors keepalived's MAXBUF (1024): a substitution that would
// make a line this long or longer is abandoned.
const maxLine = 1024

// maxSubst bounds substitutions on one line. keepalived loops for ever on
// definitions that expand to each other ($A=$B, $B=$A); vigil stops.
const maxSubst = 10000

type srcFile struct {
	name    string // as keepalived prints it: the glob match as written
	abs     string // cleaned absolute slash path
	dir     string // absolute directory, keepalived's cwd while reading it
	data    string
	off     int // offset of the next unread byte
	lineNo  int
	chain   []Pos
	started bool
	check   includeCheck // include_check when the file was opened, restored when it ends
}

// gen yields generated lines: a ~SEQ/~LST loop or the remaining lines of
// a multiline definition. Generators sit above the file stack and are
// always drained first, as keepalived's read_line does.
type gen struct {
	pos   Pos
	chain []Pos

	lines []string // multiline expansion

	text string // the rest of a ~SEQ or ~LST line

	isSeq            bool
	seqVar           string
	next, step, last int64
	hex              bool
	done             bool

	isLst     bool
	lstParams []string
	lstValues [][]string
	lstNext   int
}

type def struct {
	value     string
	multiline bool
	fn        func(params string) string
	maxParams int
}

type source struct {
	fsys    fs.FS
	opts    ParseOptions
	diags   *Diagnostics
	files   []*srcFile
	gens    []*gen
	defs    map[string]*def
	rng     *rand.Rand
	residue *Line
	mlDef   *def // multiline definition being collected
	nlines  int
	stopped bool
	check   includeCheck // global_defs include_check
}

// ReadSource reads the configuration file at name (a path as given to
// keepalived -f; see Parse for how it maps onto fsys) and returns its
// logical lines after keepalived's line preprocessing.
func ReadSource(fsys fs.FS, name string, opts ParseOptions) ([]Line, Diagnostics) {
	var ds Diagnostics
	s := newSource(fsys, opts, &ds)
	s.open(name)
	var out []Line
	for {
		l, ok := s.nextLine()
		if !ok {
			return out, ds
		}
		out = append(out, l)
	}
}

func newSource(fsys fs.FS, opts ParseOptions, ds *Diagnostics) *source {
	if opts.ConfigID == "" {
		opts.ConfigID = DefaultConfigID()
	}
	if opts.WorkDir == "" {
		opts.WorkDir = "/"
	}
	if opts.MaxIncludeDepth <= 0 {
		opts.MaxIncludeDepth = 32
	}
	if opts.MaxLines <= 0 {
		opts.MaxLines = 5_000_000
	}
	s := &source{
		fsys:  fsys,
		opts:  opts,
		diags: ds,
		defs:  make(map[string]*def),
		rng:   rand.New(rand.NewPCG(opts.RandomSeed, 0x76696769)),
	}
	// keepalived.conf(5), "Pre-defined definitions".
	s.defs["_PWD"] = &def{fn: func(string) string { return s.cwd() }}
	s.defs["_INSTANCE"] = &def{fn: func(string) string { return s.opts.ConfigID }}
	s.defs["_RANDOM"] = &def{fn: s.random, maxParams: 2}
	s.defs["_HASH"] = &def{value: "#"}
	s.defs["_BANG"] = &def{value: "!"}
	if opts.AllConfig {
		s.check = incAll
	}
	return s
}

func (s *source) add(pos Pos, chain []Pos, sev Severity, format string, args ...any) {
	*s.diags = append(*s.diags, Diagnostic{Pos: pos, Sev: sev, Msg: fmt.Sprintf(format, args...), Chain: chain})
}

// cwd is keepalived's current directory: the directory of the file most
// recently opened and not yet finished.
func (s *source) cwd() string {
	if n := len(s.files); n > 0 {
		return s.files[n-1].dir
	}
	return s.opts.WorkDir
}

func (s *source) random(params string) string {
	lo, hi := uint64(0), uint64(32767)
	if f := strings.Fields(params); len(f) > 0 {
		lo, _ = strconv.ParseUint(f[0], 10, 64)
		if len(f) > 1 {
			hi, _ = strconv.ParseUint(f[1], 10, 64)
		}
	}
	if hi < lo {
		return strconv.FormatUint(lo, 10)
	}
	return strconv.FormatUint(lo+s.rng.Uint64N(hi-lo+1), 10)
}

// absPath resolves p against dir as a cleaned absolute slash path.
func absPath(dir, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	return path.Join(dir, p)
}

// fsName maps an absolute slash path onto an fs.FS rooted at "/".
func fsName(abs string) string {
	n := strings.TrimPrefix(path.Clean("/"+abs), "/")
	if n == "" {
		return "."
	}
	return n
}

// open starts reading the main file. keepalived opens it as includea
// without the brace check (init_data: INCLUDE_R|INCLUDE_M|INCLUDE_W).
func (s *source) open(name string) {
	s.include(name, incReadable|incMatch|incWildcard, Pos{File: name}, nil)
}

// include opens the files matching pattern, as keepalived's
// open_glob_file does. at is the include line (or the main file, with no
// line). A finding is an error (FileNotFound) only when the include
// variant asks for that check; otherwise keepalived merely logs it and
// vigil reports a Warning (keepalived.conf(5): "The basic include keyword
// ... does not produce config errors if files could not be opened").
func (s *source) include(pattern string, checks includeCheck, at Pos, chain []Pos) {
	checks |= s.check
	sev := func(c includeCheck) Severity {
		if checks&c != 0 {
			return FileNotFound
		}
		return Warning
	}
	if len(s.files) >= s.opts.MaxIncludeDepth {
		s.add(at, chain, GeneralError, "include nesting deeper than %d files - skipping '%s'", s.opts.MaxIncludeDepth, pattern)
		return
	}
	dir := s.cwd()
	type match struct{ name, abs string }
	var matches []match
	missing, wildcard := 0, false
	for _, pat := range expandBraces(pattern) {
		abs := absPath(dir, pat)
		display := func(a string) string {
			if path.IsAbs(pat) {
				return a
			}
			rel := strings.TrimPrefix(a, strings.TrimSuffix(dir, "/")+"/")
			return rel
		}
		if !hasMeta(pat) {
			if _, err := fs.Stat(s.fsys, fsName(abs)); err != nil {
				missing++
				continue
			}
			matches = append(matches, match{pat, abs})
			continue
		}
		wildcard = true
		// glibc glob reports a directory it cannot open; fs.Glob does not,
		// so look at the literal directory part ourselves.
		if d := literalDir(abs); d != "/" {
			if fi, err := fs.Stat(s.fsys, fsName(d)); err != nil || !fi.IsDir() {
				missing++
				continue
			}
		}
		got, err := fs.Glob(s.fsys, fsName(abs))
		if err != nil {
			s.add(at, chain, sev(incReadable), "Error reading config file(s): glob(\"%s\") returned %v, skipping.", pattern, err)
			return
		}
		for _, g := range got {
			a := "/" + g
			matches = append(matches, match{display(a), a})
		}
	}
	if len(matches) == 0 {
		switch {
		case missing > 0:
			c := incMatch
			if hasBrace(pattern) {
				c = incBrace
			}
			s.add(at, chain, sev(c), "Config files missing '%s'.", pattern)
		case wildcard:
			// keepalived is silent here unless the wildcard check is on;
			// vigil still warns.
			s.add(at, chain, sev(incWildcard), "No config files matched '%s'.", pattern)
		}
		return
	}
	if missing > 0 {
		s.add(at, chain, sev(incBrace), "Some config files missing: \"%s\".", pattern)
		if checks&incBrace != 0 {
			return
		}
	}
	var inChain []Pos
	if at.Line > 0 {
		inChain = append(append(make([]Pos, 0, len(chain)+1), chain...), Pos{File: at.File, Line: at.Line})
	}
	var opened []*srcFile
	for _, m := range matches {
		fi, err := fs.Stat(s.fsys, fsName(m.abs))
		if err != nil {
			s.add(at, chain, sev(incReadable), "Configuration file '%s' open problem (%v) - skipping", m.name, unwrapPathErr(err))
			continue
		}
		if fi.IsDir() {
			s.add(at, chain, sev(incReadable), "Configuration file '%s/' is a directory - skipping", strings.TrimSuffix(m.name, "/"))
			continue
		}
		if !fi.Mode().IsRegular() || fi.Mode()&0o111 != 0 {
			s.add(at, chain, sev(incReadable), "Configuration file '%s' is not a regular non-executable file - skipping", m.name)
			continue
		}
		if where, open := s.openFile(m.abs); open {
			// keepalived follows the cycle until it runs out of file
			// descriptors; vigil stops at once.
			s.add(at, chain, GeneralError, "include cycle: '%s' is already being read (%s) - skipping", m.name, where)
			continue
		}
		data, err := fs.ReadFile(s.fsys, fsName(m.abs))
		if err != nil {
			s.add(at, chain, sev(incReadable), "Configuration file '%s' open problem (%v) - skipping", m.name, unwrapPathErr(err))
			continue
		}
		opened = append(opened, &srcFile{name: m.name, abs: m.abs, dir: path.Dir(m.abs), data: string(data), chain: inChain, check: s.check})
	}
	// Push in reverse so the first match is read first; later matches are
	// opened only when the earlier ones end, as in keepalived.
	for i := len(opened) - 1; i >= 0; i-- {
		s.files = append(s.files, opened[i])
	}
}

// openFile reports whether abs is being read already, and where it was
// included from.
func (s *source) openFile(abs string) (string, bool) {
	for _, f := range s.files {
		if f.started && f.abs == abs {
			if len(f.chain) > 0 {
				return "included at " + f.chain[len(f.chain)-1].String(), true
			}
			return "it is the main configuration file", true
		}
	}
	return "", false
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func hasMeta(p string) bool { return strings.ContainsAny(p, "*?[") }

// hasBrace reports an unescaped '{', as keepalived's have_brace does.
func hasBrace(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			return true
		}
	}
	return false
}

// literalDir returns the longest leading directory of abs without glob
// metacharacters.
func literalDir(abs string) string {
	d := path.Dir(abs)
	for hasMeta(d) {
		d = path.Dir(d)
	}
	return d
}

// expandBraces expands csh-style brace alternatives, as glob(3) does with
// GLOB_BRACE (keepalived.conf(5): "csh style brace expressions such as
// {foo/{,cat,dog},bar}"). The alternatives keep their written order.
func expandBraces(p string) []string {
	start, depth := -1, 0
	var commas []int
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			if depth == 0 {
				start = i
				commas = commas[:0]
			}
			depth++
		case ',':
			if depth == 1 {
				commas = append(commas, i)
			}
		case '}':
			if depth == 0 {
				continue
			}
			depth--
			if depth > 0 {
				continue
			}
			pre, post := p[:start], p[i+1:]
			var out []string
			from := start + 1
			for _, c := range append(commas, i) {
				for _, e := range expandBraces(pre + p[from:c] + post) {
					out = append(out, e)
				}
				from = c + 1
			}
			return out
		}
	}
	return []string{p}
}

// nextLine returns the next logical line.
func (s *source) nextLine() (Line, bool) {
	if s.stopped {
		return Line{}, false
	}
	for {
		l, ok := s.fetch()
		if ok {
			// Count every line read or generated, kept or not.
			s.nlines++
			if s.nlines > s.opts.MaxLines {
				s.add(l.Pos, l.Chain, Fatal, "configuration expands to more than %d lines - stopping", s.opts.MaxLines)
				s.stopped = true
				return Line{}, false
			}
		}
		if !ok {
			if s.mlDef != nil {
				s.endMultiline()
			}
			return Line{}, false
		}
		if s.mlDef != nil {
			s.continueMultiline(l.Text)
			continue
		}
		l, keep := s.process(l)
		if !keep || l.Text == "" {
			continue
		}
		if checks, rest, ok := isInclude(l.Text); ok {
			s.include(rest, checks, l.Pos, l.Chain)
			continue
		}
		l = s.splitBraces(l)
		if strings.HasPrefix(l.Text, "include_check") {
			s.includeCheck(l)
		}
		return l, true
	}
}

// includeCheck applies a global_defs "include_check [OPTIONS]" line as
// keepalived's include_check_set does; the line is still passed on to the
// decoder. The option names are those keepalived 2.2.7 accepts: read,
// match, wildcard_match and brace_match (keepalived.conf(5) says
// "readable", which 2.2.7 rejects as unknown). vigil applies the keyword
// wherever it appears; keepalived knows it only inside global_defs.
func (s *source) includeCheck(l Line) {
	words := strings.Fields(l.Text)
	if words[0] != "include_check" {
		return
	}
	if len(words) == 1 {
		s.check = incAll
		return
	}
	for i, w := range words[1:] {
		op := w[0]
		name := w[1:]
		if op != '+' && op != '-' {
			op, name = 0, w
			if i != 0 {
				s.add(l.Pos, l.Chain, GeneralError, "Duplicate include_check '%s' specified - ignoring", w)
				continue
			}
			s.check = 0
		}
		var c includeCheck
		switch name {
		case "read":
			c = incReadable
		case "match":
			c = incMatch
		case "wildcard_match":
			c = incWildcard
		case "brace_match":
			c = incBrace
		default:
			s.add(l.Pos, l.Chain, GeneralError, "Unknown include_check type '%s' - ignoring", name)
			continue
		}
		switch op {
		case 0:
			s.check = incReadable | c
		case '+':
			s.check |= c
		case '-':
			s.check &^= c
		}
	}
}

// fetch returns the next raw line: a residue after a brace, a generated
// line, or the next non-empty decommented line of the current file.
func (s *source) fetch() (Line, bool) {
	if s.residue != nil {
		l := *s.residue
		s.residue = nil
		return l, true
	}
	for len(s.gens) > 0 {
		g := s.gens[len(s.gens)-1]
		if l, ok := s.genNext(g); ok {
			return l, true
		}
		s.gens = s.gens[:len(s.gens)-1]
	}
	for len(s.files) > 0 {
		f := s.files[len(s.files)-1]
		f.started = true
		for f.off < len(f.data) {
			raw := f.data[f.off:]
			n := strings.IndexByte(raw, '\n')
			if n < 0 {
				n = len(raw)
				f.off = len(f.data)
			} else {
				f.off += n + 1
			}
			raw = raw[:n]
			f.lineNo++
			for len(raw) > 0 && (raw[len(raw)-1] == '\r' || raw[len(raw)-1] == '\n') {
				raw = raw[:len(raw)-1]
			}
			if len(raw) == 0 {
				// An empty line ends a multiline definition.
				if s.mlDef != nil {
					s.endMultiline()
				}
				continue
			}
			pos := Pos{File: f.name, Line: f.lineNo, Col: 1}
			if len(raw) >= maxLine {
				// keepalived reads lines with fgets into a 1024-byte buffer
				// and would treat the rest of this line as further lines.
				s.add(pos, f.chain, Warning, "line is %d bytes long; keepalived reads at most %d bytes per line and would split it", len(raw), maxLine-1)
			}
			text, col := s.decomment(raw, pos, f.chain)
			if text == "" {
				continue
			}
			pos.Col += col
			return Line{Text: text, Pos: pos, Chain: f.chain}, true
		}
		// keepalived.conf(5), include_check: "The setting of include_check
		// is saved when a new include file is opened, and restored when
		// the file is closed."
		s.check = f.check
		s.files = s.files[:len(s.files)-1]
	}
	return Line{}, false
}

func (s *source) genNext(g *gen) (Line, bool) {
	l := Line{Pos: g.pos, Chain: g.chain}
	switch {
	case g.isSeq:
		if g.done {
			return l, false
		}
		var v string
		if g.hex {
			v = strconv.FormatUint(uint64(g.next), 16)
		} else {
			v = strconv.FormatInt(g.next, 10)
		}
		s.setDef(g.seqVar, v)
		if (g.step > 0 && g.next > math.MaxInt64-g.step) || (g.step < 0 && g.next < math.MinInt64-g.step) {
			g.done = true // the next value would overflow
		} else {
			g.next += g.step
			if (g.step > 0 && g.next > g.last) || (g.step < 0 && g.next < g.last) {
				g.done = true
			}
		}
		l.Text = g.text
		return l, true
	case g.isLst:
		if g.lstNext >= len(g.lstValues) {
			return l, false
		}
		for i, p := range g.lstParams {
			s.setDef(p, g.lstValues[g.lstNext][i])
		}
		g.lstNext++
		l.Text = g.text
		return l, true
	default:
		if len(g.lines) == 0 {
			return l, false
		}
		l.Text = g.lines[0]
		g.lines = g.lines[1:]
		return l, true
	}
}

func (s *source) setDef(name, value string) {
	if d, ok := s.defs[name]; ok {
		d.value, d.fn, d.multiline = value, nil, false
		return
	}
	s.defs[name] = &def{value: value}
}

// decomment removes comments and leading and trailing blanks, and the
// backslash of \# and \! outside quotes (keepalived.conf(5): comments
// "start with '#' or '!' to the end of the line and can start anywhere in
// a line"; inside "..." they are text). A trailing backslash is kept, with
// the blanks before it removed. It returns the text and how many bytes of
// leading blanks it dropped.
func (s *source) decomment(str string, pos Pos, chain []Pos) (string, int) {
	lead := 0
	for lead < len(str) && (str[lead] == ' ' || str[lead] == '\t') {
		lead++
	}
	str = str[lead:]
	if strings.IndexAny(str, "!#\"\\") < 0 {
		return trimBlanksRight(str), lead
	}
	b := []byte(str)
	quote, cont, cut := false, false, -1
scan:
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			if cut < 0 {
				quote = !quote
			}
		case '\\':
			if i+1 >= len(b) {
				b = b[:i]
				cont = true
				break scan
			}
			if !quote && (b[i+1] == '#' || b[i+1] == '!') {
				b = append(b[:i], b[i+1:]...)
			} else {
				i++
			}
		case '!', '#':
			if !quote && cut < 0 {
				cut = i
			}
		}
	}
	if quote {
		s.add(pos, chain, GeneralError, "Unterminated quote '%s'", b)
	}
	if cut >= 0 {
		b = b[:cut]
	}
	out := trimBlanksRight(string(b))
	if cont {
		out += `\`
	}
	return out, lead
}

// process applies conditionals, definitions, sequences and substitution
// to one line, in keepalived's order. It returns keep=false when the line
// is consumed.
func (s *source) process(l Line) (Line, bool) {
	subst := 0
	for {
		if strings.HasPrefix(l.Text, "@") {
			// keepalived.conf(5): "@id text" is kept only when id is the
			// config-id, "@^id text" only when it is not. With nothing
			// after the id the line is dropped either way.
			rev, ofs := false, 1
			if strings.HasPrefix(l.Text, "@^") {
				rev, ofs = true, 2
			}
			sp := strings.IndexAny(l.Text[ofs:], " \t")
			if sp < 0 {
				return l, false
			}
			if (l.Text[ofs:ofs+sp] == s.opts.ConfigID) == rev {
				return l, false
			}
			rest := l.Text[ofs+sp:]
			trimmed := trimBlanksLeft(rest)
			l.Pos.Col += len(l.Text) - len(trimmed)
			l.Text = trimmed
		}
		if strings.HasPrefix(l.Text, "$") && s.checkDefinition(l.Text) {
			return l, false
		}
		if strings.HasPrefix(l.Text, "~SEQ") || strings.HasPrefix(l.Text, "~LST") {
			var ok bool
			if l.Text[1] == 'S' {
				ok = s.addSeq(l)
			} else {
				ok = s.addLst(l)
			}
			if !ok {
				s.add(l.Pos, l.Chain, GeneralError, "Invalid %s specification '%s'", l.Text[:4], l.Text)
			}
			return l, false
		}
		if strings.HasPrefix(l.Text, "~") || strings.IndexByte(l.Text, '$') < 0 {
			return l, true
		}
		text, changed := s.replace(l, &subst)
		if !changed {
			l.Text = text
			return l, true
		}
		l.Text, _ = s.decomment(text, l.Pos, l.Chain)
		if !strings.HasPrefix(l.Text, "@") && strings.IndexByte(l.Text, '$') < 0 {
			return l, true
		}
	}
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }

// checkDefinition records "$NAME=VALUE" (keepalived.conf(5), "Parameter
// substitution": no blank before '=', blanks after it skipped; a value
// ending in '\' starts a multiline definition).
func (s *source) checkDefinition(text string) bool {
	if len(text) < 2 || !isNameStart(text[1]) {
		return false
	}
	i := 2
	for i < len(text) && isNameChar(text[i]) {
		i++
	}
	if i >= len(text) || text[i] != '=' {
		return false
	}
	name := text[1:i]
	value := trimBlanksLeft(text[i+1:])
	d := &def{value: value}
	if strings.HasSuffix(value, `\`) {
		v := trimBlanksRight(value[:len(value)-1])
		if v == "" {
			d.value = ""
		} else {
			d.value = v + "\n"
		}
		d.multiline = true
		s.mlDef = d
	}
	s.defs[name] = d
	return true
}

// continueMultiline adds one line to the multiline definition being
// collected; a line without a trailing '\' is its last.
func (s *source) continueMultiline(text string) {
	d := s.mlDef
	more := strings.HasSuffix(text, `\`)
	if more {
		text = trimBlanksRight(text[:len(text)-1]) + "\n"
	} else {
		s.endMultiline()
	}
	if len(text) >= 2 || (len(text) > 0 && !more) {
		d.value += text
	}
}

func (s *source) endMultiline() {
	if s.mlDef.value == "" {
		s.mlDef.multiline = false
	}
	s.mlDef = nil
}

// replace substitutes $NAME and ${NAME} in l.Text. Like keepalived it
// rescans from the start of each replacement, so definitions expand
// recursively at use time; a multiline definition (only recognised at the
// end of a line) contributes its first line here and its other lines as a
// generator.
func (s *source) replace(l Line, subst *int) (string, bool) {
	buf := l.Text
	changed := false
	for i := 0; i < len(buf)-1; {
		j := strings.IndexByte(buf[i:], '$')
		if j < 0 || i+j+1 >= len(buf) {
			break
		}
		i += j
		d, n, params := s.findDef(buf, i)
		if d == nil {
			i++
			continue
		}
		*subst++
		if *subst > maxSubst {
			s.add(l.Pos, l.Chain, GeneralError, "Parameter substitution on line '%s' does not terminate - stopping", l.Text)
			return buf, false
		}
		val := d.value
		if d.fn != nil {
			val = d.fn(params)
		}
		repl := val
		var rest []string
		if d.multiline {
			if k := strings.IndexByte(val, '\n'); k >= 0 {
				repl = val[:k]
				rest = strings.Split(val[k+1:], "\n")
			}
		}
		nb := buf[:i] + repl + buf[i+n:]
		if len(nb) >= maxLine {
			s.add(l.Pos, l.Chain, Warning, "Parameter substitution on line '%s' would exceed maximum line length", buf)
			return buf, false
		}
		buf = nb
		changed = true
		if rest != nil {
			s.gens = append(s.gens, &gen{pos: l.Pos, chain: l.Chain, lines: rest})
		}
		if strings.HasPrefix(trimBlanksLeft(val), "~") {
			break
		}
	}
	return buf, changed
}

// findDef looks up the definition used at buf[i] ('$'). It returns the
// definition, the length of the reference and any ${_RANDOM a b} style
// parameters.
func (s *source) findDef(buf string, i int) (*def, int, string) {
	j := i + 1
	braces := j < len(buf) && buf[j] == '{'
	if braces {
		j++
	}
	if j >= len(buf) || !isNameStart(buf[j]) {
		return nil, 0, ""
	}
	k := j + 1
	for k < len(buf) && isNameChar(buf[k]) {
		k++
	}
	name := buf[j:k]
	params := ""
	end := k
	if braces {
		ps, pe := -1, -1
		for end < len(buf) && (buf[end] == ' ' || (buf[end] >= '0' && buf[end] <= '9')) {
			if buf[end] != ' ' {
				if ps < 0 {
					ps = end
				}
				pe = end
			}
			end++
		}
		if ps >= 0 && pe+1 != end {
			return nil, 0, ""
		}
		if end >= len(buf) || buf[end] != '}' {
			return nil, 0, ""
		}
		if ps >= 0 {
			params = buf[ps : pe+1]
		}
		end++
	} else if k < len(buf) && !strings.ContainsRune(" \t,)", rune(buf[k])) {
		return nil, 0, ""
	}
	d := s.defs[name]
	if d == nil {
		return nil, 0, ""
	}
	if d.multiline && end != len(buf) {
		return nil, 0, ""
	}
	if params != "" && d.maxParams == 0 {
		return nil, 0, ""
	}
	return d, end - i, params
}

// isInclude recognises "include FILE" and the includer/includem/includew/
// includeb/includea variants (keepalived.conf(5), top of the page).
func isInclude(text string) (includeCheck, string, bool) {
	if !strings.HasPrefix(text, "include") || len(text) < 8 {
		return 0, "", false
	}
	var c includeCheck
	rest := text[7:]
	if !isSpace(rest[0]) {
		if len(rest) < 2 || !isSpace(rest[1]) {
			return 0, "", false
		}
		switch rest[0] {
		case 'r':
			c = incReadable
		case 'm':
			c = incReadable | incMatch
		case 'w':
			c = incReadable | incMatch | incWildcard
		case 'b':
			c = incReadable | incBrace
		case 'a':
			c = incReadable | incMatch | incWildcard | incBrace
		default:
			return 0, "", false
		}
		rest = rest[1:]
	}
	return c, trimBlanksLeft(rest[1:]), true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// splitBraces splits l at its first '{' or '}' outside "..." (keepalived's
// read_line does this, so "key {", "key\n{" and "a { b }" are all
// equivalent). The remainder is kept as a residue and processed as a line
// of its own, conditionals and substitution included.
func (s *source) splitBraces(l Line) Line {
	t := l.Text
	p := -1
	if t[0] == '{' || t[0] == '}' {
		p = 0
	} else {
		for i := 0; i < len(t); i++ {
			if t[i] == '"' {
				k := strings.IndexByte(t[i+1:], '"')
				if k < 0 {
					break
				}
				i += k + 1
				continue
			}
			if t[i] == '{' || t[i] == '}' {
				p = i
				break
			}
		}
	}
	if p >= 0 {
		skip := 0
		if p == 0 {
			skip = 1
			for skip < len(t) && (t[skip] == ' ' || t[skip] == '\t') {
				skip++
			}
		}
		if p+skip < len(t) {
			r := l
			r.Text = trimBlanksRight(t[p+skip:])
			r.Pos.Col += p + skip
			s.residue = &r
			t = t[:p+skip]
		}
	}
	l.Text = trimBlanksRight(t)
	return l
}

func skipBlanks(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// addSeq starts a ~SEQ(var, start, step, end) or ~SEQx(...) loop
// (keepalived.conf(5), "Sequence blocks"): start and step may be left out;
// numbers are read as C strtol with base 0 reads them, after substitution.
func (s *source) addSeq(l Line) bool {
	buf := l.Text
	bad := func(format string) bool {
		s.add(l.Pos, l.Chain, GeneralError, format, buf)
		return false
	}
	p := 4
	hex := false
	if p < len(buf) && buf[p] == 'x' {
		hex = true
		p++
	}
	p = skipBlanks(buf, p)
	if p >= len(buf) || buf[p] != '(' {
		return false
	}
	p = skipBlanks(buf, p+1)
	v := p
	for p < len(buf) && !strings.ContainsRune(" \t,)", rune(buf[p])) {
		p++
	}
	name := buf[v:p]
	p = skipBlanks(buf, p)
	if p >= len(buf) || buf[p] == ')' || name == "" {
		return bad("Invalid ~SEQ definition '%s'")
	}
	p = skipBlanks(buf, p+1)
	e := strings.IndexByte(buf[p:], ')')
	if e < 0 {
		return bad("Invalid ~SEQ definition '%s'")
	}
	if e+2 > 3*20+3+1 {
		return bad("~SEQ parameter strings too long '%s'")
	}
	args := buf[p : p+e+1]
	ng := len(s.gens)
	subst := 0
	args, _ = s.replace(Line{Text: args, Pos: l.Pos, Chain: l.Chain}, &subst)
	if len(s.gens) > ng {
		s.gens = s.gens[:ng]
		return bad("~SEQ parameter is multiline definition '%s'")
	}
	var start, step, end int64
	one, r := strtol(args)
	r = trimBlanksLeft(r)
	switch {
	case strings.HasPrefix(r, ")"):
		end = one
		step, start = 1, 1
		if end < 1 {
			step = -1
		}
		if end < 0 {
			start = -1
		}
	case !strings.HasPrefix(r, ","):
		return bad("Invalid ~SEQ definition '%s'")
	default:
		two, r2 := strtol(r[1:])
		r2 = trimBlanksLeft(r2)
		switch {
		case strings.HasPrefix(r2, ")"):
			start, end, step = one, two, 1
			if start > end {
				step = -1
			}
		case !strings.HasPrefix(r2, ","):
			return bad("Invalid ~SEQ definition '%s'")
		default:
			three, r3 := strtol(r2[1:])
			if !strings.HasPrefix(trimBlanksLeft(r3), ")") {
				return bad("Invalid ~SEQ definition '%s'")
			}
			start, step, end = one, two, three
			if step == 0 || (start < end && step < 0) || (start > end && step > 0) {
				return bad("Invalid ~SEQ values '%s'")
			}
		}
	}
	if hex && (start < 0 || end < 0) {
		return bad("~SEQx is only valid for positive numbers '%s'")
	}
	text := buf[skipBlanks(buf, p+e+1):]
	s.gens = append(s.gens, &gen{pos: l.Pos, chain: l.Chain, text: text,
		isSeq: true, seqVar: name, next: start, step: step, last: end, hex: hex})
	return true
}

// strtol reads an integer as C's strtol(s, &end, 0) does: leading
// whitespace, a sign, then 0x hex, 0 octal or decimal. It returns 0 and s
// unchanged when there is no number.
func strtol(s string) (int64, string) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	base := uint64(10)
	if i+1 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && i+2 < len(s) && isHex(s[i+2]) {
		base = 16
		i += 2
	} else if i < len(s) && s[i] == '0' {
		base = 8
	}
	d0 := i
	var n uint64
	over := false
	for i < len(s) {
		c := s[i]
		var v uint64
		switch {
		case c >= '0' && c <= '9':
			v = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			v = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			v = uint64(c-'A') + 10
		default:
			v = 99
		}
		if v >= base {
			break
		}
		if n > (1<<63)/base {
			over = true
		} else {
			n = n*base + v
		}
		i++
	}
	if i == d0 {
		return 0, s
	}
	if over || n > 1<<63 || (!neg && n == 1<<63) {
		if neg {
			return -1 << 63, s[i:]
		}
		return 1<<63 - 1, s[i:]
	}
	if neg {
		return -int64(n), s[i:]
	}
	return int64(n), s[i:]
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// addLst starts a ~LST(var, v1, v2...) or ~LST({a, b}, {1, 2}, ...) loop
// (keepalived.conf(5), "List blocks"). Missing values in a set are empty.
func (s *source) addLst(l Line) bool {
	buf := l.Text
	p := skipBlanks(buf, 4)
	if p >= len(buf) || buf[p] != '(' {
		return false
	}
	p = skipBlanks(buf, p+1)
	at := func(i int) byte {
		if i < len(buf) {
			return buf[i]
		}
		return 0
	}
	endc := byte(',')
	if at(p) == '{' {
		endc = '}'
		p = skipBlanks(buf, p+1)
	}
	var params []string
	for {
		v := p
		for p < len(buf) && !strings.ContainsRune(" \t,}", rune(buf[p])) {
			p++
		}
		params = append(params, buf[v:p])
		p = skipBlanks(buf, p)
		if at(p) == endc {
			break
		}
		if at(p) != ',' {
			return false
		}
		p = skipBlanks(buf, p+1)
	}
	if at(p) == '}' {
		p = skipBlanks(buf, p+1)
	}
	if at(p) != ',' {
		return false
	}
	p = skipBlanks(buf, p+1)
	var sets [][]string
	for {
		endc = ','
		if at(p) == '{' {
			endc = '}'
			p = skipBlanks(buf, p+1)
		}
		var vals []string
		for {
			v := p
			for p < len(buf) && !strings.ContainsRune(" \t,})", rune(buf[p])) {
				p++
			}
			vals = append(vals, buf[v:p])
			p = skipBlanks(buf, p)
			if at(p) == endc || (at(p) == ')' && endc == ',') {
				break
			}
			if at(p) != ',' {
				return false
			}
			p = skipBlanks(buf, p+1)
			if len(vals) > len(params)-1 {
				s.add(l.Pos, l.Chain, GeneralError, "~LST specification has too many values '%s'", buf)
				return false
			}
		}
		for len(vals) < len(params) {
			vals = append(vals, "")
		}
		sets = append(sets, vals)
		if at(p) == '}' && endc == '}' {
			p = skipBlanks(buf, p+1)
		}
		if at(p) == ')' {
			break
		}
		if at(p) != ',' {
			return false
		}
		p = skipBlanks(buf, p+1)
	}
	text := ""
	if p+1 <= len(buf) {
		text = buf[skipBlanks(buf, p+1):]
	}
	s.gens = append(s.gens, &gen{pos: l.Pos, chain: l.Chain, text: text,
		isLst: true, lstParams: params, lstValues: sets})
	return true
}

func trimBlanksLeft(s string) string {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return s[i:]
}

func trimBlanksRight(s string) string {
	i := len(s)
	for i > 0 && (s[i-1] == ' ' || s[i-1] == '\t') {
		i--
	}
	return s[:i]
}
