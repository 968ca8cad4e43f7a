package vrrp

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// RFC 3768 §6.1 and RFC 5798 §6.1: Skew_Time.
func TestSkewTime(t *testing.T) {
	tests := []struct {
		version uint8
		prio    uint8
		adv     time.Duration
		want    time.Duration
	}{
		// v2: (256-Priority)/256 s, whatever the advert interval.
		{2, 100, time.Second, 609375 * time.Microsecond},
		{2, 100, 5 * time.Second, 609375 * time.Microsecond},
		{2, 255, time.Second, 3906250 * time.Nanosecond},
		{2, 1, time.Second, 996093750 * time.Nanosecond},
		// v3: (256-Priority) * Master_Adver_Interval / 256.
		{3, 100, time.Second, 609375 * time.Microsecond},
		{3, 100, 2 * time.Second, 1218750 * time.Microsecond},
		{3, 200, 500 * time.Millisecond, 109375 * time.Microsecond},
		{3, 254, 10 * time.Millisecond, 78125 * time.Nanosecond},
		{3, 255, 10 * time.Millisecond, 39062 * time.Nanosecond},        // 39062.5 ns truncated
		{3, 1, 40950 * time.Millisecond, 40790039062 * time.Nanosecond}, // .5 ns truncated
	}
	for _, tt := range tests {
		if got := skewTime(tt.version, tt.prio, tt.adv); got != tt.want {
			t.Errorf("skewTime(v%d, prio %d, %v) = %v, want %v", tt.version, tt.prio, tt.adv, got, tt.want)
		}
	}
}

// RFC 3768 §6.1 and RFC 5798 §6.1: Master_Down_Interval.
func TestMasterDownInterval(t *testing.T) {
	tests := []struct {
		version     uint8
		prio        uint8
		adv         time.Duration
		downAdverts int
		want        time.Duration
	}{
		// The style guide's figure: VRRPv3, priority 100, 1 s.
		{3, 100, time.Second, 0, 3609375 * time.Microsecond},
		{3, 100, time.Second, 3, 3609375 * time.Microsecond},
		{2, 100, time.Second, 0, 3609375 * time.Microsecond},
		{2, 100, 3 * time.Second, 0, 9609375 * time.Microsecond},
		{3, 100, 3 * time.Second, 0, 10828125 * time.Microsecond},
		{3, 255, time.Second, 0, 3003906250 * time.Nanosecond},
		{2, 150, time.Second, 0, 3414062500 * time.Nanosecond},
		{3, 100, 100 * time.Millisecond, 0, 360937500 * time.Nanosecond},
		// keepalived down_timer_adverts.
		{3, 100, time.Second, 1, 1609375 * time.Microsecond},
		{3, 100, time.Second, 10, 10609375 * time.Microsecond},
	}
	for _, tt := range tests {
		if got := masterDownInterval(tt.version, tt.prio, tt.adv, tt.downAdverts); got != tt.want {
			t.Errorf("masterDownInterval(v%d, prio %d, %v, %d) = %v, want %v", tt.version, tt.prio, tt.adv, tt.downAdverts, got, tt.want)
		}
	}
}

// A higher priority must always time out first, so that it wins the race
// to become master (RFC 5798 §6.1 Skew_Time's purpose).
func TestMasterDownIntervalOrdersPriorities(t *testing.T) {
	for _, v := range []uint8{2, 3} {
		for p := 1; p < 255; p++ {
			lo := masterDownInterval(v, uint8(p), time.Second, 3)
			hi := masterDownInterval(v, uint8(p+1), time.Second, 3)
			if hi >= lo {
				t.Fatalf("v%d: priority %d waits %v, priority %d waits %v", v, p+1, hi, p, lo)
			}
		}
	}
}

func testConfig() InstanceConfig {
	return InstanceConfig{
		Name:           "VI_1",
		VRID:           51,
		Version:        3,
		Family:         FamilyIPv4,
		Priority:       100,
		AdvertInterval: time.Second,
		InitialState:   StateBackup,
		PrimaryAddr:    netip.MustParseAddr("10.99.0.11"),
		VIPs:           []netip.Addr{netip.MustParseAddr("10.99.0.100")},
		GARP:           DefaultGARP(),
	}
}

