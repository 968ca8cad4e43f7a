package conf

import (
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// Parse reads the configuration at name from fsys and returns its generic
// tree (one Node per keyword line, { } blocks as children) and the
// findings of the front end, in the order they were found.
//
// name is the path as given to keepalived -f, and it is what diagnostics
// print. It maps onto fsys as follows: an absolute name such as
// /etc/keepalived/keepalived.conf is looked up as
// "etc/keepalived/keepalived.conf" (fsys is rooted at "/", see OSFS); a
// relative name is first joined to opts.WorkDir ("/" by default). Included
// files resolve against the directory of the including file, as keepalived
// does after its chdir, and print as the include pattern matched them
// (relative patterns stay relative).
//
// The tree is generic: "key {" and "key" followed by a "{" line both give
// the key a block, whatever the key is. Whether a keyword takes a block is
// for the decode stage, which reports keepalived's "Missing '{' at
// beginning of configuration block" (MissingBOB) where one is needed.
func Parse(fsys fs.FS, name string, opts ParseOptions) ([]*Node, Diagnostics) {
	var ds Diagnostics
	src := newSource(fsys, opts, &ds)
	src.open(name)
	p := &parser{lex: newLexer(src.nextLine, &ds), diags: &ds}
	p.advance()
	nodes := p.block(0)
	if p.depth > 0 {
		// keepalived reports this once at the end, with no line
		// (init_data in lib/parser.c).
		ds = append(ds, Diagnostic{Pos: Pos{File: name}, Sev: MissingEOB,
			Msg: "There are " + itoa(p.depth) + " missing '}'s or extra '{'s"})
	}
	return nodes, ds
}

type parser struct {
	lex   *lexer
	tok   Token
	diags *Diagnostics
	depth int // keepalived's block_depth: '{' seen minus '}' matched
}

func (p *parser) advance() { p.tok = p.lex.NextToken() }

func (p *parser) add(t Token, sev Severity, msg string) {
	*p.diags = append(*p.diags, Diagnostic{Pos: t.Pos, Sev: sev, Msg: msg, Chain: t.Chain})
}

// block parses nodes until the '}' that closes this level (level > 0) or
// EOF.
func (p *parser) block(level int) []*Node {
	var nodes []*Node
	var last *Node // the node of the previous line, if a '{' may open its block
	for {
		switch p.tok.Kind {
		case EOF:
			return nodes
		case EOL:
			p.advance()
		case LBrace:
			// Findings are added before advancing, so that they stay in
			// reading order with those of the next line.
			p.depth++
			if last == nil {
				// keepalived: a '{' with no keyword before it, or a second
				// '{', is ignored; its contents parse at this level and its
				// '}' closes this level.
				p.add(p.tok, UnexpectedBOB, "Unexpected '{' - ignoring")
				p.advance()
				continue
			}
			p.advance()
			n := last
			last = nil
			n.HasBlock = true
			n.Block = p.block(level + 1)
			if n.Block == nil {
				n.Block = []*Node{}
			}
		case RBrace:
			if p.depth < 1 {
				p.add(p.tok, UnexpectedEOB, "Extra '}' found")
			} else {
				p.depth--
			}
			if level > 0 {
				p.advance()
				return nodes
			}
			// At the top level keepalived looks '}' up as a keyword.
			p.add(p.tok, UnknownKeyword, "Unknown keyword '}'")
			p.advance()
			last = nil
		default:
			n := &Node{Key: p.tok}
			p.advance()
			for p.tok.Kind == Word || p.tok.Kind == String {
				n.Args = append(n.Args, p.tok)
				p.advance()
			}
			nodes = append(nodes, n)
			last = n
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// OSFS returns the host file system rooted at "/", for Parse. Names may be
// given with or without the leading slash and are cleaned first, so
// "/etc/keepalived/keepalived.conf" and "etc/keepalived/keepalived.conf"
// open the same file.
func OSFS() fs.FS { return rootFS{os.DirFS("/")} }

type rootFS struct{ fsys fs.FS }

func (r rootFS) Open(name string) (fs.File, error) { return r.fsys.Open(fsName(name)) }

func (r rootFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(r.fsys, fsName(name)) }

func (r rootFS) ReadFile(name string) ([]byte, error) { return fs.ReadFile(r.fsys, fsName(name)) }

func (r rootFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(r.fsys, fsName(name)) }

// FormatNodes renders a tree one node per line, indented by depth, each
// line starting with the keyword's position. String arguments are shown
// Go-quoted, words as they are; a block opens with '{' and closes with
// '}' on its own line. Nodes read from an included file end with the
// include chain. Golden tests and debugging dumps use it.
func FormatNodes(nodes []*Node) string {
	var b strings.Builder
	formatNodes(&b, nodes, 0)
	return b.String()
}

func formatNodes(b *strings.Builder, nodes []*Node, depth int) {
	for _, n := range nodes {
		b.WriteString(strings.Repeat("  ", depth))
		b.WriteString(n.Key.Pos.String())
		for _, t := range append([]Token{n.Key}, n.Args...) {
			b.WriteByte(' ')
			if t.Kind == String {
				b.WriteString(strconv.Quote(t.Text))
			} else {
				b.WriteString(t.Text)
			}
		}
		if n.HasBlock {
			b.WriteString(" {")
		}
		if len(n.Key.Chain) > 0 {
			b.WriteString("  (via")
			for _, c := range n.Key.Chain {
				b.WriteString(" " + c.String())
			}
			b.WriteString(")")
		}
		b.WriteByte('\n')
		if n.HasBlock {
			formatNodes(b, n.Block, depth+1)
			b.WriteString(strings.Repeat("  ", depth) + "}\n")
		}
	}
}
