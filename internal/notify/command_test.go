package notify

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// keepalived lib/parser.c alloc_strvec_quoted_escaped is the reference for
// every case below.
func TestParseCommandSplitsLikeKeepalived(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"bare path", "/usr/local/bin/notify.sh", []string{"/usr/local/bin/notify.sh"}},
		{"words", "/bin/n.sh VI_1  master\tx", []string{"/bin/n.sh", "VI_1", "master", "x"}},
		{"leading and trailing blanks", "  /bin/n.sh a  ", []string{"/bin/n.sh", "a"}},
		{"single quotes group", "/bin/n.sh 'a b' c", []string{"/bin/n.sh", "a b", "c"}},
		{"double quotes group", `/bin/n.sh "a b" c`, []string{"/bin/n.sh", "a b", "c"}},
		{"quote adjacent to text", `/bin/n.sh pre"a b"post`, []string{"/bin/n.sh", "prea bpost"}},
		{"other quote literal inside", `/bin/n.sh "it's" 'say "x"'`, []string{"/bin/n.sh", "it's", `say "x"`}},
		{"empty quoted word", `/bin/n.sh '' ""`, []string{"/bin/n.sh", "", ""}},
		{"escaped blank", `/bin/n.sh a\ b`, []string{"/bin/n.sh", "a b"}},
		{"escape in double quotes", `/bin/n.sh "a\"b"`, []string{"/bin/n.sh", `a"b`}},
		{"escape in single quotes", `/bin/n.sh 'a\'b'`, []string{"/bin/n.sh", "a'b"}},
		{"named escapes", `/x \n\t\r\a\b\f\v\E`, []string{"/x", "\n\t\r\a\b\f\v\x1b"}},
		{"hex escape", `/x \x41\x4a`, []string{"/x", "AJ"}},
		{"hex escape takes all digits, low byte", `/x \x141`, []string{"/x", "A"}},
		{"x without hex digit is literal", `/x \xg`, []string{"/x", "xg"}},
		{"octal escape max three digits", `/x \1011`, []string{"/x", "A1"}},
		{"octal one digit", `/x \0a`, []string{"/x", "\x00a"}},
		{"control escape", `/x \cA\c[`, []string{"/x", "\x01\x1b"}},
		{"unknown escape is the char", `/x \$HOME \\`, []string{"/x", "$HOME", `\`}},
		{"no shell expansion", `/x $HOME *.sh | y > z`, []string{"/x", "$HOME", "*.sh", "|", "y", ">", "z"}},
		{"file test", "</etc/ready", []string{"</etc/ready"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCommand(tt.in)
			if err != nil {
				t.Fatalf("ParseCommand(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCommand(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseCommandRejects(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{`/x "abc`, ErrUnterminatedQuote},
		{`/x 'abc`, ErrUnterminatedQuote},
		{`/x abc\`, ErrTrailingEscape},
		{"   ", nil},
		{"", nil},
	}
	for _, tt := range tests {
		_, err := ParseCommand(tt.in)
		if err == nil {
			t.Errorf("ParseCommand(%q) succeeded, want error", tt.in)
			continue
		}
		if tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("ParseCommand(%q) = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func TestShellLineQuotesLikeKeepalived(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"/bin/x", "a b", "INSTANCE"}, `'/bin/x' 'a b' 'INSTANCE'`},
		{[]string{"</etc/ready"}, `</etc/ready`},
		{[]string{">/tmp/f", "x"}, `>/tmp/f 'x'`},
		{[]string{"/bin/x", "it's"}, `'/bin/x' 'it'\''s'`},
	}
	for _, tt := range tests {
		if got := shellLine(tt.args); got != tt.want {
			t.Errorf("shellLine(%q) = %s, want %s", tt.args, got, tt.want)
		}
	}
}

func TestIsFileTest(t *testing.T) {
	for in, want := range map[string]bool{
		"</etc/x": true, "< \t/etc/x": true, "<etc/x": false, "/bin/x": false, "<": false, ">/x": false,
	} {
		if got := isFileTest(in); got != want {
			t.Errorf("isFileTest(%q) = %v, want %v", in, got, want)
		}
	}
}

// FuzzParseCommand checks that parsing never panics and that words
// quoted back with single quotes (escaping \ and ') parse to themselves.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{`/x 'a b' "c\"d" \x41 \101 \cA`, `a\`, `"`, `''`, "\t/y\v z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := ParseCommand(s)
		if err != nil {
			return
		}
		var b strings.Builder
		for _, w := range words {
			b.WriteString(" '")
			b.WriteString(strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(w))
			b.WriteString("'")
		}
		again, err := ParseCommand(b.String())
		if err != nil {
			t.Fatalf("requoted %q: %v", b.String(), err)
		}
		if diff := cmp.Diff(words, again); diff != "" {
			t.Fatalf("round trip of %q (-first +second):\n%s", s, diff)
		}
	})
}
