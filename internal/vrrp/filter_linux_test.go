package vrrp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ha/vigil/internal/nettest"
)

const (
	// dialOK bounds a connection that must succeed.
	dialOK = 5 * time.Second
	// dialDropped is how long a connection that must be dropped is given
	// to prove it: a dropped SYN gets no answer at all, where a missing
	// filter answers within milliseconds.
	dialDropped = 700 * time.Millisecond
)

// acceptOK serves "ok\n" on every connection in h's namespace, on all
// addresses of both families, until the test ends.
func acceptOK(t *testing.T, h *nettest.Host) uint16 {
	t.Helper()
	var ln net.Listener
	if err := h.Do(func() (err error) {
		ln, err = net.Listen("tcp", ":0")
		return err
	}); err != nil {
		t.Fatalf("listen in %s: %v", h.Name, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("ok\n"))
			_ = c.Close()
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
	})
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// dial connects from h's namespace and reads the server's line.
func dial(h *nettest.Host, dst netip.AddrPort, timeout time.Duration) error {
	var c net.Conn
	if err := h.Do(func() (err error) {
		d := net.Dialer{Timeout: timeout}
		c, err = d.Dial("tcp", dst.String())
		return err
	}); err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read from %s: %w", dst, err)
	}
	if line != "ok\n" {
		return fmt.Errorf("read %q from %s, want ok", line, dst)
	}
	return nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// inNS runs a filter call on a thread inside h's namespace, where nft(8)
// then runs too.
func inNS(t *testing.T, h *nettest.Host, what string, fn func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Do(func() error { return fn(ctx) }); err != nil {
		t.Fatalf("%s in %s: %v", what, h.Name, err)
	}
}

