package bench

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// vigilBin is the vigil binary TestMain builds (or $VIGIL_BIN); empty with
// buildErr set when the build failed, empty alone in -short mode.
var (
	vigilBin string
	buildErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	var dir string
	if bin := os.Getenv("VIGIL_BIN"); bin != "" {
		vigilBin = bin
	} else if !testing.Short() && benchSelected() {
		var err error
		dir, err = os.MkdirTemp("", "vigil-bench-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		vigilBin = filepath.Join(dir, "vigil")
		cmd := exec.Command("go", "build", "-o", vigilBin, "./cmd/vigil")
		cmd.Dir = filepath.Join("..", "..") // the module root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/vigil: %w\n%s", err, out)
			vigilBin = ""
		}
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// benchSelected reports whether -test.bench asks for benchmarks: the
// unit tests of this package need no vigil binary, so plain `go test`
// does not build one.
func benchSelected() bool {
	f := flag.Lookup("test.bench")
	return f != nil && f.Value.String() != ""
}

func requireVigil(tb testing.TB) {
	tb.Helper()
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	if vigilBin == "" {
		tb.Skip("skipping: vigil binary not built (-short, or no -bench)")
	}
}
