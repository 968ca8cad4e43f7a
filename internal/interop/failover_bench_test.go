package interop

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/nettest"
)

// failoverCase is one advert interval of BenchmarkFailover.
type failoverCase struct {
	name    string
	version int
	advInt  time.Duration
}

var failoverCases = []failoverCase{
	{name: "v2-1s", version: 2, advInt: time.Second},
	{name: "v3-100ms", version: 3, advInt: 100 * time.Millisecond},
	{name: "v3-10ms", version: 3, advInt: 10 * time.Millisecond},
}

// Priorities of the benchmark's master and backup.
const (
	benchMasterPrio = 150
	benchBackupPrio = 100
)

// failoverSample is one failover measured on the wire.
type failoverSample struct {
	advert time.Duration // old master's last advert → backup's first advert
	garp   time.Duration // old master's last advert → backup's first gratuitous ARP
}

// failoverResult collects the samples of one sub-benchmark for the
// markdown table.
type failoverResult struct {
	c              failoverCase
	master, backup string
	samples        []failoverSample
}

// BenchmarkFailover measures how long a backup takes to replace a master
// that vanished without a word (SIGKILL: no priority-0 advert), on the
// wire: from the old master's last advert to the backup's first advert
// and first gratuitous ARP, both timestamped by the kernel in the bridge
// namespace. RFC 5798 §6.4.2: the backup becomes master when
// Master_Down_Timer fires, Master_Down_Interval after the last advert it
// received. For each advert interval vigil and keepalived take turns as
// the backup of the same master type. Metrics per sub-benchmark:
// failover-ms and garp-ms (means), max-failover-ms, mdi-ms (the RFC's
// Master_Down_Interval for the backup) and over-mdi-ms (mean excess).
// ns/op is the whole cycle (restart the master, wait for the election,
// kill it, wait for the backup) and means little. The results are also
// written to bench/failover.md at the module root.
func BenchmarkFailover(b *testing.B) {
	lab := nettest.NewLab(b, 2, nettest.Options{}) // skips without privilege
	requireVigil(b)
	w := startWire(b, lab.Switch, "br0")
	var results []*failoverResult
	n := 0
	for _, c := range failoverCases {
		for _, master := range []string{"keepalived", "vigil"} {
			for _, backup := range []string{"vigil", "keepalived"} {
				n++
				vrid, vip := 100+n, labVIP(lab, 100+n, false)
				name := fmt.Sprintf("%s/master=%s/backup=%s", c.name, master, backup)
				b.Run(name, func(b *testing.B) {
					r := &failoverResult{c: c, master: master, backup: backup}
					benchFailover(b, lab, w, c, vrid, vip, master, backup, r)
					results = append(results, r)
				})
			}
		}
	}
	if len(results) > 0 {
		if err := writeFailoverTable(filepath.Join("..", "..", "bench", "failover.md"), results); err != nil {
			b.Errorf("write bench/failover.md: %v", err)
		}
	}
}

func benchFailover(b *testing.B, lab *nettest.Lab, w *wire, c failoverCase, vrid int, vipP netip.Prefix, masterKind, backupKind string, r *failoverResult) {
	mh, bh := lab.Hosts[0], lab.Hosts[1]
	mMAC, bMAC := hostMAC(b, mh), hostMAC(b, bh)
	conf := func(prio int) instConf {
		return instConf{VRID: vrid, Version: c.version, Priority: prio, AdvertInt: c.advInt, VIP: vipP}
	}
	master := &member{kind: masterKind, host: mh, conf: conf(benchMasterPrio)}
	backup := &member{kind: backupKind, host: bh, conf: conf(benchBackupPrio)}
	mdi := masterDownInterval(c.version, benchBackupPrio, c.advInt)
	elect := masterDownInterval(c.version, benchMasterPrio, c.advInt) + 2*c.advInt + 5*time.Second
	vip := vipP.Addr()

	backup.start(b)
	mustLog(b, backup.node, 0, reMaster, elect+mdi)
	for b.Loop() {
		// The master (re)starts, preempts the backup and sends adverts
		// the backup has seen.
		mark := backup.node.Mark()
		master.start(b)
		mustLog(b, master.node, 0, reMaster, elect)
		mustLog(b, backup.node, mark, reBackup, elect)
		lab.WaitHeldBy(b, vip, 5*time.Second, mh)
		if _, err := w.WaitFor(w.Len(), 3, isAdvertFrom(vrid, mMAC), 3*c.advInt+time.Second); err != nil {
			b.Fatalf("master %s adverts: %v", masterKind, err)
		}

		from := w.Len()
		if err := master.node.Kill(); err != nil {
			b.Fatal(err)
		}
		first, err := w.WaitFor(from, 1, isAdvertFrom(vrid, bMAC), mdi+5*time.Second)
		if err != nil {
			b.Fatalf("backup %s never advertised after the master was killed: %v", backupKind, err)
		}
		garp, err := w.WaitFor(from, 1, isGARPFor(vip, bMAC), 5*time.Second)
		if err != nil {
			b.Fatalf("backup %s sent no gratuitous ARP: %v", backupKind, err)
		}
		// The old master's last advert before the backup's first one.
		var last time.Time
		for _, f := range w.Frames(0) {
			if f.At.After(first[0].At) {
				break
			}
			if isAdvertFrom(vrid, mMAC)(f.Frame) {
				last = f.At
			}
		}
		if last.IsZero() {
			b.Fatal("no advert of the master on the wire")
		}
		s := failoverSample{advert: first[0].At.Sub(last), garp: garp[0].At.Sub(last)}
		r.samples = append(r.samples, s)
		b.Logf("sample %d: last master advert %s, backup advert +%v, GARP +%v (Master_Down_Interval %v)",
			len(r.samples), last.Format("15:04:05.000000"), s.advert, s.garp, mdi)

		// SIGKILL left the VIP on the dead master's host, as a crash
		// would; power it off for real.
		if err := delAddr(mh, vipP.String()); err != nil {
			b.Fatal(err)
		}
		lab.WaitHeldBy(b, vip, 5*time.Second, bh)
	}
	if len(r.samples) == 0 {
		return
	}
	adv, gp := mean(r.samples, func(s failoverSample) time.Duration { return s.advert }), mean(r.samples, func(s failoverSample) time.Duration { return s.garp })
	b.ReportMetric(ms(adv), "failover-ms")
	b.ReportMetric(ms(gp), "garp-ms")
	b.ReportMetric(ms(maxOf(r.samples)), "max-failover-ms")
	b.ReportMetric(ms(mdi), "mdi-ms")
	b.ReportMetric(ms(adv-mdi), "over-mdi-ms")
}