func nft(t *testing.T, h *nettest.Host, args ...string) string {
	t.Helper()
	out, err := h.Run(context.Background(), append([]string{"nft"}, args...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return string(out)
}

// neighbour returns h's neighbour entry for addr on eth0 ("" if none).
func neighbour(t *testing.T, h *nettest.Host, addr netip.Addr) string {
	t.Helper()
	out, err := h.Run(context.Background(), "ip", "neigh", "show", addr.WithZone("").String(), "dev", nettest.IfName)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestNFTFilterNoAccept applies the no_accept filter in a master's
// namespace (keepalived.conf(5) no_accept; RFC 5798 §6.1 Accept_Mode
// false) and checks from a second namespace what keepalived 2.2.7 users
// see: while blocked, TCP to each VIP (IPv4, IPv6, IPv6 link-local) is
// dropped without an answer, TCP to the master's own address is not, and
// neighbours still resolve the VIPs (ARP; NS/NA let through); after
// Unblock the VIPs answer again. It also checks that the first Block
// replaces a stale table, that Block is idempotent, that a foreign table
// (keepalived's "ip keepalived") is never touched, and that Close removes
// the table.
func TestNFTFilterNoAccept(t *testing.T) {
	lab := nettest.NewLab(t, 2, nettest.Options{})
	if _, err := lab.Hosts[0].Run(context.Background(), "nft", "--version"); err != nil {
		t.Skipf("skipping: nft(8) not usable (apt-get install nftables): %v", err)
	}
	master, client := lab.Hosts[0], lab.Hosts[1]
	ctx := context.Background()

	vip4 := lab.Net4.Addr().Next()
	for range 99 {
		vip4 = vip4.Next() // .100
	}
	a6 := lab.Net6.Addr().As16()
	a6[15] = 100
	vip6 := netip.AddrFrom16(a6)
	vipLL := netip.MustParseAddr("fe80::99:1")
	vips := []VIP{
		{Prefix: netip.PrefixFrom(vip4, 32), Dev: nettest.IfName},
		{Prefix: netip.PrefixFrom(vip6, 128), Dev: nettest.IfName},
		{Prefix: netip.PrefixFrom(vipLL, 128), Dev: nettest.IfName},
	}
	addrs := NewAddrs(master.Handle(t))
	var filterAddrs []netip.Addr
	for _, v := range vips {
		if err := addrs.AddVIP(ctx, v); err != nil {
			t.Fatal(err)
		}
		filterAddrs = append(filterAddrs, FilterAddr(v))
	}
	port := acceptOK(t, master)
	dst := func(a netip.Addr) netip.AddrPort { return netip.AddrPortFrom(a, port) }
	// The client reaches the link-local VIP over its own eth0.
	targets := []netip.Addr{vip4, vip6, vipLL.WithZone(nettest.IfName)}
	own := []netip.Addr{master.Addr4.Addr(), master.Addr6.Addr()}

	for _, a := range targets {
		if err := dial(client, dst(a), dialOK); err != nil {
			t.Fatalf("before Block: %v (the lab does not work)", err)
		}
	}

	// A stale table of vigil's name, and keepalived's table, as an
	// operator or an earlier run may have left them.
	stale := vip4.Next()
	nftScript(t, master, fmt.Sprintf(`table inet %[1]s {
	set vips4 { type ipv4_addr; elements = { %[2]s }; }
}
table ip keepalived {
	set vips { type ipv4_addr; elements = { %[2]s }; }
}
`, DefaultFilterTable, stale))

	f, err := NewNFTFilter(DefaultFilterConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Normally done below; this covers a failure half-way.
		_ = master.Do(func() error { return f.Close(context.Background()) })
	})

	inNS(t, master, "Block", func(ctx context.Context) error { return f.Block(ctx, filterAddrs) })
	table := nft(t, master, "list", "table", "inet", DefaultFilterTable)
	if strings.Contains(table, stale.String()) {
		t.Errorf("stale element %s survived the first Block:\n%s", stale, table)
	}
	for _, want := range []string{vip4.String(), vip6.String(), `fe80::99:1 . "eth0"`} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks element %s:\n%s", want, table)
		}
	}

	t.Run("blocked", func(t *testing.T) {
		// Forget the neighbours, so that the dials below must resolve
		// the VIPs again through the filter.
		if out, err := client.Run(ctx, "ip", "neigh", "flush", "dev", nettest.IfName); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, a := range targets {
			err := dial(client, dst(a), dialDropped)
			if err == nil {
				t.Errorf("TCP to VIP %s accepted while blocked", a)
			} else if !isTimeout(err) {
				t.Errorf("TCP to VIP %s: %v, want a timeout (dropped, not refused)", a, err)
			}
		}
		for _, a := range own {
			if err := dial(client, dst(a), dialOK); err != nil {
				t.Errorf("TCP to the master's own address while blocked: %v", err)
			}
		}
		// keepalived keeps VIPs usable as next hops: ARP is not IP, and
		// the ip6 table accepts NS/NA before dropping.
		for _, a := range targets {
			if n := neighbour(t, client, a); !strings.Contains(n, "lladdr") {
				t.Errorf("client cannot resolve VIP %s while blocked: ip neigh = %q", a, n)
			}
		}
	})

	// Block again, as a second transition to master would: same rules,
	// no duplicates.
	inNS(t, master, "second Block", func(ctx context.Context) error { return f.Block(ctx, filterAddrs[:1]) })
	if in := nft(t, master, "list", "chain", "inet", DefaultFilterTable, "in"); strings.Count(in, "drop") != 3 || strings.Count(in, "nd-neighbor-solicit") != 1 {
		t.Errorf("after two Blocks the in chain is not one copy of the rules:\n%s", in)
	}

	inNS(t, master, "Unblock", func(ctx context.Context) error { return f.Unblock(ctx, filterAddrs) })
	t.Run("unblocked", func(t *testing.T) {
		for _, a := range targets {
			if err := dial(client, dst(a), dialOK); err != nil {
				t.Errorf("TCP to VIP %s after Unblock: %v", a, err)
			}
		}
	})
	inNS(t, master, "second Unblock", func(ctx context.Context) error { return f.Unblock(ctx, filterAddrs) })

	inNS(t, master, "Close", f.Close)
	tables := nft(t, master, "list", "tables")
	if strings.Contains(tables, "inet "+DefaultFilterTable) {
		t.Errorf("table inet %s still there after Close:\n%s", DefaultFilterTable, tables)
	}
	if !strings.Contains(tables, "table ip keepalived") {
		t.Errorf("Close removed keepalived's table:\n%s", tables)
	}
	inNS(t, master, "second Close", f.Close)
}

