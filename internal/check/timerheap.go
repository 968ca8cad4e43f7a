package check

import "time"

// timerHeap orders the schedulers' items by due time: the worker pool's
// entries and the TCP loop's targets, each known by an id, its index in
// its owner's slice. Make it with newTimerHeap.
//
// The heap touches no item: each due time is kept beside its id in the
// heap's own array, as nanoseconds since base, and each id's position in
// a dense array of its own. The heap is 4-ary, so that the four children
// of a node share a cache line and a sift crosses half the levels of a
// binary heap. At 10,000 TCP_CHECKs, a container/heap of the items
// themselves, comparing their time.Time fields and storing each one's
// index in it, took 5% of the TCP loop's CPU, mostly cache misses on the
// items.
type timerHeap struct {
	base  time.Time
	slots []timerSlot
	pos   []int32 // by id: index in slots, -1 when not in the heap
}

type timerSlot struct {
	at int64 // due time, nanoseconds since base
	id int32
}

const timerArity = 4

// newTimerHeap returns an empty heap for ids 0 to n-1. Due times are kept
// relative to base, which should have a monotonic clock reading
// (time.Now()).
func newTimerHeap(n int, base time.Time) *timerHeap {
	h := &timerHeap{base: base, slots: make([]timerSlot, 0, n), pos: make([]int32, n)}
	for i := range h.pos {
		h.pos[i] = -1
	}
	return h
}

func (h *timerHeap) key(due time.Time) int64 { return int64(due.Sub(h.base)) }

// len returns how many ids the heap holds.
func (h *timerHeap) len() int { return len(h.slots) }

// first returns the id due first and its due time; the heap must not be
// empty.
func (h *timerHeap) first() (int, time.Time) {
	s := h.slots[0]
	return int(s.id), h.base.Add(time.Duration(s.at))
}

// firstDue returns the id due first if it is due at or before now.
func (h *timerHeap) firstDue(now time.Time) (int, bool) {
	if len(h.slots) == 0 || h.slots[0].at > h.key(now) {
		return -1, false
	}
	return int(h.slots[0].id), true
}

// push adds id, which must not be in the heap, due at due.
func (h *timerHeap) push(id int, due time.Time) {
	h.slots = append(h.slots, timerSlot{})
	h.up(len(h.slots)-1, timerSlot{at: h.key(due), id: int32(id)})
}

// pop removes and returns the id due first; the heap must not be empty.
func (h *timerHeap) pop() int {
	top := h.slots[0].id
	n := len(h.slots) - 1
	last := h.slots[n]
	h.slots = h.slots[:n]
	if n > 0 {
		h.down(0, last)
	}
	h.pos[top] = -1
	return int(top)
}

// fix moves id, which must be in the heap, to its place for due.
func (h *timerHeap) fix(id int, due time.Time) {
	i := int(h.pos[id])
	s := timerSlot{at: h.key(due), id: int32(id)}
	if i > 0 && h.slots[(i-1)/timerArity].at > s.at {
		h.up(i, s)
	} else {
		h.down(i, s)
	}
}

// up places s at the hole i or above it, moving down the parents due
// after it.
func (h *timerHeap) up(i int, s timerSlot) {
	for i > 0 {
		p := (i - 1) / timerArity
		if h.slots[p].at <= s.at {
			break
		}
		h.slots[i] = h.slots[p]
		h.pos[h.slots[i].id] = int32(i)
		i = p
	}
	h.slots[i] = s
	h.pos[s.id] = int32(i)
}

// down places s at the hole i or below it, moving up the children due
// before it.
func (h *timerHeap) down(i int, s timerSlot) {
	n := len(h.slots)
	for {
		c := timerArity*i + 1
		if c >= n {
			break
		}
		m := c
		for j := c + 1; j < min(c+timerArity, n); j++ {
			if h.slots[j].at < h.slots[m].at {
				m = j
			}
		}
		if h.slots[m].at >= s.at {
			break
		}
		h.slots[i] = h.slots[m]
		h.pos[h.slots[i].id] = int32(i)
		i = m
	}
	h.slots[i] = s
	h.pos[s.id] = int32(i)
}
