package interop

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/nettest"
	"github.com/vigil-ha/vigil/internal/status"
)

// Acceptance tests of the issue "Daemon life": SIGHUP reloads that
// change nothing, add an instance or are refused, SIGTERM with a hung
// notify_stop, and `vigil status` and the metrics endpoint against a live
// daemon, all with a Debian keepalived as the peer.

// reEntering matches any state transition of any instance, in either
// daemon's log (keepalived vrrp/vrrp.c wording).
var reEntering = regexp.MustCompile(`\(\S+\) Entering \S+ STATE`)

func reInstState(inst, state string) *regexp.Regexp {
	return regexp.MustCompile(`\(` + regexp.QuoteMeta(inst) + `\) Entering ` + state + ` STATE`)
}

// checkNoTransitions fails the test listing the transitions n logged
// after mark.
func checkNoTransitions(t testing.TB, what string, n node, mark int) {
	t.Helper()
	if l := countLines(n, mark, reEntering); len(l) > 0 {
		t.Errorf("%s logged %d transitions:\n%s", what, len(l), strings.Join(l, "\n"))
	}
}

// reloadFields extracts kept=… started=[…] stopped=[…] restarted=[…] of a
// "Reload finished" line.
var reReloadFields = regexp.MustCompile(`Reload finished.* kept=(\d+) started=\[([^\]]*)\] stopped=\[([^\]]*)\] restarted=\[([^\]]*)\]`)

func checkReloadFinished(t testing.TB, line, kept, started string) {
	t.Helper()
	m := reReloadFields.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("reload did not finish: %q", line)
	}
	if m[1] != kept || m[2] != started || m[3] != "" || m[4] != "" {
		t.Fatalf("reload: %q, want kept=%s started=[%s] stopped=[] restarted=[]", line, kept, started)
	}
}

