package interop

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/nettest"
)

// vigilBin is the vigil binary TestMain builds once for every test, or
// $VIGIL_BIN when set; empty with buildErr set when the build failed,
// empty alone in -short mode.
var (
	vigilBin string
	buildErr error
)

func TestMain(m *testing.M) {
	flag.Parse()
	var dir string
	if bin := os.Getenv("VIGIL_BIN"); bin != "" {
		// A binary built elsewhere (make build's bin/vigil, a VM image).
		vigilBin = bin
	} else if !testing.Short() {
		var err error
		dir, err = os.MkdirTemp("", "vigil-interop-")
		if err != nil {
			fmt.Fprintf(os.Stderr, "interop: %v\n", err)
			os.Exit(1)
		}
		vigilBin = filepath.Join(dir, "vigil")
		// The module root is two levels up from this package.
		cmd := exec.Command("go", "build", "-o", vigilBin, "./cmd/vigil")
		cmd.Dir = filepath.Join("..", "..")
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

// requireVigil fails the test when TestMain could not build vigil.
func requireVigil(t testing.TB) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	if vigilBin == "" {
		t.Skip("skipping: vigil binary not built (-short)")
	}
}

// node is one VRRP daemon of a test, vigil or keepalived. Both
// *nettest.Keepalived and *vigilProc satisfy it.
type node interface {
	Log() string
	Mark() int
	WaitLog(re *regexp.Regexp, timeout time.Duration) (string, error)
	WaitLogAfter(mark int, re *regexp.Regexp, timeout time.Duration) (string, error)
	LastMatch(re *regexp.Regexp) string
	Stop(timeout time.Duration) error
	Kill() error
}

// vigilProc is the vigil binary running in a lab host, in the foreground,
// logging to a pipe kept in memory: the vigil twin of nettest.Keepalived.
type vigilProc struct {
	*nettest.Proc
}

// startVigil writes config to a temporary keepalived.conf and runs
//
//	ip netns exec NS vigil -n -l -D -f CONF -i ID -p PID -r VRRP_PID -c CHECK_PID --socket SOCK
//
// with debug logging (-D), so that dropped adverts show in its log.
// Cleanup stops it with SIGTERM and logs its output when the test failed.
func startVigil(t testing.TB, h *nettest.Host, config string) *vigilProc {
	t.Helper()
	return startVigilArgs(t, h, config)
}

// startVigilArgs is startVigil with extra flags.
func startVigilArgs(t testing.TB, h *nettest.Host, config string, extra ...string) *vigilProc {
	t.Helper()
	requireVigil(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		t.Fatalf("startVigil: %v", err)
	}
	argv := append([]string{vigilBin,
		"-n", "-l", "-D",
		"-f", conf,
		"-i", h.Name,
		"-p", filepath.Join(dir, "vigil.pid"),
		"-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "check.pid"),
		// Never the shared default /run/vigil/vigil.sock.
		"--socket", filepath.Join(dir, "vigil.sock")}, extra...)
	return &vigilProc{nettest.StartProc(t, h, "vigil", dir, argv...)}
}
