package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// newUnixTestServer serves s's handler with httptest over a unix socket
// in a temporary directory and returns the socket path.
func newUnixTestServer(t *testing.T, s *Server) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	return path
}

func newTestServer(t *testing.T, src Source) *Server {
	s := New(src, slog.New(slog.NewTextHandler(t.Output(), nil)))
	s.now = func() time.Time { return reportT }
	return s
}

func TestStatusOverUnixSocket(t *testing.T) {
	checkNoLeak(t)
	src := &fakeSource{insts: fixture()}
	path := newUnixTestServer(t, newTestServer(t, fullSource{src}))
	src.rs = []RealServerStatus{{VirtualServer: "10.99.57.100:80/tcp", RealServer: "10.99.58.10:80", Weight: 1, Up: true, Checker: "HTTP_GET"}}

	got, err := Status(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	want := Report{Time: reportT, Instances: fixture(), RealServers: src.rs}
	if d := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); d != "" {
		t.Errorf("Status (-want +got):\n%s", d)
	}

	// The server reads the source per request: a change shows at once.
	insts := fixture()
	insts[1].State = insts[0].State
	src.set(insts[:2])
	got, err = Status(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Instances) != 2 || got.Instances[1].State != insts[0].State {
		t.Errorf("second Status = %+v, want the source's new content", got.Instances)
	}
}

func TestStatusJSONWire(t *testing.T) {
	s := newTestServer(t, &fakeSource{insts: fixture()[1:2]})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/status", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET /v1/status: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	golden(t, "status.json.golden", rec.Body.Bytes())
}

func TestExplainOverUnixSocket(t *testing.T) {
	checkNoLeak(t)
	src := &fakeSource{insts: fixture(), trackers: fixtureTrackers()}
	path := newUnixTestServer(t, newTestServer(t, fullSource{src}))

	e, err := Explain(t.Context(), path, "VI_6")
	if err != nil {
		t.Fatal(err)
	}
	want := Diagnose(fixture()[2], fixtureTrackers()["VI_6"])
	if d := cmp.Diff(want, e); d != "" {
		t.Errorf("Explain (-want +got):\n%s", d)
	}

	_, err = Explain(t.Context(), path, "VI_9")
	if err == nil || !strings.Contains(err.Error(), `no VRRP instance "VI_9": known instances are VI_1, VI_2, VI_6`) {
		t.Errorf("Explain(VI_9) error = %v, want the known instances listed", err)
	}
}

// Without an Explainer the explanation rests on the snapshot alone.
func TestExplainWithoutTrackers(t *testing.T) {
	s := newTestServer(t, &fakeSource{insts: fixture(), trackers: fixtureTrackers()})
	e, ok := s.Explain("VI_6")
	if !ok {
		t.Fatal("VI_6 not found")
	}
	if e.Trackers != nil || !strings.Contains(e.Notes[0], "details unavailable") {
		t.Errorf("explanation without Explainer = %+v", e)
	}
}

func TestStatusErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Status(t.Context(), filepath.Join(dir, "none.sock"))
	if err == nil || !strings.Contains(err.Error(), "is vigil running?") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Status on a missing socket: %v, want a hint and a wrapped ENOENT", err)
	}

	s := newTestServer(t, &fakeSource{})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v1/status", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /v1/status = %d, want 405", rec.Code)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/status", nil))
	if !strings.Contains(rec.Body.String(), `"instances": []`) {
		t.Errorf("empty source: %s, want an empty instances list, not null", rec.Body)
	}
}

// runServer starts Run and waits until the socket answers.
func runServer(t *testing.T, s *Server, path string) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, path) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := Status(t.Context(), path); err == nil {
			break
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("Run returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("control socket never answered")
		}
		time.Sleep(5 * time.Millisecond) // polling for the listener
	}
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after cancel")
			return nil
		}
	}
}

