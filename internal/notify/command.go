package notify

import (
	"errors"
	"fmt"
	"strings"
)

// Command is one configured script: the argument vector keepalived would
// pass to execve, and the user it runs as.
type Command struct {
	// Args is the argument vector; Args[0] is the program. Build it with
	// ParseCommand from the script string in keepalived.conf.
	Args []string
	// User is the credential the script runs as. Nil means the
	// notifier's or tracker's default (script_user, else
	// keepalived_script, else the daemon's own user).
	User *Credential
	// shell makes the command run through /bin/sh -c, as keepalived does
	// for "</path" file tests (keepalived's SC_SYSTEM).
	shell bool
}

// String returns the command line in keepalived's quoting (each word in
// single quotes), as keepalived prints it in log messages.
func (c Command) String() string { return shellLine(c.Args) }

// ErrUnterminatedQuote and ErrTrailingEscape are returned by
// ParseCommand for a script string keepalived would also reject.
var (
	ErrUnterminatedQuote = errors.New("missing terminating quote")
	ErrTrailingEscape    = errors.New("missing escape character at end")
)

// whiteSpace is keepalived's WHITE_SPACE_STR (lib/parser.c).
const whiteSpace = " \t\f\n\r\v"

// ParseCommand splits a script string into an argument vector the way
// keepalived 2.2.7 does for notify, notify_* and vrrp_script "script"
// (lib/parser.c alloc_strvec_quoted_escaped): words are separated by
// white space; single and double quotes group words and may be adjacent
// to unquoted text; a backslash escapes inside and outside quotes and
// understands \a \b \E \f \n \r \t \v, \xHH…, \cX (control character),
// \NNN (up to three octal digits), and any other character stands for
// itself. No shell is involved: $VAR, globs, pipes and redirections are
// passed to the program literally.
//
// s is the keyword's argument after the configuration parser has removed
// its own quotes, e.g. for `notify_master "/bin/x 'a b'"` it is
// `/bin/x 'a b'`, giving ["/bin/x", "a b"].
func ParseCommand(s string) ([]string, error) {
	var words []string
	i := 0
	for i < len(s) {
		for i < len(s) && strings.IndexByte(whiteSpace, s[i]) >= 0 {
			i++
		}
		if i == len(s) {
			break
		}
		var w []byte
		var quote byte
	word:
		for i < len(s) {
			c := s[i]
			switch {
			case c == '\\':
				i++
				if i == len(s) {
					return nil, fmt.Errorf("script %q: %w", s, ErrTrailingEscape)
				}
				var b byte
				b, i = unescape(s, i)
				w = append(w, b)
			case quote != 0 && c == quote:
				quote = 0
				i++
			case quote != 0:
				w = append(w, c)
				i++
			case c == '"' || c == '\'':
				quote = c
				i++
			case strings.IndexByte(whiteSpace, c) >= 0:
				break word
			default:
				w = append(w, c)
				i++
			}
		}
		if quote != 0 {
			return nil, fmt.Errorf("script %q: %c: %w", s, quote, ErrUnterminatedQuote)
		}
		words = append(words, string(w))
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("script %q: empty command", s)
	}
	return words, nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// unescape decodes the escape whose first character (after the
// backslash) is s[i]; it returns the byte and the index after the escape.
func unescape(s string, i int) (byte, int) {
	c := s[i]
	switch {
	case c == 'x' && i+1 < len(s) && isHex(s[i+1]):
		// keepalived consumes every following hex digit into a char,
		// keeping the low 8 bits.
		var b byte
		i++
		for i < len(s) && isHex(s[i]) {
			b = b<<4 | hexVal(s[i])
			i++
		}
		return b, i
	case c == 'c' && i+1 < len(s):
		return s[i+1] & 0x1f, i + 2
	case c >= '0' && c <= '7':
		b := c - '0'
		i++
		for n := 0; n < 2 && i < len(s) && s[i] >= '0' && s[i] <= '7'; n++ {
			b = b<<3 + (s[i] - '0')
			i++
		}
		return b, i
	}
	switch c {
	case 'a':
		c = '\a'
	case 'b':
		c = '\b'
	case 'E':
		c = 0x1b
	case 'f':
		c = '\f'
	case 'n':
		c = '\n'
	case 'r':
		c = '\r'
	case 't':
		c = '\t'
	case 'v':
		c = '\v'
	}
	return c, i + 1
}

// shellLine builds the /bin/sh command line keepalived uses when it
// cannot execve a script directly (lib/notify.c cmd_str_r): every word in
// single quotes, except a first word starting with '<' or '>' (a file
// test such as "</etc/ready"). Unlike keepalived, a single quote inside a
// word is escaped, so it cannot break the quoting.
func shellLine(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if i == 0 && a != "" && (a[0] == '<' || a[0] == '>') {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, `'`, `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}

// isFileTest reports whether argv[0] is keepalived's special "</path"
// form, which tests that a file can be opened instead of running a
// program (lib/notify.c check_script_secure: '<', optional blanks, '/').
func isFileTest(arg0 string) bool {
	if len(arg0) < 2 || arg0[0] != '<' {
		return false
	}
	rest := strings.TrimLeft(arg0[1:], " \t")
	return strings.HasPrefix(rest, "/")
}