func TestNewInstanceRejects(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*InstanceConfig)
		want   string // in the error
	}{
		{"vrid 0", func(c *InstanceConfig) { c.VRID = 0 }, "virtual_router_id 0 out of range 1-255"},
		{"version", func(c *InstanceConfig) { c.Version = 1 }, "version 1 unsupported"},
		{"family", func(c *InstanceConfig) { c.Family = 0 }, "address family 0 unsupported"},
		{"v2 ipv6", func(c *InstanceConfig) {
			c.Version, c.Family = 2, FamilyIPv6
			c.PrimaryAddr = netip.MustParseAddr("fd00:99::11")
			c.VIPs = []netip.Addr{netip.MustParseAddr("fd00:99::100")}
		}, "VRRP version 2 cannot carry IPv6"},
		{"priority 0", func(c *InstanceConfig) { c.Priority = 0 }, "priority 0 out of range"},
		{"v2 fraction", func(c *InstanceConfig) { c.Version, c.AdvertInterval = 2, 1500*time.Millisecond }, "whole seconds"},
		{"v2 too long", func(c *InstanceConfig) { c.Version, c.AdvertInterval = 2, 256*time.Second }, "whole seconds"},
		{"v3 zero", func(c *InstanceConfig) { c.AdvertInterval = 0 }, "multiple of 0.01s"},
		{"v3 too long", func(c *InstanceConfig) { c.AdvertInterval = 40960 * time.Millisecond }, "multiple of 0.01s"},
		{"v3 not centiseconds", func(c *InstanceConfig) { c.AdvertInterval = 1005 * time.Millisecond }, "multiple of 0.01s"},
		{"state unset", func(c *InstanceConfig) { c.InitialState = StateInit }, "call Normalize"},
		{"state fault", func(c *InstanceConfig) { c.InitialState = StateFault }, "initial state FAULT invalid"},
		{"nopreempt master", func(c *InstanceConfig) { c.NoPreempt, c.InitialState = true, StateMaster }, "nopreempt requires state BACKUP"},
		{"nopreempt owner", func(c *InstanceConfig) { c.NoPreempt, c.Priority = true, 255 }, "nopreempt is incompatible with priority 255"},
		{"preempt_delay range", func(c *InstanceConfig) { c.PreemptDelay = 1001 * time.Second }, "preempt_delay 16m41s out of range"},
		{"preempt_delay nopreempt", func(c *InstanceConfig) { c.PreemptDelay, c.NoPreempt = time.Second, true }, "preempt_delay requires state BACKUP without nopreempt"},
		{"down_timer_adverts", func(c *InstanceConfig) { c.DownTimerAdverts = 101 }, "down_timer_adverts 101 out of range"},
		{"no primary", func(c *InstanceConfig) { c.PrimaryAddr = netip.Addr{} }, "primary address unset"},
		{"primary family", func(c *InstanceConfig) { c.PrimaryAddr = netip.MustParseAddr("fd00:99::11") }, "primary address fd00:99::11 is not IPv4"},
		{"v3 no vip", func(c *InstanceConfig) { c.VIPs = nil }, "VRRPv3 requires at least one"},
		{"vip family", func(c *InstanceConfig) { c.VIPs = append(c.VIPs, netip.MustParseAddr("fd00:99::1")) }, "move it to virtual_ipaddress_excluded"},
		{"evip invalid", func(c *InstanceConfig) { c.ExcludedVIPs = []netip.Addr{{}} }, "virtual_ipaddress_excluded holds an invalid address"},
		{"garp negative", func(c *InstanceConfig) { c.GARP.MasterRepeat = -1 }, "garp repeat counts must not be negative"},
		{"garp delay negative", func(c *InstanceConfig) { c.GARP.LowerPrioDelay = -time.Second }, "garp delays must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.modify(&cfg)
			in, err := NewInstance(cfg)
			if err == nil {
				t.Fatalf("NewInstance accepted the config (state %v)", in.State())
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "vrrp_instance VI_1: ") {
				t.Errorf("error %q, want it to name the instance and contain %q", err, tt.want)
			}
		})
	}
	if _, err := NewInstance(testConfig()); err != nil {
		t.Fatalf("the base config is rejected: %v", err)
	}
}

