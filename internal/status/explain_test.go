package status

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/vigil-ha/vigil/internal/vrrp"
)

func TestDiagnoseRule(t *testing.T) {
	peer := netip.MustParseAddr("10.99.0.12")
	for _, tc := range []struct {
		name  string
		st    InstanceStatus
		track []Tracker
		want  string
	}{
		{"RFC 5798 §6.4.2 backup sees higher priority",
			InstanceStatus{State: vrrp.StateBackup, Priority: 100, BasePriority: 100, Master: peer, MasterPriority: 150},
			nil, "backup: master 10.99.0.12 advertises priority 150 > our 100 (RFC 5798 §6.4.2)"},
		{"RFC 5798 §6.4.3 backup loses the tie",
			InstanceStatus{State: vrrp.StateBackup, Priority: 100, BasePriority: 100, Master: peer, MasterPriority: 100},
			nil, "backup: master 10.99.0.12 advertises equal priority 100 and its primary address is higher (RFC 5798 §6.4.3)"},
		{"backup without preemption",
			InstanceStatus{State: vrrp.StateBackup, Priority: 120, BasePriority: 120, Master: peer, MasterPriority: 100},
			nil, "backup: master 10.99.0.12 advertises priority 100 < our 120 but preemption is off or delayed"},
		{"backup waiting",
			InstanceStatus{State: vrrp.StateBackup, Priority: 100, BasePriority: 100},
			nil, "backup: waiting for an advert or for Master_Down_Interval to expire at our priority 100"},
		{"backup after the master resigned",
			InstanceStatus{State: vrrp.StateBackup, Priority: 100, BasePriority: 100, Master: peer},
			nil, "backup: master 10.99.0.12 resigned (priority 0)"},
		{"master owner",
			InstanceStatus{State: vrrp.StateMaster, Priority: 255, BasePriority: 255},
			nil, "master: priority 255, this router owns the virtual addresses (RFC 5798 §6.4.1)"},
		{"master alone",
			InstanceStatus{State: vrrp.StateMaster, Priority: 100, BasePriority: 100},
			nil, "master: no advert from another router within Master_Down_Interval at our priority 100 (RFC 5798 §6.4.2)"},
		{"master over a lower one",
			InstanceStatus{State: vrrp.StateMaster, Priority: 150, BasePriority: 150, Master: peer, MasterPriority: 100},
			nil, "master: last advert from 10.99.0.12 had priority 100 < our 150, so we stay master (RFC 5798 §6.4.3)"},
		{"master wins the tie",
			InstanceStatus{State: vrrp.StateMaster, Priority: 100, BasePriority: 100, Master: peer, MasterPriority: 100},
			nil, "master: 10.99.0.12 advertised equal priority 100 and our primary address is higher"},
		{"master after a resignation",
			InstanceStatus{State: vrrp.StateMaster, Priority: 100, BasePriority: 100, Master: peer},
			nil, "master: 10.99.0.12 resigned (advertised priority 0)"},
		{"master with a stale higher advert",
			InstanceStatus{State: vrrp.StateMaster, Priority: 100, BasePriority: 100, Master: peer, MasterPriority: 200},
			nil, "the last one, from 10.99.0.12 at priority 200, is stale"},
		{"fault named",
			InstanceStatus{State: vrrp.StateFault, Priority: 100, BasePriority: 100},
			[]Tracker{{Kind: "interface", Name: "eth2", Status: "down", Fault: true}, {Kind: "script", Name: "chk", Status: "up"}},
			"fault: track_interface eth2 is down; the instance neither sends nor accepts adverts"},
		{"fault unnamed",
			InstanceStatus{State: vrrp.StateFault, Priority: 100, BasePriority: 100},
			nil, "fault: the interface is down or a tracked object with weight 0 failed"},
		{"init", InstanceStatus{State: vrrp.StateInit}, nil, "init: the instance has not started yet"},
		{"stop", InstanceStatus{State: vrrp.StateStop}, nil, "stop: the instance has shut down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Diagnose(tc.st, tc.track)
			if !strings.Contains(e.Rule, tc.want) {
				t.Errorf("Rule = %q\nwant it to contain %q", e.Rule, tc.want)
			}
			if e.StateName != tc.st.State.String() || e.EffectivePriority != tc.st.Priority || e.BasePriority != tc.st.BasePriority {
				t.Errorf("header = %s %d/%d, want %s %d/%d", e.StateName, e.EffectivePriority, e.BasePriority,
					tc.st.State, tc.st.Priority, tc.st.BasePriority)
			}
			if (e.LastAdvert != nil) != tc.st.Master.IsValid() {
				t.Errorf("LastAdvert = %+v with master %v", e.LastAdvert, tc.st.Master)
			}
		})
	}
}

func TestDiagnosePriorityNotes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		st    InstanceStatus
		track []Tracker
		want  []string
	}{
		{"unchanged, no trackers", InstanceStatus{Priority: 100, BasePriority: 100}, nil, nil},
		{"lowered, trackers unknown", InstanceStatus{Priority: 80, BasePriority: 100}, nil,
			[]string{"effective priority 80 = base 100 -20 from tracked objects (details unavailable)"}},
		{"lowered, trackers agree", InstanceStatus{Priority: 80, BasePriority: 100},
			[]Tracker{{Contribution: -30}, {Contribution: 10}},
			[]string{"effective priority 80 = base 100 -20 from tracked objects"}},
		{"clamped", InstanceStatus{Priority: 1, BasePriority: 50},
			[]Tracker{{Contribution: -100}},
			[]string{"effective priority 1 = base 50 -49 from tracked objects",
				"trackers add -100 but the priority moved -49: clamped to 1-254 (keepalived.conf(5) track_script weight)"}},
		{"trackers at zero", InstanceStatus{Priority: 100, BasePriority: 100}, []Tracker{{Contribution: 0}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Diagnose(tc.st, tc.track).Notes
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("Notes = %q, want %q", got, tc.want)
			}
		})
	}
}
