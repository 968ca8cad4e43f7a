package check

import (
	"testing"
	"time"
)

// heapModel is what a timerHeap must behave as: a due time per id, the
// first being the earliest.
type heapModel map[int]int64

// runHeapOps applies ops to a timerHeap of n ids and to a model, each op
// a pair of bytes (kind, argument): push an id that is not in the heap,
// pop, or fix an id that is, to a due time from the argument (so that
// ties are common). After each op the heap must hold what the model does,
// its order and positions intact, and pop must return an earliest id.
func runHeapOps(t *testing.T, n int, ops []byte) {
	t.Helper()
	base := time.Now()
	h := newTimerHeap(n, base)
	model := heapModel{}
	at := func(b byte) time.Time { return base.Add(time.Duration(b%16) * time.Millisecond) }
	for k := 0; k+1 < len(ops); k += 2 {
		kind, arg := ops[k]%3, ops[k+1]
		switch {
		case kind == 0 && len(model) < n:
			id := int(arg) % n
			for model[id] != 0 {
				id = (id + 1) % n
			}
			h.push(id, at(arg))
			model[id] = int64(at(arg).Sub(base)) + 1 // +1: 0 means absent
		case kind == 1 && len(model) > 0:
			id, due := h.first()
			want := int64(due.Sub(base)) + 1
			if model[id] != want {
				t.Fatalf("op %d: first() = id %d due %v, model has it due %v", k/2, id, want-1, model[id]-1)
			}
			for mid, mdue := range model {
				if mdue < want {
					t.Fatalf("op %d: first() = id %d due %v, but id %d is due %v", k/2, id, want-1, mid, mdue-1)
				}
			}
			if got := h.pop(); got != id {
				t.Fatalf("op %d: pop() = %d, first() said %d", k/2, got, id)
			}
			delete(model, id)
		case kind == 2 && len(model) > 0:
			id := int(arg) % n
			for model[id] == 0 {
				id = (id + 1) % n
			}
			due := at(arg / 16)
			h.fix(id, due)
			model[id] = int64(due.Sub(base)) + 1
		}
		checkHeap(t, h, model, n)
	}
}

// checkHeap checks h's shape against model: the same ids and due times,
// each parent due no later than its children, and pos the inverse of the
// slots.
func checkHeap(t *testing.T, h *timerHeap, model heapModel, n int) {
	t.Helper()
	if h.len() != len(model) {
		t.Fatalf("heap holds %d ids, model %d", h.len(), len(model))
	}
	for i, s := range h.slots {
		if model[int(s.id)] != s.at+1 {
			t.Fatalf("slot %d: id %d due %v, model has it due %v", i, s.id, s.at, model[int(s.id)]-1)
		}
		if int(h.pos[s.id]) != i {
			t.Fatalf("slot %d holds id %d, whose pos is %d", i, s.id, h.pos[s.id])
		}
		if p := (i - 1) / timerArity; i > 0 && h.slots[p].at > s.at {
			t.Fatalf("slot %d (due %v) is below slot %d, due later (%v)", i, s.at, p, h.slots[p].at)
		}
	}
	for id := range n {
		if _, in := model[id]; !in && h.pos[id] != -1 {
			t.Fatalf("id %d is not in the heap but its pos is %d", id, h.pos[id])
		}
	}
}

func TestTimerHeap(t *testing.T) {
	tests := []struct {
		name string
		n    int
		ops  []byte
	}{
		{"pop in due order", 4, []byte{0, 3, 0, 1, 0, 2, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0}},
		{"ties", 6, []byte{0, 16, 0, 32, 0, 48, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0}},
		{"fix the first later", 8, []byte{0, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 2, 0xf0, 1, 0, 1, 0}},
		{"fix the last earlier", 8, []byte{0, 9, 0, 10, 0, 11, 0, 12, 0, 13, 0, 14, 2, 5, 1, 0}},
		{"emptied and refilled", 2, []byte{0, 1, 1, 0, 1, 0, 0, 2, 0, 3, 0, 4, 1, 0, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runHeapOps(t, tc.n, tc.ops) })
	}
	t.Run("three levels", func(t *testing.T) {
		// 100 ids fill three levels of a 4-ary heap; ops from a
		// fixed generator push them all, move them about, pop them all.
		var ops []byte
		x := uint32(1)
		next := func() byte { x = x*1664525 + 1013904223; return byte(x >> 24) }
		for range 100 {
			ops = append(ops, 0, next())
		}
		for range 300 {
			ops = append(ops, 2, next())
		}
		for range 100 {
			ops = append(ops, 1, 0)
		}
		runHeapOps(t, 100, ops)
	})
}

// FuzzTimerHeap runs random operations on a timerHeap against its model.
func FuzzTimerHeap(f *testing.F) {
	f.Add(uint8(4), []byte{0, 3, 0, 1, 0, 2, 2, 0x30, 1, 0, 1, 0})
	f.Add(uint8(37), []byte{0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 2, 200, 2, 17, 1, 0, 0, 9, 1, 0})
	f.Fuzz(func(t *testing.T, n uint8, ops []byte) {
		runHeapOps(t, int(n)%64+1, ops)
	})
}
