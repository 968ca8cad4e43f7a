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
	// want is the Reconciler's own copy of desired, in key order: the
	// diff walks it, and it becomes the known state if all goes well.
	want := desired.Sorted()
	actual = actual.ordered()
	var errs []error
	failed := map[ServiceKey]bool{}
	n := 0
	if b, ok := r.k.(BatchApplier); ok {
		n, errs = r.applyBatched(ctx, b, want, actual, failed)
	} else {
		var ops []Op
		add := func(op Op) bool {
			ops = append(ops, op)
			return true
		}
		diffOrdered(want, actual, r.owned, add, add)
		errs = r.applyEach(ctx, ops, failed, &n)
	}
	// A desired service that needed no op is taken over all the same.
	for _, s := range want {
		if !failed[s.Key] {
			r.owned[s.Key] = true
		}
	}
	if len(errs) > 0 {
		return n, errors.Join(errs...)
	}
	// Every op went through: the owned services are now exactly desired.
	r.known = want
	return n, nil
}

// applyEach applies ops one by one through Apply, counting the applied
// ones in *n.
func (r *Reconciler) applyEach(ctx context.Context, ops []Op, failed map[ServiceKey]bool, n *int) []error {
	var errs []error
	for _, op := range ops {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("IPVS reconcile stopped after %d of %d ops: %w", *n, len(ops), err))
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
		*n++
		r.owns(op)
	}
	return errs
}

// owns records what an applied op did to the set of owned services. Only
// service ops matter: a destination op is about a desired service, which
// apply takes over anyway.
func (r *Reconciler) owns(op Op) {
	switch op.Kind {
	case DelService:
		delete(r.owned, op.Service.Key)
	case AddService, EditService:
		r.owned[op.Service.Key] = true
	}
}

// destChunk is how many destination ops applyBatched hands to
// ApplyBatch at a time: a multiple of the Kernel's batch, small enough
// that a sync from empty reuses one buffer rather than building all
// 110,000 ops of a 10k×10 table (20 MB, slow to touch in a VM).
const destChunk = 4 * batchOps

// applyBatched diffs want against actual and applies the ops through b
// in two passes: first every service op, then the destination ops of the
// services that did not fail to be added, in chunks. Within each, Diff's
// order holds; a service's own op still comes before its destinations'.
// The split keeps "a service that could not be added gets no
// destinations": within one batch the kernel would already have taken
// them, into a service of the same key that someone else created. When
// the diff has a single op, it goes through Apply.
func (r *Reconciler) applyBatched(ctx context.Context, b BatchApplier, want, actual Table, failed map[ServiceKey]bool) (int, []error) {
	var svcOps []Op
	if len(actual) == 0 {
		svcOps = make([]Op, 0, len(want))
	}
	diffOrdered(want, actual, r.owned, func(op Op) bool {
		svcOps = append(svcOps, op)
		return true
	}, nil)
	var errs []error
	n := 0
	stopped := func(err error) []error {
		// The total is counted only now, for the message.
		total := 0
		count := func(Op) bool { total++; return true }
		diffOrdered(want, actual, r.owned, count, count)
		return append(errs, fmt.Errorf("IPVS reconcile stopped after %d of %d ops: %w", n, total, err))
	}
	if len(svcOps) == 1 {
		// A single op, or a service op and destination ops: peek.
		single := true
		diffOrdered(want, actual, r.owned, nil, func(Op) bool { single = false; return false })
		if single {
			return n, r.applyEach(ctx, svcOps, failed, &n)
		}
	}
	run := func(batch []Op) error {
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
			r.owns(op)
		}
		return err
	}
	if len(svcOps) > 0 {
		if err := run(svcOps); err != nil {
			return n, stopped(err)
		}
	}
	chunk := make([]Op, 0, destChunk)
	var err error
	diffOrdered(want, actual, r.owned, nil, func(op Op) bool {
		if failed[op.Service.Key] {
			return true
		}
		chunk = append(chunk, op)
		if len(chunk) < cap(chunk) {
			return true
		}
		err = run(chunk)
		chunk = chunk[:0]
		return err == nil
	})
	if err == nil && len(chunk) > 0 {
		if len(chunk) == 1 && n == 0 && len(errs) == 0 && len(svcOps) == 0 {
			// The whole diff is one destination op: Apply.
			return n, r.applyEach(ctx, chunk, failed, &n)
		}
		err = run(chunk)
	}
	if err != nil {
		return n, stopped(err)
	}
	return n, errs
}
