package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/status"
	"github.com/vigil-ha/vigil/internal/vrrp"
)

// fakeEdges records what every instance does to the outside world.
type fakeEdges struct {
	// in, when set, feeds received packets to every instance.
	in    chan vrrp.Packet
	mu    sync.Mutex
	log   []string // "VI_1 add 10.99.0.1/32", "VI_1 advert prio 100", "open VI_1"…
	links chan vrrp.LinkEvent
	next  byte
}

func (f *fakeEdges) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, s)
}

func (f *fakeEdges) events() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func (f *fakeEdges) count(substr string) int {
	n := 0
	for _, e := range f.events() {
		if contains([]string{e}, substr) || len(e) >= len(substr) && indexOf(e, substr) >= 0 {
			n++
		}
	}
	return n
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func (f *fakeEdges) Open(_ context.Context, cc vrrp.ConnConfig, _ uint8) (InstanceEdges, error) {
	f.mu.Lock()
	f.next++
	src := netip.AddrFrom4([4]byte{10, 99, 0, f.next})
	f.mu.Unlock()
	c := &edgeConn{f: f, src: src, in: f.in}
	return InstanceEdges{Conn: c, Addrs: &edgeAddrs{f: f}, Src: src, Close: func() error { return nil }}, nil
}

func (f *fakeEdges) WatchLinks(ctx context.Context, names []string, events chan<- vrrp.LinkEvent) error {
	for _, n := range names {
		select {
		case events <- vrrp.LinkEvent{Name: n, Up: true, AdminUp: true, Carrier: true}:
		case <-ctx.Done():
			return nil
		}
	}
	for {
		select {
		case ev := <-f.links:
			select {
			case events <- ev:
			case <-ctx.Done():
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

type edgeConn struct {
	f   *fakeEdges
	src netip.Addr
	in  chan vrrp.Packet // nil: nothing is ever received
}

func (c *edgeConn) ReadPacket(ctx context.Context) (vrrp.Packet, error) {
	select {
	case p := <-c.in:
		return p, nil
	case <-ctx.Done():
		return vrrp.Packet{}, ctx.Err()
	}
}

func (c *edgeConn) WritePacket(b []byte, dst netip.Addr) error {
	adv, err := vrrp.DecodeAdvert(b, c.src, dst)
	if err != nil {
		return err
	}
	c.f.record(fmt.Sprintf("vrid %d advert prio %d", adv.VRID, adv.Priority))
	return nil
}

type edgeAddrs struct{ f *fakeEdges }

func (a *edgeAddrs) AddVIP(_ context.Context, v vrrp.VIP) error {
	a.f.record("add " + v.Prefix.String())
	return nil
}

func (a *edgeAddrs) DelVIP(_ context.Context, v vrrp.VIP) error {
	a.f.record("del " + v.Prefix.String())
	return nil
}

func (a *edgeAddrs) AddRoute(context.Context, vrrp.VirtualRoute) error { return nil }
func (a *edgeAddrs) DelRoute(context.Context, vrrp.VirtualRoute) error { return nil }
func (a *edgeAddrs) List(context.Context, string) ([]netip.Prefix, error) {
	return nil, nil
}

func instanceConf(name string, vrid uint8, prio uint8) *conf.VRRPInstance {
	return &conf.VRRPInstance{
		Name: name, Interface: "eth0", VRID: vrid, Priority: prio, AdvertInt: time.Second,
		VIPs: []conf.VIP{{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, 1, vrid}), 32)}},
	}
}

func testConfig(insts ...*conf.VRRPInstance) *conf.Config {
	return &conf.Config{Instances: insts}
}

// rig runs a daemon over fake edges inside a synctest bubble.
type rig struct {
	d      *Daemon
	edges  *fakeEdges
	cancel context.CancelFunc
	done   chan error
}

func startRig(t *testing.T, cfg *conf.Config) *rig {
	t.Helper()
	edges := &fakeEdges{links: make(chan vrrp.LinkEvent)}
	d, err := New(cfg, edges, Options{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r := &rig{d: d, edges: edges, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx, nil) }()
	synctest.Wait()
	return r
}

func (r *rig) stop(t *testing.T) {
	r.cancel()
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func (r *rig) states() map[string]string {
	out := map[string]string{}
	for _, rn := range r.d.Runners() {
		out[rn.Name()] = rn.Snapshot().State.String()
	}
	return out
}

func (r *rig) transitions() uint64 {
	var n uint64
	for _, rn := range r.d.Runners() {
		n += rn.Stats.Transitions.Load()
	}
	return n
}

// A SIGHUP with an unchanged configuration must not disturb anything:
// no VIP removed, no transition, no extra advert burst.
func TestReloadUnchangedIsHitless(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig(instanceConf("VI_1", 1, 100), instanceConf("VI_2", 2, 100))
		r := startRig(t, cfg)
		defer r.stop(t)
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if diff := cmp.Diff(map[string]string{"VI_1": "MASTER", "VI_2": "MASTER"}, r.states()); diff != "" {
			t.Fatalf("states (-want +got):\n%s", diff)
		}
		before, trans := len(r.edges.events()), r.transitions()
		for range 100 {
			same := testConfig(instanceConf("VI_1", 1, 100), instanceConf("VI_2", 2, 100))
			res, err := r.d.Reload(t.Context(), same)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Kept) != 2 || len(res.Started)+len(res.Stopped)+len(res.Restarted) != 0 {
				t.Fatalf("reload result %+v, want both kept", res)
			}
		}
		synctest.Wait()
		if got := r.edges.events()[before:]; len(got) != 0 {
			t.Errorf("100 unchanged reloads caused %q, want nothing", got)
		}
		if got := r.transitions(); got != trans {
			t.Errorf("transitions went from %d to %d", trans, got)
		}
		if r.edges.count("del ") != 0 {
			t.Errorf("VIPs removed: %q", r.edges.events())
		}
	})
}

// A reload that adds, changes and removes instances touches only those.
func TestReloadAddsChangesAndRemoves(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, testConfig(instanceConf("VI_1", 1, 100), instanceConf("VI_2", 2, 100)))
		defer r.stop(t)
		time.Sleep(4 * time.Second)
		synctest.Wait()
		vi1 := r.d.Runners()[0]

		res, err := r.d.Reload(t.Context(), testConfig(
			instanceConf("VI_1", 1, 100), instanceConf("VI_2", 2, 120), instanceConf("VI_3", 3, 100)))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ReloadResult{Kept: []string{"VI_1"}, Started: []string{"VI_3"}, Restarted: []string{"VI_2"}}, res); diff != "" {
			t.Errorf("reload (-want +got):\n%s", diff)
		}
		if r.d.Runners()[0] != vi1 {
			t.Error("VI_1 was replaced by the reload")
		}
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if diff := cmp.Diff(map[string]string{"VI_1": "MASTER", "VI_2": "MASTER", "VI_3": "MASTER"}, r.states()); diff != "" {
			t.Fatalf("states (-want +got):\n%s", diff)
		}
		if n := r.edges.count("del 10.99.1.1/32"); n != 0 {
			t.Errorf("VI_1's VIP removed %d times", n)
		}

		before := len(r.edges.events())
		res, err = r.d.Reload(t.Context(), testConfig(instanceConf("VI_2", 2, 120), instanceConf("VI_3", 3, 100)))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(ReloadResult{Kept: []string{"VI_2", "VI_3"}, Stopped: []string{"VI_1"}}, res, cmpSorted); diff != "" {
			t.Errorf("reload (-want +got):\n%s", diff)
		}
		// RFC 5798 §6.4.3 Shutdown for the removed instance only.
		if diff := cmp.Diff([]string{"vrid 1 advert prio 0", "del 10.99.1.1/32"}, r.edges.events()[before:]); diff != "" {
			t.Errorf("effects of removing VI_1 (-want +got):\n%s", diff)
		}
	})
}

