package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-ha/vigil/internal/status"
)

var vrrpLabels = []string{"instance", "vrid", "iface"}

// IPVSSource is implemented by a Source that programs IPVS (lvs.Manager,
// through the daemon's Source): the collector then exports
// vigil_ipvs_ops_total and vigil_ipvs_op_errors_total.
type IPVSSource interface {
	// IPVSOps returns the IPVS operations applied since start by kind
	// (one entry per kind, zeros included: "add_service",
	// "delete_destination", ...) and how many the kernel refused.
	IPVSOps() (applied map[string]uint64, failed uint64)
}

// Collector is a prometheus.Collector over a status.Source.
type Collector struct {
	src status.Source

	state, priority, basePriority, masterPriority, lastTransition *prometheus.Desc
	advertsSent, advertsReceived, foreign, transitions, drops     *prometheus.Desc
	rsUp, rsWeight                                                *prometheus.Desc
	ipvsOps, ipvsOpErrors                                         *prometheus.Desc
	checkRuns, checkFailures, checkLatency                        *prometheus.Desc
}

// NewCollector returns a collector over src.
func NewCollector(src status.Source) *Collector {
	d := func(name, help string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(append([]string{}, vrrpLabels...), extra...), nil)
	}
	rs := []string{"virtual_server", "real_server"}
	return &Collector{
		src:            src,
		state:          d("vigil_vrrp_state", "VRRP instance state: 1 for the current state, 0 for the others.", "state"),
		priority:       d("vigil_vrrp_priority", "Effective VRRP priority (base priority plus tracker weights)."),
		basePriority:   d("vigil_vrrp_base_priority", "Configured VRRP priority."),
		masterPriority: d("vigil_vrrp_master_priority", "Priority of the last accepted advert; 0 when none was seen."),
		lastTransition: d("vigil_vrrp_last_transition_timestamp_seconds", "Unix time of the last state transition; 0 when none happened."),
		advertsSent:    d("vigil_vrrp_adverts_sent_total", "VRRP adverts sent."),
		advertsReceived: d("vigil_vrrp_adverts_received_total",
			"VRRP adverts received and accepted."),
		foreign:     d("vigil_vrrp_foreign_adverts_total", "Adverts of other VRIDs seen on the instance's socket."),
		transitions: d("vigil_vrrp_transitions_total", "VRRP state transitions."),
		drops:       d("vigil_vrrp_drops_total", "Received VRRP packets discarded, by reason.", "reason"),
		rsUp:        prometheus.NewDesc("vigil_ipvs_real_server_up", "1 when the real server's checks pass.", rs, nil),
		rsWeight:    prometheus.NewDesc("vigil_ipvs_real_server_weight", "Real server weight in the IPVS table.", rs, nil),
		ipvsOps: prometheus.NewDesc("vigil_ipvs_ops_total",
			"IPVS operations (netlink requests) applied, by kind.", []string{"op"}, nil),
		ipvsOpErrors: prometheus.NewDesc("vigil_ipvs_op_errors_total",
			"IPVS operations the kernel refused.", nil, nil),
		checkRuns: prometheus.NewDesc("vigil_check_runs_total",
			"Health check probes run against the real server (all its checkers).", rs, nil),
		checkFailures: prometheus.NewDesc("vigil_check_failures_total",
			"Health check probes of the real server that failed.", rs, nil),
		checkLatency: prometheus.NewDesc("vigil_check_latency_seconds",
			"How long the real server's last health check probe took.", rs, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.state, c.priority, c.basePriority, c.masterPriority, c.lastTransition,
		c.advertsSent, c.advertsReceived, c.foreign, c.transitions, c.drops,
	} {
		ch <- d
	}
	if _, ok := c.src.(status.RealServerSource); ok {
		ch <- c.rsUp
		ch <- c.rsWeight
		ch <- c.checkRuns
		ch <- c.checkFailures
		ch <- c.checkLatency
	}
	if _, ok := c.src.(IPVSSource); ok {
		ch <- c.ipvsOps
		ch <- c.ipvsOpErrors
	}
}

