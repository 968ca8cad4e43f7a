package faults

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/bench"
	"github.com/vigil-ha/vigil/internal/nettest"
)

// metricsAddr is where every vigil of the suite serves --metrics: on the
// loopback of its own namespace, so the same port never clashes.
const metricsAddr = "127.0.0.1:9650"

// vigilProc is the vigil binary running in a lab host in the foreground,
// its log kept in memory, its metrics reachable through the namespace.
type vigilProc struct {
	*nettest.Proc
	Conf string // path of its keepalived.conf
	http *http.Client
}

// startVigil writes config and runs
//
//	ip netns exec NS vigil -n -l -P -f CONF -p PID -r VRRP_PID -c CHECK_PID \
//	    --socket SOCK --metrics 127.0.0.1:9650
//
// and waits for the metrics endpoint to answer. debug adds -D (every
// dropped advert logged). Cleanup stops it with SIGTERM and logs its
// output when the test failed.
func startVigil(t testing.TB, h *nettest.Host, config string, debug bool) *vigilProc {
	t.Helper()
	requireVigil(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			// Dial from inside the namespace: the socket stays there.
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				var c net.Conn
				err := h.Do(func() error {
					var d net.Dialer
					var err error
					c, err = d.DialContext(ctx, network, addr)
					return err
				})
				return c, err
			},
		},
	}
	argv := []string{vigilBin, "-n", "-l", "-P",
		"-f", conf,
		"-p", filepath.Join(dir, "vigil.pid"),
		"-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "check.pid"),
		"--socket", filepath.Join(dir, "vigil.sock"),
		"--metrics", metricsAddr}
	if debug {
		argv = append(argv, "-D")
	}
	v := &vigilProc{Proc: nettest.StartProc(t, h, "vigil", dir, argv...), Conf: conf, http: client}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := v.Metrics()
		if err == nil {
			break
		}
		if v.Exited() || time.Now().After(deadline) {
			t.Fatalf("vigil in %s: metrics endpoint not up: %v\n%s", h.Name, err, v.Tail(40))
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-v.Done():
		}
	}
	return v
}

// Reload writes config over the running one and sends SIGHUP.
func (v *vigilProc) Reload(config string) error {
	if err := os.WriteFile(v.Conf, []byte(config), 0o644); err != nil {
		return err
	}
	if err := v.Signal(syscall.SIGHUP); err != nil {
		return err
	}
	return nil
}

// requireAlive fails the test when vigil has exited (crashed).
func (v *vigilProc) requireAlive(t *testing.T) {
	t.Helper()
	if v.Exited() {
		t.Fatalf("vigil in %s exited: %v\n%s", v.Host.Name, v.State(), v.Tail(40))
	}
}

// metrics is one scrape: the value of each series, keyed by the series
// as exposed ("name" or `name{label="v",...}`).
type metrics map[string]float64

// Sum adds the series of one metric name, all labels.
func (m metrics) Sum(name string) float64 {
	s := 0.0
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// Metrics scrapes /metrics in the text exposition format.
func (v *vigilProc) Metrics() (metrics, error) {
	resp, err := v.http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("scrape vigil in %s: %w", v.Host.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape vigil in %s: %s", v.Host.Name, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (metrics, error) {
	m := metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if i < 0 {
			continue
		}
		val, err := strconv.ParseFloat(l[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", l, err)
		}
		m[l[:i]] = val
	}
	return m, sc.Err()
}

// mustMetrics scrapes or fails the test.
func (v *vigilProc) mustMetrics(t *testing.T) metrics {
	t.Helper()
	m, err := v.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Goroutines is the go_goroutines gauge of the Go collector.
func (v *vigilProc) Goroutines() (int, error) {
	m, err := v.Metrics()
	if err != nil {
		return 0, err
	}
	g, ok := m["go_goroutines"]
	if !ok {
		return 0, fmt.Errorf("vigil in %s: no go_goroutines in its metrics", v.Host.Name)
	}
	return int(g), nil
}

// CPU is the process's utime+stime so far.
func (v *vigilProc) CPU() (time.Duration, error) {
	u, err := bench.ProcUsage(v.Pid())
	return u.CPU, err
}

// goroutineBaseline reads go_goroutines once the count has stayed the
// same over two scrapes half a second apart (a GARP burst or a notify
// can hold a few goroutines for a moment), at most for 10 s.
func (v *vigilProc) goroutineBaseline(t *testing.T) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	prev := -1
	for {
		g, err := v.Goroutines()
		if err != nil {
			t.Fatal(err)
		}
		if g == prev || time.Now().After(deadline) {
			return g
		}
		prev = g
		<-time.After(500 * time.Millisecond)
	}
}

// checkNoGoroutineLeak polls go_goroutines until it is back at or below
// before, failing with the last count after 15 s: whatever the fault
// started must have ended once the pair is back in the same roles.
func (v *vigilProc) checkNoGoroutineLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		g, err := v.Goroutines()
		if err != nil {
			t.Fatal(err)
		}
		if g <= before {
			t.Logf("vigil in %s: %d goroutines after the fault, %d before", v.Host.Name, g, before)
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("goroutine leak in vigil in %s: go_goroutines %d after the fault, %d before", v.Host.Name, g, before)
			return
		}
		<-time.After(200 * time.Millisecond)
	}
}
