package faults

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/bench"
	"github.com/vigil-ha/vigil/internal/nettest"
)

// BenchmarkBadAdvertFlood is TestBadAdvertFlood's load measured for both
// daemons: a pair (A priority 150, B 100) of keepalived 2.2.7, then of
// vigil, on the same keepalived.conf, both as an operator runs them (no
// -D), while a third namespace sends 10,000 bad adverts a second (wrong
// password, bad checksum, priority 200) for their VRID for 10 s.
// Metrics: master-cpu-ms/s and backup-cpu-ms/s over the flood
// (keepalived's parent and VRRP child summed), sent/s, and
// election-held: 1 when A alone holds the VIP after the flood. vigil
// losing it fails the benchmark; keepalived losing it is reported.
//
//	go test -run '^$' -bench BadAdvertFlood -benchtime 1x ./internal/faults
func BenchmarkBadAdvertFlood(b *testing.B) {
	for _, daemon := range []string{"keepalived", "vigil"} {
		b.Run("daemon="+daemon, func(b *testing.B) {
			for b.Loop() {
				benchFlood(b, daemon)
			}
		})
	}
}

func benchFlood(b *testing.B, daemon string) {
	b.StopTimer()
	defer b.StartTimer()
	lab := nettest.NewLab(b, 3, nettest.Options{}) // skips without root
	requireVigil(b)
	vi := inst{Name: "VI_1", VRID: 51, Priority: prioA, AdvInt: time.Second, VIP: labVIP(lab, 1)}
	viB := vi
	viB.Priority = prioB
	var pids [2]int
	for i, c := range []inst{vi, viB} {
		h := lab.Hosts[i]
		if daemon == "vigil" {
			pids[i] = startVigil(b, h, render(c), false).Pid()
			continue
		}
		pids[i] = startKeepalived(b, h, render(c))
	}
	lab.WaitHeldBy(b, vi.VIP.Addr(), masterDownInterval(prioA, vi.AdvInt)+10*time.Second, lab.Hosts[0])

	var u0 [2]bench.Usage
	for i, pid := range pids {
		u, err := bench.ProcUsage(pid)
		if err != nil {
			b.Fatal(err)
		}
		u0[i] = u
	}
	var stop atomic.Bool
	start := time.Now()
	sent, err := flood(lab.Hosts[2], badAdverts(b, vi, lab.Hosts[2].Addr4.Addr()), floodRate, floodFor, &stop)
	wall := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	for i, side := range []string{"master", "backup"} {
		u, err := bench.ProcUsage(pids[i])
		if err != nil {
			b.Fatalf("%s %s side died under the flood: %v", daemon, side, err)
		}
		cpu := float64(u.CPU-u0[i].CPU) / float64(time.Millisecond) / wall.Seconds()
		b.ReportMetric(cpu, side+"-cpu-ms/s")
		b.Logf("%s %s side (pids %v): %.1f ms CPU/s under %d bad adverts in %v", daemon, side, u.PIDs, cpu, sent, wall.Round(time.Millisecond))
	}
	b.ReportMetric(float64(sent)/wall.Seconds(), "sent/s")
	// Did the election hold? 1 if only A holds the VIP after the flood.
	// vigil must hold it (TestBadAdvertFlood checks it all along); for
	// keepalived it is a figure to report.
	hs, err := lab.Holders(vi.VIP.Addr())
	if err != nil {
		b.Fatal(err)
	}
	held := len(hs) == 1 && hs[0] == lab.Hosts[0]
	if held {
		b.ReportMetric(1, "election-held")
	} else {
		b.ReportMetric(0, "election-held")
		b.Logf("%s: after the flood %s is held by %v, want only %s", daemon, vi.VIP.Addr(), hostNames(hs), lab.Hosts[0].Name)
		if daemon == "vigil" {
			b.Errorf("vigil lost the election to a flood of bad adverts")
		}
	}
}

// startKeepalived runs keepalived 2.2.7 in h's namespace as an operator
// would, VRRP only and without -D (nettest.StartKeepalived logs in
// detail, which costs CPU under a flood), its console log in a file, and
// returns the parent's pid. Cleanup stops it with SIGTERM.
func startKeepalived(b *testing.B, h *nettest.Host, config string) int {
	b.Helper()
	if _, err := os.Stat(nettest.KeepalivedPath); err != nil {
		b.Skipf("skipping: Debian keepalived not installed: %v", err)
	}
	dir := b.TempDir()
	conf := filepath.Join(dir, "keepalived.conf")
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		b.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", h.Name, nettest.KeepalivedPath, "-n", "-l", "-P",
		"-f", conf,
		"-p", filepath.Join(dir, "keepalived.pid"),
		"-r", filepath.Join(dir, "vrrp.pid"),
		"-c", filepath.Join(dir, "check.pid"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		b.Fatalf("start keepalived in %s: %v", h.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			b.Errorf("keepalived in %s still running 15 s after SIGTERM; killing it", h.Name)
			if pids, err := bench.Tree(cmd.Process.Pid); err == nil {
				for _, p := range pids[1:] {
					_ = syscall.Kill(p, syscall.SIGKILL)
				}
			}
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if out, err := os.ReadFile(logf.Name()); err == nil {
			b.Logf("keepalived in %s logged %d lines", h.Name, strings.Count(string(out), "\n"))
		}
	})
	return cmd.Process.Pid
}
