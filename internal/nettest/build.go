package nettest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// VigilBuild is the vigil binary a test package builds once in TestMain
// and runs in its labs.
type VigilBuild struct {
	// Path is the binary; empty when it was not built (Err says why, or
	// the build was not asked for).
	Path string
	Err  error
	dir  string
}

// BuildVigil returns $VIGIL_BIN when set (a binary built elsewhere, such
// as make build's bin/vigil); otherwise, when build is true, it builds
// ./cmd/vigil of the current module into a temporary directory. Call
// Remove after m.Run.
func BuildVigil(build bool) *VigilBuild {
	if bin := os.Getenv("VIGIL_BIN"); bin != "" {
		return &VigilBuild{Path: bin}
	}
	if !build {
		return &VigilBuild{}
	}
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return &VigilBuild{Err: fmt.Errorf("go env GOMOD: %w", err)}
	}
	dir, err := os.MkdirTemp("", "vigil-test-")
	if err != nil {
		return &VigilBuild{Err: err}
	}
	b := &VigilBuild{Path: filepath.Join(dir, "vigil"), dir: dir}
	cmd := exec.Command("go", "build", "-o", b.Path, "./cmd/vigil")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Path, b.Err = "", fmt.Errorf("go build ./cmd/vigil: %w\n%s", err, out)
	}
	return b
}

// Require returns the binary; it fails t when the build failed and skips
// it when none was built (-short).
func (b *VigilBuild) Require(t testing.TB) string {
	t.Helper()
	if b.Err != nil {
		t.Fatal(b.Err)
	}
	if b.Path == "" {
		t.Skip("skipping: vigil binary not built (-short)")
	}
	return b.Path
}

// Remove deletes what BuildVigil built.
func (b *VigilBuild) Remove() {
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}
