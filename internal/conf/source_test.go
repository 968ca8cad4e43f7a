package conf

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func mustSource(t *testing.T, files map[string]string, opts ParseOptions) ([]Line, Diagnostics) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[fsName(name)] = &fstest.MapFile{Data: []byte(text), Mode: 0o644}
	}
	if opts.ConfigID == "" {
		opts.ConfigID = "main"
	}
	return ReadSource(fsys, "/k.conf", opts)
}

func lineTexts(lines []Line) []string {
	out := []string{}
	for _, l := range lines {
		out = append(out, l.Text)
	}
	return out
}

func diagMsgs(ds Diagnostics) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Sev.String()+": "+d.Msg)
	}
	return out
}

// TestPreprocessor checks each feature of keepalived's line preprocessor
// (lib/parser.c read_line, keepalived.conf(5) "ADVANCED CONFIGURATION").
// Every expectation was checked with keepalived 2.2.7 -t.
func TestPreprocessor(t *testing.T) {
	tests := []struct {
		name string
		conf string
		id   string
		want []string
		diag []string
	}{
		{name: "HashAndBangComments", conf: "a # x\nb ! y\n# c\n! d\n",
			want: []string{"a", "b"}},
		{name: "CommentCharactersInsideQuotes", conf: `a "b#c!d" # e` + "\n",
			want: []string{`a "b#c!d"`}},
		{name: "EscapedCommentCharacters", conf: `a\#b\!c \# d` + "\n",
			want: []string{`a#b!c # d`}},
		{name: "BackslashBeforeOtherCharacterKept", conf: `a\tb` + "\n",
			want: []string{`a\tb`}},
		{name: "TrailingBackslashKeptOutsideDefinitions", conf: "a   \\\n",
			want: []string{`a\`}},
		{name: "UnterminatedQuote", conf: "a \"b # c\n",
			want: []string{`a "b # c`}, diag: []string{`error: Unterminated quote 'a "b # c'`}},
		{name: "ConditionalMatchesConfigID", id: "main", conf: "@main a\n@backup b\n@^main c\n@^backup d\n",
			want: []string{"a", "d"}},
		{name: "ConditionalOtherID", id: "backup", conf: "@main a\n@backup b\n@^main c\n@^backup d\n",
			want: []string{"b", "c"}},
		{name: "ConditionalWithNothingAfterIsDropped", id: "main", conf: "@main\n@^x\nz\n",
			want: []string{"z"}},
		{name: "DefinitionAndUses", conf: "$A=1\nx $A y\nx ${A}y\nx $Ay\nx $A,$A)\n",
			want: []string{"x 1 y", "x 1y", "x $Ay", "x 1,1)"}},
		{name: "DefinitionNeedsNoBlankBeforeEquals", conf: "$A =1\n$A\n",
			want: []string{"$A =1", "$A"}},
		{name: "UndefinedKept", conf: "x $NOPE ${NOPE2}\n",
			want: []string{"x $NOPE $", "{", "NOPE2", "}"}},
		{name: "RecursiveAtUseTime", conf: "$B=10.2.${S}\n$S=0\n${B}.1\n$S=7\n${B}.1\n",
			want: []string{"10.2.0.1", "10.2.7.1"}},
		{name: "EmptyValue", conf: "$E=\nk_${E}_\n",
			want: []string{"k__"}},
		{name: "DefinitionMayHoldConditional", id: "main", conf: "$M=@main\n$B=@backup\n$M a\n$B b\n",
			want: []string{"a"}},
		{name: "ConditionalDefinition", id: "backup", conf: "@main $P=240\n@backup $P=200\nprio $P\n",
			want: []string{"prio 200"}},
		{name: "MultilineDefinition", conf: "$ML= \\\n a { \\\n  b \\\n }\nx\n$ML\n",
			want: []string{"x", "a", "{", "b", "}"}},
		{name: "BlankLineEndsMultilineDefinition", conf: "$ML= \\\n a \\\n\n b\n$ML\n",
			want: []string{"b", "a"}},
		{name: "MultilineOnlyAtEndOfLine", conf: "$ML= \\\n a \\\n b\n$ML x\npre $ML\n",
			want: []string{"$ML x", "pre a", "b"}},
		{name: "NestedMultiline", conf: "$IN= \\\n i1 ${N} \\\n i2\n$OUT= \\\n o1 \\\n $N=1 \\\n $IN \\\n $N=2 \\\n $IN \\\n o2\n$OUT\n",
			want: []string{"o1", "i1 1", "i2", "i1 2", "i2", "o2"}},
		{name: "PredefinedHashBecomesComment", conf: "a ${_HASH}b\nc \"${_HASH}\"\n",
			want: []string{"a", `c "#"`}},
		{name: "PredefinedInstanceAndPwd", id: "node7", conf: "${_INSTANCE} ${_PWD}\n",
			want: []string{"node7 /"}},
		{name: "RandomInRange", conf: "${_RANDOM 4 4} ${_RANDOM 9 9}\n",
			want: []string{"4 9"}},
		{name: "SubstitutionThatNeverEnds", conf: "$R=${R}r\n${R}\n",
			want: []string{"$", "{", "R", "}", strings.Repeat("r", 1019)},
			diag: []string{"warning: Parameter substitution on line '${R}" + strings.Repeat("r", maxLine-5) + "' would exceed maximum line length"}},
		{name: "SubstitutionLoop", conf: "$A=$B\n$B=$A\n$A\n",
			want: []string{"$A"},
			diag: []string{"error: Parameter substitution on line '$A' does not terminate - stopping"}},
		{name: "OverlongLineWarned", conf: "k " + strings.Repeat("x", 1100) + "\n",
			want: []string{"k " + strings.Repeat("x", 1100)},
			diag: []string{"warning: line is 1102 bytes long; keepalived reads at most 1023 bytes per line and would split it"}},
		{name: "Seq", conf: "~SEQ(i,1,3) k_${i}\n",
			want: []string{"k_1", "k_2", "k_3"}},
		{name: "SeqHexStepDown", conf: "~SEQx(h, 0x12, -3, 0x0c) ${h}\n",
			want: []string{"12", "f", "c"}},
		{name: "SeqEndOnly", conf: "~SEQ(n, -2) ${n}\n~SEQ(m, 2) ${m}\n",
			want: []string{"-1", "-2", "1", "2"}},
		{name: "SeqStartEnd", conf: "~SEQ(n, 3, 1) ${n}\n",
			want: []string{"3", "2", "1"}},
		{name: "SeqUsesDefinitions", conf: "$MAX=2\n~SEQ(n, 1, $MAX) ${n}\n",
			want: []string{"1", "2"}},
		{name: "SeqNested", conf: "~SEQ(a,1,2) ~SEQ(b,1,2) ${a}.${b}\n",
			want: []string{"1.1", "1.2", "2.1", "2.2"}},
		{name: "SeqOverMultiline", conf: "$V= \\\n v${n} { \\\n }\n~SEQ(n,1,2) $V\n",
			want: []string{"v1", "{", "}", "v2", "{", "}"}},
		{name: "SeqErrors", conf: "~SEQ(t,1,0,3) a\n~SEQ(u) b\n~SEQx(w,-1,1) c\n~SEQ x\n",
			want: []string{},
			diag: []string{
				"error: Invalid ~SEQ values '~SEQ(t,1,0,3) a'", "error: Invalid ~SEQ specification '~SEQ(t,1,0,3) a'",
				"error: Invalid ~SEQ definition '~SEQ(u) b'", "error: Invalid ~SEQ specification '~SEQ(u) b'",
				"error: ~SEQx is only valid for positive numbers '~SEQx(w,-1,1) c'", "error: Invalid ~SEQ specification '~SEQx(w,-1,1) c'",
				"error: Invalid ~SEQ specification '~SEQ x'",
			}},
		{name: "Lst", conf: "~LST(ip, 1, 2) 10.0.0.${ip}\n",
			want: []string{"10.0.0.1", "10.0.0.2"}},
		{name: "LstSets", conf: "~LST({a, b}, {10,1},{20}) ${a}.${b}.\n",
			want: []string{"10.1.", "20.."}},
		{name: "LstTooManyValues", conf: "~LST({a}, {1,2}) x\n",
			want: []string{},
			diag: []string{"error: ~LST specification has too many values '~LST({a}, {1,2}) x'", "error: Invalid ~LST specification '~LST({a}, {1,2}) x'"}},
		{name: "OtherTildeLinesKept", conf: "~FOO $X\n",
			want: []string{"~FOO $X"}},
		{name: "BracesSplitLines", conf: "a b{c d}e\n",
			want: []string{"a b", "{", "c d", "}", "e"}},
		{name: "QuotedBracesDoNotSplit", conf: `a "{}" b` + "\n",
			want: []string{`a "{}" b`}},
		{name: "ConditionalAfterBrace", id: "main", conf: "vip { @main 1.1.1.1 @^main 2.2.2.2 }\n",
			want: []string{"vip", "{", "1.1.1.1 @^main 2.2.2.2", "}"}},
		{name: "DefinitionAfterBraceTakesRestOfLine", conf: "a { $X=1 }\nx $X\n",
			want: []string{"a", "{", "x 1", "}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, ds := mustSource(t, map[string]string{"/k.conf": tt.conf}, ParseOptions{ConfigID: tt.id})
			if diff := cmp.Diff(tt.want, lineTexts(lines)); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			want := tt.diag
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, diagMsgs(ds)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestLinePositions: generated lines carry the position of the line that
// produced them, as keepalived reports them; residues after a brace keep
// their column.
func TestLinePositions(t *testing.T) {
	lines, _ := mustSource(t, map[string]string{"/k.conf": "$M= \\\n a \\\n b\n\n  $M\n~SEQ(i,1,2) s$i\nx { y }\n"}, ParseOptions{})
	var got []string
	for _, l := range lines {
		got = append(got, fmt.Sprintf("%s@%d:%d", l.Text, l.Pos.Line, l.Pos.Col))
	}
	want := []string{"a@5:3", "b@5:3", "s1@6:1", "s2@6:1", "x@7:1", "{@7:3", "y@7:5", "}@7:7"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestIncludes(t *testing.T) {
	type line struct {
		Text  string
		Pos   string
		Chain string
	}
	render := func(lines []Line) []line {
		var out []line
		for _, l := range lines {
			var ch []string
			for _, c := range l.Chain {
				ch = append(ch, c.String())
			}
			out = append(out, line{l.Text, fmt.Sprintf("%s:%d", l.Pos.File, l.Pos.Line), strings.Join(ch, " > ")})
		}
		return out
	}
	tests := []struct {
		name  string
		files map[string]string
		opts  ParseOptions
		want  []line
		diag  []string
	}{
		{
			name: "RelativeGlobSortedAndChainRecorded",
			files: map[string]string{
				"/k.conf":             "top\ninclude conf.d/*.conf\nend\n",
				"/conf.d/b.conf":      "b1\n",
				"/conf.d/a.conf":      "a1\ninclude sub/*.conf\n",
				"/conf.d/sub/s.conf":  "s1\n",
				"/conf.d/ignored.txt": "nope\n",
				"/sub/s.conf":         "wrong directory\n",
			},
			want: []line{
				{"top", "/k.conf:1", ""},
				{"a1", "conf.d/a.conf:1", "/k.conf:2"},
				{"s1", "sub/s.conf:1", "/k.conf:2 > conf.d/a.conf:2"},
				{"b1", "conf.d/b.conf:1", "/k.conf:2"},
				{"end", "/k.conf:3", ""},
			},
			diag: []string{},
		},
		{
			name:  "AbsoluteInclude",
			files: map[string]string{"/k.conf": "include /etc/x.conf\n", "/etc/x.conf": "x\n"},
			want:  []line{{"x", "/etc/x.conf:1", "/k.conf:1"}},
			diag:  []string{},
		},
		{
			name:  "MissingFileIsLoggedForInclude",
			files: map[string]string{"/k.conf": "include nope.conf\nafter\n"},
			want:  []line{{"after", "/k.conf:2", ""}},
			diag:  []string{"warning: Config files missing 'nope.conf'."},
		},
		{
			name:  "MissingFileIsAnErrorForIncludem",
			files: map[string]string{"/k.conf": "includem nope.conf\nincludea nope.conf\nincluder nope.conf\n"},
			diag: []string{"file-not-found: Config files missing 'nope.conf'.", "file-not-found: Config files missing 'nope.conf'.",
				"warning: Config files missing 'nope.conf'."},
		},
		{
			name:  "EmptyGlobWarnsUnlessIncludew",
			files: map[string]string{"/k.conf": "include d/*.conf\nincludew d/*.conf\n", "/d/x.txt": ""},
			diag:  []string{"warning: No config files matched 'd/*.conf'.", "file-not-found: No config files matched 'd/*.conf'."},
		},
		{
			name:  "GlobInMissingDirectory",
			files: map[string]string{"/k.conf": "includem nodir/*.conf\n"},
			diag:  []string{"file-not-found: Config files missing 'nodir/*.conf'."},
		},
		{
			name:  "SelfInclude",
			files: map[string]string{"/k.conf": "a\ninclude k.conf\nb\n"},
			want:  []line{{"a", "/k.conf:1", ""}, {"b", "/k.conf:3", ""}},
			diag:  []string{"error: include cycle: 'k.conf' is already being read (it is the main configuration file) - skipping"},
		},
		{
			name:  "IndirectCycle",
			files: map[string]string{"/k.conf": "include a.conf\n", "/a.conf": "include b.conf\nax\n", "/b.conf": "include a.conf\nbx\n"},
			want:  []line{{"bx", "b.conf:2", "/k.conf:1 > a.conf:1"}, {"ax", "a.conf:2", "/k.conf:1"}},
			diag:  []string{"error: include cycle: 'a.conf' is already being read (included at /k.conf:1) - skipping"},
		},
		{
			name:  "SameFileTwiceIsNotACycle",
			files: map[string]string{"/k.conf": "include a.conf\ninclude a.conf\n", "/a.conf": "ax\n"},
			want:  []line{{"ax", "a.conf:1", "/k.conf:1"}, {"ax", "a.conf:1", "/k.conf:2"}},
			diag:  []string{},
		},
		{
			name: "DepthLimit",
			files: map[string]string{"/k.conf": "include 1.conf\n", "/1.conf": "include 2.conf\n", "/2.conf": "include 3.conf\n",
				"/3.conf": "deep\n"},
			opts: ParseOptions{MaxIncludeDepth: 3},
			diag: []string{"error: include nesting deeper than 3 files - skipping '3.conf'"},
		},
		{
			name:  "IncludeAfterSubstitution",
			files: map[string]string{"/k.conf": "$F=a.conf\n@main include $F\n", "/a.conf": "ax\n"},
			want:  []line{{"ax", "a.conf:1", "/k.conf:2"}},
			diag:  []string{},
		},
		{
			name:  "IncludeWordNeedsBlank",
			files: map[string]string{"/k.conf": "includex a\ninclude_check\n"},
			want:  []line{{"includex a", "/k.conf:1", ""}, {"include_check", "/k.conf:2", ""}},
			diag:  []string{},
		},
		{
			name: "IncludeCheckMakesPlainIncludeStrict",
			files: map[string]string{"/k.conf": "include a.nope\nglobal_defs {\ninclude_check match\n}\ninclude b.nope\ninclude x.conf\ninclude c.nope\n",
				"/x.conf": "include_check -match +wildcard_match\ninclude d.nope\ninclude e/*.nope\n", "/e/x": ""},
			want: []line{{"global_defs", "/k.conf:2", ""}, {"{", "/k.conf:2", ""}, {"include_check match", "/k.conf:3", ""}, {"}", "/k.conf:4", ""},
				{"include_check -match +wildcard_match", "x.conf:1", "/k.conf:6"}},
			diag: []string{"warning: Config files missing 'a.nope'.", "file-not-found: Config files missing 'b.nope'.",
				"warning: Config files missing 'd.nope'.", "file-not-found: No config files matched 'e/*.nope'.",
				// Restored when x.conf ends.
				"file-not-found: Config files missing 'c.nope'."},
		},
		{
			name:  "IncludeCheckErrors",
			files: map[string]string{"/k.conf": "include_check readable match\n"},
			want:  []line{{"include_check readable match", "/k.conf:1", ""}},
			diag:  []string{"error: Unknown include_check type 'readable' - ignoring", "error: Duplicate include_check 'match' specified - ignoring"},
		},
		{
			name:  "AllConfigOption",
			files: map[string]string{"/k.conf": "include *.nope\n"},
			opts:  ParseOptions{AllConfig: true},
			diag:  []string{"file-not-found: No config files matched '*.nope'."},
		},
		{
			name:  "MainFileMissing",
			files: map[string]string{"/other.conf": ""},
			diag:  []string{"file-not-found: Config files missing '/k.conf'."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lines, ds := mustSource(t, tt.files, tt.opts)
			if diff := cmp.Diff(tt.want, render(lines)); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			want := tt.diag
			if want == nil {
				want = []string{}
			}
			if diff := cmp.Diff(want, diagMsgs(ds)); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			for _, d := range ds {
				if d.Pos.File == "" {
					t.Errorf("finding without a file: %v", d)
				}
			}
		})
	}
}

func TestIncludeFindingPointsAtIncludeLine(t *testing.T) {
	_, ds := mustSource(t, map[string]string{"/k.conf": "include a.conf\n", "/a.conf": "x\n\nincludem gone.conf\n"}, ParseOptions{})
	want := Diagnostics{{Pos: Pos{File: "a.conf", Line: 3, Col: 1}, Sev: FileNotFound,
		Msg: "Config files missing 'gone.conf'.", Chain: []Pos{{File: "/k.conf", Line: 1}}}}
	if diff := cmp.Diff(want, ds); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got, want := ds[0].String(), "(a.conf: Line 3) Config files missing 'gone.conf'."; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestExpandBraces(t *testing.T) {
	got := expandBraces("{foo/{,cat,dog},bar}.conf")
	want := []string{"foo/.conf", "foo/cat.conf", "foo/dog.conf", "bar.conf"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := expandBraces(`a\{b,c}`); !cmp.Equal(got, []string{`a\{b,c}`}) {
		t.Errorf("escaped brace expanded: %q", got)
	}
}

func TestDefaultConfigIDIsShortHostname(t *testing.T) {
	h, err := os.Hostname()
	if err != nil {
		t.Skipf("no host name: %v", err)
	}
	want, _, _ := strings.Cut(h, ".")
	if got := DefaultConfigID(); got != want {
		t.Errorf("DefaultConfigID() = %q, want %q", got, want)
	}
	// With no ConfigID, "@<host>" lines are kept.
	lines, _ := ReadSource(fstest.MapFS{"k.conf": {Data: []byte("@" + want + " yes\n@^" + want + " no\n")}}, "/k.conf", ParseOptions{})
	if diff := cmp.Diff([]string{"yes"}, lineTexts(lines)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
