package ipvs

import (
	"context"
	"errors"
	"slices"
)

var (
	errExist   = errors.New("fake: exists")
	errMissing = errors.New("fake: no such object")
)

// fakeKernel is an in-memory IPVS table with the kernel's add/edit/delete
// semantics. It records every op applied and can be told to fail some.
type fakeKernel struct {
	table   Table
	applied []Op
	fail    func(Op) error
	reads   int
}

func (f *fakeKernel) Read(ctx context.Context) (Table, error) {
	f.reads++
	return slices.Clone(f.table).Sorted(), nil
}

func (f *fakeKernel) Apply(ctx context.Context, op Op) error {
	if f.fail != nil {
		if err := f.fail(op); err != nil {
			return &OpError{Op: op, Err: err}
		}
	}
	if err := f.apply(op); err != nil {
		return &OpError{Op: op, Err: err}
	}
	f.applied = append(f.applied, op)
	return nil
}

func (f *fakeKernel) apply(op Op) error {
	i := slices.IndexFunc(f.table, func(s Service) bool { return s.Key == op.Service.Key })
	switch op.Kind {
	case AddService:
		if i >= 0 {
			return errExist
		}
		f.table = append(f.table, bare(op.Service))
		return nil
	}
	if i < 0 {
		return errMissing
	}
	s := &f.table[i]
	switch op.Kind {
	case EditService:
		dests := s.Dests
		*s = bare(op.Service)
		s.Dests = dests
		return nil
	case DelService:
		f.table = slices.Delete(f.table, i, i+1)
		return nil
	}
	j := slices.IndexFunc(s.Dests, func(d Destination) bool { return d.Key() == op.Dest.Key() })
	switch {
	case op.Kind == AddDest && j >= 0:
		return errExist
	case op.Kind == AddDest:
		s.Dests = append(s.Dests, op.Dest)
	case j < 0:
		return errMissing
	case op.Kind == EditDest:
		s.Dests[j] = op.Dest
	case op.Kind == DelDest:
		s.Dests = slices.Delete(s.Dests, j, j+1)
	}
	return nil
}

// fakeBatchKernel is a fakeKernel that also takes ops in batches, as
// *Kernel does; it records each batch's ops.
type fakeBatchKernel struct {
	fakeKernel
	batches [][]Op
	// stopAfter, when > 0, ends ApplyBatch with errStopped after that
	// many ops in all, as a failed socket would.
	stopAfter int
}

var errStopped = errors.New("fake: transport failed")

func (f *fakeBatchKernel) ApplyBatch(ctx context.Context, ops []Op) ([]error, error) {
	f.batches = append(f.batches, slices.Clone(ops))
	errs := make([]error, 0, len(ops))
	for _, op := range ops {
		if f.stopAfter > 0 && len(f.applied) >= f.stopAfter {
			return errs, errStopped
		}
		errs = append(errs, f.Apply(ctx, op))
	}
	return errs, nil
}
