package conf

// The lexer is a state-function lexer in the current text/template/parse
// form: synchronous, no goroutine; NextToken runs state functions until
// one of them emits a token.
//
// It splits logical lines as keepalived's alloc_strvec does (lib/parser.c):
// words are separated by blanks; a word that starts with '"' runs to the
// next '"' and may hold blanks, '{', '}', '#' and '!'; a '"' inside an
// unquoted word ends that word. No escapes are processed at this stage:
// keepalived applies \n, \t, \xXX... only to script command lines (see
// SplitQuotedEscaped). Single quotes are ordinary characters here.

// lexer holds the state of the scanner. It pulls logical lines one at a
// time, so findings of the source and of the parser come out in reading
// order.
type lexer struct {
	next  func() (Line, bool)
	cur   Line
	text  string
	pos   int // current offset in text
	start int // start of the token being scanned
	state stateFn
	tok   Token
	ready bool
	diags *Diagnostics
	sawTk bool // the current line produced a token
}

type stateFn func(*lexer) stateFn

// newLexer returns a lexer over the lines next yields; unmatched quotes are
// reported to ds.
func newLexer(next func() (Line, bool), ds *Diagnostics) *lexer {
	l := &lexer{next: next, diags: ds}
	l.state = lexLineStart
	return l
}

// Lex returns all tokens of lines, ending with EOF.
func Lex(lines []Line, ds *Diagnostics) []Token {
	i := 0
	l := newLexer(func() (Line, bool) {
		if i >= len(lines) {
			return Line{}, false
		}
		i++
		return lines[i-1], true
	}, ds)
	toks := make([]Token, 0, 4*len(lines))
	for {
		t := l.NextToken()
		toks = append(toks, t)
		if t.Kind == EOF {
			return toks
		}
	}
}

// NextToken returns the next token; after the input ends it returns EOF
// for ever.
func (l *lexer) NextToken() Token {
	for !l.ready {
		l.state = l.state(l)
	}
	l.ready = false
	return l.tok
}

func (l *lexer) emit(k TokenKind, text string, at int) {
	ln := &l.cur
	l.tok = Token{Kind: k, Text: text, Pos: Pos{File: ln.Pos.File, Line: ln.Pos.Line, Col: ln.Pos.Col + at}, Chain: ln.Chain}
	l.ready = true
	if k != EOL {
		l.sawTk = true
	}
}

// lexLineStart moves to the next line, or emits EOF at the position of
// the last line.
func lexLineStart(l *lexer) stateFn {
	ln, ok := l.next()
	if !ok {
		p := l.cur.Pos
		p.Col = 0
		l.tok = Token{Kind: EOF, Pos: p, Chain: l.cur.Chain}
		l.ready = true
		return lexEOF
	}
	l.cur = ln
	l.text = ln.Text
	l.pos, l.start = 0, 0
	l.sawTk = false
	return lexSpace
}

func lexEOF(l *lexer) stateFn {
	l.ready = true
	return lexEOF
}

// lexSpace skips blanks and decides what comes next.
func lexSpace(l *lexer) stateFn {
	for l.pos < len(l.text) && isSpace(l.text[l.pos]) {
		l.pos++
	}
	if l.pos >= len(l.text) {
		return lexEndLine
	}
	l.start = l.pos
	switch l.text[l.pos] {
	case '"':
		return lexQuote
	case '{':
		l.pos++
		l.emit(LBrace, "{", l.start)
		return lexSpace
	case '}':
		l.pos++
		l.emit(RBrace, "}", l.start)
		return lexSpace
	}
	return lexWord
}

// lexWord scans an unquoted word.
func lexWord(l *lexer) stateFn {
	for l.pos < len(l.text) {
		c := l.text[l.pos]
		if isSpace(c) || c == '"' || c == '{' || c == '}' {
			break
		}
		l.pos++
	}
	l.emit(Word, l.text[l.start:l.pos], l.start)
	return lexSpace
}

// lexQuote scans a "..." string. Without a closing quote keepalived
// reports "Unmatched quote" and drops the rest of the line.
func lexQuote(l *lexer) stateFn {
	end := -1
	for i := l.pos + 1; i < len(l.text); i++ {
		if l.text[i] == '"' {
			end = i
			break
		}
	}
	if end < 0 {
		ln := &l.cur
		*l.diags = append(*l.diags, Diagnostic{Pos: Pos{File: ln.Pos.File, Line: ln.Pos.Line, Col: ln.Pos.Col + l.start}, Sev: UnmatchedQuote,
			Msg: "Unmatched quote: '" + l.text + "'", Chain: ln.Chain})
		l.pos = len(l.text)
		return lexEndLine
	}
	l.pos = end + 1
	l.emit(String, l.text[l.start+1:end], l.start)
	return lexSpace
}

// lexEndLine emits EOL for a line that produced tokens.
func lexEndLine(l *lexer) stateFn {
	if l.sawTk {
		l.emit(EOL, "", l.pos)
	}
	return lexLineStart
}

// SplitQuotedEscaped splits a script command line as keepalived's
// alloc_strvec_quoted_escaped does for notify and check scripts
// (keepalived.conf(5), "Quoted strings"): words are separated by blanks;
// "..." and '...' group blanks and are removed; a backslash escapes the
// next character, and \a \b \E \f \n \r \t \v, \nnn (octal), \xXX and \cC
// stand for the characters they name. It returns an error message in
// keepalived's wording for a missing closing quote or a trailing '\'.
func SplitQuotedEscaped(src string) ([]string, string) {
	var out []string
	var w []byte
	i := 0
	for {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i >= len(src) {
			return out, ""
		}
		w = w[:0]
		var quote byte
		for i < len(src) {
			c := src[i]
			if quote == 0 && isSpace(c) {
				break
			}
			switch {
			case c == '\\':
				i++
				if i >= len(src) {
					return nil, "Missing escape char at end: '" + src + "'"
				}
				var ch byte
				switch e := src[i]; {
				case e == 'x' && i+1 < len(src) && isHex(src[i+1]):
					i++
					for i < len(src) && isHex(src[i]) {
						ch = ch<<4 | hexVal(src[i])
						i++
					}
				case e == 'c' && i+1 < len(src):
					ch = src[i+1] & 0x1f
					i += 2
				case e >= '0' && e <= '7':
					ch = e - '0'
					i++
					for k := 0; k < 2 && i < len(src) && src[i] >= '0' && src[i] <= '7'; k++ {
						ch = ch<<3 + src[i] - '0'
						i++
					}
				default:
					ch = map[byte]byte{'a': '\a', 'b': '\b', 'E': 0x1b, 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v'}[e]
					if ch == 0 {
						ch = e
					}
					i++
				}
				w = append(w, ch)
			case quote != 0 && c == quote:
				quote = 0
				i++
			case quote == 0 && (c == '"' || c == '\''):
				quote = c
				i++
			default:
				w = append(w, c)
				i++
			}
		}
		if quote != 0 {
			return nil, "String '" + src + "': missing terminating " + string(quote)
		}
		out = append(out, string(w))
	}
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
