package ipvs

import (
	"slices"
	"strconv"
)

// OpKind is what an Op does to the kernel table.
type OpKind uint8

// Operation kinds; each is one netlink request.
const (
	AddService OpKind = iota + 1
	EditService
	DelService
	AddDest
	EditDest
	DelDest
)

func (k OpKind) String() string {
	switch k {
	case AddService:
		return "add service"
	case EditService:
		return "edit service"
	case DelService:
		return "delete service"
	case AddDest:
		return "add destination"
	case EditDest:
		return "edit destination"
	case DelDest:
		return "delete destination"
	}
	return "op(" + strconv.Itoa(int(k)) + ")"
}

// Op is one change to the kernel table. Service carries the whole desired
// service settings (its Dests are not used); Dest is set for destination
// operations.
type Op struct {
	Kind    OpKind
	Service Service
	Dest    Destination
}

// String describes the op for logs and golden files, e.g.
// "edit destination 10.0.1.1:80 in TCP 10.0.0.1:80 fwd=nat weight=5".
func (o Op) String() string {
	switch o.Kind {
	case AddService, EditService:
		return o.Kind.String() + " " + o.Service.Key.String() + o.Service.attrs()
	case DelService:
		return o.Kind.String() + " " + o.Service.Key.String()
	case AddDest, EditDest:
		return o.Kind.String() + " " + o.Dest.Key().String() + " in " + o.Service.Key.String() + o.Dest.attrs()
	case DelDest:
		return o.Kind.String() + " " + o.Dest.Key().String() + " in " + o.Service.Key.String()
	}
	return o.Kind.String()
}

// Object names what the op touches, as operators know it: the service
// ("TCP 10.0.0.1:80", "FWM 7") and, for destination ops, the real server.
func (o Op) Object() string {
	switch o.Kind {
	case AddDest, EditDest, DelDest:
		return "real server " + o.Dest.Key().String() + " of virtual server " + o.Service.Key.String()
	}
	return "virtual server " + o.Service.Key.String()
}

// Diff returns the operations that make actual look like desired, fewest
// first in this order: deletion of owned services that are no longer
// desired, then, per desired service in key order, its add or edit
// followed by destination deletes, edits and adds.
//
// Services in actual that are not desired are deleted only when owned
// holds their key: vigil leaves alone what others configured. A desired
// service is vigil's entirely: destinations it does not list are removed.
// Deleting a service removes its destinations with it, so that is one op.
// A change of settings is one edit (a weight change is one op), never a
// delete and add. Both tables must be valid (Table.Validate).
func Diff(desired, actual Table, owned map[ServiceKey]bool) []Op {
	desired, actual = desired.ordered(), actual.ordered()
	want := make(map[ServiceKey]bool, len(desired))
	for _, s := range desired {
		want[s.Key] = true
	}
	have := make(map[ServiceKey]*Service, len(actual))
	// Room for a sync from empty without regrowing: a 10k×10 table
	// makes 110,000 ops.
	size := len(desired)
	for _, s := range desired {
		size += len(s.Dests)
	}
	ops := make([]Op, 0, size)
	for i := range actual {
		s := &actual[i]
		have[s.Key] = s
		if !want[s.Key] && owned[s.Key] {
			ops = append(ops, Op{Kind: DelService, Service: bare(*s)})
		}
	}
	for _, s := range desired {
		cur := have[s.Key]
		if cur == nil {
			ops = append(ops, Op{Kind: AddService, Service: bare(s)})
			for _, d := range s.Dests {
				ops = append(ops, Op{Kind: AddDest, Service: bare(s), Dest: d})
			}
			continue
		}
		if !sameSettings(s, *cur) {
			ops = append(ops, Op{Kind: EditService, Service: bare(s)})
		}
		ops = append(ops, diffDests(s, cur.Dests)...)
	}
	if len(ops) == 0 {
		return nil
	}
	return ops
}

func diffDests(s Service, actual []Destination) []Op {
	want := make(map[DestKey]Destination, len(s.Dests))
	for _, d := range s.Dests {
		want[d.Key()] = d
	}
	have := make(map[DestKey]Destination, len(actual))
	var del, edit, add []Op
	for _, d := range actual {
		have[d.Key()] = d
		if _, ok := want[d.Key()]; !ok {
			del = append(del, Op{Kind: DelDest, Service: bare(s), Dest: d})
		}
	}
	for _, d := range s.Dests {
		cur, ok := have[d.Key()]
		switch {
		case !ok:
			add = append(add, Op{Kind: AddDest, Service: bare(s), Dest: d})
		case cur != d:
			edit = append(edit, Op{Kind: EditDest, Service: bare(s), Dest: d})
		}
	}
	// Deletes first: a destination's slot (and its connections' weight)
	// is gone before new ones join.
	return slices.Concat(del, edit, add)
}

// bare returns the service without its destinations, as ops carry it.
func bare(s Service) Service {
	s.Dests = nil
	return s
}

// sameSettings compares what EditService can change. Granularity equal
// to the full address length is the same as 0, as the kernel stores both
// as the full netmask.
func sameSettings(a, b Service) bool {
	ga, gb := a.Persistence.Granularity, b.Persistence.Granularity
	if full := a.Key.Family.bits(); ga == full {
		ga = 0
	}
	if full := b.Key.Family.bits(); gb == full {
		gb = 0
	}
	return a.Scheduler == b.Scheduler &&
		a.SchedFlags == b.SchedFlags &&
		a.OnePacket == b.OnePacket &&
		a.Persistence.Timeout == b.Persistence.Timeout &&
		ga == gb &&
		a.Persistence.Engine == b.Persistence.Engine
}