// keepalived vrrp_complete_instance corrections.
func TestNormalize(t *testing.T) {
	tests := []struct {
		name      string
		modify    func(*InstanceConfig)
		wantState State
		wantNoPre bool
		wantDelay time.Duration
		warnings  int
	}{
		{"unset state, prio 100", func(c *InstanceConfig) { c.InitialState = StateInit }, StateBackup, false, 0, 0},
		{"unset state, owner", func(c *InstanceConfig) { c.InitialState, c.Priority = StateInit, 255 }, StateMaster, false, 0, 0},
		{"nopreempt backup kept", func(c *InstanceConfig) { c.NoPreempt = true }, StateBackup, true, 0, 0},
		{"nopreempt master cleared", func(c *InstanceConfig) { c.NoPreempt, c.InitialState = true, StateMaster }, StateMaster, false, 0, 1},
		{"nopreempt owner cleared", func(c *InstanceConfig) { c.NoPreempt, c.Priority = true, 255 }, StateBackup, false, 0, 1},
		{"delay master cleared", func(c *InstanceConfig) { c.PreemptDelay, c.InitialState = time.Second, StateMaster }, StateMaster, false, 0, 1},
		{"delay with nopreempt cleared", func(c *InstanceConfig) { c.PreemptDelay, c.NoPreempt = time.Second, true }, StateBackup, true, 0, 1},
		{"delay backup kept", func(c *InstanceConfig) { c.PreemptDelay = time.Second }, StateBackup, false, time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.modify(&cfg)
			warns := cfg.Normalize()
			if cfg.InitialState != tt.wantState || cfg.NoPreempt != tt.wantNoPre || cfg.PreemptDelay != tt.wantDelay || len(warns) != tt.warnings {
				t.Errorf("after Normalize: state %v nopreempt %t preempt_delay %v warnings %q; want %v %t %v and %d warnings",
					cfg.InitialState, cfg.NoPreempt, cfg.PreemptDelay, warns, tt.wantState, tt.wantNoPre, tt.wantDelay, tt.warnings)
			}
			if _, err := NewInstance(cfg); err != nil {
				t.Errorf("NewInstance rejects a normalized config: %v", err)
			}
		})
	}
}

// keepalived vrrp_set_effective_priority: 1-254, owner fixed.
func TestEffectivePriority(t *testing.T) {
	tests := []struct {
		base   uint8
		weight int
		want   uint8
	}{
		{100, 0, 100},
		{100, -20, 80},
		{100, 50, 150},
		{100, -99, 1},
		{100, -100, 1},
		{100, -1000, 1},
		{100, 154, 254},
		{100, 155, 254},
		{254, 1, 254},
		{255, -100, 255},
		{255, 0, 255},
		{1, -1, 1},
	}
	for _, tt := range tests {
		cfg := testConfig()
		cfg.Priority = tt.base
		in, err := NewInstance(cfg)
		if err != nil {
			t.Fatal(err)
		}
		in.Step(time.Unix(0, 0), TrackChange{Weight: tt.weight})
		if got := in.Priority(); got != tt.want {
			t.Errorf("priority %d with weight %d: effective %d, want %d", tt.base, tt.weight, got, tt.want)
		}
	}
}

