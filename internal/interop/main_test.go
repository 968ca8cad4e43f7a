package interop

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

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
	vigil = nettest.BuildVigil(!testing.Short())
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
