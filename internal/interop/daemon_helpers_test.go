package interop

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/vigil-ha/vigil/internal/nettest"
	"github.com/vigil-ha/vigil/internal/status"
)

// This file holds the helpers of the daemon-life and tracking tests
// (lifecycle_test.go, tracking_test.go): richer keepalived.conf text,
// script files, a vigil started with its control socket and metrics
// endpoint, reloads, netlink address watches and metric scrapes.

// daemonConf is a keepalived.conf with global_defs, vrrp_scripts and
// several instances; both daemons read the same text.
type daemonConf struct {
	// ScriptSecurity writes enable_script_security and script_user root.
	ScriptSecurity bool
	// Global are extra global_defs lines.
	Global    []string
	Scripts   []scriptConf
	Instances []vrrpConf
}

// scriptConf is one vrrp_script.
type scriptConf struct {
	Name     string
	Script   string // the script line, a path and arguments
	Interval int    // seconds
	Weight   int
}

// vrrpConf is one vrrp_instance on the lab's eth0.
type vrrpConf struct {
	Name      string
	VRID      int
	Version   int
	Priority  int
	AdvertInt time.Duration
	VIP       netip.Prefix
	// TrackScripts are the names listed in track_script.
	TrackScripts []string
	// Extra are more lines of the instance block (notify_* ...).
	Extra []string
}

