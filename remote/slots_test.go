/*
A model test of the slot store (slots.go): random allocations, touches
and releases against a plain slice kept in last-seen order; after every
step the intrusive list, walked both ways, must equal the model; every 50
steps, every slot must be either in the list or on the free list; and
slots must be reused before a new chunk is allocated.
*/

package remote

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestSlotsAgainstModel(t *testing.T) {
	var s slots
	s.init()
	rng := rand.New(rand.NewPCG(1, 2))
	var model []uint32 // newest first
	peak := 0
	for step := 0; step < 4000; step++ {
		switch op := rng.IntN(10); {
		case op < 5 || len(model) == 0: // a new remote
			n := s.alloc()
			if slices.Contains(model, n) {
				t.Fatalf("step %d: alloc returned slot %d, in use", step, n)
			}
			*s.at(n) = Remote{Addr: n, inUse: true}
			s.pushNewest(n)
			model = slices.Insert(model, 0, n)
		case op < 8: // one is seen again
			i := rng.IntN(len(model))
			n := model[i]
			s.touch(n)
			model = slices.Insert(slices.Delete(model, i, i+1), 0, n)
		default: // the oldest or a random one goes
			i := len(model) - 1
			if op == 9 {
				i = rng.IntN(len(model))
			}
			if old, _ := s.oldest(); i == len(model)-1 && old != model[i] {
				t.Fatalf("step %d: oldest %d, want %d", step, old, model[i])
			}
			s.release(model[i])
			model = slices.Delete(model, i, i+1)
		}
		peak = max(peak, len(model))
		check(t, step, &s, model)
	}
	// Slots are reused: no more chunks than the peak needed.
	if want := (peak + chunkSize - 1) / chunkSize; len(s.chunks) != want || want < 2 {
		t.Errorf("%d chunks for a peak of %d slots, want %d (and at least 2 for the test to mean something)", len(s.chunks), peak, want)
	}
}

// check compares the list with the model and accounts for every slot.
func check(t *testing.T, step int, s *slots, model []uint32) {
	t.Helper()
	var fwd []uint32
	for n := s.head; n != none; n = s.at(n).next {
		fwd = append(fwd, n)
		if len(fwd) > len(model) {
			break
		}
	}
	if !slices.Equal(fwd, model) {
		t.Fatalf("step %d: list %v, want %v", step, fwd, model)
	}
	var back []uint32
	for n := s.tail; n != none; n = s.at(n).prev {
		back = append(back, n)
		if len(back) > len(model) {
			break
		}
	}
	slices.Reverse(back)
	if !slices.Equal(back, model) {
		t.Fatalf("step %d: list walked back %v, want %v", step, back, model)
	}
	if step%50 != 0 {
		return // the free list and each are slow to walk: every 50 steps
	}
	free := 0
	for n := s.free; n != none; n = s.at(n).next {
		if s.at(n).inUse {
			t.Fatalf("step %d: slot %d on the free list is in use", step, n)
		}
		free++
	}
	if free+len(model) != len(s.chunks)*chunkSize {
		t.Fatalf("step %d: %d free + %d in use != %d slots", step, free, len(model), len(s.chunks)*chunkSize)
	}
	inUse := 0
	s.each(func(*Remote) { inUse++ })
	if inUse != len(model) {
		t.Fatalf("step %d: each visits %d, want %d", step, inUse, len(model))
	}
}
