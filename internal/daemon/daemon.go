package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/vigil-ha/vigil/internal/conf"
	"github.com/vigil-ha/vigil/internal/vrrp"
)

// Options are the daemon's command-line switches.
type Options struct {
	// KeepVIPs leaves VIPs in place on stop (keepalived -V).
	KeepVIPs bool
	// Notifier receives state changes; nil for none.
	Notifier vrrp.Notifier
}

// Edges opens the per-instance sockets and handles. The Linux
// implementation is in edges_linux.go; tests pass fakes.
type Edges interface {
	// Open returns the instance's connection, address manager and
	// announcer (the last two may be nil), and the advert source.
	Open(ctx context.Context, p vrrp.ConnConfig) (InstanceEdges, error)
	// WatchLinks sends the state of the named interfaces, then each
	// change, until ctx is done.
	WatchLinks(ctx context.Context, names []string, events chan<- vrrp.LinkEvent) error
}

// InstanceEdges are one instance's sockets and handles.
type InstanceEdges struct {
	Conn     vrrp.PacketConn
	Addrs    vrrp.AddrManager
	Announce vrrp.AddrAnnouncer
	Src      netip.Addr
	Close    func() error
}

// Daemon runs the VRRP instances of one configuration.
type Daemon struct {
	log   *slog.Logger
	opts  Options
	edges Edges
	plans []instancePlan
	agg   *trackAgg

	mu      sync.Mutex
	runners []*vrrp.Runner
}

// New checks cfg and plans its instances; nothing runs until Run.
func New(cfg *conf.Config, edges Edges, opts Options, log *slog.Logger) (*Daemon, error) {
	plans, err := planVRRP(cfg)
	if err != nil {
		return nil, err
	}
	return &Daemon{log: log, opts: opts, edges: edges, plans: plans, agg: newTrackAgg(cfg)}, nil
}

// Runners returns the running instances (for status and metrics).
func (d *Daemon) Runners() []*vrrp.Runner {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*vrrp.Runner(nil), d.runners...)
}

// Run starts every instance and returns when ctx is done and every
// instance has shut down (priority-0 adverts sent, VIPs removed), or when
// an instance fails.
func (d *Daemon) Run(ctx context.Context, ready func()) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	// fail stops what already runs before returning a start-up error.
	fail := func(err error) error {
		cancel()
		_ = g.Wait()
		return err
	}
	var closers []func() error
	defer func() {
		for _, c := range closers {
			if c != nil {
				_ = c()
			}
		}
	}()
	for _, p := range d.plans {
		for _, w := range p.Warnings {
			d.log.Warn(w)
		}
		e, err := d.edges.Open(ctx, p.Conn)
		if err != nil {
			return fail(fmt.Errorf("(%s) %w", p.Name, err))
		}
		closers = append(closers, e.Close)
		deps := vrrp.RunnerDeps{Conn: e.Conn, Addrs: e.Addrs, Announce: e.Announce, Notify: d.opts.Notifier}
		if d.opts.KeepVIPs {
			deps.Addrs = keepOnStop{e.Addrs}
		}
		rlog := d.log.With("instance", p.Name, "vrid", p.Runner.Instance.VRID, "iface", p.Conn.Interface)
		r, err := vrrp.NewRunner(p.withSource(e.Src), deps, rlog)
		if err != nil {
			return fail(fmt.Errorf("(%s) %w", p.Name, err))
		}
		d.mu.Lock()
		d.runners = append(d.runners, r)
		d.mu.Unlock()
		g.Go(func() error { return r.Run(gctx) })
	}
	if len(d.plans) == 0 {
		d.log.Warn("no vrrp_instance configured: nothing to do for VRRP")
	} else {
		d.runTracking(gctx, g)
	}
	if ready != nil {
		ready()
	}
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// keepOnStop implements -V: VIPs are added but never removed.
type keepOnStop struct{ vrrp.AddrManager }

func (k keepOnStop) DelVIP(context.Context, vrrp.VIP) error { return nil }

func (k keepOnStop) DelRoute(context.Context, vrrp.VirtualRoute) error { return nil }

// runTracking starts the goroutines that watch tracked objects and feed
// each instance its tracking total.
func (d *Daemon) runTracking(ctx context.Context, g *errgroup.Group) {
	byName := map[string]*vrrp.Runner{}
	for _, r := range d.Runners() {
		byName[r.Name()] = r
	}
	links := make(chan vrrp.LinkEvent, 16)
	if names := d.agg.interfaces(); len(names) > 0 {
		g.Go(func() error { return d.edges.WatchLinks(ctx, names, links) })
	}
	g.Go(func() error {
		for {
			select {
			case <-ctx.Done():
				return nil
			case ev := <-links:
				if ev.Deleted {
					ev.Up = false
				}
				d.log.Info(fmt.Sprintf("Netlink reports %s %s", ev.Name, upDown(ev.Up)))
				for inst, tc := range d.agg.setIface(ev.Name, ev.Up) {
					if r := byName[inst]; r != nil {
						r.Track(ctx, tc)
					}
				}
			}
		}
	})
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}
