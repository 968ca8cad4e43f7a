package lvs

import (
	"context"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigil-ha/vigil/internal/check"
	"github.com/vigil-ha/vigil/internal/ipvs"
)

// opCounts counts the IPVS ops the Manager sent to the kernel: those
// applied, by kind, and those the kernel refused.
type opCounts struct {
	applied [ipvs.DelDest + 1]atomic.Uint64
	failed  atomic.Uint64
}

// countingKernel is the Manager's kernel table: it counts every Apply.
type countingKernel struct {
	ipvs.KernelTable
	n *opCounts
}

func (k countingKernel) Apply(ctx context.Context, op ipvs.Op) error {
	err := k.KernelTable.Apply(ctx, op)
	switch {
	case err != nil:
		k.n.failed.Add(1)
	case int(op.Kind) < len(k.n.applied):
		k.n.applied[op.Kind].Add(1)
	}
	return err
}

// ApplyBatch forwards a batch to the kernel table when it batches (the
// Reconciler sends whole table syncs this way), counting each op as Apply
// does, and applies the ops one by one when it does not.
func (k countingKernel) ApplyBatch(ctx context.Context, ops []ipvs.Op) ([]error, error) {
	b, ok := k.KernelTable.(ipvs.BatchApplier)
	if !ok {
		errs := make([]error, 0, len(ops))
		for _, op := range ops {
			if err := ctx.Err(); err != nil {
				return errs, err
			}
			errs = append(errs, k.Apply(ctx, op))
		}
		return errs, nil
	}
	errs, err := b.ApplyBatch(ctx, ops)
	for i, e := range errs {
		switch op := ops[i]; {
		case e != nil:
			k.n.failed.Add(1)
		case int(op.Kind) < len(k.n.applied):
			k.n.applied[op.Kind].Add(1)
		}
	}
	return errs, err
}

// opLabel is the metrics label of an op kind: "add_service",
// "delete_destination", ...
func opLabel(k ipvs.OpKind) string { return strings.ReplaceAll(k.String(), " ", "_") }

// IPVSOps returns how many IPVS operations (netlink requests) the Manager
// has applied since New, by kind ("add_service", "edit_service",
// "delete_service", "add_destination", "edit_destination",
// "delete_destination"; every kind, zeros included), and how many the
// kernel refused (not counted in applied). Safe from any goroutine; the
// metrics package discovers it on its Source.
func (m *Manager) IPVSOps() (applied map[string]uint64, failed uint64) {
	applied = make(map[string]uint64, len(m.ops.applied))
	for k := ipvs.AddService; k <= ipvs.DelDest; k++ {
		applied[opLabel(k)] = m.ops.applied[k].Load()
	}
	return applied, m.ops.failed.Load()
}

// checkStats are one real server's probe counters, over all its checkers;
// they are kept across reloads while the real server stays.
type checkStats struct {
	runs, failures atomic.Uint64
	latency        atomic.Int64 // of the last probe, in ns
}

func (s *checkStats) observe(r check.Result) {
	s.runs.Add(1)
	if !r.OK {
		s.failures.Add(1)
	}
	s.latency.Store(int64(r.Latency))
}

func statsKey(r *Real) string { return r.Pool.id + "\x00" + r.cfgKey() }

// syncStats gives every real server of the plan its counters, keeping
// those of real servers already known and dropping those gone. Only the
// goroutine that owns the plan calls it.
func (m *Manager) syncStats() {
	nw := make(map[string]*checkStats)
	for _, p := range m.plan.Pools {
		for _, r := range p.Reals {
			k := statsKey(r)
			s := m.checks[k]
			if s == nil {
				s = &checkStats{}
			}
			nw[k] = s
		}
	}
	m.checks = nw
}

// onResult returns the scheduler's OnResult for p's targets.
func (m *Manager) onResult(p *Plan) func(int, check.Result) {
	byID := make([]*checkStats, len(p.Targets))
	for i, t := range p.Targets {
		byID[i] = m.checks[statsKey(t.Real)]
	}
	return func(id int, r check.Result) {
		if id < len(byID) && byID[id] != nil {
			byID[id].observe(r)
		}
	}
}

func (s *checkStats) load() (runs, failures uint64, latency time.Duration) {
	if s == nil {
		return 0, 0, 0
	}
	return s.runs.Load(), s.failures.Load(), time.Duration(s.latency.Load())
}
