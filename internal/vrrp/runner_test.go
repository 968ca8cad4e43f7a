package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeConn is a PacketConn over channels: tests push received packets into
// in and read what the runner wrote from the record.
type fakeConn struct {
	in chan Packet
	mu sync.Mutex
	// sent holds each written advert, decoded, with its destination.
	sent []sentAdvert
	src  netip.Addr
}

type sentAdvert struct {
	At  time.Time
	Dst netip.Addr
	Adv Advert
}

func newFakeConn(src netip.Addr) *fakeConn { return &fakeConn{in: make(chan Packet), src: src} }

func (c *fakeConn) ReadPacket(ctx context.Context) (Packet, error) {
	select {
	case p := <-c.in:
		return p, nil
	case <-ctx.Done():
		return Packet{}, ctx.Err()
	}
}

func (c *fakeConn) WritePacket(b []byte, dst netip.Addr) error {
	adv, err := DecodeAdvert(b, c.src, dst)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, sentAdvert{At: time.Now(), Dst: dst, Adv: adv})
	return nil
}

func (c *fakeConn) adverts() []sentAdvert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sent)
}

// fakeAddrs records VIP operations.
type fakeAddrs struct {
	mu   sync.Mutex
	ops  []string
	have map[netip.Prefix]bool
}

func newFakeAddrs() *fakeAddrs { return &fakeAddrs{have: map[netip.Prefix]bool{}} }

func (f *fakeAddrs) record(op string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, op)
}

func (f *fakeAddrs) AddVIP(_ context.Context, v VIP) error {
	f.record("add " + v.Prefix.String() + " dev " + v.Dev)
	f.mu.Lock()
	f.have[v.Prefix] = true
	f.mu.Unlock()
	return nil
}

func (f *fakeAddrs) DelVIP(_ context.Context, v VIP) error {
	f.record("del " + v.Prefix.String() + " dev " + v.Dev)
	f.mu.Lock()
	delete(f.have, v.Prefix)
	f.mu.Unlock()
	return nil
}

func (f *fakeAddrs) AddRoute(_ context.Context, r VirtualRoute) error {
	f.record("add route " + r.String())
	return nil
}

func (f *fakeAddrs) DelRoute(_ context.Context, r VirtualRoute) error {
	f.record("del route " + r.String())
	return nil
}

func (f *fakeAddrs) List(_ context.Context, dev string) ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []netip.Prefix
	for p := range f.have {
		out = append(out, p)
	}
	return out, nil
}

func (f *fakeAddrs) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ops)
}

type fakeAnnouncer struct {
	mu  sync.Mutex
	got []netip.Addr
}

func (f *fakeAnnouncer) Announce(a netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, a)
	return nil
}

func (f *fakeAnnouncer) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

type fakeNotifier struct {
	mu  sync.Mutex
	got []string
}

func (f *fakeNotifier) NotifyState(inst string, from, to State, prio uint8) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, inst+" "+from.String()+"->"+to.String())
}

// NotifyGroupState records a vrrp_sync_group's change as "GROUP name
// FROM->TO", in order with the instances' changes.
func (f *fakeNotifier) NotifyGroupState(group string, from, to State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, "GROUP "+group+" "+from.String()+"->"+to.String())
}

func (f *fakeNotifier) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

var (
	testSrc  = netip.MustParseAddr("10.99.0.11")
	testPeer = netip.MustParseAddr("10.99.0.12")
	testVIP  = netip.MustParseAddr("10.99.0.100")
)

type runnerRig struct {
	r      *Runner
	conn   *fakeConn
	addrs  *fakeAddrs
	ann    *fakeAnnouncer
	notify *fakeNotifier
	start  time.Time
}

func newRunnerRig(t *testing.T, version uint8, prio uint8, auth uint8) *runnerRig {
	t.Helper()
	return newRunnerRigInterval(t, version, prio, auth, time.Second)
}