var cmpSorted = cmp.Transformer("sort", func(in []string) []string {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
})

// The instance's own interface losing its link puts it in FAULT and
// releases the VIP; the link coming back brings it back.
func TestOwnInterfaceDownFaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := startRig(t, testConfig(instanceConf("VI_1", 1, 100)))
		defer r.stop(t)
		time.Sleep(4 * time.Second)
		synctest.Wait()
		r.edges.links <- vrrp.LinkEvent{Name: "eth0", Up: false}
		synctest.Wait()
		if s := r.states()["VI_1"]; s != "FAULT" {
			t.Fatalf("state %s after link down, want FAULT", s)
		}
		if r.edges.count("del 10.99.1.1/32") != 1 {
			t.Errorf("VIP not released: %q", r.edges.events())
		}
		// vigil explain names the object that holds the instance in FAULT.
		trs, ok := r.d.Trackers("VI_1")
		if want := []status.Tracker{{Kind: "interface", Name: "eth0", Status: "down", Fault: true}}; !ok || !cmp.Equal(want, trs) {
			t.Errorf("Trackers(VI_1) = %+v, %v; want %+v", trs, ok, want)
		}
		r.edges.links <- vrrp.LinkEvent{Name: "eth0", Up: true}
		synctest.Wait()
		if s := r.states()["VI_1"]; s != "BACKUP" {
			t.Fatalf("state %s after link up, want BACKUP", s)
		}
	})
}

