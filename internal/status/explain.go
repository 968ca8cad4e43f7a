package status

import (
	"fmt"

	"github.com/vigil-ha/vigil/internal/vrrp"
)

// Explanation says why an instance is in its state: GET
// /v1/explain/{instance} and `vigil explain INSTANCE`.
type Explanation struct {
	Instance          string     `json:"instance"`
	State             vrrp.State `json:"-"`
	StateName         string     `json:"state"`
	BasePriority      uint8      `json:"base_priority"`
	EffectivePriority uint8      `json:"effective_priority"`
	// Trackers are the tracked objects, when the source knows them.
	Trackers []Tracker `json:"trackers,omitempty"`
	// LastAdvert is the last accepted advert, nil when none was seen.
	LastAdvert *AdvertSeen `json:"last_advert,omitempty"`
	// Rule is the one-line verdict: the RFC 5798 rule (or keepalived
	// behaviour) that put the instance in its state.
	Rule string `json:"rule"`
	// Notes add context: unexplained priority changes, missing data.
	Notes []string `json:"notes,omitempty"`
}

// AdvertSeen is the last accepted advert.
type AdvertSeen struct {
	From     string `json:"from"`
	Priority uint8  `json:"priority"`
}

// Diagnose explains st from its snapshot and, when known, its trackers.
// It is a pure function: the server calls it with the source's data.
func Diagnose(st InstanceStatus, trackers []Tracker) Explanation {
	e := Explanation{
		Instance: st.Name, State: st.State, StateName: st.State.String(),
		BasePriority: st.BasePriority, EffectivePriority: st.Priority,
		Trackers: trackers,
	}
	seen := st.Master.IsValid()
	if seen {
		e.LastAdvert = &AdvertSeen{From: st.Master.String(), Priority: st.MasterPriority}
	}
	ours := st.Priority
	e.Notes = priorityNotes(st, trackers)

	switch st.State {
	case vrrp.StateInit:
		e.Rule = "init: the instance has not started yet (RFC 5798 §6.4.1)"
	case vrrp.StateStop:
		e.Rule = "stop: the instance has shut down (sent priority 0 if it was master)"
	case vrrp.StateFault:
		e.Rule = "fault: " + faultCause(trackers) + "; the instance neither sends nor accepts adverts until it recovers (keepalived FAULT)"
	case vrrp.StateMaster:
		switch {
		case st.BasePriority == 255:
			e.Rule = "master: priority 255, this router owns the virtual addresses (RFC 5798 §6.4.1)"
		case !seen:
			e.Rule = fmt.Sprintf("master: no advert from another router within Master_Down_Interval at our priority %d (RFC 5798 §6.4.2)", ours)
		case st.MasterPriority == 0:
			e.Rule = fmt.Sprintf("master: %s resigned (advertised priority 0); we took over after Skew_Time (RFC 5798 §6.4.2)", st.Master)
		case st.MasterPriority < ours:
			e.Rule = fmt.Sprintf("master: last advert from %s had priority %d < our %d, so we stay master (RFC 5798 §6.4.3)", st.Master, st.MasterPriority, ours)
		case st.MasterPriority == ours:
			e.Rule = fmt.Sprintf("master: %s advertised equal priority %d and our primary address is higher (RFC 5798 §6.4.3)", st.Master, ours)
		default:
			// A higher-priority advert while master should have made us
			// backup; it can only be older than our takeover.
			e.Rule = fmt.Sprintf("master: no advert from another router within Master_Down_Interval; the last one, from %s at priority %d, is stale (RFC 5798 §6.4.2)", st.Master, st.MasterPriority)
		}
	case vrrp.StateBackup:
		switch {
		case !seen:
			e.Rule = fmt.Sprintf("backup: waiting for an advert or for Master_Down_Interval to expire at our priority %d (RFC 5798 §6.4.1, §6.4.2)", ours)
		case st.MasterPriority == 0:
			e.Rule = fmt.Sprintf("backup: master %s resigned (priority 0); taking over after Skew_Time (RFC 5798 §6.4.2)", st.Master)
		case st.MasterPriority > ours:
			e.Rule = fmt.Sprintf("backup: master %s advertises priority %d > our %d (RFC 5798 §6.4.2)", st.Master, st.MasterPriority, ours)
		case st.MasterPriority == ours:
			e.Rule = fmt.Sprintf("backup: master %s advertises equal priority %d and its primary address is higher (RFC 5798 §6.4.3)", st.Master, ours)
		default:
			e.Rule = fmt.Sprintf("backup: master %s advertises priority %d < our %d but preemption is off or delayed (nopreempt, preempt_delay; RFC 5798 §6.4.2 Preempt_Mode)", st.Master, st.MasterPriority, ours)
		}
	default:
		e.Rule = fmt.Sprintf("%s: no rule known for this state", st.State)
	}
	return e
}

// faultCause names the trackers that hold the instance in FAULT.
func faultCause(trackers []Tracker) string {
	var names []string
	for _, t := range trackers {
		if t.Fault {
			names = append(names, fmt.Sprintf("track_%s %s is %s", t.Kind, t.Name, t.Status))
		}
	}
	switch len(names) {
	case 0:
		return "the interface is down or a tracked object with weight 0 failed"
	case 1:
		return names[0]
	}
	out := names[0]
	for _, n := range names[1:] {
		out += ", " + n
	}
	return out
}

// priorityNotes accounts for the difference between base and effective
// priority.
func priorityNotes(st InstanceStatus, trackers []Tracker) []string {
	diff := int(st.Priority) - int(st.BasePriority)
	if trackers == nil {
		if diff != 0 {
			return []string{fmt.Sprintf("effective priority %d = base %d %+d from tracked objects (details unavailable)", st.Priority, st.BasePriority, diff)}
		}
		return nil
	}
	sum := 0
	for _, t := range trackers {
		sum += t.Contribution
	}
	var notes []string
	if sum != 0 || diff != 0 {
		notes = append(notes, fmt.Sprintf("effective priority %d = base %d %+d from tracked objects", st.Priority, st.BasePriority, diff))
	}
	if sum != diff {
		// keepalived clamps the sum to 1-254; an owner (255) ignores weights.
		notes = append(notes, fmt.Sprintf("trackers add %+d but the priority moved %+d: clamped to 1-254 (keepalived.conf(5) track_script weight)", sum, diff))
	}
	return notes
}