// delAddr removes an address from the host's eth0.
func delAddr(h *nettest.Host, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := h.Run(ctx, "ip", "addr", "del", prefix, "dev", nettest.IfName); err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func mean(s []failoverSample, f func(failoverSample) time.Duration) time.Duration {
	var sum time.Duration
	for _, x := range s {
		sum += f(x)
	}
	return sum / time.Duration(len(s))
}

func maxOf(s []failoverSample) time.Duration {
	var m time.Duration
	for _, x := range s {
		m = max(m, x.advert)
	}
	return m
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// writeFailoverTable writes the measurements as a markdown table.
func writeFailoverTable(path string, results []*failoverResult) error {
	var sb strings.Builder
	host, _ := os.Hostname()
	fmt.Fprintf(&sb, "# Failover time on the wire\n\n")
	bench, benchtime := "Failover", "1x"
	if f := flag.Lookup("test.bench"); f != nil {
		bench = f.Value.String()
	}
	if f := flag.Lookup("test.benchtime"); f != nil {
		benchtime = f.Value.String()
	}
	fmt.Fprintf(&sb, "Measured by `go test -run '^$' -bench '%s' -benchtime %s ./internal/interop/` (BenchmarkFailover) on %s (%d CPUs, shared), %s.\n\n",
		bench, benchtime, host, runtime.NumCPU(), time.Now().UTC().Format("2006-01-02 15:04 MST"))
	sb.WriteString("The master (priority 150) is killed with SIGKILL, so it sends no priority-0 advert. Times run from the\n" +
		"old master's last advert to the backup's (priority 100) first advert and first gratuitous ARP, as\n" +
		"timestamped by the kernel (SO_TIMESTAMPNS) on the bridge of a network-namespace lab. Master_Down_Interval\n" +
		"is the RFC's for the backup (RFC 5798 §6.1: 3 × advert_int + (256 − 100) × advert_int / 256; VRRPv2: skew (256 − 100)/256 s).\n" +
		"Target: within Master_Down_Interval + 5 ms, and never slower than keepalived.\n\n")
	sb.WriteString("| advert_int | master | backup | n | Master_Down_Interval | failover mean | failover min / max | first GARP mean | over MDI (mean) |\n")
	sb.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range results {
		if len(r.samples) == 0 {
			continue
		}
		mdi := masterDownInterval(r.c.version, benchBackupPrio, r.c.advInt)
		advs := make([]time.Duration, len(r.samples))
		for i, s := range r.samples {
			advs[i] = s.advert
		}
		adv := mean(r.samples, func(s failoverSample) time.Duration { return s.advert })
		gp := mean(r.samples, func(s failoverSample) time.Duration { return s.garp })
		fmt.Fprintf(&sb, "| %s (v%d) | %s | %s | %d | %.2f ms | %.2f ms | %.2f / %.2f ms | %.2f ms | %+.2f ms |\n",
			seconds(r.c.advInt)+" s", r.c.version, r.master, r.backup, len(r.samples), ms(mdi), ms(adv),
			ms(slices.Min(advs)), ms(slices.Max(advs)), ms(gp), ms(adv-mdi))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(sb.String()), 0o644)
}
