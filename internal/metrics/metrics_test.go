package metrics

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ha/vigil/internal/status"
	"github.com/vigil-ha/vigil/internal/vrrp"
)

type fakeSource struct{ insts []status.InstanceStatus }

func (f *fakeSource) Instances() []status.InstanceStatus { return f.insts }

type ipvsSource struct {
	*fakeSource
	rs []status.RealServerStatus
}

func (s ipvsSource) RealServers() []status.RealServerStatus { return s.rs }

func fixture() []status.InstanceStatus {
	return []status.InstanceStatus{
		{
			Name: "VI_1", VRID: 57, Interface: "eth0", State: vrrp.StateMaster, Priority: 150, BasePriority: 150,
			Since: time.Unix(1795610186, 500_000_000),
			Stats: status.Counters{AdvertsSent: 192, AdvertsReceived: 3, Transitions: 2, Foreign: 7},
		},
		{
			Name: "VI_2", VRID: 58, Interface: "eth1", State: vrrp.StateBackup, Priority: 80, BasePriority: 100,
			Master: netip.MustParseAddr("10.99.57.2"), MasterPriority: 110,
			Stats: status.Counters{AdvertsReceived: 190, Transitions: 1, Drops: map[string]uint64{"wrong_ttl": 4, "bad_checksum": 1}},
		},
	}
}