// TestReloadUnchangedConfig: 100 SIGHUPs in a row, each waited for, with
// the configuration unchanged. vigil is master (150) of a VRRPv3 instance
// with advert_int 0.1 and a passing vrrp_script (weight -60), keepalived
// its backup (100). Each reload must keep the instance (kept=1, nothing
// started, stopped or restarted) and, over the whole run: no removal of
// the VIP (netlink RTM_DELADDR watched in vigil's namespace), no
// transition in either log, no change of the transition counters (vigil
// status --json and vigil_vrrp_transitions_total), no effective
// priority change, no notify, no gratuitous ARP, no priority-0 advert,
// and no gap in vigil's adverts as long as keepalived's
// Master_Down_Interval (keepalived would take over).
func TestReloadUnchangedConfig(t *testing.T) {
	const reloads = 100
	lab := nettest.NewLab(t, 2, nettest.Options{})
	vh, kh := lab.Hosts[0], lab.Hosts[1]
	w := startWire(t, lab.Switch, "br0")
	const advInt = 100 * time.Millisecond
	vip := labVIP(lab, 150, false)
	const vrid = 150
	dir := t.TempDir()
	chk := writeScript(t, dir, "chk.sh", "exit 0\n", 0o755)
	rec := newRecorder(t, dir, "notify")
	inst := vrrpConf{Name: "VI_1", VRID: vrid, Version: 3, Priority: 150, AdvertInt: advInt, VIP: vip,
		TrackScripts: []string{"chk"},
		Extra:        []string{fmt.Sprintf("notify %q", rec.Path)}}
	vconf := daemonConf{ScriptSecurity: true,
		Scripts:   []scriptConf{{Name: "chk", Script: chk, Interval: 1, Weight: -60}},
		Instances: []vrrpConf{inst}}
	kinst := vrrpConf{Name: "VI_1", VRID: vrid, Version: 3, Priority: 100, AdvertInt: advInt, VIP: vip}
	kconf := daemonConf{Instances: []vrrpConf{kinst}}
	mdi := masterDownInterval(3, 100, advInt)
	metricsAddr := "127.0.0.1:9650"

	v := startVigilWith(t, vh, vconf.render(), "--metrics", metricsAddr)
	mustLog(t, v, 0, reMaster, 10*time.Second)
	k := nettest.StartKeepalived(t, kh, kconf.render())
	mustLog(t, k, 0, reBackup, 10*time.Second)
	lab.WaitHeldBy(t, vip.Addr(), 5*time.Second, vh)
	mac := hostMAC(t, vh)
	// Both bursts of gratuitous ARPs (vrrp_garp_master_delay 5 s) are
	// over before the reloads start.
	if _, err := w.WaitFor(0, 10, isGARPFor(vip.Addr(), mac), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	rec.Wait(t, 2, 5*time.Second) // BACKUP, MASTER
	watch := watchAddrs(t, vh)

	before := vigilStatus(t, v)
	mBefore := scrape(t, vh, metricsAddr)
	vmark, kmark, wmark, amark := v.Mark(), k.Mark(), w.Len(), watch.Len()
	notes := len(rec.Lines())
	start := time.Now()
	for range reloads {
		checkReloadFinished(t, v.reload(t, ""), "1", "")
	}
	t.Logf("%d reloads in %v; vigil logged %d \"Script `chk` now returning\" lines meanwhile", reloads,
		time.Since(start).Round(time.Millisecond), len(countLines(v, vmark, regexp.MustCompile("Script `chk` now returning"))))
	// Past the end, one Master_Down_Interval more: a late effect of the
	// last reload (or keepalived taking over) would show.
	holdStable(t, lab, vip.Addr(), vh, mdi+advInt)

	watch.checkNotRemoved(t, amark, vip.Addr(), "during the reloads")
	checkNoTransitions(t, "vigil", v, vmark)
	checkNoTransitions(t, "keepalived", k, kmark)
	if l := countLines(v, vmark, regexp.MustCompile(`Changing effective priority|Reload refused|Reload failed|level=ERROR`)); len(l) > 0 {
		t.Errorf("vigil during the reloads:\n%s", strings.Join(l, "\n"))
	}
	after := vigilStatus(t, v)
	if d := cmp.Diff(transitions(before), transitions(after)); d != "" {
		t.Errorf("transition counters in vigil status (-before +after):\n%s", d)
	}
	mAfter := scrape(t, vh, metricsAddr)
	tl := instLabels("VI_1", vrid)
	if b, a := mBefore.get(t, "vigil_vrrp_transitions_total", tl...), mAfter.get(t, "vigil_vrrp_transitions_total", tl...); a != b {
		t.Errorf("vigil_vrrp_transitions_total %v before the reloads, %v after", b, a)
	}
	if st := instanceStatus(t, after, "VI_1"); st.State.String() != "MASTER" || st.Priority != 150 {
		t.Errorf("after the reloads VI_1 is %s at priority %d, want MASTER at 150", st.State, st.Priority)
	}
	if got := rec.Lines()[notes:]; len(got) > 0 {
		t.Errorf("notify ran during the reloads: %q", got)
	}

	// On the wire: no announcement, adverts all at 150 and never a gap
	// that would let keepalived's Master_Down_Timer fire.
	frames := w.Frames(wmark)
	garps, last, maxGap, adverts := 0, time.Time{}, time.Duration(0), 0
	isGARP := isGARPFor(vip.Addr(), mac)
	isOurs := isAdvertFrom(vrid, mac)
	for _, f := range frames {
		if isGARP(f.Frame) {
			garps++
		}
		if !isOurs(f.Frame) {
			continue
		}
		adverts++
		if p, _ := parseVRRP(f.Frame); p.Priority != 150 {
			t.Errorf("vigil advertised priority %d at %s during the reloads, want 150", p.Priority, f.At.Format("15:04:05.000"))
		}
		if !last.IsZero() {
			maxGap = max(maxGap, f.At.Sub(last))
		}
		last = f.At
	}
	t.Logf("during the reloads: %d adverts of vigil, longest gap %v, %d gratuitous ARPs", adverts, maxGap.Round(time.Millisecond), garps)
	if garps > 0 {
		t.Errorf("vigil sent %d gratuitous ARPs for %s during the reloads, want none", garps, vip.Addr())
	}
	if maxGap >= mdi {
		t.Errorf("longest gap between vigil's adverts %v, want < keepalived's Master_Down_Interval %v", maxGap, mdi)
	}
	checkVigilLog(t, v)
	checkKeepalivedLog(t, k)
}

// TestReloadAddsInstance: vigil runs VI_1 and VI_2 as master (150) over
// keepalived (100), and keepalived alone is master of VI_3. A reload
// that adds VI_3 (150) to vigil's configuration starts it (kept=2
// started=[VI_3]) and vigil preempts VI_3, while VI_1 and VI_2 are not
// touched: their VIPs are never removed, their transition counters do
// not move and neither daemon logs a transition for them.
func TestReloadAddsInstance(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	vh, kh := lab.Hosts[0], lab.Hosts[1]
	const advInt = 100 * time.Millisecond
	mk := func(n, prio int) vrrpConf {
		return vrrpConf{Name: fmt.Sprintf("VI_%d", n), VRID: 160 + n, Version: 3, Priority: prio,
			AdvertInt: advInt, VIP: labVIP(lab, 160+n, false)}
	}
	vconf := daemonConf{Instances: []vrrpConf{mk(1, 150), mk(2, 150)}}
	vconf3 := daemonConf{Instances: []vrrpConf{mk(1, 150), mk(2, 150), mk(3, 150)}}
	kconf := daemonConf{Instances: []vrrpConf{mk(1, 100), mk(2, 100), mk(3, 100)}}
	vip := func(n int) netip.Addr { return labVIP(lab, 160+n, false).Addr() }
	mdi := masterDownInterval(3, 100, advInt)

	k := nettest.StartKeepalived(t, kh, kconf.render())
	for n := 1; n <= 3; n++ {
		mustLog(t, k, 0, reInstState(fmt.Sprintf("VI_%d", n), "MASTER"), 10*time.Second)
	}
	v := startVigilWith(t, vh, vconf.render())
	for n := 1; n <= 2; n++ {
		mustLog(t, v, 0, reInstState(fmt.Sprintf("VI_%d", n), "MASTER"), 10*time.Second)
		lab.WaitHeldBy(t, vip(n), 5*time.Second, vh)
	}
	lab.WaitHeldBy(t, vip(3), time.Second, kh)
	watch := watchAddrs(t, vh)
	before := vigilStatus(t, v)
	vmark, kmark, amark := v.Mark(), k.Mark(), watch.Len()

	line := v.reload(t, vconf3.render())
	checkReloadFinished(t, line, "2", "VI_3")
	mustLog(t, v, vmark, reInstState("VI_3", "MASTER"), 10*time.Second)
	lab.WaitHeldBy(t, vip(3), 5*time.Second, vh)
	mustLog(t, k, kmark, reInstState("VI_3", "BACKUP"), time.Second)
	holdStable(t, lab, vip(3), vh, mdi+advInt)

	after := vigilStatus(t, v)
	for n := 1; n <= 2; n++ {
		name := fmt.Sprintf("VI_%d", n)
		watch.checkNotRemoved(t, amark, vip(n), name+" across the reload")
		checkSoleHolder(t, lab, vip(n), vh)
		b, a := instanceStatus(t, before, name), instanceStatus(t, after, name)
		if b.Stats.Transitions != a.Stats.Transitions || a.State.String() != "MASTER" {
			t.Errorf("%s: %d transitions before the reload, %d after, now %s; want unchanged and MASTER",
				name, b.Stats.Transitions, a.Stats.Transitions, a.State)
		}
		if a.Stats.AdvertsSent <= b.Stats.AdvertsSent {
			t.Errorf("%s: adverts sent %d before, %d after the reload: not advertising", name, b.Stats.AdvertsSent, a.Stats.AdvertsSent)
		}
		re := regexp.MustCompile(`\(` + name + `\) Entering`)
		if l := countLines(v, vmark, re); len(l) > 0 {
			t.Errorf("vigil logged transitions of %s across the reload: %q", name, l)
		}
		if l := countLines(k, kmark, re); len(l) > 0 {
			t.Errorf("keepalived logged transitions of %s across the reload: %q", name, l)
		}
	}
	if st := instanceStatus(t, after, "VI_3"); st.State.String() != "MASTER" {
		t.Errorf("VI_3 is %s after the reload, want MASTER", st.State)
	}
	checkVigilLog(t, v)
	checkKeepalivedLog(t, k)
}

// TestReloadBrokenConfigRefused: a SIGHUP with a configuration that has
// errors is refused ("Reload refused") and vigil keeps running the
// previous one: still master, still holding the VIP (never removed),
// still advertising at its priority, no transition on either side; a
// reload with the good configuration afterwards works. The broken
// configurations are keepalived's fatal kinds: a VRID out of range, a
// block missing its closing braces, and a configuration file that has
// gone.
func TestReloadBrokenConfigRefused(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	vh, kh := lab.Hosts[0], lab.Hosts[1]
	w := startWire(t, lab.Switch, "br0")
	const advInt = 100 * time.Millisecond
	const vrid = 170
	vip := labVIP(lab, 170, false)
	good := daemonConf{Instances: []vrrpConf{{Name: "VI_1", VRID: vrid, Version: 3, Priority: 150, AdvertInt: advInt, VIP: vip}}}
	kconf := good.withPriority(func(vrrpConf) int { return 100 })
	goodText := good.render()
	mdi := masterDownInterval(3, 100, advInt)

	v := startVigilWith(t, vh, goodText)
	mustLog(t, v, 0, reMaster, 10*time.Second)
	k := nettest.StartKeepalived(t, kh, kconf.render())
	mustLog(t, k, 0, reBackup, 10*time.Second)
	lab.WaitHeldBy(t, vip.Addr(), 5*time.Second, vh)
	watch := watchAddrs(t, vh)
	mac := hostMAC(t, vh)

	cases := []struct {
		name   string
		config string // "" removes the file
	}{
		{name: "vrid-out-of-range", config: strings.Replace(goodText, fmt.Sprintf("virtual_router_id %d", vrid), "virtual_router_id 300", 1)},
		{name: "missing-braces", config: strings.TrimSuffix(goodText, "  }\n}\n")},
		{name: "file-gone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := vigilStatus(t, v)
			vmark, kmark, amark := v.Mark(), k.Mark(), watch.Len()
			if c.config == "" {
				if err := os.Remove(v.confPath()); err != nil {
					t.Fatal(err)
				}
			}
			line := v.reload(t, c.config)
			if !strings.Contains(line, "Reload refused") {
				t.Fatalf("reload with a broken configuration: %q, want \"Reload refused\"", line)
			}
			t.Logf("vigil: %s", line)
			// Still advertising at 150 after the refusal, well past a
			// Master_Down_Interval of keepalived's.
			wmark := w.Len()
			n := int(2*mdi/advInt) + 1
			got, err := w.WaitFor(wmark, n, isAdvertFrom(vrid, mac), 2*mdi+2*time.Second)
			if err != nil {
				t.Fatalf("vigil stopped advertising after the refused reload: %v", err)
			}
			for _, f := range got {
				if p, _ := parseVRRP(f.Frame); p.Priority != 150 {
					t.Errorf("vigil advertised priority %d after the refused reload, want 150", p.Priority)
				}
			}
			if v.Exited() {
				t.Fatal("vigil exited after the refused reload")
			}
			after := vigilStatus(t, v)
			b, a := instanceStatus(t, before, "VI_1"), instanceStatus(t, after, "VI_1")
			if a.State.String() != "MASTER" || a.Priority != 150 || a.Stats.Transitions != b.Stats.Transitions {
				t.Errorf("after the refused reload VI_1 is %s at %d with %d transitions, want MASTER at 150 with %d",
					a.State, a.Priority, a.Stats.Transitions, b.Stats.Transitions)
			}
			checkSoleHolder(t, lab, vip.Addr(), vh)
			watch.checkNotRemoved(t, amark, vip.Addr(), "refused reload")
			checkNoTransitions(t, "vigil", v, vmark)
			checkNoTransitions(t, "keepalived", k, kmark)

			// The good configuration reloads fine afterwards.
			checkReloadFinished(t, v.reload(t, goodText), "1", "")
			watch.checkNotRemoved(t, amark, vip.Addr(), "reload after the refused one")
		})
	}
	checkKeepalivedLog(t, k)
}

