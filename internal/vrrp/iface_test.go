package vrrp

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestLinkTracker feeds rtnetlink-like link messages through the tracker
// and checks which become events: first sight, changes of admin state or
// carrier, deletion, never repeats; other interfaces are filtered out.
func TestLinkTracker(t *testing.T) {
	const up, running = iffUp, iffRunning
	type msg struct {
		index   int
		name    string
		flags   uint32
		deleted bool
	}
	msgs := []msg{
		{2, "eth0", up | running, false}, // first sight: event
		{2, "eth0", up | running, false}, // statistics update: nothing
		{3, "eth1", up | running, false}, // not watched
		{2, "eth0", up, false},           // carrier lost
		{2, "eth0", 0, false},            // admin down
		{2, "eth0", 0, false},            // nothing
		{2, "eth0", up | running, false}, // back
		{2, "eth0", 0, true},             // deleted
		{2, "eth0", 0, true},             // deleted again: nothing
		{4, "eth0", up, false},           // recreated with a new index
	}
	tr := newLinkTracker([]string{"eth0"})
	var got []LinkEvent
	for _, m := range msgs {
		ev := linkEventFromFlags(m.index, m.name, m.flags, m.deleted)
		if tr.update(ev) {
			got = append(got, ev)
		}
	}
	want := []LinkEvent{
		{Index: 2, Name: "eth0", AdminUp: true, Carrier: true, Up: true},
		{Index: 2, Name: "eth0", AdminUp: true},
		{Index: 2, Name: "eth0"},
		{Index: 2, Name: "eth0", AdminUp: true, Carrier: true, Up: true},
		{Index: 2, Name: "eth0", Deleted: true},
		{Index: 4, Name: "eth0", AdminUp: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// A rename away from a watched name is still reported.
	tr = newLinkTracker([]string{"eth0"})
	tr.update(linkEventFromFlags(2, "eth0", up|running, false))
	if !tr.update(linkEventFromFlags(2, "wan0", up|running, false)) {
		t.Error("rename of a watched interface not reported")
	}
	// No names: everything.
	tr = newLinkTracker(nil)
	if !tr.update(linkEventFromFlags(7, "anything", 0, false)) {
		t.Error("tracker without names dropped an interface")
	}
}
