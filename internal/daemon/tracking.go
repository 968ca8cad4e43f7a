package daemon

import (
	"strconv"

	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/status"
	"github.com/vigil-ha/vigil/internal/track"
	"github.com/vigil-ha/vigil/internal/vrrp"
)

// objKind is the kind of a tracked object.
type objKind uint8

const (
	kindIface objKind = iota + 1
	kindScript
	kindFile
)

type objKey struct {
	kind objKind
	name string
}

// objRef is one tracked object of an instance, with the weight the
// instance applies (its own track_* weight, else the object's default).
type objRef struct {
	key     objKey
	weight  int
	reverse bool
}

// trackAgg combines the states of tracked objects into each instance's
// tracking total and fault flag, as keepalived's vrrp_track.c does. It is
// pure: the daemon feeds it object changes and forwards what it returns.
type trackAgg struct {
	refs    map[string][]objRef // instance name → tracked objects
	ifaces  map[string]track.Status
	scripts map[string]track.Status
	files   map[string]int64
	haveVal map[string]bool
	last    map[string]vrrp.TrackChange
	// warns are the configuration's tracking warnings (sync group
	// rules), logged when tracking starts.
	warns []string
}

// newTrackAgg collects every instance's tracked objects: its own
// interface (weight 0, i.e. FAULT when down, unless dont_track_primary),
// track_interface, track_script and track_file, with the per-instance
// weight overriding the object's default.
func newTrackAgg(c *conf.Config) *trackAgg {
	a := &trackAgg{
		ifaces: map[string]track.Status{}, scripts: map[string]track.Status{},
		files: map[string]int64{}, haveVal: map[string]bool{}, last: map[string]vrrp.TrackChange{},
	}
	a.configure(c)
	return a
}

// configure replaces the tracked objects with those of c, keeping the
// known states of objects (a reload does not forget that a link is down).
func (a *trackAgg) configure(c *conf.Config) {
	a.refs = map[string][]objRef{}
	scriptW := map[string]*conf.VRRPScript{}
	for _, s := range c.VRRPScripts {
		scriptW[s.Name] = s
	}
	fileW := map[string]*conf.TrackFile{}
	for _, f := range c.VRRPTrackFiles {
		fileW[f.Name] = f
	}
	for _, vi := range c.Instances {
		var refs []objRef
		if !vi.DontTrackPrimary && vi.Interface != "" {
			refs = append(refs, objRef{key: objKey{kindIface, vi.Interface}})
		}
		for _, t := range vi.TrackInterface {
			refs = append(refs, objRef{key: objKey{kindIface, t.Name}, weight: weightOr(t.Weight, 0), reverse: t.Reverse})
		}
		for _, t := range vi.TrackScript {
			def, rev := 0, false
			if s := scriptW[t.Name]; s != nil {
				def, rev = s.Weight, s.WeightReverse
			}
			refs = append(refs, objRef{key: objKey{kindScript, t.Name}, weight: weightOr(t.Weight, def), reverse: rev || t.Reverse})
		}
		for _, t := range vi.TrackFile {
			def, rev := 1, false
			if f := fileW[t.Name]; f != nil {
				def, rev = f.Weight, f.WeightReverse
			}
			refs = append(refs, objRef{key: objKey{kindFile, t.Name}, weight: weightOr(t.Weight, def), reverse: rev || t.Reverse})
		}
		a.refs[vi.Name] = refs
	}
	a.warns = syncGroupTracking(c, a.refs)
}

// used returns the objects some instance tracks: only those run
// (keepalived: "Warning - script … is not used").
func (a *trackAgg) used() map[objKey]bool {
	out := map[objKey]bool{}
	for _, refs := range a.refs {
		for _, r := range refs {
			out[r.key] = true
		}
	}
	return out
}

func weightOr(p *int, def int) int {
	if p != nil {
		return *p
	}
	return def
}

// interfaces returns every interface some instance tracks.
func (a *trackAgg) interfaces() []string {
	seen := map[string]bool{}
	var out []string
	for _, refs := range a.refs {
		for _, r := range refs {
			if r.key.kind == kindIface && !seen[r.key.name] {
				seen[r.key.name] = true
				out = append(out, r.key.name)
			}
		}
	}
	return out
}

