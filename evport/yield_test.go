/*
 * Tests of the loop's periodic pass through the Go scheduler (yield.go):
 * the rule, on the loop's time set by hand (exactly one yield per
 * yieldEvery, none before, one and no catching up after a long sleep);
 * and, on the system clock, that a busy Run does yield as time passes.
 */

package evport

import (
	"testing"
	"time"
)

// countYields makes l count its yields (still passing through the
// scheduler) and returns the counter.
func countYields(l *Loop) *int {
	n := new(int)
	real := l.yield
	l.yield = func() { *n++; real() }
	return n
}

func TestLoopYieldsOncePerYieldEvery(t *testing.T) {
	l, _ := newClockLoop(t)
	yields := countYields(l)
	// One turn's yield point, d of loop time after the last (Run reaches
	// it once a turn: TestBusyLoopYieldsAsRealTimePasses).
	turn := func(d time.Duration) {
		l.now = l.now.Add(d)
		l.maybeYield()
	}
	step := yieldEvery / 5
	for i := 1; i <= 4; i++ {
		turn(step)
		if *yields != 0 {
			t.Fatalf("yielded %d times after %v of loop time; want none before %v", *yields, time.Duration(i)*step, yieldEvery)
		}
	}
	turn(step)
	if *yields != 1 {
		t.Fatalf("yielded %d times after %v; want 1", *yields, yieldEvery)
	}
	for range 10 {
		turn(step)
	}
	if *yields != 3 {
		t.Fatalf("yielded %d times after %v; want 3", *yields, 3*yieldEvery)
	}
	// A loop that slept through many periods yields once when it wakes,
	// and not again at its next turn (no catching up).
	turn(10 * yieldEvery)
	turn(step)
	if *yields != 4 {
		t.Fatalf("yielded %d times after a sleep of %v and a short turn; want 4 (one more)", *yields, 10*yieldEvery)
	}
}

func TestBusyLoopYieldsAsRealTimePasses(t *testing.T) {
	l := newTestLoop(t)
	yields := countYields(l)
	// A posted function that posts itself keeps every turn busy: the
	// loop never sleeps in its wait.
	var spin func()
	spin = func() { l.Post(spin) }
	l.Post(spin)
	start := time.Now()
	runUntil(t, l, 5*time.Second, "three yields", func() bool { return *yields >= 3 })
	if d := time.Since(start); d < 2*yieldEvery {
		t.Fatalf("three yields in %v of busy loop; want one per %v", d, yieldEvery)
	}
}
