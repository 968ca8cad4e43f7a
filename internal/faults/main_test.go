package faults

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// vigilBin is the binary under test: built by TestMain, or $VIGIL_BIN.
var (
	vigilBin string
	buildErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	var dir string
	if bin := os.Getenv("VIGIL_BIN"); bin != "" {
		vigilBin = bin
	} else if !testing.Short() {
		var err error
		dir, err = os.MkdirTemp("", "vigil-faults-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "faults: %v\n", err)
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

func requireVigil(t testing.TB) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if vigilBin == "" {
		t.Skip("skipping: vigil binary not built (-short)")
	}
}