// TestStopWithHungNotifyStop: vigil is master (150, VRRPv3, advert_int
// 1) with a notify_stop that records its arguments and then sleeps for an
// hour. SIGTERM must still make vigil exit within 5 s (keepalived kills
// notify_stop after one second), having sent its priority-0 advert and
// removed the VIP, so that keepalived (100) takes over after Skew_Time
// (0.61 s), well before its Master_Down_Interval (3.61 s) (RFC 5798
// §6.4.2, §6.4.3). notify_stop must have run, and neither it nor its
// sleep may survive vigil.
func TestStopWithHungNotifyStop(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	vh, kh := lab.Hosts[0], lab.Hosts[1]
	w := startWire(t, lab.Switch, "br0")
	const advInt = time.Second
	const vrid = 180
	vip := labVIP(lab, 180, false)
	dir := t.TempDir()
	stopLog := filepath.Join(dir, "stop.log")
	hang := writeScript(t, dir, "stop.sh", fmt.Sprintf("echo \"$*\" >> %s\nsleep 3600\n", stopLog), 0o755)
	inst := vrrpConf{Name: "VI_1", VRID: vrid, Version: 3, Priority: 150, AdvertInt: advInt, VIP: vip,
		Extra: []string{fmt.Sprintf("notify_stop %q", hang+" stop")}}
	vconf := daemonConf{ScriptSecurity: true, Instances: []vrrpConf{inst}}
	kinst := inst
	kinst.Priority, kinst.Extra = 100, nil
	kconf := daemonConf{Instances: []vrrpConf{kinst}}
	skew := skewTime(3, 100, advInt)

	v := startVigilWith(t, vh, vconf.render())
	mustLog(t, v, 0, reMaster, 10*time.Second)
	k := nettest.StartKeepalived(t, kh, kconf.render())
	mustLog(t, k, 0, reBackup, 10*time.Second)
	lab.WaitHeldBy(t, vip.Addr(), 5*time.Second, vh)
	mac := hostMAC(t, vh)
	// keepalived has heard vigil since it started.
	if _, err := w.WaitFor(w.Len(), 1, isAdvertFrom(vrid, mac), 3*time.Second); err != nil {
		t.Fatal(err)
	}

	wmark := w.Len()
	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- v.Stop(30 * time.Second) }()
	lab.WaitHeldBy(t, vip.Addr(), 5*time.Second, kh)
	moved := time.Since(start)
	if err := <-stopped; err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	exited := time.Since(start)
	t.Logf("after SIGTERM: VIP on keepalived in %v (Skew_Time %v), vigil exited in %v",
		moved.Round(time.Millisecond), skew, exited.Round(time.Millisecond))
	if exited >= 5*time.Second {
		t.Errorf("vigil took %v to exit with a hung notify_stop, want < 5 s", exited)
	}
	if moved >= advInt {
		t.Errorf("keepalived took the VIP %v after SIGTERM, want < %v (Skew_Time %v; Master_Down_Interval %v means no priority-0 advert)",
			moved, advInt, skew, masterDownInterval(3, 100, advInt))
	}
	if _, err := w.WaitFor(wmark, 1, func(f []byte) bool {
		p, ok := parseVRRP(f)
		return ok && p.VRID == vrid && p.Priority == 0 && string(p.SrcMAC) == string(mac)
	}, time.Second); err != nil {
		t.Errorf("no priority-0 advert from vigil: %v", err)
	}
	if ok, err := vh.HasAddr(nettest.IfName, vip.Addr()); err != nil || ok {
		t.Errorf("VIP still on vigil's host after exit (err %v)", err)
	}
	if got := (recorder{File: stopLog}).Wait(t, 1, time.Second); got[0] != "stop" {
		t.Errorf("notify_stop recorded %q, want \"stop\"", got)
	}
	// The script and its sleep die with vigil's kill of their process
	// group; allow a moment for the kernel to reap them.
	deadline := time.Now().Add(2 * time.Second)
	for ps := processesWith(hang); len(ps) > 0; ps = processesWith(hang) {
		if time.Now().After(deadline) {
			t.Errorf("notify_stop still running after vigil exited: pids %v", ps)
			break
		}
		<-time.After(20 * time.Millisecond)
	}
	mustLog(t, k, 0, reMaster, time.Second)
	checkVigilLog(t, v)
	checkKeepalivedLog(t, k)
}

