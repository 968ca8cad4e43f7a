package ipvs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// KernelTable is the kernel edge a Reconciler drives: *Kernel on Linux, a
// recording fake in tests.
type KernelTable interface {
	// Read returns the whole current table.
	Read(ctx context.Context) (Table, error)
	// Apply performs one op; its error names the object (an *OpError).
	Apply(ctx context.Context, op Op) error
}

// BatchApplier is a KernelTable that can send many ops at once (*Kernel
// does: hundreds per netlink sendmsg). The Reconciler uses it when the
// KernelTable it was given has it; a wrapper that counts or filters Apply
// must forward ApplyBatch too, or the Reconciler applies op by op.
type BatchApplier interface {
	// ApplyBatch performs ops in order. It returns one entry per op it
	// processed, nil or the op's *OpError, and err when it stopped
	// before the end (ctx ended, or the transport failed: then the
	// state of the ops in flight is unknown).
	ApplyBatch(ctx context.Context, ops []Op) (errs []error, err error)
}

// OpError is a failed Op, naming the virtual server (and real server)
// it was about.
type OpError struct {
	Op  Op
	Err error
}

func (e *OpError) Error() string {
	verb := map[OpKind]string{AddService: "add", EditService: "edit", DelService: "delete",
		AddDest: "add", EditDest: "edit", DelDest: "delete"}[e.Op.Kind]
	return fmt.Sprintf("%s %s: %v", verb, e.Op.Object(), e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// Reconciler keeps the kernel table equal to a desired table while
// touching only the services it owns: those it created or took over.
// It is not safe for concurrent use; one goroutine owns it.
type Reconciler struct {
	k     KernelTable
	owned map[ServiceKey]bool
	// known is the kernel's state of the desired and owned services
	// after the last fully successful pass; nil when unknown.
	known Table
}

// NewReconciler returns a Reconciler over k that owns the given services
// (for example those recorded before a restart); nil owns none.
func NewReconciler(k KernelTable, owned []ServiceKey) *Reconciler {
	r := &Reconciler{k: k, owned: map[ServiceKey]bool{}}
	for _, key := range owned {
		r.owned[key] = true
	}
	return r
}

// Owned returns the keys of the services the Reconciler owns, sorted.
func (r *Reconciler) Owned() []ServiceKey {
	return slices.SortedFunc(maps.Keys(r.owned), ServiceKey.compare)
}

// Reconcile reads the kernel table, diffs it against desired and applies
// the ops. It returns the number of ops applied. Failed ops do not stop
// the others, except that a service that could not be added gets no
// destinations; all failures come back joined, as *OpError values.
func (r *Reconciler) Reconcile(ctx context.Context, desired Table) (int, error) {
	if err := desired.Validate(); err != nil {
		return 0, fmt.Errorf("invalid IPVS table: %w", err)
	}
	actual, err := r.k.Read(ctx)
	if err != nil {
		r.known = nil
		return 0, fmt.Errorf("read IPVS table: %w", err)
	}
	return r.apply(ctx, desired, actual)
}

// Update is Reconcile without reading the kernel table: it diffs desired
// against the state the last successful Reconcile or Update left, so a
// weight change costs one netlink request, not a dump of the whole table.
// It falls back to Reconcile when that state is unknown (first call, or
// any failure since). Changes made behind vigil's back are only seen by
// Reconcile, so callers should still run it now and then.
func (r *Reconciler) Update(ctx context.Context, desired Table) (int, error) {
	if r.known == nil {
		return r.Reconcile(ctx, desired)
	}
	if err := desired.Validate(); err != nil {
		return 0, fmt.Errorf("invalid IPVS table: %w", err)
	}
	return r.apply(ctx, desired, r.known)
}

func (r *Reconciler) apply(ctx context.Context, desired, actual Table) (int, error) {
	r.known = nil
	ops := Diff(desired, actual, r.owned)
	var errs []error
	failed := map[ServiceKey]bool{}
	n := 0
	if b, ok := r.k.(BatchApplier); ok && len(ops) > 1 {
		n, errs = r.applyBatched(ctx, b, ops, failed)
		ops = nil
	}
	for _, op := range ops {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("IPVS reconcile stopped after %d of %d ops: %w", n, len(ops), err))
			break
		}
		key := op.Service.Key
		if failed[key] {
			continue
		}
		if err := r.k.Apply(ctx, op); err != nil {
			errs = append(errs, err)
			if op.Kind == AddService {
				failed[key] = true
			}
			continue
		}
		n++
		switch op.Kind {
		case DelService:
			delete(r.owned, key)
		default:
			r.owned[key] = true
		}
	}
	// A desired service that needed no op is taken over all the same.
	for _, s := range desired {
		if !failed[s.Key] {
			r.owned[s.Key] = true
		}
	}
	if len(errs) > 0 {
		return n, errors.Join(errs...)
	}
	// Every op went through: the owned services are now exactly desired.
	r.known = desired.Sorted()
	return n, nil
}

// applyBatched applies ops through b in two batches: first every service
// op, then the destination ops of the services that did not fail to be
// added. Within each, Diff's order holds; a service's own op still comes
// before its destinations'. The split keeps "a service that could not be
// added gets no destinations": within one batch the kernel would already
// have taken them, into a service of the same key that someone else
// created.
func (r *Reconciler) applyBatched(ctx context.Context, b BatchApplier, ops []Op, failed map[ServiceKey]bool) (int, []error) {
	svcOps := make([]Op, 0, len(ops))
	for _, op := range ops {
		if !isDestOp(op.Kind) {
			svcOps = append(svcOps, op)
		}
	}
	var errs []error
	n := 0
	run := func(batch []Op) bool {
		results, err := b.ApplyBatch(ctx, batch)
		for i, e := range results {
			op := batch[i]
			if e != nil {
				errs = append(errs, e)
				if op.Kind == AddService {
					failed[op.Service.Key] = true
				}
				continue
			}
			n++
			if op.Kind == DelService {
				delete(r.owned, op.Service.Key)
			} else {
				r.owned[op.Service.Key] = true
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("IPVS reconcile stopped after %d of %d ops: %w", n, len(ops), err))
			return false
		}
		return true
	}
	if !run(svcOps) {
		return n, errs
	}
	destOps := make([]Op, 0, len(ops)-len(svcOps))
	for _, op := range ops {
		if isDestOp(op.Kind) && !failed[op.Service.Key] {
			destOps = append(destOps, op)
		}
	}
	run(destOps)
	return n, errs
}

func isDestOp(k OpKind) bool { return k == AddDest || k == EditDest || k == DelDest }
