package daemon

import (
	"fmt"

	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/vrrp"
)

// groupPlan is what one VRRP goroutine runs: the members of a
// vrrp_sync_group (vrrp.NewGroupRunner), or a single instance that is in
// no group (Group "", one member; vrrp.NewRunner).
type groupPlan struct {
	Group   string
	Members []instancePlan
}

// key names the unit for reloads. Instance and group names are separate
// namespaces in keepalived, so the kind is part of the key.
func (g groupPlan) key() string {
	if g.Group == "" {
		return "vrrp_instance " + g.Members[0].Name
	}
	return "vrrp_sync_group " + g.Group
}

// planGroups partitions the instance plans, in config order, into the
// units the daemon runs. Each vrrp_sync_group becomes one unit at the
// place of its first member in the instance order, its members in the
// order of its group { } block (keepalived vrrp_sync_set_group); every
// other instance is a unit of its own. conf's validation has already
// reported and removed unknown members and members of a second group;
// planGroups still skips them, and a member listed twice, so that every
// instance is in exactly one unit. A group with no member left is
// dropped.
func planGroups(groups []*conf.SyncGroup, plans []instancePlan) []groupPlan {
	byName := map[string]int{} // instance name → index in plans
	for i, p := range plans {
		byName[p.Name] = i
	}
	groupOf := map[string]int{} // instance name → index in units
	var units []groupPlan
	for _, sg := range groups {
		u := groupPlan{Group: sg.Name}
		for _, m := range sg.Group {
			i, ok := byName[m.Name]
			if _, taken := groupOf[m.Name]; !ok || taken {
				continue
			}
			groupOf[m.Name] = len(units)
			u.Members = append(u.Members, plans[i])
		}
		if len(u.Members) > 0 {
			units = append(units, u)
		}
	}
	var out []groupPlan
	placed := make([]bool, len(units))
	for _, p := range plans {
		gi, ok := groupOf[p.Name]
		switch {
		case !ok:
			out = append(out, groupPlan{Members: []instancePlan{p}})
		case !placed[gi]:
			placed[gi] = true
			out = append(out, units[gi])
		}
	}
	return out
}

// syncGroupTracking applies keepalived 2.2.7's sync group rules to the
// tracked objects of the instances (refs, by instance name, as
// trackAgg.configure builds them) and returns the warnings keepalived
// logs:
//
//   - In a group without sync_group_tracking_weight (or the deprecated
//     global_tracking, which sets it), members must not have weighted
//     objects of their own, so that all members keep equal priorities
//     (keepalived.conf(5) vrrp_sync_group; vrrp.c vrrp_complete_instance):
//     a weighted track_interface becomes weight 0 (FAULT while down); a
//     weighted track_script is not tracked; a track_file of weight 1 (the
//     default) becomes weight 0, any other weighted track_file is not
//     tracked.
//   - The group's own track_interface, track_script and track_file apply
//     to every member with their weights (vrrp.c
//     sync_group_tracking_init), cleared to 0 when a member is an
//     address owner (priority 255).
//
// The warnings' wording and order are keepalived's (checked with
// keepalived -t).
//
// It changes refs in place.
func syncGroupTracking(c *conf.Config, refs map[string][]objRef) []string {
	scriptW := map[string]*conf.VRRPScript{}
	for _, s := range c.VRRPScripts {
		scriptW[s.Name] = s
	}
	fileW := map[string]*conf.TrackFile{}
	for _, f := range c.VRRPTrackFiles {
		fileW[f.Name] = f
	}
	inst := map[string]*conf.VRRPInstance{}
	for _, vi := range c.Instances {
		inst[vi.Name] = vi
	}
	var warns []string
	for _, sg := range c.SyncGroups {
		var members []*conf.VRRPInstance
		seen := map[string]bool{}
		for _, m := range sg.Group {
			if vi := inst[m.Name]; vi != nil && !seen[m.Name] {
				seen[m.Name] = true
				members = append(members, vi)
			}
		}
		if !sg.TrackingWeight && !sg.GlobalTracking {
			for _, vi := range members {
				var kept []objRef
				for _, r := range refs[vi.Name] {
					if r.weight == 0 {
						kept = append(kept, r)
						continue
					}
					switch r.key.kind {
					case kindIface:
						warns = append(warns, fmt.Sprintf("(%s) ignoring %s tracked interface weight due to SYNC group", vi.Name, r.key.name))
						r.weight = 0
						kept = append(kept, r)
					case kindScript:
						warns = append(warns, fmt.Sprintf("(%s) ignoring tracked script %s with weights due to SYNC group", vi.Name, r.key.name))
					case kindFile:
						if r.weight == 1 {
							warns = append(warns, fmt.Sprintf("(%s) ignoring weight from tracked file %s due to SYNC group. specify weight 0", vi.Name, r.key.name))
							r.weight = 0
							kept = append(kept, r)
						} else {
							warns = append(warns, fmt.Sprintf("(%s) ignoring tracked file %s with weight %d due to SYNC group", vi.Name, r.key.name, r.weight))
						}
					}
				}
				refs[vi.Name] = kept
			}
		}

		owner := false
		for _, vi := range members {
			owner = owner || basePriority(vi) == vrrp.PriorityOwner
		}
		var add []objRef
		clear := func(what, name string, r objRef) objRef {
			if owner && r.weight != 0 {
				warns = append(warns, fmt.Sprintf("(%s) Cannot have weighted track %s '%s' with member having priority %d - clearing weight",
					sg.Name, what, name, vrrp.PriorityOwner))
				r.weight = 0
			}
			return r
		}
		for _, t := range sg.TrackScript {
			def, rev := 0, false
			if s := scriptW[t.Name]; s != nil {
				def, rev = s.Weight, s.WeightReverse
			}
			add = append(add, clear("script", t.Name,
				objRef{key: objKey{kindScript, t.Name}, weight: weightOr(t.Weight, def), reverse: rev || t.Reverse}))
		}
		for _, t := range sg.TrackFile {
			def, rev := 1, false
			if f := fileW[t.Name]; f != nil {
				def, rev = f.Weight, f.WeightReverse
			}
			add = append(add, clear("file", t.Name,
				objRef{key: objKey{kindFile, t.Name}, weight: weightOr(t.Weight, def), reverse: rev || t.Reverse}))
		}
		// keepalived checks the interfaces last.
		for _, t := range sg.TrackInterface {
			add = append(add, clear("interface", t.Name,
				objRef{key: objKey{kindIface, t.Name}, weight: weightOr(t.Weight, 0), reverse: t.Reverse}))
		}
		for _, vi := range members {
			refs[vi.Name] = append(refs[vi.Name], add...)
		}
	}
	return warns
}

// basePriority is the configured priority with keepalived's default: 255
// for "state MASTER" without a priority, else 100 (as planInstance).
func basePriority(vi *conf.VRRPInstance) uint8 {
	if vi.Priority != 0 {
		return vi.Priority
	}
	if vi.State == conf.StateMaster {
		return vrrp.PriorityOwner
	}
	return 100
}