func TestCollectorVRRP(t *testing.T) {
	c := NewCollector(&fakeSource{insts: fixture()})
	want := `
# HELP vigil_vrrp_state VRRP instance state: 1 for the current state, 0 for the others.
# TYPE vigil_vrrp_state gauge
vigil_vrrp_state{iface="eth0",instance="VI_1",state="backup",vrid="57"} 0
vigil_vrrp_state{iface="eth0",instance="VI_1",state="fault",vrid="57"} 0
vigil_vrrp_state{iface="eth0",instance="VI_1",state="init",vrid="57"} 0
vigil_vrrp_state{iface="eth0",instance="VI_1",state="master",vrid="57"} 1
vigil_vrrp_state{iface="eth0",instance="VI_1",state="stop",vrid="57"} 0
vigil_vrrp_state{iface="eth1",instance="VI_2",state="backup",vrid="58"} 1
vigil_vrrp_state{iface="eth1",instance="VI_2",state="fault",vrid="58"} 0
vigil_vrrp_state{iface="eth1",instance="VI_2",state="init",vrid="58"} 0
vigil_vrrp_state{iface="eth1",instance="VI_2",state="master",vrid="58"} 0
vigil_vrrp_state{iface="eth1",instance="VI_2",state="stop",vrid="58"} 0
# HELP vigil_vrrp_priority Effective VRRP priority (base priority plus tracker weights).
# TYPE vigil_vrrp_priority gauge
vigil_vrrp_priority{iface="eth0",instance="VI_1",vrid="57"} 150
vigil_vrrp_priority{iface="eth1",instance="VI_2",vrid="58"} 80
# HELP vigil_vrrp_base_priority Configured VRRP priority.
# TYPE vigil_vrrp_base_priority gauge
vigil_vrrp_base_priority{iface="eth0",instance="VI_1",vrid="57"} 150
vigil_vrrp_base_priority{iface="eth1",instance="VI_2",vrid="58"} 100
# HELP vigil_vrrp_master_priority Priority of the last accepted advert; 0 when none was seen.
# TYPE vigil_vrrp_master_priority gauge
vigil_vrrp_master_priority{iface="eth0",instance="VI_1",vrid="57"} 0
vigil_vrrp_master_priority{iface="eth1",instance="VI_2",vrid="58"} 110
# HELP vigil_vrrp_last_transition_timestamp_seconds Unix time of the last state transition; 0 when none happened.
# TYPE vigil_vrrp_last_transition_timestamp_seconds gauge
vigil_vrrp_last_transition_timestamp_seconds{iface="eth0",instance="VI_1",vrid="57"} 1.7956101865e+09
vigil_vrrp_last_transition_timestamp_seconds{iface="eth1",instance="VI_2",vrid="58"} 0
# HELP vigil_vrrp_adverts_sent_total VRRP adverts sent.
# TYPE vigil_vrrp_adverts_sent_total counter
vigil_vrrp_adverts_sent_total{iface="eth0",instance="VI_1",vrid="57"} 192
vigil_vrrp_adverts_sent_total{iface="eth1",instance="VI_2",vrid="58"} 0
# HELP vigil_vrrp_adverts_received_total VRRP adverts received and accepted.
# TYPE vigil_vrrp_adverts_received_total counter
vigil_vrrp_adverts_received_total{iface="eth0",instance="VI_1",vrid="57"} 3
vigil_vrrp_adverts_received_total{iface="eth1",instance="VI_2",vrid="58"} 190
# HELP vigil_vrrp_foreign_adverts_total Adverts of other VRIDs seen on the instance's socket.
# TYPE vigil_vrrp_foreign_adverts_total counter
vigil_vrrp_foreign_adverts_total{iface="eth0",instance="VI_1",vrid="57"} 7
vigil_vrrp_foreign_adverts_total{iface="eth1",instance="VI_2",vrid="58"} 0
# HELP vigil_vrrp_transitions_total VRRP state transitions.
# TYPE vigil_vrrp_transitions_total counter
vigil_vrrp_transitions_total{iface="eth0",instance="VI_1",vrid="57"} 2
vigil_vrrp_transitions_total{iface="eth1",instance="VI_2",vrid="58"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"vigil_vrrp_state", "vigil_vrrp_priority", "vigil_vrrp_base_priority", "vigil_vrrp_master_priority",
		"vigil_vrrp_last_transition_timestamp_seconds", "vigil_vrrp_adverts_sent_total",
		"vigil_vrrp_adverts_received_total", "vigil_vrrp_foreign_adverts_total", "vigil_vrrp_transitions_total"); err != nil {
		t.Error(err)
	}
}

// Every drop reason has a series, zeros included, so that rate() and
// increase() see the first drop.
func TestCollectorDropsEveryReason(t *testing.T) {
	c := NewCollector(&fakeSource{insts: fixture()})
	n := len(status.DropReasons())
	if n < 20 {
		t.Fatalf("only %d drop reasons", n)
	}
	if got := testutil.CollectAndCount(c, "vigil_vrrp_drops_total"); got != 2*n {
		t.Errorf("vigil_vrrp_drops_total has %d series, want %d (2 instances × %d reasons)", got, 2*n, n)
	}
	want := `
# HELP vigil_vrrp_drops_total Received VRRP packets discarded, by reason.
# TYPE vigil_vrrp_drops_total counter
`
	for _, inst := range []struct{ name, vrid, iface string }{{"VI_1", "57", "eth0"}, {"VI_2", "58", "eth1"}} {
		for _, r := range status.DropReasons() {
			v := "0"
			if inst.name == "VI_2" {
				v = map[string]string{"wrong_ttl": "4", "bad_checksum": "1"}[r.String()]
				if v == "" {
					v = "0"
				}
			}
			want += `vigil_vrrp_drops_total{iface="` + inst.iface + `",instance="` + inst.name + `",reason="` + r.String() + `",vrid="` + inst.vrid + `"} ` + v + "\n"
		}
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "vigil_vrrp_drops_total"); err != nil {
		t.Error(err)
	}
}

// lvsSource is a Source with real servers and IPVS op counters, as the
// daemon with lvs.Manager.
type lvsSource struct {
	ipvsSource
	applied map[string]uint64
	failed  uint64
}

func (s lvsSource) IPVSOps() (map[string]uint64, uint64) { return s.applied, s.failed }

func checkedFixture() lvsSource {
	return lvsSource{
		ipvsSource: ipvsSource{&fakeSource{}, []status.RealServerStatus{
			{VirtualServer: "10.99.57.100:80/tcp", RealServer: "10.99.58.10:80", Weight: 3, Up: true,
				Checker: "TCP_CHECK", Checks: 41, CheckFailures: 2, CheckLatency: 1500 * time.Microsecond},
			{VirtualServer: "10.99.57.100:80/tcp", RealServer: "10.99.58.11:80", Up: false,
				Checker: "HTTP_GET,TCP_CHECK", Checks: 80, CheckFailures: 80, CheckLatency: 3 * time.Second},
			// Not checked yet: counters at zero, no latency.
			{VirtualServer: "fwmark 7", RealServer: "10.99.58.12:443", Weight: 1, Up: true, Checker: "SSL_GET"},
			// No series for a sorry server, nor for a real server without a checker.
			{VirtualServer: "10.99.57.100:80/tcp", RealServer: "10.99.58.9:80", Checker: "sorry_server"},
			{VirtualServer: "fwmark 7", RealServer: "10.99.58.13:443", Weight: 1, Up: true},
		}},
		applied: map[string]uint64{"add_service": 2, "edit_service": 0, "delete_service": 1,
			"add_destination": 7, "edit_destination": 12, "delete_destination": 3},
		failed: 4,
	}
}

func TestCollectorChecksAndIPVSOps(t *testing.T) {
	want := `
# HELP vigil_check_runs_total Health check probes run against the real server (all its checkers).
# TYPE vigil_check_runs_total counter
vigil_check_runs_total{real_server="10.99.58.10:80",virtual_server="10.99.57.100:80/tcp"} 41
vigil_check_runs_total{real_server="10.99.58.11:80",virtual_server="10.99.57.100:80/tcp"} 80
vigil_check_runs_total{real_server="10.99.58.12:443",virtual_server="fwmark 7"} 0
# HELP vigil_check_failures_total Health check probes of the real server that failed.
# TYPE vigil_check_failures_total counter
vigil_check_failures_total{real_server="10.99.58.10:80",virtual_server="10.99.57.100:80/tcp"} 2
vigil_check_failures_total{real_server="10.99.58.11:80",virtual_server="10.99.57.100:80/tcp"} 80
vigil_check_failures_total{real_server="10.99.58.12:443",virtual_server="fwmark 7"} 0
# HELP vigil_check_latency_seconds How long the real server's last health check probe took.
# TYPE vigil_check_latency_seconds gauge
vigil_check_latency_seconds{real_server="10.99.58.10:80",virtual_server="10.99.57.100:80/tcp"} 0.0015
vigil_check_latency_seconds{real_server="10.99.58.11:80",virtual_server="10.99.57.100:80/tcp"} 3
# HELP vigil_ipvs_ops_total IPVS operations (netlink requests) applied, by kind.
# TYPE vigil_ipvs_ops_total counter
vigil_ipvs_ops_total{op="add_destination"} 7
vigil_ipvs_ops_total{op="add_service"} 2
vigil_ipvs_ops_total{op="delete_destination"} 3
vigil_ipvs_ops_total{op="delete_service"} 1
vigil_ipvs_ops_total{op="edit_destination"} 12
vigil_ipvs_ops_total{op="edit_service"} 0
# HELP vigil_ipvs_op_errors_total IPVS operations the kernel refused.
# TYPE vigil_ipvs_op_errors_total counter
vigil_ipvs_op_errors_total 4
`
	if err := testutil.CollectAndCompare(NewCollector(checkedFixture()), strings.NewReader(want),
		"vigil_check_runs_total", "vigil_check_failures_total", "vigil_check_latency_seconds",
		"vigil_ipvs_ops_total", "vigil_ipvs_op_errors_total"); err != nil {
		t.Error(err)
	}
	// A source without IPVSSource exports no op series; one without
	// RealServerSource no check series.
	for name, src := range map[string]status.Source{
		"real servers only": checkedFixture().ipvsSource,
		"VRRP only":         &fakeSource{insts: fixture()},
	} {
		if n := testutil.CollectAndCount(NewCollector(src), "vigil_ipvs_ops_total", "vigil_ipvs_op_errors_total"); n != 0 {
			t.Errorf("%s: %d IPVS op series", name, n)
		}
	}
	if n := testutil.CollectAndCount(NewCollector(&fakeSource{insts: fixture()}), "vigil_check_runs_total"); n != 0 {
		t.Errorf("%d check series without RealServerSource", n)
	}
}

// The collector reads the counters at each scrape.
func TestCollectorChecksMove(t *testing.T) {
	src := checkedFixture()
	src.rs = src.rs[:1]
	c := NewCollector(src)
	src.rs[0].Checks++
	src.rs[0].CheckFailures++
	src.rs[0].CheckLatency = 250 * time.Millisecond
	want := `
# HELP vigil_check_runs_total Health check probes run against the real server (all its checkers).
# TYPE vigil_check_runs_total counter
vigil_check_runs_total{real_server="10.99.58.10:80",virtual_server="10.99.57.100:80/tcp"} 42
# HELP vigil_check_failures_total Health check probes of the real server that failed.
# TYPE vigil_check_failures_total counter
vigil_check_failures_total{real_server="10.99.58.10:80",virtual_server="10.99.57.100:80/tcp"} 3
# HELP vigil_check_latency_seconds How long the real server's last health check probe took.
# TYPE vigil_check_latency_seconds gauge
vigil_check_latency_seconds{real_server="10.99.58.10:80",virtual_server="10.99.57.100:80/tcp"} 0.25
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"vigil_check_runs_total", "vigil_check_failures_total", "vigil_check_latency_seconds"); err != nil {
		t.Error(err)
	}
}