// TestStatusAndMetricsLive: `vigil status` (table and --json), `vigil
// explain` and the Prometheus endpoint against a running vigil with two
// instances: VI_1 master (base 150, a failing vrrp_script with weight -20
// makes it 130, still above keepalived's 100) and VI_2 backup (100) of
// keepalived (150). States, priorities, the master's address and
// priority, VIPs, and advert counters that rise between two reads are
// asserted in all three views; the transition counters agree. `vigil
// explain VI_1` must name the tracked script that moved the priority
// ("track_script chk is down, weight -20, contributes -20"), which needs
// the daemon to implement status.Explainer.
func TestStatusAndMetricsLive(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	vh, kh := lab.Hosts[0], lab.Hosts[1]
	w := startWire(t, lab.Switch, "br0")
	const advInt = 100 * time.Millisecond
	vip1, vip2 := labVIP(lab, 191, false), labVIP(lab, 192, false)
	dir := t.TempDir()
	chk := writeScript(t, dir, "chk.sh", "exit 1\n", 0o755)
	vconf := daemonConf{ScriptSecurity: true,
		Scripts: []scriptConf{{Name: "chk", Script: chk, Interval: 1, Weight: -20}},
		Instances: []vrrpConf{
			{Name: "VI_1", VRID: 191, Version: 3, Priority: 150, AdvertInt: advInt, VIP: vip1, TrackScripts: []string{"chk"}},
			{Name: "VI_2", VRID: 192, Version: 3, Priority: 100, AdvertInt: advInt, VIP: vip2},
		}}
	kconf := daemonConf{Instances: []vrrpConf{
		{Name: "VI_1", VRID: 191, Version: 3, Priority: 100, AdvertInt: advInt, VIP: vip1},
		{Name: "VI_2", VRID: 192, Version: 3, Priority: 150, AdvertInt: advInt, VIP: vip2},
	}}
	const metricsAddr = "127.0.0.1:9651"

	k := nettest.StartKeepalived(t, kh, kconf.render())
	mustLog(t, k, 0, reInstState("VI_2", "MASTER"), 10*time.Second)
	v := startVigilWith(t, vh, vconf.render(), "--metrics", metricsAddr)
	mustLog(t, v, 0, reInstState("VI_1", "MASTER"), 10*time.Second)
	mustLog(t, v, 0, reInstState("VI_2", "BACKUP"), 10*time.Second)
	mustLog(t, v, 0, regexp.MustCompile(`\(VI_1\) Changing effective priority from 150 to 130`), 5*time.Second)
	mustLog(t, v, 0, regexp.MustCompile(`metrics listening`), 5*time.Second)
	lab.WaitHeldBy(t, vip1.Addr(), 5*time.Second, vh)
	lab.WaitHeldBy(t, vip2.Addr(), 5*time.Second, kh)
	vmac, kmac := hostMAC(t, vh), hostMAC(t, kh)

	// First reads.
	r1 := vigilStatus(t, v)
	m1 := scrape(t, vh, metricsAddr)
	// A few adverts each way, then the second reads.
	from := w.Len()
	if _, err := w.WaitFor(from, 3, isAdvertFrom(191, vmac), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := w.WaitFor(from, 3, isAdvertFrom(192, kmac), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	r2 := vigilStatus(t, v)
	m2 := scrape(t, vh, metricsAddr)

	kaddr := kh.Addr4.Addr()
	// vigil status --json.
	t.Run("status-json", func(t *testing.T) {
		for _, r := range []status.Report{r1, r2} {
			s1, s2 := instanceStatus(t, r, "VI_1"), instanceStatus(t, r, "VI_2")
			type view struct {
				State                  string
				VRID                   uint8
				Interface              string
				Version                int
				Prio, Base, MasterPrio uint8
				Master                 netip.Addr
				VIPs                   []netip.Prefix
				AdvertInterval         time.Duration
			}
			see := func(s status.InstanceStatus) view {
				var vs []netip.Prefix
				for _, x := range s.VIPs {
					vs = append(vs, x.Prefix)
				}
				out := view{State: s.State.String(), VRID: s.VRID, Interface: s.Interface, Version: s.Version,
					Prio: s.Priority, Base: s.BasePriority, VIPs: vs, AdvertInterval: s.AdvertInterval}
				if s.State.String() == "BACKUP" {
					out.Master, out.MasterPrio = s.Master, s.MasterPriority
				}
				return out
			}
			want1 := view{State: "MASTER", VRID: 191, Interface: nettest.IfName, Version: 3, Prio: 130, Base: 150,
				VIPs: []netip.Prefix{vip1}, AdvertInterval: advInt}
			want2 := view{State: "BACKUP", VRID: 192, Interface: nettest.IfName, Version: 3, Prio: 100, Base: 100,
				Master: kaddr, MasterPrio: 150, VIPs: []netip.Prefix{vip2}, AdvertInterval: advInt}
			if d := cmp.Diff(want1, see(s1), cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
				t.Errorf("vigil status --json VI_1 (-want +got):\n%s", d)
			}
			if d := cmp.Diff(want2, see(s2), cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
				t.Errorf("vigil status --json VI_2 (-want +got):\n%s", d)
			}
			if s1.Since.IsZero() || s2.Since.IsZero() {
				t.Errorf("vigil status --json: no time of the last transition (VI_1 %v, VI_2 %v)", s1.Since, s2.Since)
			}
		}
		a1, b1 := instanceStatus(t, r1, "VI_1"), instanceStatus(t, r1, "VI_2")
		a2, b2 := instanceStatus(t, r2, "VI_1"), instanceStatus(t, r2, "VI_2")
		if a2.Stats.AdvertsSent <= a1.Stats.AdvertsSent {
			t.Errorf("VI_1 adverts_sent %d then %d: not rising", a1.Stats.AdvertsSent, a2.Stats.AdvertsSent)
		}
		if b2.Stats.AdvertsReceived <= b1.Stats.AdvertsReceived {
			t.Errorf("VI_2 adverts_received %d then %d: not rising", b1.Stats.AdvertsReceived, b2.Stats.AdvertsReceived)
		}
		if b2.Stats.AdvertsSent != 0 {
			t.Errorf("VI_2, backup from the start, sent %d adverts", b2.Stats.AdvertsSent)
		}
	})

	// vigil status (table).
	t.Run("status-table", func(t *testing.T) {
		table := string(vigilCLI(t, "status", "--socket", v.socket()))
		t.Logf("vigil status:\n%s", table)
		rows := map[string][]string{}
		lines := strings.Split(strings.TrimSpace(table), "\n")
		if got := strings.Fields(lines[0]); !cmp.Equal(got, []string{"INSTANCE", "VRID", "IFACE", "STATE", "PRIO", "VIPS", "MASTER", "SINCE"}) {
			t.Errorf("vigil status header %q", lines[0])
		}
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) > 0 {
				rows[f[0]] = f
			}
		}
		wantRows := map[string][]string{
			"VI_1": {"VI_1", "191", nettest.IfName, "MASTER", "130/150", vip1.Addr().String(), "self"},
			"VI_2": {"VI_2", "192", nettest.IfName, "BACKUP", "100", vip2.Addr().String(), kaddr.String()},
		}
		for name, want := range wantRows {
			got := rows[name]
			if len(got) != len(want)+1 || !cmp.Equal(got[:len(want)], want) {
				t.Errorf("vigil status row %q, want %q and SINCE", got, want)
			}
		}
	})

	// vigil explain.
	t.Run("explain", func(t *testing.T) {
		ex := string(vigilCLI(t, "explain", "VI_1", "--socket", v.socket()))
		t.Logf("vigil explain VI_1:\n%s", ex)
		for _, re := range []string{`VI_1 is MASTER`, `130 effective, 150 base`, `track_script chk is \S+, weight -20, contributes -20`} {
			if !regexp.MustCompile(re).MatchString(ex) {
				t.Errorf("vigil explain VI_1: no /%s/", re)
			}
		}
	})

	// Metrics.
	t.Run("metrics", func(t *testing.T) {
		l1, l2 := instLabels("VI_1", 191), instLabels("VI_2", 192)
		for i, m := range []metricSet{m1, m2} {
			for _, c := range []struct {
				name   string
				labels []string
				want   float64
			}{
				{"vigil_vrrp_state", instLabels("VI_1", 191, "state", "master"), 1},
				{"vigil_vrrp_state", instLabels("VI_1", 191, "state", "backup"), 0},
				{"vigil_vrrp_state", instLabels("VI_1", 191, "state", "fault"), 0},
				{"vigil_vrrp_state", instLabels("VI_2", 192, "state", "backup"), 1},
				{"vigil_vrrp_state", instLabels("VI_2", 192, "state", "master"), 0},
				{"vigil_vrrp_priority", l1, 130},
				{"vigil_vrrp_base_priority", l1, 150},
				{"vigil_vrrp_priority", l2, 100},
				{"vigil_vrrp_base_priority", l2, 100},
				{"vigil_vrrp_master_priority", l2, 150},
				{"vigil_vrrp_adverts_sent_total", l2, 0},
			} {
				if got := m.get(t, c.name, c.labels...); got != c.want {
					t.Errorf("scrape %d: %s%v = %v, want %v", i+1, c.name, c.labels, got, c.want)
				}
			}
			// Drops: every reason's series is zero for both instances.
			for key, val := range m {
				if strings.HasPrefix(key, "vigil_vrrp_drops_total{") && val != 0 {
					t.Errorf("scrape %d: %s = %v, want 0", i+1, key, val)
				}
			}
		}
		if s1, s2 := m1.get(t, "vigil_vrrp_adverts_sent_total", l1...), m2.get(t, "vigil_vrrp_adverts_sent_total", l1...); s2 <= s1 {
			t.Errorf("vigil_vrrp_adverts_sent_total of VI_1: %v then %v, not rising", s1, s2)
		}
		if s1, s2 := m1.get(t, "vigil_vrrp_adverts_received_total", l2...), m2.get(t, "vigil_vrrp_adverts_received_total", l2...); s2 <= s1 {
			t.Errorf("vigil_vrrp_adverts_received_total of VI_2: %v then %v, not rising", s1, s2)
		}
		// The transition counters agree with vigil status (read after the
		// second scrape, with nothing happening in between).
		r3 := vigilStatus(t, v)
		for _, in := range []struct {
			name string
			l    []string
		}{{"VI_1", l1}, {"VI_2", l2}} {
			st := instanceStatus(t, r3, in.name)
			if got := m2.get(t, "vigil_vrrp_transitions_total", in.l...); got != float64(st.Stats.Transitions) || got < 1 {
				t.Errorf("%s: vigil_vrrp_transitions_total %v, vigil status %d transitions; want equal and at least 1", in.name, got, st.Stats.Transitions)
			}
		}
	})
	checkVigilLog(t, v)
	checkKeepalivedLog(t, k)
}

