package status

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/vrrp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// fakeSource is a Source whose content the test sets; it counts calls so
// that tests can check the server reads it per request.
type fakeSource struct {
	mu       sync.Mutex
	insts    []InstanceStatus
	rs       []RealServerStatus
	trackers map[string][]Tracker
	calls    int
}

func (f *fakeSource) Instances() []InstanceStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return append([]InstanceStatus(nil), f.insts...)
}

func (f *fakeSource) set(insts []InstanceStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.insts = insts
}

// fullSource adds real servers and trackers.
type fullSource struct{ *fakeSource }

func (f fullSource) RealServers() []RealServerStatus { return f.rs }

func (f fullSource) Trackers(name string) ([]Tracker, bool) {
	t, ok := f.trackers[name]
	return t, ok
}

var (
	t0      = time.Date(2026, 11, 25, 12, 36, 26, 565713000, time.UTC)
	reportT = t0.Add(3*time.Minute + 12*time.Second + 400*time.Millisecond)
)

// fixture is three instances covering MASTER, BACKUP (v3, drops) and
// FAULT (IPv6, tracker-lowered priority).
func fixture() []InstanceStatus {
	return []InstanceStatus{
		{
			Name: "VI_1", VRID: 57, Interface: "eth0", Version: 2, State: vrrp.StateMaster,
			Priority: 150, BasePriority: 150, AdvertInterval: time.Second,
			VIPs: []VIP{
				{Prefix: netip.MustParsePrefix("10.99.57.100/24"), Dev: "eth0"},
				{Prefix: netip.MustParsePrefix("10.99.57.101/24"), Dev: "eth0", Label: "eth0:1"},
			},
			Since: t0,
			Stats: Counters{AdvertsSent: 192, Transitions: 2, BecameMaster: 1},
		},
		{
			Name: "VI_2", VRID: 58, Interface: "eth0", Version: 3, SyncGroup: "G1", State: vrrp.StateBackup,
			Priority: 90, BasePriority: 90, AdvertInterval: time.Second,
			VIPs:   []VIP{{Prefix: netip.MustParsePrefix("10.99.57.200/32")}},
			Master: netip.MustParseAddr("10.99.57.2"), MasterPriority: 110,
			Since: t0.Add(441 * time.Millisecond),
			Stats: Counters{
				AdvertsSent: 1, AdvertsReceived: 190, Transitions: 3, Foreign: 12,
				BecameMaster: 1, ReleasedMaster: 1,
				Drops: map[string]uint64{
					vrrp.DropWrongTTL.String():         4,
					vrrp.DropBadLength.String():        1,
					vrrp.DropTruncated.String():        2,
					vrrp.DropBadPassword.String():      3,
					vrrp.DropAHICV.String():            1,
					vrrp.DropAddrList.String():         5,
					vrrp.DropIntervalMismatch.String(): 6,
					vrrp.DropBadChecksum.String():      7,
				},
			},
		},
		{
			Name: "VI_6", VRID: 60, Interface: "eth1", Version: 3, State: vrrp.StateFault,
			Priority: 80, BasePriority: 100, AdvertInterval: 2500 * time.Millisecond,
			VIPs: []VIP{{Prefix: netip.MustParsePrefix("fd00:99::100/64"), Dev: "eth1"}},
		},
	}
}

func fixtureTrackers() map[string][]Tracker {
	return map[string][]Tracker{
		"VI_6": {
			{Kind: "script", Name: "chk_nginx", Status: "down", Weight: -20, Contribution: -20},
			{Kind: "interface", Name: "eth2", Status: "down", Weight: 0, Fault: true},
		},
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, d)
	}
}

// checkNoLeak fails if goroutines started during the test are still
// running once it ends. It polls (the runtime reaps exiting goroutines
// asynchronously) and prints the stacks of what is left.
func checkNoLeak(t *testing.T) {
	t.Helper()
	before := len(goroutines())
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			now := goroutines()
			if len(now) <= before {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("goroutine leak: %d goroutines, %d before the test:\n%s", len(now), before, strings.Join(now, "\n\n"))
				return
			}
			time.Sleep(10 * time.Millisecond) // polling the runtime, not waiting for an effect
		}
	})
}

// goroutines returns the stacks of the running goroutines, less the one
// os/signal starts for good on the first signal.Notify of the process.
func goroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if !strings.Contains(g, "os/signal.loop") {
			out = append(out, g)
		}
	}
	return out
}
