package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Announcer sends gratuitous ARPs and unsolicited neighbour advertisements
// for VIPs on one interface, one packet per Announce call: the runner
// repeats and spaces them (garp_master_repeat, vrrp_garp_interval).
//
// Its sockets belong to the network namespace of the thread that called
// ListenAnnouncer; they receive nothing.
type Announcer struct {
	ifi *net.Interface
	arp *packet.Conn     // AF_PACKET, protocol 0: send only
	na  *ipv6.PacketConn // raw ICMPv6, every type filtered out on receive
	// fwd is /proc/sys/net/ipv6/conf/IF/forwarding, opened in the
	// socket's namespace and re-read for every NA; nil without IPv6.
	fwd *os.File
}

// ListenAnnouncer opens the sockets on the named interface: an AF_PACKET
// socket for ARP and a raw ICMPv6 socket bound to the interface.
func ListenAnnouncer(ifname string) (*Announcer, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("announcer: interface %s: %w", ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("announcer: interface %s has no Ethernet address (%v)", ifname, ifi.HardwareAddr)
	}
	a := &Announcer{ifi: ifi}
	// Protocol 0: the socket is bound to the interface but no frame is
	// delivered to it, so nothing queues up unread.
	a.arp, err = packet.Listen(ifi, packet.Raw, 0, nil)
	if err != nil {
		return nil, fmt.Errorf("announcer: packet socket on %s: %w", ifname, err)
	}
	a.na, err = listenICMPv6(ifi)
	if err != nil {
		a.arp.Close()
		return nil, fmt.Errorf("announcer: ICMPv6 socket on %s: %w", ifname, err)
	}
	// The file stays tied to this namespace, wherever Announce runs.
	a.fwd, _ = os.Open("/proc/sys/net/ipv6/conf/" + ifi.Name + "/forwarding")
	return a, nil
}

func listenICMPv6(ifi *net.Interface) (*ipv6.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), ifi.Name) }); err != nil {
			return err
		}
		return serr
	}}
	c, err := lc.ListenPacket(context.Background(), "ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, err
	}
	pc := ipv6.NewPacketConn(c)
	var f ipv6.ICMPFilter
	f.SetAll(true)
	err = errors.Join(
		pc.SetICMPFilter(&f),
		pc.SetMulticastHopLimit(255), // RFC 4861 §7.1.2: hop limit 255
		pc.SetHopLimit(255),
		pc.SetMulticastLoopback(false),
		pc.SetMulticastInterface(ifi),
	)
	if err != nil {
		c.Close()
		return nil, err
	}
	return pc, nil
}

// Interface is the interface announcements go out on.
func (a *Announcer) Interface() *net.Interface { return a.ifi }

// Announce sends one gratuitous ARP (IPv4 vip) or one unsolicited
// neighbour advertisement (IPv6 vip, sent from the VIP, which must be
// configured on the interface and not tentative: AddVIP uses nodad).
func (a *Announcer) Announce(vip netip.Addr) error {
	vip = vip.Unmap()
	if vip.Is4() {
		f, err := garpFrame(a.ifi.HardwareAddr, vip)
		if err != nil {
			return err
		}
		if _, err := a.arp.WriteTo(f, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
			return fmt.Errorf("send gratuitous ARP for %v on %s: %w", vip, a.ifi.Name, err)
		}
		return nil
	}
	b, err := unsolicitedNA(a.ifi.HardwareAddr, vip, a.router())
	if err != nil {
		return err
	}
	cm := &ipv6.ControlMessage{Src: vip.AsSlice(), IfIndex: a.ifi.Index, HopLimit: 255}
	// Numeric zone: a name would be looked up in the caller's namespace.
	dst := &net.IPAddr{IP: AllNodes.AsSlice(), Zone: strconv.Itoa(a.ifi.Index)}
	if _, err := a.na.WriteTo(b, cm, dst); err != nil {
		return fmt.Errorf("send neighbour advertisement for %v on %s: %w", vip, a.ifi.Name, err)
	}
	return nil
}

// router reports whether the interface forwards IPv6: keepalived 2.2.7
// then sets the Router flag in its NAs (seen in the lab with
// net.ipv6.conf.all.forwarding=1; RFC 4861 §4.4).
func (a *Announcer) router() bool {
	if a.fwd == nil {
		return false
	}
	var b [1]byte
	n, err := a.fwd.ReadAt(b[:], 0)
	return n == 1 && err == nil && b[0] == '1'
}

// Close closes the sockets.
func (a *Announcer) Close() error {
	err := errors.Join(a.arp.Close(), a.na.Close())
	if a.fwd != nil {
		err = errors.Join(err, a.fwd.Close())
	}
	return err
}
