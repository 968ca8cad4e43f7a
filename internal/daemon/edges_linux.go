package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vigil-ha/vigil/internal/vrrp"
)

// LinuxEdges opens real raw sockets, netlink handles and ARP/NA sockets in
// the calling process's network namespace. Instances on the same interface
// and with the same socket settings share one VRRP socket, and instances
// on one interface share its netlink handle and announcer.
type LinuxEdges struct {
	mu     sync.Mutex
	muxes  map[string]*mux          // by socket settings
	ifaces map[string]*ifaceHandles // by interface name
}

type ifaceHandles struct {
	h    *netlink.Handle
	ann  *vrrp.Announcer
	refs int
}

// NewLinuxEdges returns edges over the current network namespace.
func NewLinuxEdges() *LinuxEdges {
	return &LinuxEdges{muxes: map[string]*mux{}, ifaces: map[string]*ifaceHandles{}}
}

// connKey identifies sockets that can be shared: same interface, family,
// protocol, group, source, peers and TTL.
func connKey(cc vrrp.ConnConfig) string {
	return fmt.Sprintf("%s|%v|%d|%v|%v|%v|%d", cc.Interface, cc.Family, cc.Protocol, cc.Group, cc.Src, cc.Peers, cc.UnicastTTL)
}

// Open implements Edges. vrid selects the instance's packets on a shared
// socket.
func (e *LinuxEdges) Open(ctx context.Context, cc vrrp.ConnConfig, vrid uint8) (InstanceEdges, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := connKey(cc)
	m := e.muxes[key]
	var src = cc.Src
	if m == nil {
		conn, err := vrrp.ListenConn(ctx, cc)
		if err != nil {
			return InstanceEdges{}, err
		}
		m = newMux(conn)
		e.muxes[key] = m
	}
	if c, ok := m.conn.(*vrrp.Conn); ok {
		src = c.Src()
	}
	mc, err := m.attach(vrid)
	if err != nil {
		if m.nsubs == 0 {
			delete(e.muxes, key)
			_ = m.conn.Close()
		}
		return InstanceEdges{}, err
	}
	ih, err := e.ifaceLocked(cc.Interface)
	if err != nil {
		e.closeLocked(key, m, mc)
		return InstanceEdges{}, err
	}
	closeOnce := sync.OnceValue(func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		err := e.closeLocked(key, m, mc)
		ih.refs--
		if ih.refs == 0 {
			delete(e.ifaces, cc.Interface)
			ih.h.Close()
			err = errors.Join(err, ih.ann.Close())
		}
		return err
	})
	return InstanceEdges{Conn: mc, Addrs: vrrp.NewAddrs(ih.h), Announce: ih.ann, Src: src, Close: closeOnce}, nil
}

func (e *LinuxEdges) closeLocked(key string, m *mux, mc *muxConn) error {
	last, err := m.detach(mc)
	if last {
		delete(e.muxes, key)
	}
	return err
}

func (e *LinuxEdges) ifaceLocked(name string) (*ifaceHandles, error) {
	if ih := e.ifaces[name]; ih != nil {
		ih.refs++
		return ih, nil
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("netlink handle for %s: %w", name, err)
	}
	ann, err := vrrp.ListenAnnouncer(name)
	if err != nil {
		h.Close()
		return nil, err
	}
	ih := &ifaceHandles{h: h, ann: ann, refs: 1}
	e.ifaces[name] = ih
	return ih, nil
}

// WatchLinks implements Edges with an rtnetlink subscription.
func (e *LinuxEdges) WatchLinks(ctx context.Context, names []string, events chan<- vrrp.LinkEvent) error {
	return vrrp.NewLinkWatcher(netns.None(), names...).Run(ctx, events)
}