// TestNFTFilterErrors checks that a failing nft names the operation, the
// VIPs and the table, and that a failed Block is not recorded.
func TestNFTFilterErrors(t *testing.T) {
	lab := nettest.NewLab(t, 1, nettest.Options{})
	h := lab.Hosts[0]
	if _, err := h.Run(context.Background(), "nft", "--version"); err != nil {
		t.Skipf("skipping: nft(8) not usable (apt-get install nftables): %v", err)
	}
	// A set of vigil's name with another type makes the ensure step fail.
	nftScript(t, h, "table inet vigil_bad {\n\tset vips4 { type ipv6_addr; }\n}\n")
	f, err := NewNFTFilter(FilterConfig{Table: "vigil_bad", Priority: -1})
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddr("10.99.1.100")
	// The first Block resets the table, so it succeeds; then the set is
	// broken again behind the filter's back.
	inNS(t, h, "Block", func(ctx context.Context) error { return f.Block(ctx, []netip.Addr{vip}) })
	nftScript(t, h, "delete table inet vigil_bad\ntable inet vigil_bad {\n\tset vips4 { type ipv6_addr; }\n}\n")
	vip2 := vip.Next()
	var blockErr error
	_ = h.Do(func() error {
		blockErr = f.Block(context.Background(), []netip.Addr{vip2})
		return nil
	})
	t.Logf("Block on a broken table: %v", blockErr)
	var fe *FilterError
	if !errors.As(blockErr, &fe) {
		t.Fatalf("Block on a broken table: error %v, want a *FilterError", blockErr)
	}
	if fe.Op != "block" || fe.Table != "vigil_bad" || len(fe.Addrs) != 1 || fe.Addrs[0] != vip2 {
		t.Errorf("FilterError = %+v, want op block, table vigil_bad, addrs [%s]", fe, vip2)
	}
	// Not recorded: Unblock of vip2 has nothing to remove and runs no nft
	// (which would fail on the broken table), while vip's does and fails.
	inNS(t, h, "Unblock of the VIP whose Block failed", func(ctx context.Context) error { return f.Unblock(ctx, []netip.Addr{vip2}) })
	var unblockErr error
	_ = h.Do(func() error {
		unblockErr = f.Unblock(context.Background(), []netip.Addr{vip})
		return nil
	})
	if !errors.As(unblockErr, &fe) || fe.Op != "unblock" {
		t.Errorf("Unblock of a blocked VIP on a broken table: error %v, want a *FilterError for unblock", unblockErr)
	}
	if !strings.Contains(blockErr.Error(), "nft -f") {
		t.Errorf("error %q does not quote nft", blockErr)
	}
	inNS(t, h, "Close", f.Close)
}

func nftScript(t *testing.T, h *nettest.Host, script string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := h.Do(func() error {
		f := &NFTFilter{plan: newFilterPlan(FilterConfig{Table: "unused"})}
		return f.run(ctx, "setup", FilterSet{}, script)
	})
	if err != nil {
		t.Fatalf("nft setup in %s: %v", h.Name, err)
	}
}

// BenchmarkNFTFilterBlockUnblock measures one master transition and back
// (two nft(8) runs) in a lab namespace.
func BenchmarkNFTFilterBlockUnblock(b *testing.B) {
	lab := nettest.NewLab(b, 1, nettest.Options{})
	h := lab.Hosts[0]
	f, err := NewNFTFilter(DefaultFilterConfig())
	if err != nil {
		b.Fatal(err)
	}
	vips := []netip.Addr{netip.MustParseAddr("10.99.1.100"), netip.MustParseAddr("fd00:99:1::100")}
	ctx := context.Background()
	err = h.Do(func() error {
		for b.Loop() {
			if err := f.Block(ctx, vips); err != nil {
				return err
			}
			if err := f.Unblock(ctx, vips); err != nil {
				return err
			}
		}
		return f.Close(ctx)
	})
	if err != nil {
		b.Fatal(err)
	}
}
