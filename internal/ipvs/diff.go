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
	var ops []Op
	if len(actual) == 0 {
		// A sync from empty: room for every op without regrowing (a
		// 10k×10 table makes 110,000).
		ops = make([]Op, 0, len(desired)+countDests(desired))
	}
	add := func(op Op) bool {
		ops = append(ops, op)
		return true
	}
	diffOrdered(desired, actual, owned, add, add)
	if len(ops) == 0 {
		return nil
	}
	return ops
}

// diffOrdered is Diff over tables already in key order (Table.ordered):
// it passes the service ops to svc and the destination ops to dst, each
// in Diff's order; the same function for both gets exactly Diff's ops.
// A nil svc or dst skips those ops (the destination comparisons are not
// even made). It stops, returning false, when svc or dst does. It walks
// both tables side by side, with no maps: an unchanged table costs
// comparisons and no allocation.
func diffOrdered(desired, actual Table, owned map[ServiceKey]bool, svc, dst func(Op) bool) bool {
	// Owned services no longer desired go first.
	if len(owned) > 0 && svc != nil {
		i := 0
		for _, a := range actual {
			for i < len(desired) && desired[i].Key.compare(a.Key) < 0 {
				i++
			}
			if (i == len(desired) || desired[i].Key != a.Key) && owned[a.Key] {
				if !svc(Op{Kind: DelService, Service: bare(a)}) {
					return false
				}
			}
		}
	}
	j := 0
	for i := range desired {
		s := &desired[i]
		for j < len(actual) && actual[j].Key.compare(s.Key) < 0 {
			j++
		}
		if j == len(actual) || actual[j].Key != s.Key {
			op := Op{Kind: AddService, Service: bare(*s)}
			if svc != nil && !svc(op) {
				return false
			}
			if dst != nil {
				for _, d := range s.Dests {
					op.Kind, op.Dest = AddDest, d
					if !dst(op) {
						return false
					}
				}
			}
			continue
		}
		cur := &actual[j]
		if svc != nil && !sameSettings(s, cur) && !svc(Op{Kind: EditService, Service: bare(*s)}) {
			return false
		}
		if dst != nil && !diffDests(s, cur.Dests, dst) {
			return false
		}
	}
	return true
}

// diffDests passes the destination ops of service s, whose kernel
// destinations are actual, both in key order, to dst: deletes first (a
// destination's slot, and its connections' weight, is gone before new
// ones join), then edits, then adds. It returns false if dst did.
func diffDests(s *Service, actual []Destination, dst func(Op) bool) bool {
	if slices.Equal(s.Dests, actual) {
		return true
	}
	for _, kind := range [...]OpKind{DelDest, EditDest, AddDest} {
		i, j := 0, 0
		for i < len(s.Dests) || j < len(actual) {
			c := 0
			switch {
			case i == len(s.Dests):
				c = 1
			case j == len(actual):
				c = -1
			default:
				c = s.Dests[i].Key().compare(actual[j].Key())
			}
			ok := true
			switch {
			case c > 0: // only in the kernel
				if kind == DelDest {
					ok = dst(Op{Kind: DelDest, Service: bare(*s), Dest: actual[j]})
				}
				j++
			case c < 0: // only desired
				if kind == AddDest {
					ok = dst(Op{Kind: AddDest, Service: bare(*s), Dest: s.Dests[i]})
				}
				i++
			default:
				if kind == EditDest && s.Dests[i] != actual[j] {
					ok = dst(Op{Kind: EditDest, Service: bare(*s), Dest: s.Dests[i]})
				}
				i, j = i+1, j+1
			}
			if !ok {
				return false
			}
		}
	}
	return true
}

func countDests(t Table) int {
	n := 0
	for i := range t {
		n += len(t[i].Dests)
	}
	return n
}

// bare returns the service without its destinations, as ops carry it.
func bare(s Service) Service {
	s.Dests = nil
	return s
}

// sameSettings compares what EditService can change. Granularity equal
// to the full address length is the same as 0, as the kernel stores both
// as the full netmask.
func sameSettings(a, b *Service) bool {
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
