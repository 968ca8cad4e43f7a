package daemon

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/conf"
)

// keepalived.conf(5) vrrp_sync_group: the members of a group run
// together, in the order of its group { } block; every other instance
// runs alone; each instance is in exactly one unit.
func TestPlanGroups(t *testing.T) {
	sg := func(name string, members ...string) *conf.SyncGroup {
		g := &conf.SyncGroup{Name: name}
		for _, m := range members {
			g.Group = append(g.Group, conf.TrackRef{Name: m})
		}
		return g
	}
	tests := []struct {
		name      string
		instances []string
		groups    []*conf.SyncGroup
		want      []string // one line per unit: key: members
	}{
		{"no groups", []string{"VI_1", "VI_2"}, nil,
			[]string{"vrrp_instance VI_1: VI_1", "vrrp_instance VI_2: VI_2"}},
		{"group placed at its first member, members in group order",
			[]string{"VI_A", "VI_2", "VI_B", "VI_1"},
			[]*conf.SyncGroup{sg("VG_1", "VI_1", "VI_2")},
			[]string{"vrrp_instance VI_A: VI_A", "vrrp_sync_group VG_1: VI_1 VI_2", "vrrp_instance VI_B: VI_B"}},
		{"two groups and a loner",
			[]string{"VI_1", "VI_2", "VI_3", "VI_4", "VI_5"},
			[]*conf.SyncGroup{sg("VG_2", "VI_4", "VI_2"), sg("VG_1", "VI_1", "VI_3")},
			[]string{"vrrp_sync_group VG_1: VI_1 VI_3", "vrrp_sync_group VG_2: VI_4 VI_2", "vrrp_instance VI_5: VI_5"}},
		{"one-member group is still a group (keepalived warns and keeps it)",
			[]string{"VI_1", "VI_2"}, []*conf.SyncGroup{sg("VG_1", "VI_2")},
			[]string{"vrrp_instance VI_1: VI_1", "vrrp_sync_group VG_1: VI_2"}},
		{"unknown, repeated and twice-grouped members are skipped",
			[]string{"VI_1", "VI_2", "VI_3"},
			[]*conf.SyncGroup{sg("VG_1", "VI_1", "nope", "VI_1", "VI_2"), sg("VG_2", "VI_2", "VI_3"), sg("VG_3", "gone")},
			[]string{"vrrp_sync_group VG_1: VI_1 VI_2", "vrrp_sync_group VG_2: VI_3"}},
		{"instance and group may share a name",
			[]string{"X", "Y"}, []*conf.SyncGroup{sg("X", "Y")},
			[]string{"vrrp_instance X: X", "vrrp_sync_group X: Y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var plans []instancePlan
			for _, n := range tt.instances {
				plans = append(plans, instancePlan{Name: n})
			}
			var got []string
			seen := map[string]int{}
			for _, u := range planGroups(tt.groups, plans) {
				line := u.key() + ":"
				for _, m := range u.Members {
					line += " " + m.Name
					seen[m.Name]++
				}
				got = append(got, line)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("units (-want +got):\n%s", diff)
			}
			for _, n := range tt.instances {
				if seen[n] != 1 {
					t.Errorf("instance %s is in %d units, want 1", n, seen[n])
				}
			}
		})
	}
}

