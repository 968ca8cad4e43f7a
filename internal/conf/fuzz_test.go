package conf

import (
	"strings"
	"testing"
	"testing/fstest"
)

// FuzzParse feeds arbitrary text to the whole front end as the main file
// (which may include inc.conf, holding the same text). It must not panic
// or hang, and every finding must name a file, and a line unless it is
// about a file as a whole.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		"global_defs {\n router_id r1 # c\n}\n",
		"vrrp_instance VI_1 { state MASTER\n virtual_ipaddress { 10.0.0.1 }\n}\n",
		"a {\n{\n}\n}\n}\n",
		"a \"b { c\n",
		"@main x\n@^main y\n@\n@^\n",
		"$A=${B}\n$B=$A\n$A\n",
		"$M= \\\n a { \\\n $M\n$M\n",
		"~SEQ(i,1,3) ~LST({a,b},{1,2}) x${i}${a}${b}\n",
		"~SEQ(i,1,9223372036854775807) x\n",
		"~SEQ(i,-9223372036854775808,-1,-9223372036854775807) x\n",
		"~SEQx(i,0x10,0x8,0x18 x\n~LST(\n~LST({a,b},{1,2,3})\n~SEQ(,)\n",
		"include inc.conf\ninclude *.conf\nincludea {x,y}.conf\n",
		"${_RANDOM 1 } ${_RANDOM 5 2} ${_PWD} ${_INSTANCE} ${_HASH}\n",
		"k\\\n\\#\\!\"\\\"\"\n",
		"a{b}c{d}e}\r\n\x00\xff\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		fsys := fstest.MapFS{
			"etc/k.conf":   {Data: []byte(data), Mode: 0o644},
			"etc/inc.conf": {Data: []byte(data), Mode: 0o644},
		}
		nodes, ds := Parse(fsys, "/etc/k.conf", ParseOptions{ConfigID: "main", MaxLines: 20000})
		for _, d := range ds {
			if d.Pos.File == "" {
				t.Errorf("finding without a file: %#v", d)
			}
			fileLevel := strings.HasPrefix(d.Msg, "There are ") || strings.HasPrefix(d.Msg, "Config files missing '/etc/k.conf'")
			if d.Pos.Line <= 0 && !fileLevel {
				t.Errorf("finding without a line: %#v", d)
			}
		}
		var walk func([]*Node)
		walk = func(ns []*Node) {
			for _, n := range ns {
				if n.Key.Pos.File == "" || n.Key.Pos.Line <= 0 || n.Key.Pos.Col <= 0 {
					t.Errorf("node %q has position %v", n.Key.Text, n.Key.Pos)
				}
				if n.Key.Kind != Word && n.Key.Kind != String {
					t.Errorf("node key %q has kind %d", n.Key.Text, n.Key.Kind)
				}
				if len(n.Block) > 0 && !n.HasBlock {
					t.Errorf("node %q has children but no block", n.Key.Text)
				}
				walk(n.Block)
			}
		}
		walk(nodes)
	})
}

// FuzzLex checks the lexer alone on one line of arbitrary text: every
// token lies within the line, and words and strings are never empty
// unless quoted.
func FuzzLex(f *testing.F) {
	for _, s := range []string{"a b", `"a b" c"d"`, "{ } {}", `"unterminated`, "\t\v\f x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var ds Diagnostics
		toks := Lex([]Line{{Text: text, Pos: Pos{File: "f", Line: 1, Col: 1}}}, &ds)
		if toks[len(toks)-1].Kind != EOF {
			t.Fatalf("last token %v is not EOF", toks[len(toks)-1])
		}
		for _, tok := range toks[:len(toks)-1] {
			if tok.Pos.Col < 1 || tok.Pos.Col > len(text)+1 {
				t.Errorf("token %q at column %d outside line of %d bytes", tok.Text, tok.Pos.Col, len(text))
			}
			if tok.Kind == Word && tok.Text == "" {
				t.Errorf("empty word at %v", tok.Pos)
			}
			if tok.Kind == Word && strings.ContainsAny(tok.Text, " \t\"{}") {
				t.Errorf("word %q holds a separator", tok.Text)
			}
		}
	})
}
