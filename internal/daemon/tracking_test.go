package daemon

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/track"
	"github.com/vigil-ha/vigil/internal/vrrp"
)

func ptr[T any](v T) *T { return &v }

func trackConfig() *conf.Config {
	return &conf.Config{
		VRRPScripts:    []*conf.VRRPScript{{Name: "chk_nginx", Weight: -20}, {Name: "chk_must", Weight: 0}},
		VRRPTrackFiles: []*conf.TrackFile{{Name: "tf", Weight: 2}},
		Instances: []*conf.VRRPInstance{
			{Name: "VI_1", Interface: "eth0",
				TrackInterface: []conf.TrackRef{{Name: "eth1", Weight: ptr(10)}},
				TrackScript:    []conf.TrackRef{{Name: "chk_nginx"}},
				TrackFile:      []conf.TrackRef{{Name: "tf"}}},
			{Name: "VI_2", Interface: "eth1", DontTrackPrimary: true,
				TrackScript: []conf.TrackRef{{Name: "chk_nginx", Weight: ptr(-50)}, {Name: "chk_must"}}},
		},
	}
}

// keepalived.conf(5) tracking: the instance's own interface and weight-0
// objects put it in FAULT; weights add up into the effective priority;
// per-instance weights override the object's.
func TestTrackAggregation(t *testing.T) {
	type step struct {
		do   func(a *trackAgg) map[string]vrrp.TrackChange
		want map[string]vrrp.TrackChange
	}
	steps := []step{
		{func(a *trackAgg) map[string]vrrp.TrackChange { ch, _ := a.setIface("eth0", true); return ch },
			map[string]vrrp.TrackChange{"VI_1": {}}},
		// eth1 up: +10 for VI_1; VI_2 ignores its own interface.
		{func(a *trackAgg) map[string]vrrp.TrackChange { ch, _ := a.setIface("eth1", true); return ch },
			map[string]vrrp.TrackChange{"VI_1": {Weight: 10}}},
		// chk_nginx fails: -20 for VI_1 (script weight), -50 for VI_2 (override).
		{func(a *trackAgg) map[string]vrrp.TrackChange { return a.setScript("chk_nginx", track.StatusDown) },
			map[string]vrrp.TrackChange{"VI_1": {Weight: -10}, "VI_2": {Weight: -50}}},
		// A weight-0 script going down faults VI_2 only.
		{func(a *trackAgg) map[string]vrrp.TrackChange { return a.setScript("chk_must", track.StatusDown) },
			map[string]vrrp.TrackChange{"VI_2": {Weight: -50, Fault: true}}},
		// track_file value 3 × weight 2.
		{func(a *trackAgg) map[string]vrrp.TrackChange { return a.setFile("tf", 3) },
			map[string]vrrp.TrackChange{"VI_1": {Weight: -4}}},
		// The own interface losing carrier: FAULT.
		{func(a *trackAgg) map[string]vrrp.TrackChange { ch, _ := a.setIface("eth0", false); return ch },
			map[string]vrrp.TrackChange{"VI_1": {Weight: -4, Fault: true}}},
		// The same state again changes nothing.
		{func(a *trackAgg) map[string]vrrp.TrackChange { ch, _ := a.setIface("eth0", false); return ch },
			map[string]vrrp.TrackChange{}},
		{func(a *trackAgg) map[string]vrrp.TrackChange { return a.setScript("chk_nginx", track.StatusUp) },
			map[string]vrrp.TrackChange{"VI_1": {Weight: 16, Fault: true}, "VI_2": {Fault: true}}},
	}
	a := newTrackAgg(trackConfig())
	for i, s := range steps {
		if diff := cmp.Diff(s.want, s.do(a)); diff != "" {
			t.Fatalf("step %d (-want +got):\n%s", i, diff)
		}
	}
	if got, want := a.interfaces(), []string{"eth0", "eth1"}; len(got) != 2 || !(got[0] == want[0] && got[1] == want[1] || got[0] == want[1] && got[1] == want[0]) {
		t.Errorf("interfaces %v, want %v", got, want)
	}
}