// newRunnerRigInterval is newRunnerRig with another advert_int.
func newRunnerRigInterval(t *testing.T, version uint8, prio uint8, auth uint8, interval time.Duration) *runnerRig {
	t.Helper()
	ic := InstanceConfig{
		Name: "VI_1", VRID: 51, Version: version, Family: FamilyIPv4, Priority: prio,
		AdvertInterval: interval, PrimaryAddr: testSrc, VIPs: []netip.Addr{testVIP},
		GARP: DefaultGARP(),
	}
	ic.Normalize()
	key := AuthKey("secret12")
	cfg := RunnerConfig{
		Instance: ic, Interface: "eth0",
		VIPs: []VIP{{Prefix: netip.MustParsePrefix("10.99.0.100/24"), Dev: "eth0"}},
		Src:  testSrc, Dsts: []netip.Addr{GroupIPv4},
		Expect: Expect{Version: version, VRID: 51, AuthType: auth, AuthData: key,
			Interval: interval, Addrs: []netip.Addr{testVIP}, Own: []netip.Addr{testSrc}},
		AuthPass: key,
	}
	rig := &runnerRig{conn: newFakeConn(testSrc), addrs: newFakeAddrs(), ann: &fakeAnnouncer{}, notify: &fakeNotifier{}}
	r, err := NewRunner(cfg, RunnerDeps{Conn: rig.conn, Addrs: rig.addrs, Announce: rig.ann, Notify: rig.notify},
		slog.New(slog.NewTextHandler(t.Output(), nil)))
	if err != nil {
		t.Fatal(err)
	}
	rig.r = r
	return rig
}

// start runs the runner in the bubble and returns a stop function that
// cancels it and waits for Run to return.
func (rig *runnerRig) run(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	rig.start = time.Now()
	go func() { done <- rig.r.Run(ctx) }()
	synctest.Wait()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// peerAdvert is an advert from testPeer as the wire carries it.
func peerAdvert(t *testing.T, version, prio uint8, auth uint8) Packet {
	t.Helper()
	adv := Advert{Version: version, VRID: 51, Priority: prio, Interval: time.Second, Addrs: []netip.Addr{testVIP}}
	if version == 2 {
		adv.AuthType = auth
		if auth == AuthPass {
			adv.AuthData = AuthKey("secret12")
		}
	}
	return ipv4Packet(t, adv, testPeer, GroupIPv4, RequiredTTL)
}

func ipv4Packet(t *testing.T, adv Advert, src, dst netip.Addr, ttl uint8) Packet {
	t.Helper()
	b, err := IPv4Packet{IP: IPv4Header{TOS: TOSNetworkControl, TTL: ttl, Protocol: ProtocolVRRP, Src: src, Dst: dst}, Advert: adv}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return Packet{Payload: b[20:], Datagram: b, Src: src, Dst: dst, TTL: int(ttl)}
}

// RFC 5798 §6.4.2 and §6.1: with no master on the link, a backup becomes
// master when Master_Down_Interval = 3*Master_Adver_Interval + Skew_Time
// has passed; for priority 100 and 1 s that is 3.609375 s.
func TestRunnerBecomesMasterAfterMasterDownInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newRunnerRig(t, 3, 100, AuthNone)
		stop := rig.run(t)
		time.Sleep(3609374 * time.Microsecond)
		synctest.Wait()
		if s := rig.r.Snapshot().State; s != StateBackup {
			t.Fatalf("state %v just before Master_Down_Interval, want BACKUP", s)
		}
		time.Sleep(time.Microsecond)
		synctest.Wait()
		snap := rig.r.Snapshot()
		if snap.State != StateMaster {
			t.Fatalf("state %v at Master_Down_Interval, want MASTER", snap.State)
		}
		if got := snap.Since.Sub(rig.start); got != 3609375*time.Microsecond {
			t.Errorf("MASTER after %v, want 3.609375s", got)
		}
		ads := rig.conn.adverts()
		if len(ads) != 1 || ads[0].Adv.Priority != 100 || ads[0].Dst != GroupIPv4 {
			t.Fatalf("adverts on becoming master = %+v, want one priority 100 to 224.0.0.18", ads)
		}
		if got, want := rig.addrs.log(), []string{"add 10.99.0.100/24 dev eth0"}; !slices.Equal(got, want) {
			t.Errorf("addr ops %q, want %q", got, want)
		}
		if n := rig.ann.count(); n != 5 {
			t.Errorf("%d announcements on takeover, want 5 (garp_master_repeat)", n)
		}
		// RFC 5798 §6.4.3: a master sends an advert every Advertisement_Interval.
		time.Sleep(3 * time.Second)
		synctest.Wait()
		ads = rig.conn.adverts()
		if len(ads) != 4 {
			t.Fatalf("%d adverts 3 s into MASTER, want 4", len(ads))
		}
		for i := 1; i < len(ads); i++ {
			if d := ads[i].At.Sub(ads[i-1].At); d != time.Second {
				t.Errorf("advert %d came %v after the previous, want 1s", i, d)
			}
		}
		// RFC 5798 §6.4.3 Shutdown: priority 0 advert, VIPs removed.
		stop()
		ads = rig.conn.adverts()
		if last := ads[len(ads)-1].Adv; last.Priority != 0 {
			t.Errorf("last advert priority %d, want 0 on shutdown", last.Priority)
		}
		st := &rig.r.Stats
		if b, rel, z := st.BecameMaster.Load(), st.ReleasedMaster.Load(), st.PriorityZeroSent.Load(); b != 1 || rel != 1 || z != 1 {
			t.Errorf("became master %d, released %d, priority 0 sent %d; want 1 each", b, rel, z)
		}
		if got, want := rig.addrs.log(), []string{"add 10.99.0.100/24 dev eth0", "del 10.99.0.100/24 dev eth0"}; !slices.Equal(got, want) {
			t.Errorf("addr ops %q, want %q", got, want)
		}
		got := rig.notify.log()
		if want := []string{"VI_1 INIT->BACKUP", "VI_1 BACKUP->MASTER", "VI_1 MASTER->STOP"}; !slices.Equal(got, want) {
			t.Errorf("notifications %q, want %q", got, want)
		}
	})
}