// keepalived's notify contract end to end through the daemon: the generic
// notify script gets INSTANCE NAME STATE PRIORITY for each transition, in
// order, ending with STOP at shutdown.
func TestNotifyScriptSequence(t *testing.T) {
	dir := t.TempDir()
	out := dir + "/calls"
	script := dir + "/record.sh"
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	vi := instanceConf("VI_1", 1, 100)
	vi.Version = 3
	vi.AdvertInt = 100 * time.Millisecond
	vi.Notify.Any = &conf.Script{Cmd: script}
	vi.Notify.Master = &conf.Script{Cmd: script + " master-only"}
	edges := &fakeEdges{links: make(chan vrrp.LinkEvent)}
	d, err := New(testConfig(vi), edges, Options{}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	want := []string{"INSTANCE VI_1 BACKUP 100", "master-only", "INSTANCE VI_1 MASTER 100"}
	waitLines(t, out, len(want))
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want = append(want, "INSTANCE VI_1 STOP 100")
	b, _ := os.ReadFile(out)
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(string(b)), "\n")); diff != "" {
		t.Errorf("notify calls (-want +got):\n%s", diff)
	}
}

func waitLines(t *testing.T, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if got := strings.Count(string(b), "\n"); got >= n {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("%s has %d lines after 10s, want %d:\n%s", path, got, n, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// keepalived notify_master_rx_lower_pri: a master that hears a lower
// priority advert runs the script, with no arguments added.
func TestNotifyMasterRxLowerPri(t *testing.T) {
	dir := t.TempDir()
	out := dir + "/calls"
	script := dir + "/record.sh"
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"rx-lower $*\" >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	vi := instanceConf("VI_1", 1, 100)
	vi.Version = 3
	vi.AdvertInt = 100 * time.Millisecond
	vi.Notify.MasterRxLowerPri = &conf.Script{Cmd: script}
	edges := &fakeEdges{links: make(chan vrrp.LinkEvent), in: make(chan vrrp.Packet)}
	d, err := New(testConfig(vi), edges, Options{}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.Now().Add(10 * time.Second)
	for len(d.Runners()) == 0 || d.Runners()[0].Snapshot().State != vrrp.StateMaster {
		if time.Now().After(deadline) {
			t.Fatal("VI_1 never became MASTER")
		}
		time.Sleep(10 * time.Millisecond)
	}
	peer := netip.MustParseAddr("10.99.0.200")
	adv := vrrp.Advert{Version: 3, VRID: 1, Priority: 50, Interval: 100 * time.Millisecond,
		Addrs: []netip.Addr{netip.MustParseAddr("10.99.1.1")}}
	b, err := adv.Marshal(peer, vrrp.GroupIPv4)
	if err != nil {
		t.Fatal(err)
	}
	edges.in <- vrrp.Packet{Payload: b, Src: peer, Dst: vrrp.GroupIPv4, TTL: 255}
	waitLines(t, out, 1)
	got, _ := os.ReadFile(out)
	if string(got) != "rx-lower \n" {
		t.Errorf("script recorded %q, want %q", got, "rx-lower \n")
	}
}

// vrrp_notify_fifo gets keepalived's line for each transition, and its
// fifo script is started with the FIFO's path.
func TestNotifyFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := dir + "/vrrp.fifo"
	vi := instanceConf("VI_1", 1, 100)
	vi.Version = 3
	vi.AdvertInt = 100 * time.Millisecond
	cfg := testConfig(vi)
	cfg.Global.VRRPNotifyFIFO = &conf.FIFO{Path: fifo}
	edges := &fakeEdges{links: make(chan vrrp.LinkEvent)}
	d, err := New(cfg, edges, Options{}, slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	// The notifier holds the FIFO open read-write, so opening it for
	// reading does not block once it exists.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err := os.Stat(fifo); err == nil && st.Mode()&os.ModeNamedPipe != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the notify FIFO was never created")
		}
		time.Sleep(10 * time.Millisecond)
	}
	f, err := os.OpenFile(fifo, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 0, 256)
	for !strings.Contains(string(buf), "MASTER") {
		_ = f.SetReadDeadline(time.Now().Add(10 * time.Second))
		b := make([]byte, 128)
		n, err := f.Read(b)
		if err != nil {
			t.Fatalf("reading the FIFO: %v (so far %q)", err, buf)
		}
		buf = append(buf, b[:n]...)
	}
	cancel()
	<-done
	want := "INSTANCE \"VI_1\" BACKUP 100\nINSTANCE \"VI_1\" MASTER 100\n"
	if !strings.HasPrefix(string(buf), want) {
		t.Errorf("FIFO lines %q, want %q first", buf, want)
	}
}
