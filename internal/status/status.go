package status

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ha/vigil/internal/vrrp"
)

// DefaultSocket is where the daemon listens and the CLI connects when no
// --socket is given.
const DefaultSocket = "/run/vigil/vigil.sock"

// Source is what the status server, the dumps and the metrics read. The
// daemon implements it; Runners adapts Daemon.Runners. Instances must be
// safe to call from any goroutine and return instances in config order.
type Source interface {
	Instances() []InstanceStatus
}

// RealServerSource is implemented by a Source that also knows the IPVS
// real servers and their checkers; the report then includes them.
type RealServerSource interface {
	RealServers() []RealServerStatus
}

// Explainer is implemented by a Source that knows each instance's tracked
// objects (track_interface, track_script, track_file, ...). Without it,
// explanations rest on base and effective priority and the last advert.
type Explainer interface {
	// Trackers returns the instance's tracked objects and what each one
	// contributes to its priority now; ok is false for an unknown instance.
	Trackers(instance string) (trackers []Tracker, ok bool)
}

// Report is the answer to GET /v1/status.
type Report struct {
	// Time is when the report was taken; SINCE columns count from it.
	Time        time.Time          `json:"time"`
	Instances   []InstanceStatus   `json:"instances"`
	RealServers []RealServerStatus `json:"real_servers,omitempty"`
}

// InstanceStatus is one VRRP instance as status, dumps and metrics see it.
// In JSON (MarshalJSON) the state is its keepalived name and the advert
// interval is in seconds.
type InstanceStatus struct {
	Name      string
	VRID      uint8
	Interface string
	// Version is the VRRP version, 2 or 3; 0 when the source does not say.
	Version int
	// SyncGroup is the instance's vrrp_sync_group, "" for none.
	SyncGroup string
	State     vrrp.State
	// Priority is the effective priority (base plus tracker weights).
	Priority     uint8
	BasePriority uint8
	// AdvertInterval is advert_int; 0 when the source does not say.
	AdvertInterval time.Duration
	VIPs           []VIP
	// Master is the source of the last accepted advert and MasterPriority
	// its priority; Master is invalid when none was seen.
	Master         netip.Addr
	MasterPriority uint8
	// Since is the time of the last transition; zero when none happened.
	Since time.Time
	Stats Counters
}

// VIP is one virtual address as keepalived prints it.
type VIP struct {
	Prefix netip.Prefix `json:"prefix"`
	Dev    string       `json:"dev,omitempty"`
	Label  string       `json:"label,omitempty"`
}

// Counters are an instance's counters. Drops holds the non-zero drop
// counts by vrrp.DropReason label.
type Counters struct {
	AdvertsSent     uint64 `json:"adverts_sent"`
	AdvertsReceived uint64 `json:"adverts_received"`
	Transitions     uint64 `json:"transitions"`
	// Foreign counts adverts of other VRIDs seen on the shared socket.
	Foreign uint64            `json:"foreign,omitempty"`
	Drops   map[string]uint64 `json:"drops,omitempty"`
	// The rest are keepalived's own counters (keepalived.stats), left at
	// zero until the runner counts them.
	BecameMaster         uint64 `json:"became_master,omitempty"`
	ReleasedMaster       uint64 `json:"released_master,omitempty"`
	PriorityZeroSent     uint64 `json:"priority_zero_sent,omitempty"`
	PriorityZeroReceived uint64 `json:"priority_zero_received,omitempty"`
}