func TestAdvertCarriesConfig(t *testing.T) {
	cfg := testConfig()
	cfg.ExcludedVIPs = []netip.Addr{netip.MustParseAddr("10.99.1.1")}
	in, err := NewInstance(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := Advert{Version: 3, VRID: 51, Priority: 0, Interval: time.Second, Addrs: cfg.VIPs}
	if diff := cmp.Diff(want, in.Advert(0), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("Advert(0) (-want +got):\n%s", diff)
	}
	// The instance owns copies: changing the caller's slices or a
	// returned advert must not change what it advertises next.
	cfg.VIPs[0] = netip.MustParseAddr("10.99.0.200")
	in.Advert(1).Addrs[0] = netip.MustParseAddr("10.99.0.201")
	if got := in.Advert(1).Addrs[0]; got != netip.MustParseAddr("10.99.0.100") {
		t.Errorf("advert address changed to %v through an alias", got)
	}
}

// RFC 5798 §6.4.3 Accept_Mode: the owner always accepts.
func TestAccept(t *testing.T) {
	for _, tt := range []struct {
		prio   uint8
		accept bool
		want   bool
	}{{100, false, false}, {100, true, true}, {255, false, true}} {
		cfg := testConfig()
		cfg.Priority, cfg.Accept = tt.prio, tt.accept
		in, err := NewInstance(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := in.Accept(); got != tt.want {
			t.Errorf("priority %d accept %t: Accept() = %t, want %t", tt.prio, tt.accept, got, tt.want)
		}
	}
}

// A Timeout that finds nothing due changes nothing, and the runner's
// Deadline is exact: a Timeout a nanosecond early does nothing, at the
// deadline the transition happens.
func TestTimeoutOnlyWhenDue(t *testing.T) {
	in, err := NewInstance(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	if acts := in.Step(t0, Timeout{}); acts != nil || !in.Deadline().IsZero() {
		t.Fatalf("Timeout in INIT: actions %v, deadline %v", acts, in.Deadline())
	}
	in.Step(t0, Startup{})
	d := in.Deadline()
	if want := t0.Add(3609375 * time.Microsecond); !d.Equal(want) {
		t.Fatalf("deadline after startup %v, want %v", d, want)
	}
	if acts := in.Step(d.Add(-1), Timeout{}); acts != nil || in.State() != StateBackup {
		t.Fatalf("early Timeout: actions %v, state %v", acts, in.State())
	}
	acts := in.Step(d, Timeout{})
	if in.State() != StateMaster || len(acts) == 0 {
		t.Fatalf("Timeout at the deadline: state %v, actions %v", in.State(), acts)
	}
	if _, ok := acts[0].(SendAdvert); !ok {
		t.Errorf("first action on becoming master is %T, want SendAdvert (the advert goes before the GARPs)", acts[0])
	}
}

// FuzzInstance drives an instance with arbitrary event sequences and
// checks invariants that hold whatever the sequence:
//   - VIPs are added only when not held and deleted only when held, and
//     are held exactly while MASTER;
//   - each Notify's From is the state before the step and To the state
//     after it;
//   - INIT, FAULT and STOP have no deadline, BACKUP and MASTER always one,
//     never in the past after a Timeout;
//   - the effective priority stays within 1-254 unless the owner's;
//   - a priority 0 advert is sent only when leaving MASTER.
func FuzzInstance(f *testing.F) {
	f.Add(uint8(100), false, []byte{0, 3, 3, 3, 3, 1, 200, 2, 40, 3})
	f.Add(uint8(255), false, []byte{0, 3, 1, 255, 3, 3, 5, 6, 3})
	f.Add(uint8(100), true, []byte{5, 0, 6, 3, 3, 3, 3, 4, 1, 50})
	f.Add(uint8(150), true, []byte{0, 1, 100, 3, 1, 100, 3, 3, 3, 1, 0, 3, 7, 3, 3, 3, 3, 9})
	f.Fuzz(func(t *testing.T, prio uint8, nopreempt bool, script []byte) {
		if prio == 0 {
			prio = 1
		}
		cfg := testConfig()
		cfg.Priority = prio
		cfg.InitialState = StateInit
		cfg.NoPreempt = nopreempt
		if !nopreempt {
			cfg.PreemptDelay = 2 * time.Second
		}
		cfg.GARP.MasterRefresh = 7 * time.Second
		cfg.Normalize()
		in, err := NewInstance(cfg)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(1000, 0)
		held := false
		for i := 0; i < len(script); i++ {
			var ev Event
			ev, now = fuzzEvent(script, &i, now, in.Deadline())
			before := in.State()
			acts := in.Step(now, ev)
			after := in.State()
			for _, a := range acts {
				switch a := a.(type) {
				case AddVIPs:
					if held {
						t.Fatalf("step %d (%T): AddVIPs while held", i, ev)
					}
					held = true
				case DelVIPs:
					if !held {
						t.Fatalf("step %d (%T): DelVIPs while not held", i, ev)
					}
					held = false
				case Notify:
					if a.From != before || a.To != after {
						t.Fatalf("step %d (%T): Notify %v->%v, but state went %v->%v", i, ev, a.From, a.To, before, after)
					}
				case SendAdvert:
					if a.Priority == 0 && (before != StateMaster || after == StateMaster) {
						t.Fatalf("step %d (%T): priority 0 advert going %v->%v", i, ev, before, after)
					}
				}
			}
			if held != (after == StateMaster) {
				t.Fatalf("step %d (%T): state %v but VIPs held %t", i, ev, after, held)
			}
			d := in.Deadline()
			switch after {
			case StateInit, StateFault, StateStop:
				if !d.IsZero() {
					t.Fatalf("step %d: state %v has deadline %v", i, after, d)
				}
			default:
				if d.IsZero() {
					t.Fatalf("step %d: state %v has no deadline", i, after)
				}
				if _, ok := ev.(Timeout); ok && !d.After(now) {
					t.Fatalf("step %d: after Timeout at %v the deadline %v is not in the future", i, now, d)
				}
			}
			if p := in.Priority(); p == 0 || (p == 255 && prio != 255) {
				t.Fatalf("step %d: effective priority %d from configured %d", i, p, prio)
			}
		}
	})
}

// fuzzEvent decodes the event at script[*i] (consuming its arguments) and
// returns it with the time to deliver it at.
func fuzzEvent(script []byte, i *int, now, deadline time.Time) (Event, time.Time) {
	arg := func() byte {
		if *i+1 < len(script) {
			*i++
			return script[*i]
		}
		return 0
	}
	switch script[*i] % 10 {
	case 0:
		return Startup{}, now
	case 1:
		src := netip.AddrFrom4([4]byte{10, 99, 0, arg()})
		return AdvertRecv{Src: src, Adv: Advert{Version: 3, VRID: 51, Priority: arg(), Interval: time.Duration(arg()%200+1) * 10 * time.Millisecond}}, now
	case 2:
		return TrackChange{Weight: int(int8(arg()))}, now
	case 3, 8:
		if deadline.After(now) { // a runner's clock never goes back
			now = deadline
		}
		return Timeout{}, now
	case 4:
		return Shutdown{}, now
	case 5:
		return TrackChange{Fault: true}, now
	case 6:
		return TrackChange{Fault: false}, now
	}
	return Timeout{}, now.Add(time.Duration(arg()) * 10 * time.Millisecond)
}

// FuzzSyncGroup checks that a sync group keeps its members together:
// after Startup every member that has not stopped is in the group's
// state, and each member holds its VIPs exactly while MASTER.
func FuzzSyncGroup(f *testing.F) {
	f.Add([]byte{0, 3, 3, 3, 3, 10, 1, 200, 2, 3, 3, 3})
	f.Add([]byte{0, 15, 3, 26, 3, 16, 25, 3, 3, 3, 14})
	f.Add([]byte{15, 0, 16, 3, 3, 3, 3, 11, 5, 0, 3, 3, 3, 3, 13, 3, 3})
	f.Fuzz(func(t *testing.T, script []byte) {
		var members []*Instance
		for k, p := range []uint8{100, 150, 255} {
			cfg := testConfig()
			cfg.Name = fmt.Sprintf("VI_%d", k+1)
			cfg.VRID = 51 // fuzzEvent's adverts carry VRID 51
			cfg.Priority = p
			cfg.InitialState = StateInit
			cfg.Normalize()
			in, err := NewInstance(cfg)
			if err != nil {
				t.Fatal(err)
			}
			members = append(members, in)
		}
		g, err := NewSyncGroup("VG_1", members)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Unix(1000, 0)
		held := make([]bool, len(members))
		for i := 0; i < len(script); i++ {
			member := int(script[i]/10) % len(members)
			var ev Event
			ev, now = fuzzEvent(script, &i, now, g.Deadline())
			for _, ma := range g.Step(now, member, ev) {
				switch ma.Action.(type) {
				case AddVIPs:
					if held[ma.Member] {
						t.Fatalf("step %d (%T): member %d adds VIPs it holds", i, ev, ma.Member)
					}
					held[ma.Member] = true
				case DelVIPs:
					if !held[ma.Member] {
						t.Fatalf("step %d (%T): member %d deletes VIPs it does not hold", i, ev, ma.Member)
					}
					held[ma.Member] = false
				}
			}
			for k, m := range members {
				if held[k] != (m.State() == StateMaster) {
					t.Fatalf("step %d (%T): member %d is %v with VIPs held %t", i, ev, k, m.State(), held[k])
				}
				if s := m.State(); s != StateStop && s != g.State() {
					t.Fatalf("step %d (%T): member %d is %v in a %v group", i, ev, k, s, g.State())
				}
			}
		}
	})
}