func TestRunServesSocket0600AndCleansUp(t *testing.T) {
	checkNoLeak(t)
	path := filepath.Join(t.TempDir(), "sub", "v.sock") // the directory is created
	src := &fakeSource{insts: fixture()}
	stop := runServer(t, newTestServer(t, src), path)

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a socket with 0600", fi.Mode())
	}
	r, err := Status(t.Context(), path)
	if err != nil || len(r.Instances) != 3 {
		t.Fatalf("Status = %d instances, %v", len(r.Instances), err)
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left behind after Run: %v", err)
	}
}

func TestRunReplacesStaleSocket(t *testing.T) {
	checkNoLeak(t)
	path := filepath.Join(t.TempDir(), "v.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // a crashed daemon's socket: the file stays, nobody listens
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket not left in place: %v", err)
	}
	stop := runServer(t, newTestServer(t, &fakeSource{insts: fixture()}), path)
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestRunRefusesLiveSocketOrOtherFile(t *testing.T) {
	checkNoLeak(t)
	dir := t.TempDir()
	live := filepath.Join(dir, "live.sock")
	ln, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // answer the probe
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	s := newTestServer(t, &fakeSource{})
	err = s.Run(t.Context(), live)
	if err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("Run on a live socket: %v, want in use", err)
	}

	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	err = s.Run(t.Context(), file)
	if err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("Run on a regular file: %v, want not a socket", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Errorf("Run touched a regular file: %q", b)
	}
}

func TestRunCLI(t *testing.T) {
	checkNoLeak(t)
	src := &fakeSource{insts: fixture(), trackers: fixtureTrackers()}
	src.insts[0].Since = time.Now().Add(-90 * time.Second) // SINCE counts from the daemon's clock
	path := newUnixTestServer(t, New(fullSource{src}, slog.New(slog.DiscardHandler)))
	missing := filepath.Join(t.TempDir(), "none.sock")

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err string // substrings
	}{
		{"table", []string{"status", "--socket", path}, 0, "INSTANCE  VRID  IFACE  STATE   PRIO    VIPS", ""},
		{"table row", []string{"status", "--socket=" + path}, 0, "VI_2      58    eth0   BACKUP  90      10.99.57.200", ""},
		{"json", []string{"status", "--socket", path, "--json"}, 0, `"name": "VI_6"`, ""},
		{"explain", []string{"explain", "--socket", path, "VI_6"}, 0, "VI_6 is FAULT\n  why:", ""},
		{"explain flags after name", []string{"explain", "VI_2", "--socket", path, "--json"}, 0, `"rule": "backup: master 10.99.57.2 advertises priority 110 \u003e our 90`, ""},
		{"explain unknown", []string{"explain", "--socket", path, "VI_9"}, 1, "", `no VRRP instance "VI_9"`},
		{"explain no name", []string{"explain", "--socket", path}, 2, "", "name one VRRP instance"},
		{"status extra arg", []string{"status", "--socket", path, "VI_1"}, 2, "", `unexpected argument "VI_1"`},
		{"bad flag", []string{"status", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{"help", []string{"status", "-h"}, 0, "", "usage: vigil status"},
		{"no daemon", []string{"status", "--socket", missing}, 1, "", "is vigil running?"},
		{"unknown command", []string{"stats"}, 2, "", `unknown command "stats"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := RunCLI(t.Context(), tc.args, &out, &errb)
			if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errb.String(), tc.err) {
				t.Errorf("RunCLI(%q) = %d\nstdout:\n%s\nstderr:\n%s\nwant %d, stdout with %q, stderr with %q",
					tc.args, code, out.String(), errb.String(), tc.code, tc.out, tc.err)
			}
		})
	}

	// --json prints the report the API serves, decodable as a Report.
	var out bytes.Buffer
	if code := RunCLI(t.Context(), []string{"status", "--json", "--socket", path}, &out, &out); code != 0 {
		t.Fatalf("status --json: %d %s", code, out.String())
	}
	var r Report
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || len(r.Instances) != 3 || r.Instances[2].State != fixture()[2].State {
		t.Errorf("status --json does not decode to the report: %v\n%s", err, out.String())
	}
}
