package status

import (
	"context"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-ha/vigil/internal/vrrp"
)

// chanConn is a vrrp.PacketConn fed by the test; it records what the
// runner sends.
type chanConn struct {
	in   chan vrrp.Packet
	sent chan netip.Addr
}

func (c *chanConn) ReadPacket(ctx context.Context) (vrrp.Packet, error) {
	select {
	case p := <-c.in:
		return p, nil
	case <-ctx.Done():
		return vrrp.Packet{}, ctx.Err()
	}
}

func (c *chanConn) WritePacket(_ []byte, dst netip.Addr) error {
	select {
	case c.sent <- dst:
	default:
	}
	return nil
}

// Runners reads a real runner: its snapshot and counters as the runner
// publishes them while it receives adverts and changes state.
func TestRunnersReadsRunnerState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := netip.MustParseAddr("10.99.0.1")
		peer := netip.MustParseAddr("10.99.0.12")
		vip := netip.MustParseAddr("10.99.0.100")
		ic := vrrp.InstanceConfig{
			Name: "VI_1", VRID: 51, Version: 3, Family: vrrp.FamilyIPv4, Priority: 100,
			AdvertInterval: time.Second, PrimaryAddr: src, VIPs: []netip.Addr{vip}, GARP: vrrp.DefaultGARP(),
		}
		ic.Normalize()
		conn := &chanConn{in: make(chan vrrp.Packet), sent: make(chan netip.Addr, 100)}
		cfg := vrrp.RunnerConfig{
			Instance: ic, Interface: "eth0", Src: src, Dsts: []netip.Addr{vrrp.GroupIPv4},
			VIPs:   []vrrp.VIP{{Prefix: netip.PrefixFrom(vip, 24), Dev: "eth0", Label: "eth0:1"}},
			Expect: vrrp.Expect{Version: 3, VRID: 51, Interval: time.Second, Addrs: []netip.Addr{vip}, Own: []netip.Addr{src}},
		}
		r, err := vrrp.NewRunner(cfg, vrrp.RunnerDeps{Conn: conn}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		source := Runners(func() []*vrrp.Runner { return []*vrrp.Runner{r} })
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		synctest.Wait()
		start := time.Now()

		adv, err := vrrp.Advert{Version: 3, VRID: 51, Priority: 150, Interval: time.Second, Addrs: []netip.Addr{vip}}.Marshal(peer, vrrp.GroupIPv4)
		if err != nil {
			t.Fatal(err)
		}
		conn.in <- vrrp.Packet{Payload: adv, Src: peer, Dst: vrrp.GroupIPv4, TTL: 255}
		conn.in <- vrrp.Packet{Payload: adv, Src: peer, Dst: vrrp.GroupIPv4, TTL: 64} // RFC 5798 §7.1: dropped
		synctest.Wait()

		got := source.Instances()
		want := []InstanceStatus{{
			Name: "VI_1", VRID: 51, Interface: "eth0", State: vrrp.StateBackup, Priority: 100, BasePriority: 100,
			VIPs:   []VIP{{Prefix: netip.PrefixFrom(vip, 32), Dev: "eth0"}},
			Master: peer, MasterPriority: 150, Since: start,
			Stats: Counters{AdvertsReceived: 1, Transitions: 1, Drops: map[string]uint64{"wrong_ttl": 1}},
		}}
		if d := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); d != "" {
			t.Errorf("backup following 10.99.0.12 (-want +got):\n%s", d)
		}

		// With its configuration, FromRunner adds what the snapshot lacks.
		want[0].Version, want[0].AdvertInterval = 3, time.Second
		want[0].VIPs = []VIP{{Prefix: netip.PrefixFrom(vip, 24), Dev: "eth0", Label: "eth0:1"}}
		if d := cmp.Diff(want[0], FromRunner(r, &cfg), cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); d != "" {
			t.Errorf("FromRunner with config (-want +got):\n%s", d)
		}

		// The master goes silent: RFC 5798 §6.4.2 Master_Down_Interval
		// (3 × 1 s + skew 0.609375 s) later we are master and advertise.
		time.Sleep(4 * time.Second)
		synctest.Wait()
		st := source.Instances()[0]
		if st.State != vrrp.StateMaster || st.Stats.AdvertsSent == 0 || st.Stats.Transitions != 2 ||
			!st.Since.Equal(start.Add(3609375*time.Microsecond)) {
			t.Errorf("after the master went silent: %+v", st)
		}
		if e := Diagnose(st, nil); e.Rule != "master: no advert from another router within Master_Down_Interval; the last one, from 10.99.0.12 at priority 150, is stale (RFC 5798 §6.4.2)" {
			t.Errorf("explanation: %s", e.Rule)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// The malformed adverts that keepalived 2.2.7 counted in A-errors.stats
// (testdata/keepalived-2.2.7/errors.txt), fed to a vigil runner configured
// like keepalived's VI_1, give the same keepalived error counters.
func TestRunnerErrorCountersMatchKeepalived(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		own := netip.MustParseAddr("10.99.57.1")
		peer := netip.MustParseAddr("10.99.57.2")
		vips := []netip.Addr{netip.MustParseAddr("10.99.57.100"), netip.MustParseAddr("10.99.57.101")}
		ic := vrrp.InstanceConfig{
			Name: "VI_1", VRID: 57, Version: 2, Family: vrrp.FamilyIPv4, Priority: 150,
			AdvertInterval: time.Second, PrimaryAddr: own, VIPs: vips, GARP: vrrp.DefaultGARP(),
		}
		ic.Normalize()
		key := vrrp.AuthKey("secret1")
		cfg := vrrp.RunnerConfig{
			Instance: ic, Interface: "eth0", Src: own, Dsts: []netip.Addr{vrrp.GroupIPv4}, AuthPass: key,
			Expect: vrrp.Expect{Version: 2, VRID: 57, AuthType: vrrp.AuthPass, AuthData: key,
				Interval: time.Second, Addrs: vips, Own: []netip.Addr{own}},
		}
		conn := &chanConn{in: make(chan vrrp.Packet), sent: make(chan netip.Addr, 100)}
		r, err := vrrp.NewRunner(cfg, vrrp.RunnerDeps{Conn: conn}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		synctest.Wait()

		for _, l := range strings.Split(readCapture(t, "errors.txt"), "\n") {
			f := strings.Fields(l)
			if len(f) != 3 || strings.HasPrefix(f[0], "#") {
				continue
			}
			ttl, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			payload, err := hex.DecodeString(f[2])
			if err != nil {
				t.Fatal(err)
			}
			conn.in <- vrrp.Packet{Payload: payload, Src: peer, Dst: vrrp.GroupIPv4, TTL: ttl}
		}
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}

		var b strings.Builder
		if err := WriteStats(&b, []InstanceStatus{FromRunner(r, &cfg)}); err != nil {
			t.Fatal(err)
		}
		block := func(s string) []string { // VI_1's error counter lines
			l := strings.Split(s, "\n")
			return l[6:16] // "  Packet Errors:" to "    Failure: N"
		}
		want := block(readCapture(t, "A-errors.stats"))
		// keepalived 2.2.7 logs "advertisement interval mismatch" but never
		// increments advert_interval_err; vigil counts the two drops.
		want[4] = "    Advertisement Interval: 2"
		if d := cmp.Diff(want, block(b.String())); d != "" {
			t.Errorf("error counters (-keepalived +vigil):\n%s\nvigil drops: %v", d, FromRunner(r, &cfg).Stats.Drops)
		}
	})
}
