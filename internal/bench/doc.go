// Package bench holds what `make bench` needs beyond the benchmarks of
// the other packages: the VRRP scale benchmark (BenchmarkVRRPScale, 1,000
// instances on two lab nodes, vigil against keepalived on the same
// keepalived.conf), and the helpers of the report program
// internal/bench/cmd/report, which runs every benchmark of the project,
// takes the median of several runs and writes bench/results.md and
// bench/failover.png:
//
//   - ParseGoBench reads `go test -bench` output (ns/op, B/op and every
//     ReportMetric unit);
//   - Median and the Row table in Markdown;
//   - ProcUsage reads a process tree's CPU time and memory from /proc
//     (utime+stime of /proc/PID/stat, VmRSS of /proc/PID/status, Pss of
//     /proc/PID/smaps_rollup), for keepalived's parent and children
//     summed as for vigil's single process;
//   - FailoverChart draws failover time per advert_int with gonum/plot.
//
// It does not run anything at import time and holds no global state.
// BenchmarkVRRPScale needs root (network namespaces), Debian's keepalived
// and builds ./cmd/vigil once in TestMain (or uses $VIGIL_BIN); it skips
// with the reason otherwise.
package bench
