package daemon

import (
	"context"
	"errors"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/vigil-ha/vigil/internal/vrrp"
)

// LinuxEdges opens real raw sockets, netlink handles and ARP/NA sockets in
// the calling process's network namespace.
type LinuxEdges struct{}

// Open implements Edges.
func (LinuxEdges) Open(ctx context.Context, cc vrrp.ConnConfig) (InstanceEdges, error) {
	conn, err := vrrp.ListenConn(ctx, cc)
	if err != nil {
		return InstanceEdges{}, err
	}
	h, err := netlink.NewHandle()
	if err != nil {
		conn.Close()
		return InstanceEdges{}, err
	}
	e := InstanceEdges{Conn: conn, Addrs: vrrp.NewAddrs(h), Src: conn.Src()}
	ann, err := vrrp.ListenAnnouncer(cc.Interface)
	if err != nil {
		conn.Close()
		h.Close()
		return InstanceEdges{}, err
	}
	e.Announce = ann
	e.Close = func() error {
		h.Close()
		return errors.Join(conn.Close(), ann.Close())
	}
	return e, nil
}

// WatchLinks implements Edges with an rtnetlink subscription.
func (LinuxEdges) WatchLinks(ctx context.Context, names []string, events chan<- vrrp.LinkEvent) error {
	return vrrp.NewLinkWatcher(netns.None(), names...).Run(ctx, events)
}