// RFC 3768 §6.4.2: a backup that keeps hearing a higher priority master
// stays backup and never adds the VIPs.
func TestRunnerBackupFollowsHigherPriorityMaster(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newRunnerRig(t, 2, 100, AuthPass)
		stop := rig.run(t)
		defer stop()
		for range 10 {
			rig.conn.in <- peerAdvert(t, 2, 150, AuthPass)
			time.Sleep(time.Second)
			synctest.Wait()
		}
		snap := rig.r.Snapshot()
		if snap.State != StateBackup {
			t.Fatalf("state %v, want BACKUP", snap.State)
		}
		if snap.LastMaster != testPeer || snap.LastPrio != 150 {
			t.Errorf("last master %v/%d, want %v/150", snap.LastMaster, snap.LastPrio, testPeer)
		}
		if n := rig.r.Stats.AdvertsReceived.Load(); n != 10 {
			t.Errorf("received %d, want 10", n)
		}
		if ops := rig.addrs.log(); len(ops) != 0 {
			t.Errorf("addr ops %q, want none", ops)
		}
		// The master stops (priority 0): RFC 3768 §6.4.2 says set the
		// Master_Down_Timer to Skew_Time, (256-100)/256 s.
		rig.conn.in <- peerAdvert(t, 2, 0, AuthPass)
		synctest.Wait()
		time.Sleep(609375 * time.Microsecond)
		synctest.Wait()
		if s := rig.r.Snapshot().State; s != StateMaster {
			t.Fatalf("state %v Skew_Time after a priority 0 advert, want MASTER", s)
		}
	})
}