func (c daemonConf) render() string {
	var b strings.Builder
	b.WriteString("global_defs {\n  router_id interop\n")
	if c.ScriptSecurity {
		b.WriteString("  enable_script_security\n  script_user root\n")
	}
	for _, l := range c.Global {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	b.WriteString("}\n")
	for _, s := range c.Scripts {
		fmt.Fprintf(&b, "vrrp_script %s {\n  script %q\n  interval %d\n  weight %d\n  fall 1\n  rise 1\n}\n",
			s.Name, s.Script, s.Interval, s.Weight)
	}
	for _, in := range c.Instances {
		fmt.Fprintf(&b, "vrrp_instance %s {\n  state BACKUP\n  interface %s\n  virtual_router_id %d\n  priority %d\n",
			in.Name, nettest.IfName, in.VRID, in.Priority)
		if in.Version != 0 {
			fmt.Fprintf(&b, "  version %d\n", in.Version)
		}
		fmt.Fprintf(&b, "  advert_int %s\n", seconds(in.AdvertInt))
		if len(in.TrackScripts) > 0 {
			b.WriteString("  track_script {\n")
			for _, n := range in.TrackScripts {
				fmt.Fprintf(&b, "    %s\n", n)
			}
			b.WriteString("  }\n")
		}
		for _, l := range in.Extra {
			fmt.Fprintf(&b, "  %s\n", l)
		}
		fmt.Fprintf(&b, "  virtual_ipaddress {\n    %s\n  }\n}\n", in.VIP)
	}
	return b.String()
}

// withPriority returns a copy of c with every instance at the priority
// prio returns for it.
func (c daemonConf) withPriority(prio func(vrrpConf) int) daemonConf {
	out := c
	out.Instances = append([]vrrpConf(nil), c.Instances...)
	for i := range out.Instances {
		out.Instances[i].Priority = prio(out.Instances[i])
	}
	return out
}

// writeScript writes an executable shell script into dir and returns its
// path. The directory comes from t.TempDir (root's, mode 0700, under the
// sticky /tmp), so the script passes enable_script_security unless mode
// makes it writable by others.
func writeScript(t testing.TB, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o700); err != nil {
		t.Fatal(err)
	}
	// Chmod, not WriteFile's mode: the umask would clear o+w.
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// recorder is a notify script that appends its arguments, one line per
// run, to a file.
type recorder struct {
	Path string // the script
	File string // what it writes
}

func newRecorder(t testing.TB, dir, name string) recorder {
	t.Helper()
	file := filepath.Join(dir, name+".log")
	return recorder{
		Path: writeScript(t, dir, name+".sh", fmt.Sprintf("echo \"$*\" >> %s\n", file), 0o755),
		File: file,
	}
}

// Lines returns what the script recorded so far.
func (r recorder) Lines() []string {
	b, err := os.ReadFile(r.File)
	if err != nil {
		return nil
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// Wait polls until at least n lines are recorded and returns them; on
// timeout it fails the test with the lines seen.
func (r recorder) Wait(t testing.TB, n int, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		got := r.Lines()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d notify lines within %v: %q", r.File, len(got), n, timeout, got)
		}
		<-tick.C
	}
}

// startVigilWith is startVigil with vigil's control socket in the test's
// directory (never the shared default /run/vigil/vigil.sock) and extra
// flags such as --metrics ADDR. The socket's path is v.Dir/vigil.sock.
func startVigilWith(t testing.TB, h *nettest.Host, config string, extra ...string) *vigilProc {
	t.Helper()
	return startVigilArgs(t, h, config, extra...)
}

// socket is the control socket startVigilWith gave vigil.
func (v *vigilProc) socket() string { return filepath.Join(v.Dir, "vigil.sock") }

// confPath is the keepalived.conf vigil reads.
func (v *vigilProc) confPath() string { return filepath.Join(v.Dir, "keepalived.conf") }

var reReloadDone = regexp.MustCompile(`Reload finished|Reload refused|Reload failed`)

// reload rewrites vigil's keepalived.conf (unless config is empty), sends
// SIGHUP and returns the line that ends the reload: "Reload finished ...",
// "Reload refused ..." or "Reload failed ...".
func (v *vigilProc) reload(t testing.TB, config string) string {
	t.Helper()
	if config != "" {
		if err := os.WriteFile(v.confPath(), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mark := v.Mark()
	if err := v.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP vigil: %v", err)
	}
	return mustLog(t, v, mark, reReloadDone, 10*time.Second)
}

// countLines counts the log lines of n after mark that match re.
func countLines(n node, mark int, re *regexp.Regexp) []string {
	lines := strings.Split(n.Log(), "\n")
	var out []string
	for i := mark; i < len(lines); i++ {
		if re.MatchString(lines[i]) {
			out = append(out, lines[i])
		}
	}
	return out
}

// vigilStatus runs `vigil status --socket S --json` and decodes it.
func vigilStatus(t testing.TB, v *vigilProc) status.Report {
	t.Helper()
	out := vigilCLI(t, "status", "--socket", v.socket(), "--json")
	var r status.Report
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("vigil status --json: %v\n%s", err, out)
	}
	return r
}

// vigilCLI runs the vigil binary with args (a client subcommand) and
// returns its standard output; a failure fails the test.
func vigilCLI(t testing.TB, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, vigilBin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("vigil %s: %v\n%s%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes()
}

// instanceStatus returns the named instance of r.
func instanceStatus(t testing.TB, r status.Report, name string) status.InstanceStatus {
	t.Helper()
	for _, in := range r.Instances {
		if in.Name == name {
			return in
		}
	}
	t.Fatalf("vigil status has no instance %s: %+v", name, r.Instances)
	return status.InstanceStatus{}
}

// transitions maps each instance to its transition counter.
func transitions(r status.Report) map[string]uint64 {
	m := map[string]uint64{}
	for _, in := range r.Instances {
		m[in.Name] = in.Stats.Transitions
	}
	return m
}

// addrEvent is one RTM_NEWADDR or RTM_DELADDR seen in a namespace.
type addrEvent struct {
	At   time.Time
	Addr netip.Addr
	New  bool
}

// addrWatch records the address changes of one namespace from a netlink
// subscription opened in it: every removal of a VIP shows, however brief.
type addrWatch struct {
	mu     sync.Mutex
	events []addrEvent
	err    error
}

func watchAddrs(t testing.TB, h *nettest.Host) *addrWatch {
	t.Helper()
	w := &addrWatch{}
	ch := make(chan netlink.AddrUpdate, 256)
	done := make(chan struct{})
	ns := h.NS()
	if err := netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{
		Namespace:         &ns,
		ReceiveBufferSize: 1 << 20,
		ErrorCallback: func(err error) {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
		},
	}); err != nil {
		t.Fatalf("subscribe to address changes in %s: %v", h.Name, err)
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for u := range ch {
			a, ok := netip.AddrFromSlice(u.LinkAddress.IP)
			if !ok {
				continue
			}
			w.mu.Lock()
			w.events = append(w.events, addrEvent{At: time.Now(), Addr: a.Unmap(), New: u.NewAddr})
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		close(done)
		// The subscription closes ch once its socket read returns; an
		// address change of our own wakes it.
		select {
		case <-finished:
		case <-time.After(2 * time.Second):
		}
	})
	return w
}

// Len is a mark for Removed.
func (w *addrWatch) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.events)
}