// TestReloadLetsRunningNotifyFinish: a SIGHUP with an unchanged
// configuration arrives while a notify_master script is still running
// (it records "start", works for 3 s, records "end"). The reload must
// not kill it: keepalived runs notify scripts as independent children
// and a reload leaves them alone, so an operator's slow notify_master
// (moving routes, telling a load balancer) completes. The keepalived
// subtest is the reference.
func TestReloadLetsRunningNotifyFinish(t *testing.T) {
	lab := nettest.NewLab(t, 1, nettest.Options{})
	h := lab.Hosts[0]
	for i, kind := range []string{"vigil", "keepalived"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			logf := filepath.Join(dir, "slow.log")
			slow := writeScript(t, dir, "slow.sh",
				fmt.Sprintf("echo \"start $*\" >> %[1]s\nsleep 3\necho \"end $*\" >> %[1]s\n", logf), 0o755)
			vip := labVIP(lab, 200+i, false)
			c := daemonConf{ScriptSecurity: true, Instances: []vrrpConf{{Name: "VI_1", VRID: 200 + i, Version: 3,
				Priority: 150, AdvertInt: 100 * time.Millisecond, VIP: vip,
				Extra: []string{fmt.Sprintf("notify_master %q", slow+" master")}}}}
			n := startNode(t, kind, h, c.render())
			mustLog(t, n, 0, reMaster, 10*time.Second)
			rec := recorder{File: logf}
			rec.Wait(t, 1, 5*time.Second) // "start master"
			mark := n.Mark()
			switch x := n.(type) {
			case *vigilProc:
				checkReloadFinished(t, x.reload(t, ""), "1", "")
			case *nettest.Keepalived:
				b, err := os.ReadFile(filepath.Join(x.Dir, "keepalived.pid"))
				if err != nil {
					t.Fatal(err)
				}
				pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
				if err != nil {
					t.Fatal(err)
				}
				if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
				mustLog(t, n, mark, regexp.MustCompile(`Reload complete`), 10*time.Second)
			}
			got := rec.Wait(t, 2, 6*time.Second)
			if d := cmp.Diff([]string{"start master", "end master"}, got); d != "" {
				t.Errorf("%s: notify_master across a reload (-want +got):\n%s", kind, d)
			}
			checkNoTransitions(t, kind, n, mark)
		})
	}
}
