package evport_test

import (
	"testing"
	"time"

	"github.com/joyent/mname-balancer/evport"
)

// MonotonicNanos moves with the time: never back, and at least as far as
// the monotonic reading of time.Now between two of its readings (gethrtime
// on illumos, which no Linux run executes: the packed evport.test does).
func TestMonotonicNanosFollowsTheTime(t *testing.T) {
	before := evport.MonotonicNanos()
	start := time.Now()
	last := before
	for time.Since(start) < time.Millisecond {
		now := evport.MonotonicNanos()
		if now < last {
			t.Fatalf("MonotonicNanos went back from %d to %d", last, now)
		}
		last = now
	}
	elapsed := time.Since(start)
	after := evport.MonotonicNanos()
	if got := time.Duration(after - before); got < elapsed {
		t.Fatalf("MonotonicNanos advanced %v while time.Now advanced %v", got, elapsed)
	}
	if before <= 0 {
		t.Fatalf("MonotonicNanos = %d, want a positive time since boot", before)
	}
}
