package nettest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// IfName is the name of every host's veth interface into the bridge.
const IfName = "eth0"

// setupTimeout bounds each ip(8) command the lab runs itself.
const setupTimeout = 20 * time.Second

// RequireRoot skips the test, with the reason, unless this process can
// create network namespaces and the ip(8) command is available. It probes
// by unsharing a network namespace on a throw-away OS thread rather than
// by checking the user id, so it also works (and fails) correctly in
// containers.
func RequireRoot(t testing.TB) {
	t.Helper()
	if err := probeNetns(); err != nil {
		t.Skipf("skipping: needs privilege to create network namespaces: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skipf("skipping: ip(8) from iproute2 not found: %v", err)
	}
}

// probeNetns creates a network namespace on a locked OS thread that is
// then thrown away: the goroutine exits without unlocking, so the runtime
// terminates the thread and the namespace with it.
func probeNetns() error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Never unlocked: the thread ends with this goroutine.
		errc <- unix.Unshare(unix.CLONE_NEWNET)
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
	}
	return nil
}

// Options tune a Lab. The zero value is what most tests want.
type Options struct {
	// KeepDAD leaves IPv6 duplicate address detection on. By default the
	// lab turns it off in every host namespace, so that link-local and
	// lab addresses are usable at once (VRRPv3 over IPv6 sends from the
	// link-local address).
	KeepDAD bool
}

// Lab is a bridge namespace and the hosts plugged into it.
type Lab struct {
	// Switch is the namespace holding the bridge br0; host i's port on
	// it is named "h<i>" (see Host.Port).
	Switch *Host
	// Hosts are the host namespaces, Hosts[i] has Index i+1.
	Hosts []*Host
	// Net4 and Net6 are the lab's subnets, 10.99.X.0/24 and fd00:99:X::/64.
	Net4, Net6 netip.Prefix
}

// Host is one network namespace of a Lab.
type Host struct {
	// Name is the namespace name, as ip netns and /run/netns know it.
	Name string
	// Index is 1-based; the addresses end in 10+Index.
	Index int
	// Addr4 and Addr6 are the host's lab addresses on eth0 (zero for the
	// switch).
	Addr4, Addr6 netip.Prefix
	// Port is the bridge-side veth of this host, in the switch namespace.
	Port string

	ns  netns.NsHandle
	lab *Lab
}

// NewLab builds a bridge namespace and n host namespaces, each with an eth0
// veth into the bridge and the lab addresses, and registers their removal
// with t.Cleanup. It skips the test when the process lacks privilege or
// when -short is set, and fails it when the lab cannot be built.
func NewLab(t testing.TB, n int, opts Options) *Lab {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping network namespace lab in -short mode")
	}
	RequireRoot(t)
	if n < 1 || n > 200 {
		t.Fatalf("NewLab: %d hosts, want 1..200", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*setupTimeout)
	defer cancel()

	// The subnet is per lab so that two labs never look alike in logs
	// or captures; the namespaces already keep them apart on the wire.
	x := 1 + rand.IntN(250)
	prefix := fmt.Sprintf("vigil-%08x", rand.Uint32())
	lab := &Lab{
		Net4: netip.MustParsePrefix(fmt.Sprintf("10.99.%d.0/24", x)),
		Net6: netip.MustParsePrefix(fmt.Sprintf("fd00:99:%x::/64", x)),
	}
	lab.Switch = mustAddNS(ctx, t, lab, prefix+"-sw", 0)
	sw := lab.Switch.Name
	mustIP(ctx, t, "-n", sw, "link", "set", "lo", "up")
	mustIP(ctx, t, "-n", sw, "link", "add", "br0", "type", "bridge",
		"mcast_snooping", "0", "stp_state", "0")
	mustIP(ctx, t, "-n", sw, "link", "set", "br0", "up")

	for i := 1; i <= n; i++ {
		h := mustAddNS(ctx, t, lab, fmt.Sprintf("%s-h%d", prefix, i), i)
		h.Port = fmt.Sprintf("h%d", i)
		h.Addr4 = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 99, byte(x), byte(10 + i)}), 24)
		a6 := lab.Net6.Addr().As16()
		a6[15] = byte(10 + i)
		h.Addr6 = netip.PrefixFrom(netip.AddrFrom16(a6), 64)
		if !opts.KeepDAD {
			// Before eth0 exists, so that it inherits the default.
			if out, err := h.Run(ctx, "sysctl", "-q", "-w",
				"net.ipv6.conf.all.accept_dad=0",
				"net.ipv6.conf.default.accept_dad=0"); err != nil {
				t.Fatalf("NewLab: disable DAD in %s: %v\n%s", h.Name, err, out)
			}
		}
		mustIP(ctx, t, "-n", h.Name, "link", "set", "lo", "up")
		mustIP(ctx, t, "-n", h.Name, "link", "add", IfName, "type", "veth",
			"peer", "name", h.Port, "netns", sw)
		mustIP(ctx, t, "-n", sw, "link", "set", h.Port, "master", "br0", "up")
		mustIP(ctx, t, "-n", h.Name, "addr", "add", h.Addr4.String(), "dev", IfName)
		mustIP(ctx, t, "-n", h.Name, "addr", "add", h.Addr6.String(), "dev", IfName)
		mustIP(ctx, t, "-n", h.Name, "link", "set", IfName, "up")
		lab.Hosts = append(lab.Hosts, h)
	}
	for _, h := range lab.Hosts {
		if err := h.waitIPv6Ready(ctx); err != nil {
			t.Fatalf("NewLab: %v", err)
		}
	}
	return lab
}

