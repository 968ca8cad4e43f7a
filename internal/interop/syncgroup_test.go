package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/nettest"
)

// TestSyncGroupFollowsTrackScript: the subject (vigil, or keepalived as
// the reference) runs VI_1 and VI_2 at priority 150 in the
// vrrp_sync_group G; only VI_1 tracks a vrrp_script (weight 0: FAULT on
// failure). The peer runs both at 100 without a group. When the script
// fails the whole group leaves: both VIPs go to the peer, not only
// VI_1's; when it recovers both come back (keepalived.conf(5)
// vrrp_sync_group: "if one instance fails, all instances in the group
// are considered failed"). The generic notify scripts of VI_1, VI_2 and
// of the group record their arguments separately (keepalived forks them
// concurrently, so one shared file would have no defined order); each
// sequence must be exactly what keepalived 2.2.7 records, which the
// keepalived subtest checks: group notifies with priority 0, instance
// notifies with the effective priority, the non-tracking VI_2 reported
// FAULT with the group.
func TestSyncGroupFollowsTrackScript(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	sh, ph := lab.Hosts[0], lab.Hosts[1]
	const advInt = 100 * time.Millisecond
	want := map[string][]string{
		"VI_1": {"INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 MASTER 150", "INSTANCE VI_1 FAULT 150",
			"INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 MASTER 150", "INSTANCE VI_1 STOP 150"},
		"VI_2": {"INSTANCE VI_2 BACKUP 150", "INSTANCE VI_2 MASTER 150", "INSTANCE VI_2 FAULT 150",
			"INSTANCE VI_2 BACKUP 150", "INSTANCE VI_2 MASTER 150", "INSTANCE VI_2 STOP 150"},
		"G": {"GROUP G BACKUP 0", "GROUP G MASTER 0", "GROUP G FAULT 0", "GROUP G BACKUP 0", "GROUP G MASTER 0", "GROUP G STOP 0"},
	}
	for i, subject := range []string{"keepalived", "vigil"} {
		t.Run("subject="+subject, func(t *testing.T) {
			dir := t.TempDir()
			fail := filepath.Join(dir, "fail")
			chk := writeScript(t, dir, "chk.sh", fmt.Sprintf("[ ! -e %s ]\n", fail), 0o755)
			recs := map[string]recorder{}
			for _, n := range []string{"VI_1", "VI_2", "G"} {
				recs[n] = newRecorder(t, dir, "notify_"+n)
			}
			mk := func(n, prio int) vrrpConf {
				return vrrpConf{Name: fmt.Sprintf("VI_%d", n), VRID: 220 + 2*i + n, Version: 3, Priority: prio,
					AdvertInt: advInt, VIP: labVIP(lab, 220+2*i+n, false)}
			}
			s1, s2 := mk(1, 150), mk(2, 150)
			s1.TrackScripts = []string{"chk"}
			s1.Extra = []string{fmt.Sprintf("notify %q", recs["VI_1"].Path)}
			s2.Extra = []string{fmt.Sprintf("notify %q", recs["VI_2"].Path)}
			sconf := daemonConf{ScriptSecurity: true,
				Scripts:   []scriptConf{{Name: "chk", Script: chk, Interval: 1, Weight: 0}},
				Instances: []vrrpConf{s1, s2}}
			text := sconf.render() + fmt.Sprintf("vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n  notify %q\n}\n", recs["G"].Path)
			pconf := daemonConf{Instances: []vrrpConf{mk(1, 100), mk(2, 100)}}
			vip1, vip2 := s1.VIP.Addr(), s2.VIP.Addr()
			mdi := masterDownInterval(3, 100, advInt)
			moveLimit := time.Second + mdi + 2*time.Second

			s := startNode(t, subject, sh, text)
			mustLog(t, s, 0, reInstState("VI_1", "MASTER"), 10*time.Second)
			mustLog(t, s, 0, reInstState("VI_2", "MASTER"), 10*time.Second)
			lab.WaitHeldBy(t, vip1, 5*time.Second, sh)
			lab.WaitHeldBy(t, vip2, 5*time.Second, sh)
			p := startNode(t, otherKind(subject), ph, pconf.render())
			mustLog(t, p, 0, reInstState("VI_1", "BACKUP"), 10*time.Second)
			mustLog(t, p, 0, reInstState("VI_2", "BACKUP"), 10*time.Second)
			holdStable(t, lab, vip2, sh, mdi+advInt)

			// VI_1's script fails: both instances leave.
			start := time.Now()
			if err := os.WriteFile(fail, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			lab.WaitHeldBy(t, vip1, moveLimit, ph)
			lab.WaitHeldBy(t, vip2, moveLimit, ph)
			t.Logf("%s: both VIPs on the peer %v after VI_1's script started failing", subject, time.Since(start).Round(time.Millisecond))
			holdStable(t, lab, vip2, ph, mdi+advInt)
			checkSoleHolder(t, lab, vip1, ph)

			// It recovers: both come back.
			start = time.Now()
			if err := os.Remove(fail); err != nil {
				t.Fatal(err)
			}
			lab.WaitHeldBy(t, vip1, moveLimit, sh)
			lab.WaitHeldBy(t, vip2, moveLimit, sh)
			t.Logf("%s: both VIPs back %v after the script recovered", subject, time.Since(start).Round(time.Millisecond))
			holdStable(t, lab, vip2, sh, mdi+advInt)
			checkSoleHolder(t, lab, vip1, sh)

			if err := s.Stop(10 * time.Second); err != nil {
				t.Fatalf("stop %s: %v", subject, err)
			}
			lab.WaitHeldBy(t, vip1, 5*time.Second, ph)
			lab.WaitHeldBy(t, vip2, 5*time.Second, ph)
			for n, r := range recs {
				got := r.Wait(t, len(want[n]), 5*time.Second)
				if d := cmp.Diff(want[n], got); d != "" {
					t.Errorf("%s: notify of %s (-want +got):\n%s", subject, n, d)
				}
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
