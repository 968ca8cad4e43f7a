package conf

// TokenKind classifies a token.
type TokenKind int

const (
	Word   TokenKind = iota + 1 // a bare word
	String                      // a double-quoted string; Text holds the contents without quotes
	LBrace                      // {
	RBrace                      // }
	EOL                         // end of a logical line
	EOF                         // end of input
)

// Token is one lexical token. Chain is the include chain of the file the
// token came from: the positions of the include lines, outermost first.
type Token struct {
	Kind  TokenKind
	Text  string
	Pos   Pos
	Chain []Pos
}

// Node is one keyword line of the generic tree: the keyword, its arguments
// on the same logical line, and the nodes of its { } block, if any.
// keepalived's grammar is uniform enough that every block and value list
// parses into this one shape; the decode stage gives it meaning.
type Node struct {
	Key      Token
	Args     []Token
	Block    []*Node
	HasBlock bool // a { } block followed the keyword, even if empty
}

// Pos returns the position of the node's keyword.
func (n *Node) Pos() Pos { return n.Key.Pos }
