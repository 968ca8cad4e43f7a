package genhash

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/check/checktest"
)

// runDebian runs keepalived's genhash (Debian's /usr/bin/genhash) as
// "genhash" so its usage text names the program the same way.
func runDebian(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "genhash", args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run genhash: %v", err)
	}
	return o.String(), e.String(), 0
}

func runOurs(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	code = Run(ctx, args, &o, &e)
	return o.String(), e.String(), code
}

func requireDebianGenhash(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("genhash"); err != nil {
		t.Skipf("keepalived's genhash not installed (apt-get install keepalived): %v", err)
	}
}

// TestDigestMatchesKeepalivedGenhash fetches the same nginx pages with
// Debian's genhash and ours and compares the output lines.
func TestDigestMatchesKeepalivedGenhash(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping nginx integration test")
	}
	requireDebianGenhash(t)
	ng := checktest.StartNginx(t)
	page := strings.Repeat("<p>vigil genhash page</p>\n", 700)
	if err := os.WriteFile(filepath.Join(ng.Root, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ng.VhostRoot, "index.html"), []byte("vhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()

	hp, sp := fmt.Sprint(ng.HTTP.Port()), fmt.Sprint(ng.HTTPS.Port())
	tests := []struct {
		name string
		args []string
	}{
		{"plain", []string{"-s", "127.0.0.1", "-p", hp, "-u", "/index.html"}},
		{"HTTP/1.1", []string{"-s", "127.0.0.1", "-p", hp, "-u", "/index.html", "-P", "1.1"}},
		{"1.0c long options", []string{"--server", "127.0.0.1", "--port=" + hp, "--url", "/index.html", "--protocol", "1.0c"}},
		{"virtualhost", []string{"-s", "127.0.0.1", "-p", hp, "-u", "/index.html", "-V", "www.vhost.test"}},
		{"404 page is hashed too", []string{"-s", "127.0.0.1", "-p", hp, "-u", "/missing"}},
		{"SSL", []string{"-S", "-s", "127.0.0.1", "-p", sp, "-u", "/index.html"}},
		{"SSL with SNI", []string{"-S", "-I", "-V", "www.vhost.test", "-s", "127.0.0.1", "-p", sp, "-u", "/index.html"}},
		{"closed port", []string{"-s", "127.0.0.1", "-p", closedPort, "-u", "/"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wo, we, wc := runDebian(t, tc.args...)
			go_, ge, gc := runOurs(t, tc.args...)
			if go_ != wo || ge != we || gc != wc {
				t.Errorf("genhash %s\nkeepalived: code %d stdout %q stderr %q\nvigil:      code %d stdout %q stderr %q",
					strings.Join(tc.args, " "), wc, wo, we, gc, go_, ge)
			}
			if !strings.Contains(tc.name, "closed") && !regexp.MustCompile(`^[0-9a-f]{32}\n$`).MatchString(go_) {
				t.Errorf("stdout %q is not a digest line", go_)
			}
		})
	}
}

// TestVerboseOutputMatchesKeepalived compares -v output, apart from the
// Date header and the response time, on a page that fits in one read.
func TestVerboseOutputMatchesKeepalived(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping nginx integration test")
	}
	requireDebianGenhash(t)
	ng := checktest.StartNginx(t)
	if err := os.WriteFile(filepath.Join(ng.Root, "small.html"), []byte("small page\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-v", "-s", "127.0.0.1", "-p", fmt.Sprint(ng.HTTP.Port()), "-u", "/small.html"}
	// Normalise what legitimately differs between two fetches.
	norm := func(s string) string {
		s = regexp.MustCompile(`= \d+ usecs`).ReplaceAllString(s, "= N usecs")
		// The Date header in the hex and ASCII dumps: blank its characters.
		lines := strings.Split(s, "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, "Date: ") {
				lines[i] = "Date: X"
			}
		}
		return strings.Join(lines, "\n")
	}
	wo, _, _ := runDebian(t, args...)
	go_, _, _ := runOurs(t, args...)
	// Compare everything but the header hex dump, whose Date bytes differ.
	cut := func(s string) string {
		i := strings.Index(s, "[ HTTP Header Ascii Buffer ]")
		if i < 0 {
			return s
		}
		return s[i:]
	}
	if w, g := norm(cut(wo)), norm(cut(go_)); w != g {
		t.Errorf("verbose output differs\nkeepalived:\n%s\nvigil:\n%s", w, g)
	}
	if !strings.HasPrefix(go_, "-----------------------[    HTTP Header Buffer    ]-----------------------\n0000  48 54 54 50") {
		t.Errorf("verbose output does not start with the header dump:\n%s", go_)
	}
}

func TestUsageErrorsMatchKeepalived(t *testing.T) {
	requireDebianGenhash(t)
	tests := [][]string{
		{},
		{"-h"},
		{"-s", "127.0.0.1", "-p", "80"},
		{"-s", "localhost", "-p", "80", "-u", "/"},
		{"-s", "127.0.0.1", "-p", "0", "-u", "/"},
		{"-s", "127.0.0.1", "-p", "80x", "-u", "/"},
		{"-x", "-s", "127.0.0.1", "-p", "80", "-u", "/"},
		{"--bogus", "-s", "127.0.0.1", "-p", "80", "-u", "/"},
		{"-s", "127.0.0.1", "-p", "80", "-u", "/", "extra", "args"},
		{"-s", "127.0.0.1", "-p", "80", "-u", "/", "-P", "2.0"},
		{"-s", "127.0.0.1", "-p", "80", "-u", "/", "-t", "x"},
		{"-s", "127.0.0.1", "-p", "80", "-u"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, "_"), func(t *testing.T) {
			wo, we, wc := runDebian(t, args...)
			go_, ge, gc := runOurs(t, args...)
			if go_ != wo || ge != we || gc != wc {
				t.Errorf("genhash %q\nkeepalived: code %d stdout %q stderr:\n%s\nvigil:      code %d stdout %q stderr:\n%s",
					args, wc, wo, we, gc, go_, ge)
			}
		})
	}
}