// Collect implements prometheus.Collector: it reads the source once.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.src.Instances() {
		lv := []string{st.Name, strconv.Itoa(int(st.VRID)), st.Interface}
		gauge := func(d *prometheus.Desc, v float64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append(lv, extra...)...)
		}
		counter := func(d *prometheus.Desc, v uint64, extra ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append(lv, extra...)...)
		}
		for _, s := range status.States() {
			v := 0.0
			if s == st.State {
				v = 1
			}
			gauge(c.state, v, strings.ToLower(s.String()))
		}
		gauge(c.priority, float64(st.Priority))
		gauge(c.basePriority, float64(st.BasePriority))
		gauge(c.masterPriority, float64(st.MasterPriority))
		ts := 0.0
		if !st.Since.IsZero() {
			ts = float64(st.Since.UnixNano()) / 1e9
		}
		gauge(c.lastTransition, ts)
		counter(c.advertsSent, st.Stats.AdvertsSent)
		counter(c.advertsReceived, st.Stats.AdvertsReceived)
		counter(c.foreign, st.Stats.Foreign)
		counter(c.transitions, st.Stats.Transitions)
		// Every reason, zeros included, so that rate() sees the first drop.
		for _, r := range status.DropReasons() {
			counter(c.drops, st.Stats.Drops[r.String()], r.String())
		}
	}
	if rss, ok := c.src.(status.RealServerSource); ok {
		for _, rs := range rss.RealServers() {
			up := 0.0
			if rs.Up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(c.rsUp, prometheus.GaugeValue, up, rs.VirtualServer, rs.RealServer)
			ch <- prometheus.MustNewConstMetric(c.rsWeight, prometheus.GaugeValue, float64(rs.Weight), rs.VirtualServer, rs.RealServer)
			// Only checked real servers have check series: not sorry
			// servers, nor real servers without a checker block.
			if rs.Checker == "" || rs.Checker == "sorry_server" {
				continue
			}
			ch <- prometheus.MustNewConstMetric(c.checkRuns, prometheus.CounterValue, float64(rs.Checks), rs.VirtualServer, rs.RealServer)
			ch <- prometheus.MustNewConstMetric(c.checkFailures, prometheus.CounterValue, float64(rs.CheckFailures), rs.VirtualServer, rs.RealServer)
			if rs.Checks > 0 {
				ch <- prometheus.MustNewConstMetric(c.checkLatency, prometheus.GaugeValue, rs.CheckLatency.Seconds(), rs.VirtualServer, rs.RealServer)
			}
		}
	}
	if is, ok := c.src.(IPVSSource); ok {
		applied, failed := is.IPVSOps()
		for op, n := range applied {
			ch <- prometheus.MustNewConstMetric(c.ipvsOps, prometheus.CounterValue, float64(n), op)
		}
		ch <- prometheus.MustNewConstMetric(c.ipvsOpErrors, prometheus.CounterValue, float64(failed))
	}
}

// NewRegistry returns a registry of its own holding the vigil collector
// and the standard Go runtime and process collectors.
func NewRegistry(src status.Source) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		NewCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Handler serves the metrics of src in the Prometheus exposition formats.
func Handler(src status.Source) http.Handler {
	reg := NewRegistry(src)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// Run serves Handler(src) on /metrics at addr (host:port) until ctx is
// done, then shuts the listener down and returns.
func Run(ctx context.Context, addr string, src status.Source, log *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics listener on %s: %w", addr, err)
	}
	return Serve(ctx, ln, src, log)
}

// Serve is Run on a listener the caller opened (tests, socket activation).
// It closes ln.
func Serve(ctx context.Context, ln net.Listener, src status.Source, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler(src))
	// Go's profiler, for finding where vigil's CPU and memory go; it is
	// served only on the metrics address the operator chose.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("metrics listening", "addr", ln.Addr().String())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
		served <- serveErr
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-served
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("metrics on %s: %w", ln.Addr(), serveErr)
	}
	return nil
}
