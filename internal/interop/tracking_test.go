package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/nettest"
)

// Acceptance tests of the issue "Tracking, sync groups, notify scripts":
// vrrp_script moves the VIP between vigil and keepalived, notify scripts
// see the same sequence of arguments from both daemons, a hung notify
// script delays nothing, and world-writable scripts are refused under
// enable_script_security (keepalived.conf(5) vrrp_script, track_script,
// notify, notify_master, enable_script_security).

// startNode starts vigil or keepalived in h on config.
func startNode(t testing.TB, kind string, h *nettest.Host, config string) node {
	t.Helper()
	if kind == "vigil" {
		return startVigilWith(t, h, config)
	}
	return nettest.StartKeepalived(t, h, config)
}

func otherKind(kind string) string {
	if kind == "vigil" {
		return "keepalived"
	}
	return "vigil"
}

var reFault = regexp.MustCompile(`\(VI_1\) Entering FAULT STATE`)

// TestTrackScriptFailover: the higher-priority node (the subject, vigil
// or keepalived) tracks a vrrp_script, `[ ! -e DIR/fail ]` run every
// second. When the file appears the script fails: with weight -60 the
// subject's priority falls from 150 to 90, under the peer's 100, and
// with weight 0 the subject goes to FAULT; either way the peer takes the
// VIP. When the file goes the subject preempts again (RFC 5798 §6.4.2,
// keepalived.conf(5) vrrp_script weight). The subject's notify_* scripts
// and its generic notify script record their arguments; the sequence
// through start, failover, return and SIGTERM must be exactly the one
// keepalived itself produces (the keepalived subtests run the same
// assertions with keepalived as the subject and vigil as the peer).
func TestTrackScriptFailover(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	const advInt = 100 * time.Millisecond
	cases := []struct {
		name    string
		weight  int
		generic []string // the generic notify script's lines
		states  []string // notify_master/backup/fault/stop lines
	}{
		{
			name:   "weight-60",
			weight: -60,
			generic: []string{
				"INSTANCE VI_1 BACKUP 150",
				"INSTANCE VI_1 MASTER 150",
				"INSTANCE VI_1 BACKUP 90",
				"INSTANCE VI_1 MASTER 150",
				"INSTANCE VI_1 STOP 150",
			},
			states: []string{"backup", "master", "backup", "master", "stop"},
		},
		{
			name:   "weight0-fault",
			weight: 0,
			generic: []string{
				"INSTANCE VI_1 BACKUP 150",
				"INSTANCE VI_1 MASTER 150",
				"INSTANCE VI_1 FAULT 150",
				"INSTANCE VI_1 BACKUP 150",
				"INSTANCE VI_1 MASTER 150",
				"INSTANCE VI_1 STOP 150",
			},
			states: []string{"backup", "master", "fault", "backup", "master", "stop"},
		},
	}
	n := 0
	for _, c := range cases {
		for _, subject := range []string{"vigil", "keepalived"} {
			n++
			vrid, vip := 110+n, labVIP(lab, 110+n, false)
			t.Run(c.name+"/subject="+subject, func(t *testing.T) {
				sh, ph := lab.Hosts[0], lab.Hosts[1]
				dir := t.TempDir()
				fail := filepath.Join(dir, "fail")
				chk := writeScript(t, dir, "chk.sh", fmt.Sprintf("[ ! -e %s ]\n", fail), 0o755)
				gen := newRecorder(t, dir, "notify")
				spec := newRecorder(t, dir, "notify_state")
				inst := vrrpConf{Name: "VI_1", VRID: vrid, Version: 3, Priority: 150, AdvertInt: advInt, VIP: vip}
				sconf := daemonConf{ScriptSecurity: true,
					Scripts: []scriptConf{{Name: "chk", Script: chk, Interval: 1, Weight: c.weight}}}
				si := inst
				si.TrackScripts = []string{"chk"}
				si.Extra = []string{
					fmt.Sprintf("notify %q", gen.Path),
					fmt.Sprintf("notify_master %q", spec.Path+" master"),
					fmt.Sprintf("notify_backup %q", spec.Path+" backup"),
					fmt.Sprintf("notify_fault %q", spec.Path+" fault"),
					fmt.Sprintf("notify_stop %q", spec.Path+" stop"),
				}
				sconf.Instances = []vrrpConf{si}
				pi := inst
				pi.Priority = 100
				pconf := daemonConf{Instances: []vrrpConf{pi}}
				mdi := masterDownInterval(3, 100, advInt)
				// The script runs every second: a change shows within
				// one interval, then the election takes at most the
				// backup's Master_Down_Interval.
				moveLimit := time.Second + mdi + 2*time.Second

				s := startNode(t, subject, sh, sconf.render())
				mustLog(t, s, 0, reMaster, 10*time.Second)
				lab.WaitHeldBy(t, vip.Addr(), 5*time.Second, sh)
				p := startNode(t, otherKind(subject), ph, pconf.render())
				mustLog(t, p, 0, reBackup, 10*time.Second)
				holdStable(t, lab, vip.Addr(), sh, mdi+advInt)

				// The script starts failing: the VIP goes to the peer.
				pmark := p.Mark()
				start := time.Now()
				if err := os.WriteFile(fail, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				lab.WaitHeldBy(t, vip.Addr(), moveLimit, ph)
				t.Logf("%s: VIP on the peer %v after the script started failing", subject, time.Since(start).Round(time.Millisecond))
				mustLog(t, p, pmark, reMaster, time.Second)
				if c.weight == 0 {
					mustLog(t, s, 0, reFault, time.Second)
				}
				holdStable(t, lab, vip.Addr(), ph, mdi+advInt)

				// It recovers: the subject preempts.
				pmark = p.Mark()
				start = time.Now()
				if err := os.Remove(fail); err != nil {
					t.Fatal(err)
				}
				lab.WaitHeldBy(t, vip.Addr(), moveLimit, sh)
				t.Logf("%s: VIP back %v after the script recovered", subject, time.Since(start).Round(time.Millisecond))
				mustLog(t, p, pmark, reBackup, time.Second)
				holdStable(t, lab, vip.Addr(), sh, mdi+advInt)

				// SIGTERM: notify_stop and the generic STOP.
				if err := s.Stop(10 * time.Second); err != nil {
					t.Fatalf("stop %s: %v", subject, err)
				}
				lab.WaitHeldBy(t, vip.Addr(), 5*time.Second, ph)

				gotGen := gen.Wait(t, len(c.generic), 5*time.Second)
				gotSpec := spec.Wait(t, len(c.states), 5*time.Second)
				if d := cmp.Diff(c.generic, gotGen); d != "" {
					t.Errorf("%s: generic notify script's arguments (-want +got):\n%s", subject, d)
				}
				if d := cmp.Diff(c.states, gotSpec); d != "" {
					t.Errorf("%s: notify_master/backup/fault/stop runs (-want +got):\n%s", subject, d)
				}
				if v, ok := s.(*vigilProc); ok {
					checkVigilLog(t, v)
				}
				if k, ok := p.(*nettest.Keepalived); ok {
					checkKeepalivedLog(t, k)
				}
			})
		}
	}
}

// TestHungNotifyDoesNotDelayFailover: vigil (priority 100) has a
// notify_backup and a notify_master that never end (they record their
// arguments, then sleep 3600). keepalived (150) is master. While vigil's
// notify_backup hangs, keepalived vanishes (SIGKILL): vigil must take the
// VIP within its Master_Down_Interval (RFC 5798 §6.4.2) plus a margin,
// not after a script. Then keepalived comes back and preempts: vigil,
// whose notify scripts still hang, must give the VIP up within one
// advert of keepalived becoming master. keepalived forks notify scripts
// and never waits for them; vigil queues them and must not let the VRRP
// runner wait either.
func TestHungNotifyDoesNotDelayFailover(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	vh, kh := lab.Hosts[0], lab.Hosts[1]
	const advInt = 100 * time.Millisecond
	vip := labVIP(lab, 130, false)
	dir := t.TempDir()
	hangLog := filepath.Join(dir, "hang.log")
	hang := writeScript(t, dir, "hang.sh", fmt.Sprintf("echo \"$*\" >> %s\nsleep 3600\n", hangLog), 0o755)
	inst := vrrpConf{Name: "VI_1", VRID: 130, Version: 3, Priority: 100, AdvertInt: advInt, VIP: vip,
		Extra: []string{
			fmt.Sprintf("notify_backup %q", hang+" backup"),
			fmt.Sprintf("notify_master %q", hang+" master"),
		}}
	vconf := daemonConf{ScriptSecurity: true, Instances: []vrrpConf{inst}}
	kinst := inst
	kinst.Priority, kinst.Extra = 150, nil
	kconf := daemonConf{Instances: []vrrpConf{kinst}}
	mdi := masterDownInterval(3, 100, advInt)
	const margin = 2 * time.Second

	k := nettest.StartKeepalived(t, kh, kconf.render())
	mustLog(t, k, 0, reMaster, 10*time.Second)
	lab.WaitHeldBy(t, vip.Addr(), 5*time.Second, kh)
	v := startVigilWith(t, vh, vconf.render())
	mustLog(t, v, 0, reBackup, 10*time.Second)
	hangRec := recorder{File: hangLog}
	hangRec.Wait(t, 1, 5*time.Second) // notify_backup is running, and hangs
	if ps := processesWith(hang); len(ps) == 0 {
		t.Fatalf("no process runs %s: notify_backup did not start", hang)
	}

	start := time.Now()
	if err := k.Kill(); err != nil {
		t.Fatal(err)
	}
	lab.WaitHeldBy(t, vip.Addr(), mdi+margin, vh, kh) // keepalived's VIP stays behind
	took := time.Since(start)
	t.Logf("vigil took the VIP %v after keepalived was killed (Master_Down_Interval %v), notify_backup hanging", took.Round(time.Millisecond), mdi)
	mustLog(t, v, 0, reMaster, time.Second)
	// Clean the killed keepalived's VIP away as an operator would.
	if out, err := kh.Run(t.Context(), "ip", "addr", "del", vip.String(), "dev", nettest.IfName); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	lab.WaitHeldBy(t, vip.Addr(), time.Second, vh)

	// keepalived returns at priority 150 and preempts.
	vmark := v.Mark()
	k2 := nettest.StartKeepalived(t, kh, kconf.render())
	mustLog(t, k2, 0, reMaster, 10*time.Second)
	became := time.Now()
	lab.WaitHeldBy(t, vip.Addr(), advInt+margin, kh)
	t.Logf("vigil gave the VIP up %v after keepalived logged MASTER, notify scripts hanging",
		time.Since(became).Round(time.Millisecond))
	mustLog(t, v, vmark, reBackup, time.Second)
	holdStable(t, lab, vip.Addr(), kh, mdi+advInt)
	checkKeepalivedLog(t, k2)
}

// TestUnsafeScriptRefused: with enable_script_security a world-writable
// vrrp_script and a world-writable notify_master are disabled at load
// with keepalived's words "Unsafe permissions found for script '…'" and
// never run (keepalived.conf(5) enable_script_security; keepalived 2.2.7
// lib/notify.c check_script_secure). Safe twins of both scripts, in the
// same config, prove that the scripts would have had their chance: the
// safe vrrp_script runs twice and the safe notify script sees MASTER. The
// keepalived subtest is the reference for the same assertions.
func TestUnsafeScriptRefused(t *testing.T) {
	lab := nettest.NewLab(t, 1, nettest.Options{})
	h := lab.Hosts[0]
	for i, kind := range []string{"vigil", "keepalived"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			ran := filepath.Join(dir, "unsafe-ran")
			unsafe := writeScript(t, dir, "unsafe.sh", fmt.Sprintf("echo \"$*\" >> %s\n", ran), 0o777)
			safeChk := newRecorder(t, dir, "safe_chk")
			safeNotify := newRecorder(t, dir, "safe_notify")
			vip := labVIP(lab, 140+i, false)
			c := daemonConf{ScriptSecurity: true,
				Scripts: []scriptConf{
					{Name: "unsafe_chk", Script: unsafe + " chk", Interval: 1, Weight: -10},
					{Name: "safe_chk", Script: safeChk.Path + " chk", Interval: 1, Weight: -10},
				},
				Instances: []vrrpConf{{Name: "VI_1", VRID: 140 + i, Version: 3, Priority: 100,
					AdvertInt: 100 * time.Millisecond, VIP: vip,
					TrackScripts: []string{"unsafe_chk", "safe_chk"},
					Extra: []string{
						fmt.Sprintf("notify_master %q", unsafe+" master"),
						fmt.Sprintf("notify %q", safeNotify.Path),
					}}}}
			n := startNode(t, kind, h, c.render())
			want := regexp.MustCompile(regexp.QuoteMeta("Unsafe permissions found for script '" + unsafe + "'"))
			mustLog(t, n, 0, want, 5*time.Second)
			mustLog(t, n, 0, reMaster, 10*time.Second)
			lab.WaitHeldBy(t, vip.Addr(), 5*time.Second, h)
			safeNotify.Wait(t, 2, 5*time.Second) // BACKUP, MASTER
			safeChk.Wait(t, 2, 5*time.Second)    // two runs of the safe script
			if b, err := os.ReadFile(ran); err == nil {
				t.Errorf("%s ran the world-writable script:\n%s", kind, b)
			}
			got := countLines(n, 0, regexp.MustCompile(`Unsafe permissions found for script`))
			t.Logf("%s logged:\n%s", kind, strings.Join(got, "\n"))
			if !slices.ContainsFunc(got, func(l string) bool { return strings.Contains(l, "disabling") }) {
				t.Errorf("%s: no \"Unsafe permissions found for script ... - disabling\" line", kind)
			}
		})
	}
}