// Hostile and malformed packets are dropped with their reason counted, and
// none of them changes the state or delays the takeover.
func TestRunnerDropsHostilePackets(t *testing.T) {
	good := func(t *testing.T) Advert {
		return Advert{Version: 2, VRID: 51, Priority: 200, Interval: time.Second, Addrs: []netip.Addr{testVIP},
			AuthType: AuthPass, AuthData: AuthKey("secret12")}
	}
	corrupt := func(p Packet, i int, v byte) Packet {
		d := slices.Clone(p.Datagram)
		d[i] ^= v
		return Packet{Payload: d[20:], Datagram: d, Src: p.Src, Dst: p.Dst, TTL: p.TTL}
	}
	tests := []struct {
		name string
		pkt  func(t *testing.T) Packet
		want DropReason
	}{
		{"wrong TTL", func(t *testing.T) Packet { return ipv4Packet(t, good(t), testPeer, GroupIPv4, 254) }, DropWrongTTL},
		{"bad checksum", func(t *testing.T) Packet {
			return corrupt(ipv4Packet(t, good(t), testPeer, GroupIPv4, 255), 20+6, 0xff)
		}, DropBadChecksum},
		{"bad password", func(t *testing.T) Packet {
			a := good(t)
			a.AuthData = AuthKey("wrong")
			return ipv4Packet(t, a, testPeer, GroupIPv4, 255)
		}, DropBadPassword},
		{"no auth", func(t *testing.T) Packet {
			a := good(t)
			a.AuthType, a.AuthData = AuthNone, [8]byte{}
			return ipv4Packet(t, a, testPeer, GroupIPv4, 255)
		}, DropAuthMismatch},
		{"truncated", func(t *testing.T) Packet {
			p := ipv4Packet(t, good(t), testPeer, GroupIPv4, 255)
			d := slices.Clone(p.Datagram[:26])
			d[2], d[3] = 0, 26
			return Packet{Payload: d[20:], Datagram: d, Src: p.Src, Dst: p.Dst, TTL: 255}
		}, DropTruncated},
		{"wrong version", func(t *testing.T) Packet {
			a := good(t)
			a.Version, a.AuthType, a.AuthData = 3, 0, [8]byte{}
			return ipv4Packet(t, a, testPeer, GroupIPv4, 255)
		}, DropWrongVersion},
		{"bad version nibble", func(t *testing.T) Packet { return corrupt(ipv4Packet(t, good(t), testPeer, GroupIPv4, 255), 20, 0x70) }, DropBadVersion},
		{"zero VRID", func(t *testing.T) Packet {
			// VRID 0 with a valid checksum, so that only the VRID is wrong.
			p := corrupt(ipv4Packet(t, good(t), testPeer, GroupIPv4, 255), 21, 51)
			p.Datagram[26], p.Datagram[27] = 0, 0
			binary.BigEndian.PutUint16(p.Datagram[26:], checksum(0, p.Datagram[20:]))
			return p
		}, DropZeroVRID},
		{"own address as source", func(t *testing.T) Packet { return ipv4Packet(t, good(t), testSrc, GroupIPv4, 255) }, DropOwnAddress},
		{"address count mismatch", func(t *testing.T) Packet {
			a := good(t)
			a.Addrs = append(a.Addrs, netip.MustParseAddr("10.99.0.101"))
			return ipv4Packet(t, a, testPeer, GroupIPv4, 255)
		}, DropAddrCount},
		{"address list mismatch", func(t *testing.T) Packet {
			a := good(t)
			a.Addrs = []netip.Addr{netip.MustParseAddr("10.99.0.101")}
			return ipv4Packet(t, a, testPeer, GroupIPv4, 255)
		}, DropAddrList},
		{"interval mismatch", func(t *testing.T) Packet {
			a := good(t)
			a.Interval = 2 * time.Second
			return ipv4Packet(t, a, testPeer, GroupIPv4, 255)
		}, DropIntervalMismatch},
		{"bad type", func(t *testing.T) Packet { return corrupt(ipv4Packet(t, good(t), testPeer, GroupIPv4, 255), 20, 0x03) }, DropBadType},
		{"unicast destination", func(t *testing.T) Packet { return ipv4Packet(t, good(t), testPeer, testSrc, 255) }, DropWrongDestination},
		{"not VRRP", func(t *testing.T) Packet { return corrupt(ipv4Packet(t, good(t), testPeer, GroupIPv4, 255), 9, 0xff) }, DropBadProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rig := newRunnerRig(t, 2, 100, AuthPass)
				stop := rig.run(t)
				defer stop()
				// A flood of the packet through the whole down interval.
				for range 30 {
					rig.conn.in <- tt.pkt(t)
					time.Sleep(100 * time.Millisecond)
					synctest.Wait()
					if s := rig.r.Snapshot().State; s != StateBackup && time.Since(rig.start) < 3609375*time.Microsecond {
						t.Fatalf("state %v after hostile packet, want BACKUP", s)
					}
				}
				if n := rig.r.Stats.Drops[tt.want].Load(); n != 30 {
					t.Errorf("drops[%v] = %d, want 30", tt.want, n)
				}
				if n := rig.r.Stats.AdvertsReceived.Load(); n != 0 {
					t.Errorf("accepted %d adverts, want 0", n)
				}
				// The takeover still happens on time: the packets did
				// not reset the master down timer.
				time.Sleep(time.Until(rig.start.Add(3609375 * time.Microsecond)))
				synctest.Wait()
				if s := rig.r.Snapshot(); s.State != StateMaster || s.Since.Sub(rig.start) != 3609375*time.Microsecond {
					t.Errorf("state %v since %v, want MASTER at 3.609375s", s.State, s.Since.Sub(rig.start))
				}
			})
		})
	}
}