// RealServerStatus is one IPVS real server and its checker, for when the
// daemon runs virtual_server blocks.
type RealServerStatus struct {
	// VirtualServer is "ip:port/proto", "fwmark N" or a group name.
	VirtualServer string `json:"virtual_server"`
	RealServer    string `json:"real_server"` // ip:port
	Weight        int    `json:"weight"`
	Up            bool   `json:"up"`
	// Checker names the health check (HTTP_GET, TCP_CHECK, ...).
	Checker string `json:"checker,omitempty"`
	// Reason is the last check failure, empty while up.
	Reason string    `json:"reason,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	// Checks counts the probes run against the real server since vigil
	// started (all its checkers; kept across reloads), CheckFailures those
	// that failed, and CheckLatency is how long the last one took.
	Checks        uint64        `json:"checks,omitempty"`
	CheckFailures uint64        `json:"check_failures,omitempty"`
	CheckLatency  time.Duration `json:"check_latency,omitempty"`
}

// Tracker is one tracked object and its effect on an instance's priority.
type Tracker struct {
	// Kind is keepalived's keyword without "track_": interface, script,
	// file, process, bfd.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Status is what the object reports: "up", "down", a file's value...
	Status string `json:"status"`
	// Weight is the configured weight; 0 means a failure forces FAULT.
	Weight int `json:"weight"`
	// Contribution is what the object adds to the priority now.
	Contribution int `json:"contribution"`
	// Fault is true when the object holds the instance in FAULT.
	Fault bool `json:"fault,omitempty"`
}

// instanceWire is InstanceStatus on the wire (GET /v1/status, vigil
// status --json).
type instanceWire struct {
	Name           string     `json:"name"`
	VRID           uint8      `json:"vrid"`
	Interface      string     `json:"interface"`
	Version        int        `json:"version,omitempty"`
	SyncGroup      string     `json:"sync_group,omitempty"`
	State          string     `json:"state"`
	Priority       uint8      `json:"priority"`
	BasePriority   uint8      `json:"base_priority"`
	AdvertInt      float64    `json:"advert_int,omitempty"` // seconds
	VIPs           []VIP      `json:"vips,omitempty"`
	Master         netip.Addr `json:"master,omitzero"`
	MasterPriority uint8      `json:"master_priority,omitempty"`
	Since          time.Time  `json:"since,omitzero"`
	Stats          Counters   `json:"stats"`
}

// MarshalJSON writes the state by its keepalived name and advert_int in
// seconds.
func (s InstanceStatus) MarshalJSON() ([]byte, error) {
	return json.Marshal(instanceWire{
		Name: s.Name, VRID: s.VRID, Interface: s.Interface, Version: s.Version, SyncGroup: s.SyncGroup,
		State: s.State.String(), Priority: s.Priority, BasePriority: s.BasePriority,
		AdvertInt: s.AdvertInterval.Seconds(), VIPs: s.VIPs,
		Master: s.Master, MasterPriority: s.MasterPriority, Since: s.Since, Stats: s.Stats,
	})
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (s *InstanceStatus) UnmarshalJSON(b []byte) error {
	var w instanceWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	st, err := ParseState(w.State)
	if err != nil {
		return err
	}
	*s = InstanceStatus{
		Name: w.Name, VRID: w.VRID, Interface: w.Interface, Version: w.Version, SyncGroup: w.SyncGroup,
		State: st, Priority: w.Priority, BasePriority: w.BasePriority,
		AdvertInterval: time.Duration(w.AdvertInt * float64(time.Second)).Round(time.Millisecond),
		VIPs:           w.VIPs, Master: w.Master, MasterPriority: w.MasterPriority, Since: w.Since, Stats: w.Stats,
	}
	return nil
}

// States lists the VRRP states in order, for metrics and parsing.
func States() []vrrp.State {
	return []vrrp.State{vrrp.StateInit, vrrp.StateBackup, vrrp.StateMaster, vrrp.StateFault, vrrp.StateStop}
}

// ParseState returns the state named name (MASTER, backup...).
func ParseState(name string) (vrrp.State, error) {
	for _, st := range States() {
		if strings.EqualFold(st.String(), name) {
			return st, nil
		}
	}
	return 0, fmt.Errorf("unknown VRRP state %q: want one of INIT, BACKUP, MASTER, FAULT, STOP", name)
}

// DropReasons lists every vrrp.DropReason, for metrics that export a
// series per reason.
func DropReasons() []vrrp.DropReason {
	var s vrrp.Stats
	out := make([]vrrp.DropReason, 0, len(s.Drops))
	for i := 1; i < len(s.Drops); i++ { // reason 0 is not a reason
		out = append(out, vrrp.DropReason(i))
	}
	return out
}

// FromRunner reads a runner's snapshot and counters. cfg, the
// configuration the runner was built with, adds what the snapshot lacks
// (version, advert interval, each VIP's prefix length, dev and label); with
// a nil cfg VIPs are shown as host addresses on the instance's interface.
func FromRunner(r *vrrp.Runner, cfg *vrrp.RunnerConfig) InstanceStatus {
	snap := r.Snapshot()
	st := InstanceStatus{
		Name: snap.Name, VRID: snap.VRID, Interface: snap.Interface, SyncGroup: snap.Group,
		State: snap.State, Priority: snap.Priority, BasePriority: snap.BasePrio,
		Master: snap.LastMaster, MasterPriority: snap.LastPrio, Since: snap.Since,
		Stats: Counters{
			AdvertsSent:          r.Stats.AdvertsSent.Load(),
			AdvertsReceived:      r.Stats.AdvertsReceived.Load(),
			Transitions:          r.Stats.Transitions.Load(),
			Foreign:              r.Stats.Foreign.Load(),
			BecameMaster:         r.Stats.BecameMaster.Load(),
			ReleasedMaster:       r.Stats.ReleasedMaster.Load(),
			PriorityZeroSent:     r.Stats.PriorityZeroSent.Load(),
			PriorityZeroReceived: r.Stats.PriorityZeroReceived.Load(),
		},
	}
	if cfg != nil {
		st.Version = int(cfg.Instance.Version)
		st.AdvertInterval = cfg.Instance.AdvertInterval
	}
	for _, a := range snap.VIPs {
		v := VIP{Prefix: netip.PrefixFrom(a, a.BitLen()), Dev: snap.Interface}
		if cfg != nil {
			for _, kv := range cfg.VIPs {
				if kv.Prefix.Addr() == a {
					v = VIP{Prefix: kv.Prefix, Dev: kv.Dev, Label: kv.Label}
					break
				}
			}
		}
		st.VIPs = append(st.VIPs, v)
	}
	for i := range r.Stats.Drops {
		if n := r.Stats.Drops[i].Load(); n > 0 {
			if st.Stats.Drops == nil {
				st.Stats.Drops = map[string]uint64{}
			}
			st.Stats.Drops[vrrp.DropReason(i).String()] = n
		}
	}
	return st
}

// Runners adapts a function listing runners, such as Daemon.Runners, to a
// Source. It has no configurations to pass FromRunner; a daemon that keeps
// them should implement Source itself.
type Runners func() []*vrrp.Runner

// Instances implements Source.
func (f Runners) Instances() []InstanceStatus {
	rs := f()
	out := make([]InstanceStatus, 0, len(rs))
	for _, r := range rs {
		out = append(out, FromRunner(r, nil))
	}
	return out
}

// find returns the named instance.
func find(insts []InstanceStatus, name string) (InstanceStatus, bool) {
	i := slices.IndexFunc(insts, func(s InstanceStatus) bool { return s.Name == name })
	if i < 0 {
		return InstanceStatus{}, false
	}
	return insts[i], true
}
