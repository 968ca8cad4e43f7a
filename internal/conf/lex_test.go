package conf

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tk renders a token compactly for table tests: kind, text, line:col.
func tk(t Token) string {
	k := map[TokenKind]string{Word: "W", String: "S", LBrace: "{", RBrace: "}", EOL: "EOL", EOF: "EOF"}[t.Kind]
	switch t.Kind {
	case Word, String:
		return fmt.Sprintf("%s%q@%d:%d", k, t.Text, t.Pos.Line, t.Pos.Col)
	}
	return fmt.Sprintf("%s@%d:%d", k, t.Pos.Line, t.Pos.Col)
}

func lexString(t *testing.T, conf string) ([]string, Diagnostics) {
	t.Helper()
	lines, ds := mustSource(t, map[string]string{"/k.conf": conf}, ParseOptions{})
	var out []string
	for _, tok := range Lex(lines, &ds) {
		if tok.Pos.File != "/k.conf" && len(lines) > 0 {
			t.Errorf("token %s has file %q", tk(tok), tok.Pos.File)
		}
		out = append(out, tk(tok))
	}
	return out, ds
}

func TestLexTokens(t *testing.T) {
	tests := []struct {
		name string
		conf string
		want string // tk() renderings separated by " | "
		diag string // substring of the only finding, if any
	}{
		{"Words", "router_id  r1\n", `W"router_id"@1:1 | W"r1"@1:12 | EOL@1:14 | EOF@1:0`, ""},
		{"LeadingBlanksCountInColumns", "\t  priority 100\n", `W"priority"@1:4 | W"100"@1:13 | EOL@1:16 | EOF@1:0`, ""},
		{"QuotedStringKeepsBlanksAndComments", `notify "/bin/x.sh a # b"` + "\n",
			`W"notify"@1:1 | S"/bin/x.sh a # b"@1:8 | EOL@1:25 | EOF@1:0`, ""},
		{"QuoteInsideWordSplitsIt", `k3"q w"e` + "\n", `W"k3"@1:1 | S"q w"@1:3 | W"e"@1:8 | EOL@1:9 | EOF@1:0`, ""},
		{"NoEscapesInStrings", `a "x\ty\n"` + "\n", `W"a"@1:1 | S"x\\ty\\n"@1:3 | EOL@1:11 | EOF@1:0`, ""},
		{"SingleQuotesAreText", "a 'b c'\n", `W"a"@1:1 | W"'b"@1:3 | W"c'"@1:6 | EOL@1:8 | EOF@1:0`, ""},
		{"BraceOnKeywordLine", "vrrp_instance VI_1 {\n", `W"vrrp_instance"@1:1 | W"VI_1"@1:15 | EOL@1:19 | {@1:20 | EOL@1:21 | EOF@1:0`, ""},
		{"BracesAroundValues", "vip { 10.0.0.1 }\n",
			`W"vip"@1:1 | EOL@1:4 | {@1:5 | EOL@1:6 | W"10.0.0.1"@1:7 | EOL@1:15 | }@1:16 | EOL@1:17 | EOF@1:0`, ""},
		{"TrailingComment", "a b ! c\n# whole\n  ! whole\nd\n", `W"a"@1:1 | W"b"@1:3 | EOL@1:4 | W"d"@4:1 | EOL@4:2 | EOF@4:0`, ""},
		{"EscapedCommentCharacterShiftsColumns", `a\#b c` + "\n", `W"a#b"@1:1 | W"c"@1:5 | EOL@1:6 | EOF@1:0`, ""},
		{"CRLF", "a b\r\nc\r\n", `W"a"@1:1 | W"b"@1:3 | EOL@1:4 | W"c"@2:1 | EOL@2:2 | EOF@2:0`, ""},
		{"UnmatchedQuoteDropsRest", "a \"b c\n", `W"a"@1:1 | EOL@1:7 | EOF@1:0`, "Unmatched quote: 'a \"b c'"},
		{"Empty", "", `EOF@0:0`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ds := lexString(t, tt.conf)
			if diff := cmp.Diff(strings.Split(tt.want, " | "), got); diff != "" {
				t.Errorf("tokens (-want +got):\n%s", diff)
			}
			var msgs []string
			for _, d := range ds {
				if d.Sev == UnmatchedQuote {
					msgs = append(msgs, d.Msg)
				}
			}
			switch {
			case tt.diag == "" && len(msgs) > 0:
				t.Errorf("unexpected findings %q", msgs)
			case tt.diag != "" && (len(msgs) != 1 || !strings.Contains(msgs[0], tt.diag)):
				t.Errorf("findings %q, want one containing %q", msgs, tt.diag)
			}
		})
	}
}

func TestLexTokensCarryIncludeChain(t *testing.T) {
	lines, ds := mustSource(t, map[string]string{
		"/k.conf":     "include /inc/a.conf\n",
		"/inc/a.conf": "x\ninclude b.conf\n",
		"/inc/b.conf": "  y z\n",
	}, ParseOptions{})
	if len(ds) != 0 {
		t.Fatalf("findings: %s", ds)
	}
	toks := Lex(lines, &ds)
	var y Token
	for _, tok := range toks {
		if tok.Text == "z" {
			y = tok
		}
	}
	want := Token{Kind: Word, Text: "z", Pos: Pos{File: "b.conf", Line: 1, Col: 5},
		Chain: []Pos{{File: "/k.conf", Line: 1}, {File: "/inc/a.conf", Line: 2}}}
	if diff := cmp.Diff(want, y); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSplitQuotedEscaped(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{`/bin/x.sh a "b c" 'd e'`, []string{"/bin/x.sh", "a", "b c", "d e"}, ""},
		{`ab"cd ef"gh`, []string{"abcd efgh"}, ""},
		{`\x41\101\cA\t\q\\`, []string{"AA\x01\tq\\"}, ""},
		{`a\ b`, []string{"a b"}, ""},
		{`"it's"`, []string{"it's"}, ""},
		{`'a"b'`, []string{`a"b`}, ""},
		{`a "b`, nil, `String 'a "b': missing terminating "`},
		{`a\`, nil, `Missing escape char at end: 'a\'`},
		{"  ", nil, ""},
	}
	for _, tt := range tests {
		got, err := SplitQuotedEscaped(tt.in)
		if diff := cmp.Diff(tt.want, got); diff != "" || err != tt.err {
			t.Errorf("SplitQuotedEscaped(%q) = %q, %q; want %q, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}