// setIface records an interface's state; setScript a script's; setFile a
// file's value. Each returns the instances whose tracking changed, with
// their new totals. setIface also reports whether the interface's state
// is news.
func (a *trackAgg) setIface(name string, up bool) (map[string]vrrp.TrackChange, bool) {
	st := track.StatusDown
	if up {
		st = track.StatusUp
	}
	prev, seen := a.ifaces[name]
	a.ifaces[name] = st
	return a.recompute(objKey{kindIface, name}), !seen || prev != st
}

// current returns an instance's tracking total as last computed, and
// whether there is one.
func (a *trackAgg) current(inst string) (vrrp.TrackChange, bool) {
	tc, ok := a.last[inst]
	return tc, ok
}

func (a *trackAgg) setScript(name string, st track.Status) map[string]vrrp.TrackChange {
	a.scripts[name] = st
	return a.recompute(objKey{kindScript, name})
}

func (a *trackAgg) setFile(name string, v int64) map[string]vrrp.TrackChange {
	a.files[name], a.haveVal[name] = v, true
	return a.recompute(objKey{kindFile, name})
}

func (a *trackAgg) recompute(changed objKey) map[string]vrrp.TrackChange {
	out := map[string]vrrp.TrackChange{}
	for inst, refs := range a.refs {
		uses := false
		for _, r := range refs {
			uses = uses || r.key == changed
		}
		if !uses {
			continue
		}
		tc := a.total(refs)
		if prev, ok := a.last[inst]; ok && prev == tc {
			continue
		}
		a.last[inst] = tc
		out[inst] = tc
	}
	return out
}

// total adds up the effects of refs. Interfaces follow the rules of
// scripts (keepalived.conf(5) track_interface: weight 0 means FAULT while
// down; a positive weight is added while up, a negative one while down).
func (a *trackAgg) total(refs []objRef) vrrp.TrackChange {
	var tc vrrp.TrackChange
	for _, r := range refs {
		var d int
		var fault bool
		switch r.key.kind {
		case kindIface:
			st, ok := a.ifaces[r.key.name]
			if !ok {
				continue
			}
			d, fault = track.ScriptEffect(st, r.weight, r.reverse)
		case kindScript:
			d, fault = track.ScriptEffect(a.scripts[r.key.name], r.weight, r.reverse)
		case kindFile:
			if !a.haveVal[r.key.name] {
				continue
			}
			d, fault = track.FileEffect(a.files[r.key.name], r.weight, r.reverse)
		}
		tc.Weight += d
		tc.Fault = tc.Fault || fault
	}
	return tc
}

// details lists an instance's tracked objects with what each contributes
// now, for `vigil explain`.
func (a *trackAgg) details(inst string) ([]status.Tracker, bool) {
	refs, ok := a.refs[inst]
	if !ok {
		return nil, false
	}
	out := make([]status.Tracker, 0, len(refs))
	for _, r := range refs {
		tr := status.Tracker{Name: r.key.name, Weight: r.weight, Status: "unknown"}
		var st track.Status
		known := false
		switch r.key.kind {
		case kindIface:
			tr.Kind = "interface"
			st, known = a.ifaces[r.key.name]
		case kindScript:
			tr.Kind = "script"
			st, known = a.scripts[r.key.name]
		case kindFile:
			tr.Kind = "file"
			if a.haveVal[r.key.name] {
				v := a.files[r.key.name]
				tr.Status = strconv.FormatInt(v, 10)
				tr.Contribution, tr.Fault = track.FileEffect(v, r.weight, r.reverse)
			}
			out = append(out, tr)
			continue
		}
		if known && st != track.StatusInit {
			tr.Status = map[track.Status]string{track.StatusUp: "up", track.StatusDown: "down"}[st]
			tr.Contribution, tr.Fault = track.ScriptEffect(st, r.weight, r.reverse)
		}
		out = append(out, tr)
	}
	return out, true
}

// snapshot returns every instance's details.
func (a *trackAgg) snapshot() map[string][]status.Tracker {
	m := make(map[string][]status.Tracker, len(a.refs))
	for inst := range a.refs {
		m[inst], _ = a.details(inst)
	}
	return m
}
