package remote_test

import (
	"testing"
	"time"
)

// TestRateCap, on the hand-driven clock: with a cap of 10 a second in
// bursts of 3, a client gets its burst at once, then one query each 100
// ms, not a nanosecond sooner; another client is not affected; no cap
// admits everything.
func TestRateCap(t *testing.T) {
	h := newHarnessClock(t, noPeriodic, "5301")
	admitted := func(addr uint32, n int) (got int) {
		onLoop(t, h.loop, func() {
			for range n {
				if h.table.Admit(h.table.HeardFrom(addr)) {
					got++
				}
			}
		})
		return got
	}
	if got := admitted(ip10(1), 1000); got != 1000 {
		t.Fatalf("no cap: %d of 1000 admitted", got)
	}
	onLoop(t, h.loop, func() { h.table.SetRateCap(10, 3) })
	if got := admitted(ip10(2), 10); got != 3 {
		t.Errorf("a burst of 10: %d admitted, want the burst of 3", got)
	}
	if got := admitted(ip10(3), 10); got != 3 {
		t.Errorf("another client's burst: %d admitted, want its own 3", got)
	}
	h.run.Advance(100*time.Millisecond - time.Nanosecond)
	if got := admitted(ip10(2), 5); got != 0 {
		t.Errorf("just before an interval: %d admitted, want 0", got)
	}
	h.run.Advance(time.Nanosecond)
	if got := admitted(ip10(2), 5); got != 1 {
		t.Errorf("after one interval: %d admitted, want 1", got)
	}
	h.run.Advance(time.Second)
	if got := admitted(ip10(2), 10); got != 3 {
		t.Errorf("after a quiet second: %d admitted, want the burst of 3 (no more)", got)
	}
	onLoop(t, h.loop, func() { h.table.SetRateCap(0, 0) })
	if got := admitted(ip10(2), 100); got != 100 {
		t.Errorf("cap removed: %d of 100 admitted", got)
	}
}