// keepalived's auth_type AH: adverts go out as whole IPv4 datagrams whose
// ICV verifies with auth_pass and whose sequence numbers rise.
func TestRunnerSendsAH(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		conn := &ahConn{fakeConn: newFakeConn(testSrc)}
		rig := newRunnerRig(t, 2, 100, AuthAH)
		rig.r.deps.Conn = conn
		rig.conn = conn.fakeConn
		stop := rig.run(t)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		stop()
		if len(conn.datagrams) < 2 {
			t.Fatalf("%d AH datagrams, want at least 2", len(conn.datagrams))
		}
		var last uint32
		for i, d := range conn.datagrams {
			if err := VerifyAH(d, AuthKey("secret12"), false); err != nil {
				t.Fatalf("datagram %d: %v", i, err)
			}
			p, err := DecodeIPv4(d)
			if err != nil {
				t.Fatal(err)
			}
			if p.AH.Seq <= last {
				t.Errorf("datagram %d: sequence %d after %d", i, p.AH.Seq, last)
			}
			last = p.AH.Seq
		}
	})
}

type ahConn struct {
	*fakeConn
	datagrams [][]byte
}

func (c *ahConn) WriteDatagram(d []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.datagrams = append(c.datagrams, slices.Clone(d))
	return nil
}

// streamConn is a fakeConn that also offers its packets as a stream, as
// the daemon's shared-socket mux does.
type streamConn struct {
	*fakeConn
	failed chan struct{}
	err    error
}

func (c *streamConn) Packets() <-chan Packet  { return c.in }
func (c *streamConn) Failed() <-chan struct{} { return c.failed }
func (c *streamConn) Err() error              { return c.err }
func (c *streamConn) ReadPacket(ctx context.Context) (Packet, error) {
	panic("a lone instance on a PacketStream must not start a reader")
}

// A lone instance reads a PacketStream in its own loop: adverts are
// handled as from a socket, and the stream's failure stops the instance
// cleanly (priority 0, VIPs released) and is reported.
func TestRunnerReadsPacketStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rig := newRunnerRig(t, 2, 100, AuthPass)
		sc := &streamConn{fakeConn: rig.conn, failed: make(chan struct{}), err: errors.New("socket gone")}
		rig.r.deps.Conn = sc
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- rig.r.Run(ctx) }()
		for range 5 {
			sc.in <- peerAdvert(t, 2, 150, AuthPass)
			time.Sleep(time.Second)
			synctest.Wait()
		}
		if s := rig.r.Snapshot(); s.State != StateBackup || s.LastMaster != testPeer {
			t.Fatalf("state %v, master %v; want BACKUP following %v", s.State, s.LastMaster, testPeer)
		}
		time.Sleep(4 * time.Second) // the peer goes quiet
		synctest.Wait()
		if s := rig.r.Snapshot().State; s != StateMaster {
			t.Fatalf("state %v, want MASTER", s)
		}
		close(sc.failed)
		err := <-done
		if err == nil || !strings.Contains(err.Error(), "socket gone") {
			t.Fatalf("Run returned %v, want the stream's error", err)
		}
		if ads := rig.conn.adverts(); ads[len(ads)-1].Adv.Priority != 0 {
			t.Error("no priority-0 advert when the stream failed")
		}
		if ops := rig.addrs.log(); ops[len(ops)-1] != "del 10.99.0.100/24 dev eth0" {
			t.Errorf("VIP not released when the stream failed: %q", ops)
		}
	})
}
