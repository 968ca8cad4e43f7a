// Package check implements keepalived's real-server health checkers and the
// loop that runs them.
//
// Each checker (HTTPGet for HTTP_GET and SSL_GET, TCP for TCP_CHECK, SMTP for
// SMTP_CHECK, Misc for MISC_CHECK, DNS for DNS_CHECK) performs exactly one
// probe per call of Check(ctx); the probe's deadline (connect_timeout,
// misc_timeout) is carried by ctx. Checkers hold no timers and start no
// goroutines.
//
// The retry and state rules of keepalived 2.2.7 (retry, delay_before_retry,
// delay_loop, warmup, alpha, the multi-URL walk of HTTP_GET) live in the pure
// Tracker (state.go), which is fed results and returns the next delay and any
// UP/DOWN transition. Scheduler (scheduler.go) runs many Trackers from one
// timer heap and a bounded worker pool; on Linux, TCP_CHECKs (Connectors)
// run instead on one event loop (tcpprobe_linux.go) with non-blocking
// connects watched by epoll, as keepalived's checker process does, so that
// thousands of them cost one goroutine and no per-probe timer.
//
// What this package does not do: parse keepalived.conf (internal/conf does;
// the daemon maps its typed config onto the Config structs here), change IPVS
// weights, send smtp_alert mail or run notify_up/notify_down scripts. It
// reports transitions and misc_dynamic weights through a callback.
//
// Reference: keepalived.conf(5) of keepalived 2.2.7, section "Virtual
// server(s)", checker blocks HTTP_GET|SSL_GET, TCP_CHECK, SMTP_CHECK,
// DNS_CHECK, MISC_CHECK.
package check
