package bench

import (
	"flag"
	"os"
	"testing"

	"github.com/vigil-ha/vigil/internal/nettest"
)

// vigil is the binary under test, built once by TestMain (or $VIGIL_BIN);
// vigilBin is its path, empty when it was not built.
var (
	vigil    *nettest.VigilBuild
	vigilBin string
)

func TestMain(m *testing.M) {
	flag.Parse()
	vigil = nettest.BuildVigil(!testing.Short() && benchSelected())
	vigilBin = vigil.Path
	code := m.Run()
	vigil.Remove()
	os.Exit(code)
}

// requireVigil fails the test when TestMain could not build vigil, and
// skips it when no binary was built.
func requireVigil(t testing.TB) {
	t.Helper()
	vigil.Require(t)
}

// benchSelected reports whether -test.bench asks for benchmarks: the
// unit tests of this package need no vigil binary, so plain `go test`
// does not build one.
func benchSelected() bool {
	f := flag.Lookup("test.bench")
	return f != nil && f.Value.String() != ""
}