func TestCollectorLint(t *testing.T) {
	problems, err := testutil.CollectAndLint(NewCollector(checkedFixture()))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestCollectorRealServers(t *testing.T) {
	src := ipvsSource{&fakeSource{}, []status.RealServerStatus{
		{VirtualServer: "10.99.57.100:80/tcp", RealServer: "10.99.58.10:80", Weight: 3, Up: true},
		{VirtualServer: "10.99.57.100:80/tcp", RealServer: "10.99.58.11:80", Weight: 0, Up: false},
	}}
	want := `
# HELP vigil_ipvs_real_server_up 1 when the real server's checks pass.
# TYPE vigil_ipvs_real_server_up gauge
vigil_ipvs_real_server_up{real_server="10.99.58.10:80",virtual_server="10.99.57.100:80/tcp"} 1
vigil_ipvs_real_server_up{real_server="10.99.58.11:80",virtual_server="10.99.57.100:80/tcp"} 0
# HELP vigil_ipvs_real_server_weight Real server weight in the IPVS table.
# TYPE vigil_ipvs_real_server_weight gauge
vigil_ipvs_real_server_weight{real_server="10.99.58.10:80",virtual_server="10.99.57.100:80/tcp"} 3
vigil_ipvs_real_server_weight{real_server="10.99.58.11:80",virtual_server="10.99.57.100:80/tcp"} 0
`
	if err := testutil.CollectAndCompare(NewCollector(src), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// A source without real servers exports none.
	if n := testutil.CollectAndCount(NewCollector(&fakeSource{insts: fixture()}), "vigil_ipvs_real_server_up"); n != 0 {
		t.Errorf("%d real server series without RealServerSource", n)
	}
}

// The collector reads the source at each scrape.
func TestHandlerScrapesCurrentState(t *testing.T) {
	src := &fakeSource{insts: fixture()}
	h := Handler(src)
	scrape := func() string {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	body := scrape()
	for _, want := range []string{
		`vigil_vrrp_state{iface="eth0",instance="VI_1",state="master",vrid="57"} 1`,
		`vigil_vrrp_drops_total{iface="eth1",instance="VI_2",reason="wrong_ttl",vrid="58"} 4`,
		"go_goroutines ", // the registry's own Go collector
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	src.insts[0].State = vrrp.StateBackup
	if body := scrape(); !strings.Contains(body, `vigil_vrrp_state{iface="eth0",instance="VI_1",state="backup",vrid="57"} 1`) {
		t.Error("second scrape does not show the new state")
	}
}

// Two handlers register the same collectors on registries of their own:
// nothing is global.
func TestNoGlobalRegistry(t *testing.T) {
	a, b := NewRegistry(&fakeSource{insts: fixture()}), NewRegistry(&fakeSource{})
	if _, err := a.Gather(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Gather(); err != nil {
		t.Fatal(err)
	}
}

func TestServeStopsCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, &fakeSource{insts: fixture()}, slog.New(slog.DiscardHandler)) }()

	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections()
	if !strings.Contains(string(body), "vigil_vrrp_priority") {
		t.Errorf("GET /metrics lacks vigil metrics:\n%.300s", body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still open after Serve returned")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutine leak: %d > %d\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond) // polling the runtime
	}
}

func TestRunReportsListenError(t *testing.T) {
	err := Run(t.Context(), "127.0.0.1:bogus", &fakeSource{}, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "metrics listener on 127.0.0.1:bogus") {
		t.Errorf("Run on a bad address: %v", err)
	}
}