// mustAddNS creates a named namespace, opens a handle on it and registers
// their removal before anything else can fail.
func mustAddNS(ctx context.Context, t testing.TB, lab *Lab, name string, index int) *Host {
	t.Helper()
	mustIP(ctx, t, "netns", "add", name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		if out, err := runIP(ctx, "netns", "del", name); err != nil {
			t.Errorf("lab cleanup: delete namespace %s: %v\n%s", name, err, out)
		}
	})
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("NewLab: open namespace %s: %v", name, err)
	}
	t.Cleanup(func() { _ = ns.Close() })
	return &Host{Name: name, Index: index, ns: ns, lab: lab}
}

func runIP(ctx context.Context, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, "ip", args...).CombinedOutput()
}

func mustIP(ctx context.Context, t testing.TB, args ...string) {
	t.Helper()
	if out, err := runIP(ctx, args...); err != nil {
		t.Fatalf("NewLab: ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// waitIPv6Ready waits until eth0 has a link-local address and no address
// on it is tentative (DAD still running), polling netlink with a deadline.
func (h *Host) waitIPv6Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var last []netlink.Addr
	for {
		addrs, err := h.netlinkAddrs(IfName, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		last = addrs
		ready, linkLocal := true, false
		for _, a := range addrs {
			if a.Flags&(unix.IFA_F_TENTATIVE) != 0 {
				ready = false
			}
			if a.IP.IsLinkLocalUnicast() {
				linkLocal = true
			}
		}
		if ready && linkLocal {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: IPv6 addresses on %s not ready (tentative or no link-local): %v", h.Name, IfName, last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// NS returns the namespace handle. It stays valid until the test's cleanup.
func (h *Host) NS() netns.NsHandle { return h.ns }

// Handle returns a netlink handle bound to the host's namespace, closed in
// t.Cleanup.
func (h *Host) Handle(t testing.TB) *netlink.Handle {
	t.Helper()
	nh, err := netlink.NewHandleAt(h.ns)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", h.Name, err)
	}
	t.Cleanup(nh.Close)
	return nh
}

// Run runs a command inside the namespace (ip netns exec) and returns its
// combined output. A non-zero exit is an error that quotes the command.
func (h *Host) Run(ctx context.Context, cmd ...string) ([]byte, error) {
	if len(cmd) == 0 {
		return nil, errors.New("Run: no command")
	}
	args := append([]string{"netns", "exec", h.Name}, cmd...)
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("in %s: %s: %w", h.Name, strings.Join(cmd, " "), err)
	}
	return out, nil
}

// Do runs fn on a locked OS thread that has entered the host's namespace.
// Sockets fn opens belong to that namespace and stay there after Do
// returns. Goroutines fn starts do not inherit the namespace.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("Do in %s: get current namespace: %w", h.Name, err)
			return // the thread dies with this goroutine: still locked
		}
		defer orig.Close()
		if err := netns.Set(h.ns); err != nil {
			errc <- fmt.Errorf("Do in %s: setns: %w", h.Name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: the runtime discards it.
			errc <- errors.Join(ferr, fmt.Errorf("Do in %s: restore namespace: %w", h.Name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Addrs lists the addresses on ifname in the host's namespace, both
// families, with their prefix lengths.
func (h *Host) Addrs(ifname string) ([]netip.Prefix, error) {
	addrs, err := h.netlinkAddrs(ifname, netlink.FAMILY_ALL)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

// HasAddr reports whether addr is configured on ifname.
func (h *Host) HasAddr(ifname string, addr netip.Addr) (bool, error) {
	ps, err := h.Addrs(ifname)
	if err != nil {
		return false, err
	}
	for _, p := range ps {
		if p.Addr() == addr {
			return true, nil
		}
	}
	return false, nil
}

// LinkLocal returns the IPv6 link-local address of eth0.
func (h *Host) LinkLocal() (netip.Addr, error) {
	ps, err := h.Addrs(IfName)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, p := range ps {
		if p.Addr().Is6() && p.Addr().IsLinkLocalUnicast() {
			return p.Addr(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("%s: no link-local address on %s", h.Name, IfName)
}

func (h *Host) netlinkAddrs(ifname string, family int) ([]netlink.Addr, error) {
	nh, err := netlink.NewHandleAt(h.ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", h.Name, err)
	}
	defer nh.Close()
	link, err := nh.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("%s: link %s: %w", h.Name, ifname, err)
	}
	addrs, err := nh.AddrList(link, family)
	if err != nil {
		return nil, fmt.Errorf("%s: list addresses on %s: %w", h.Name, ifname, err)
	}
	return addrs, nil
}

// Holders returns the hosts that have addr on eth0.
func (l *Lab) Holders(addr netip.Addr) ([]*Host, error) {
	var out []*Host
	for _, h := range l.Hosts {
		ok, err := h.HasAddr(IfName, addr)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, h)
		}
	}
	return out, nil
}

// WaitHolder polls until exactly one host holds addr on eth0 and returns
// it; on timeout it fails the test with the holders last seen.
func (l *Lab) WaitHolder(t testing.TB, addr netip.Addr, timeout time.Duration) *Host {
	t.Helper()
	return l.waitHolders(t, addr, timeout, "exactly 1 host", func(hs []*Host) bool { return len(hs) == 1 })[0]
}

// WaitHolders polls until exactly n hosts hold addr on eth0 and returns
// them; on timeout it fails the test with the holders last seen.
func (l *Lab) WaitHolders(t testing.TB, addr netip.Addr, n int, timeout time.Duration) []*Host {
	t.Helper()
	return l.waitHolders(t, addr, timeout, fmt.Sprintf("%d hosts", n), func(hs []*Host) bool { return len(hs) == n })
}

// WaitHeldBy polls until the hosts holding addr on eth0 are exactly want
// (none when want is empty); on timeout it fails the test with the holders
// last seen.
func (l *Lab) WaitHeldBy(t testing.TB, addr netip.Addr, timeout time.Duration, want ...*Host) {
	t.Helper()
	l.waitHolders(t, addr, timeout, fmt.Sprintf("%v", hostNames(want)), func(hs []*Host) bool {
		if len(hs) != len(want) {
			return false
		}
		for i := range hs { // both in lab order
			if hs[i] != want[i] {
				return false
			}
		}
		return true
	})
}

func hostNames(hs []*Host) []string {
	names := []string{}
	for _, h := range hs {
		names = append(names, h.Name)
	}
	return names
}

func (l *Lab) waitHolders(t testing.TB, addr netip.Addr, timeout time.Duration, want string, ok func([]*Host) bool) []*Host {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		hs, err := l.Holders(addr)
		if err != nil {
			t.Fatalf("wait for holders of %s: %v", addr, err)
		}
		if ok(hs) {
			return hs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s held by %v after %v, want %s", addr, hostNames(hs), timeout, want)
		}
		<-tick.C
	}
}

// SetLink sets the host's port on the bridge down (up=false) or up. Down
// also drops the carrier of the host's eth0, as a pulled cable would.
func (l *Lab) SetLink(ctx context.Context, h *Host, up bool) error {
	state := "down"
	if up {
		state = "up"
	}
	if out, err := runIP(ctx, "-n", l.Switch.Name, "link", "set", h.Port, state); err != nil {
		return fmt.Errorf("set bridge port %s of %s %s: %w: %s", h.Port, h.Name, state, err, bytes.TrimSpace(out))
	}
	return nil
}

// Direction selects which VRRP traffic DropVRRP discards.
type Direction int

// Directions for DropVRRP.
const (
	DropOut  Direction = 1 << iota // what the host sends
	DropIn                         // what the host receives
	DropBoth = DropOut | DropIn
)

// nftTable is the nftables table DropVRRP owns inside a host namespace.
const nftTable = "vigil_nettest"

// DropVRRP installs nftables rules in the host's namespace that drop VRRP
// (IP protocol 112, both families) in the given direction: the host goes
// silent, or deaf, without losing carrier. UndropVRRP removes them.
func (h *Host) DropVRRP(ctx context.Context, dir Direction) error {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", nftTable)
	if dir&DropOut != 0 {
		b.WriteString("  chain out { type filter hook output priority 0; meta l4proto vrrp drop; }\n")
	}
	if dir&DropIn != 0 {
		b.WriteString("  chain in { type filter hook input priority 0; meta l4proto vrrp drop; }\n")
	}
	b.WriteString("}\n")
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %w: %s", h.Name, err, bytes.TrimSpace(out))
	}
	return nil
}

// UndropVRRP removes the rules DropVRRP installed.
func (h *Host) UndropVRRP(ctx context.Context) error {
	if out, err := h.Run(ctx, "nft", "delete", "table", "inet", nftTable); err != nil {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// NamespaceExists reports whether a namespace of that name is registered
// in /run/netns; tests use it to check that a lab was cleaned up.
func NamespaceExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}
