package vrrp

// Interface flags from rtnetlink's ifinfomsg (linux/if.h). Kept here so
// the pure tracker needs no syscall package.
const (
	iffUp      = 0x1
	iffRunning = 0x40 // carrier and operational, as keepalived tests it
)

// LinkEvent is a change of an interface's usability for VRRP. keepalived
// puts an instance in FAULT when its interface is not both administratively
// up and running (carrier); Up is that conjunction.
type LinkEvent struct {
	Index   int
	Name    string
	AdminUp bool // IFF_UP
	Carrier bool // IFF_RUNNING
	Up      bool // AdminUp && Carrier
	Deleted bool // the interface is gone (RTM_DELLINK)
}

// linkEventFromFlags builds the event for one rtnetlink link message.
func linkEventFromFlags(index int, name string, flags uint32, deleted bool) LinkEvent {
	ev := LinkEvent{Index: index, Name: name, Deleted: deleted}
	if !deleted {
		ev.AdminUp = flags&iffUp != 0
		ev.Carrier = flags&iffRunning != 0
		ev.Up = ev.AdminUp && ev.Carrier
	}
	return ev
}

// linkTracker turns the stream of rtnetlink link messages (one for every
// attribute change, statistics included) into state changes: an event
// passes the first time an interface is seen and whenever AdminUp,
// Carrier, Deleted or its name change. With names set, only those
// interfaces pass.
type linkTracker struct {
	names map[string]bool
	last  map[int]LinkEvent
}

func newLinkTracker(names []string) *linkTracker {
	t := &linkTracker{last: make(map[int]LinkEvent)}
	if len(names) > 0 {
		t.names = make(map[string]bool, len(names))
		for _, n := range names {
			t.names[n] = true
		}
	}
	return t
}

// update reports whether ev is news.
func (t *linkTracker) update(ev LinkEvent) bool {
	prev, seen := t.last[ev.Index]
	if t.names != nil && !t.names[ev.Name] && !(seen && t.names[prev.Name]) {
		return false // neither is nor was one of ours
	}
	if ev.Deleted {
		delete(t.last, ev.Index)
		return seen
	}
	t.last[ev.Index] = ev
	return !seen || prev != ev
}