// keepalived 2.2.7 vrrp_complete_instance and sync_group_tracking_init:
// members of a group lose their own weights unless the group has
// sync_group_tracking_weight; the group's tracked objects apply to every
// member, weightless when a member is an address owner. The warnings are
// those keepalived 2.2.7 -t printed for the same configuration.
func TestSyncGroupTracking(t *testing.T) {
	base := func() *conf.Config {
		return &conf.Config{
			VRRPScripts:    []*conf.VRRPScript{{Name: "chk_w", Weight: -20}, {Name: "chk_0"}},
			VRRPTrackFiles: []*conf.TrackFile{{Name: "tf1", Weight: 1}, {Name: "tf5", Weight: 5}},
			Instances: []*conf.VRRPInstance{
				{Name: "VI_1", Interface: "eth0",
					TrackInterface: []conf.TrackRef{{Name: "eth2", Weight: ptr(10)}, {Name: "eth3"}},
					TrackScript:    []conf.TrackRef{{Name: "chk_w"}, {Name: "chk_0"}},
					TrackFile:      []conf.TrackRef{{Name: "tf1"}, {Name: "tf5"}}},
				{Name: "VI_2", Interface: "eth1"},
				{Name: "VI_3", Interface: "eth4", TrackScript: []conf.TrackRef{{Name: "chk_w"}}},
			},
			SyncGroups: []*conf.SyncGroup{{Name: "VG_1",
				Group:          []conf.TrackRef{{Name: "VI_1"}, {Name: "VI_2"}},
				TrackInterface: []conf.TrackRef{{Name: "eth9", Weight: ptr(-30), Reverse: true}},
				TrackScript:    []conf.TrackRef{{Name: "chk_w"}},
			}},
		}
	}
	type ref struct {
		Kind    objKind
		Name    string
		Weight  int
		Reverse bool
	}
	flat := func(a *trackAgg) map[string][]ref {
		out := map[string][]ref{}
		for inst, rs := range a.refs {
			for _, r := range rs {
				out[inst] = append(out[inst], ref{r.key.kind, r.key.name, r.weight, r.reverse})
			}
		}
		return out
	}
	groupObjs := []ref{{kindScript, "chk_w", -20, false}, {kindIface, "eth9", -30, true}}
	vi3 := []ref{{kindIface, "eth4", 0, false}, {kindScript, "chk_w", -20, false}}
	tests := []struct {
		name      string
		edit      func(c *conf.Config)
		want      map[string][]ref
		wantWarns []string
	}{
		{"member weights dropped or zeroed", func(*conf.Config) {},
			map[string][]ref{
				"VI_1": append([]ref{{kindIface, "eth0", 0, false}, {kindIface, "eth2", 0, false}, {kindIface, "eth3", 0, false},
					{kindScript, "chk_0", 0, false}, {kindFile, "tf1", 0, false}}, groupObjs...),
				"VI_2": append([]ref{{kindIface, "eth1", 0, false}}, groupObjs...),
				"VI_3": vi3,
			},
			[]string{
				"(VI_1) ignoring eth2 tracked interface weight due to SYNC group",
				"(VI_1) ignoring tracked script chk_w with weights due to SYNC group",
				"(VI_1) ignoring weight from tracked file tf1 due to SYNC group. specify weight 0",
				"(VI_1) ignoring tracked file tf5 with weight 5 due to SYNC group",
			}},
		{"sync_group_tracking_weight keeps them", func(c *conf.Config) { c.SyncGroups[0].TrackingWeight = true },
			map[string][]ref{
				"VI_1": append([]ref{{kindIface, "eth0", 0, false}, {kindIface, "eth2", 10, false}, {kindIface, "eth3", 0, false},
					{kindScript, "chk_w", -20, false}, {kindScript, "chk_0", 0, false},
					{kindFile, "tf1", 1, false}, {kindFile, "tf5", 5, false}}, groupObjs...),
				"VI_2": append([]ref{{kindIface, "eth1", 0, false}}, groupObjs...),
				"VI_3": vi3,
			}, nil},
		{"global_tracking keeps them too", func(c *conf.Config) {
			c.SyncGroups[0].GlobalTracking = true
			c.Instances[0].TrackFile = nil
			c.Instances[0].TrackScript = nil
			c.Instances[0].TrackInterface = nil
		},
			map[string][]ref{
				"VI_1": append([]ref{{kindIface, "eth0", 0, false}}, groupObjs...),
				"VI_2": append([]ref{{kindIface, "eth1", 0, false}}, groupObjs...),
				"VI_3": vi3,
			}, nil},
		{"address owner member clears the group's weights", func(c *conf.Config) {
			c.SyncGroups[0].TrackingWeight = true
			c.Instances[0].TrackFile = nil
			c.Instances[0].TrackScript = nil
			c.Instances[0].TrackInterface = nil
			c.Instances[1].State = conf.StateMaster // no priority: 255
		},
			map[string][]ref{
				"VI_1": {{kindIface, "eth0", 0, false}, {kindScript, "chk_w", 0, false}, {kindIface, "eth9", 0, true}},
				"VI_2": {{kindIface, "eth1", 0, false}, {kindScript, "chk_w", 0, false}, {kindIface, "eth9", 0, true}},
				"VI_3": vi3,
			},
			[]string{
				"(VG_1) Cannot have weighted track script 'chk_w' with member having priority 255 - clearing weight",
				"(VG_1) Cannot have weighted track interface 'eth9' with member having priority 255 - clearing weight",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.edit(c)
			// The instances' own objects, as trackAgg collects them
			// before the sync group rules.
			own := *c
			own.SyncGroups = nil
			a := newTrackAgg(&own)
			warns := syncGroupTracking(c, a.refs)
			if diff := cmp.Diff(tt.want, flat(a)); diff != "" {
				t.Errorf("tracked objects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantWarns, warns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}