// Removed lists the removals of addr seen from mark on.
func (w *addrWatch) Removed(mark int, addr netip.Addr) ([]addrEvent, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []addrEvent
	for _, e := range w.events[min(mark, len(w.events)):] {
		if e.Addr == addr && !e.New {
			out = append(out, e)
		}
	}
	return out, w.err
}

// checkNotRemoved fails the test if addr was removed since mark.
func (w *addrWatch) checkNotRemoved(t testing.TB, mark int, addr netip.Addr, what string) {
	t.Helper()
	rm, err := w.Removed(mark, addr)
	if err != nil {
		t.Errorf("address watch: %v", err)
	}
	if len(rm) > 0 {
		t.Errorf("%s: VIP %s removed %d times (first at %s)", what, addr, len(rm), rm[0].At.Format("15:04:05.000"))
	}
}

// scrape fetches http://addr/metrics from inside the host's namespace:
// the TCP connection is dialled on a thread in the namespace (Host.Do)
// and the request written on it, because http.Transport would dial from
// another goroutine, outside the namespace.
func scrape(t testing.TB, h *nettest.Host, addr string) metricSet {
	t.Helper()
	var conn net.Conn
	if err := h.Do(func() error {
		var err error
		conn, err = net.DialTimeout("tcp", addr, 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("metrics: dial %s in %s: %v", addr, h.Name, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Close = true
	if err := req.Write(conn); err != nil {
		t.Fatalf("metrics: write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatalf("metrics: read response: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("metrics: read body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET http://%s/metrics: %s\n%s", addr, resp.Status, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /metrics Content-Type %q, want the Prometheus text format (text/plain)", ct)
	}
	m, err := parseMetrics(string(body))
	if err != nil {
		t.Fatalf("metrics: %v\n%s", err, body)
	}
	return m
}

// metricSet is a scrape: series (name and sorted labels, as Prometheus
// prints them) to value.
type metricSet map[string]float64

var reSample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$`)

// parseMetrics reads the Prometheus text format. Series keys are
// `name{k="v",...}` with the labels in the order printed (the client
// library sorts them).
func parseMetrics(text string) (metricSet, error) {
	m := metricSet{}
	for _, l := range strings.Split(text, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		s := reSample.FindStringSubmatch(l)
		if s == nil {
			return nil, fmt.Errorf("bad sample line %q", l)
		}
		v, err := strconv.ParseFloat(s[4], 64)
		if err != nil {
			return nil, fmt.Errorf("bad value in %q: %w", l, err)
		}
		m[s[1]+s[2]] = v
	}
	return m, nil
}

// get returns the series name{labels} where labels are the given pairs
// in the client library's order (sorted by name).
func (m metricSet) get(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	var ls []string
	for i := 0; i+1 < len(labels); i += 2 {
		ls = append(ls, fmt.Sprintf("%s=%q", labels[i], labels[i+1]))
	}
	key := name
	if len(ls) > 0 {
		key += "{" + strings.Join(ls, ",") + "}"
	}
	v, ok := m[key]
	if !ok {
		var near []string
		for k := range m {
			if strings.HasPrefix(k, name) {
				near = append(near, k)
			}
		}
		t.Fatalf("no series %s in the scrape; series of %s: %v", key, name, near)
	}
	return v
}

// instLabels are the labels of an instance's series, sorted by name.
func instLabels(name string, vrid int, extra ...string) []string {
	l := []string{"iface", nettest.IfName, "instance", name}
	// state and reason sort between instance and vrid.
	l = append(l, extra...)
	return append(l, "vrid", strconv.Itoa(vrid))
}

// processesWith lists the pids whose command line contains s.
func processesWith(s string) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s) {
			out = append(out, pid)
		}
	}
	return out
}
