/*
Package looptest runs an evport loop for tests of the packages built on it.

The balancer's rule holds in tests too: state owned by the loop is touched
only on the loop. A Runner runs the loop on its own goroutine; the test
goroutine reaches loop state with OnLoop (post and wait) and polls
conditions with WaitFor, which evaluates them on the loop. Stop ends Run,
after which the test goroutine itself may act as the loop (call the packet
path, run timers) until Start runs it again; allocation tests need that.
Every wait is bounded by WaitLimit, so a broken loop fails a test instead
of hanging it.

StartWithClock runs the loop on a hand-driven clock (evporttest.Clock):
its timers fire only when the test calls Runner.Advance, which returns once
the loop has run every timer then due. Timer, expiry and heartbeat tests
use it to be exact rather than racing real time.
*/
package looptest

import (
	"testing"
	"time"

	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/evport/evporttest"
)

// WaitLimit bounds every wait; generous because -race on two cores is slow.
const WaitLimit = 10 * time.Second

// Runner runs a loop on its own goroutine until the test ends.
type Runner struct {
	Loop    *evport.Loop
	Clock   *evporttest.Clock // the loop's clock, nil on the system clock
	t       testing.TB
	done    chan error
	running bool
}

// Start creates a loop and runs it; it is stopped and closed at cleanup.
func Start(t testing.TB) *Runner {
	t.Helper()
	return start(t, nil)
}

// StartWithClock is Start with the loop on a hand-driven clock (r.Clock),
// standing at evporttest.Epoch until Advance moves it.
func StartWithClock(t testing.TB) *Runner {
	t.Helper()
	return start(t, evporttest.NewClock())
}

func start(t testing.TB, clock *evporttest.Clock) *Runner {
	t.Helper()
	var loop *evport.Loop
	var err error
	if clock != nil {
		loop, err = evport.NewWithClock(clock)
	} else {
		loop, err = evport.New()
	}
	if err != nil {
		t.Fatalf("evport.New: %v", err)
	}
	r := &Runner{Loop: loop, Clock: clock, t: t}
	r.Start()
	t.Cleanup(func() {
		if r.running {
			r.Stop()
		}
		loop.Close()
	})
	return r
}

// Running reports whether Run is running on the Runner's goroutine.
func (r *Runner) Running() bool { return r.running }

// Start runs the loop again after Stop.
func (r *Runner) Start() {
	r.done = make(chan error, 1)
	r.running = true
	go func() { r.done <- r.Loop.Run() }()
}

// Stop ends Run; from then on the calling goroutine is the loop.
func (r *Runner) Stop() {
	r.t.Helper()
	r.Loop.Post(r.Loop.Stop)
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("loop.Run: %v", err)
		}
	case <-time.After(WaitLimit):
		r.t.Fatal("loop did not stop")
	}
	r.running = false
}

// Advance moves the hand-driven clock forward by d and returns once the
// loop has run the timers then due (a timer that one of them schedules
// due at once runs on a later turn, as always). With the Runner stopped, it
// runs the loop for that one catch-up and stops it again. Test goroutine
// only; a Runner from Start has no clock to move.
func (r *Runner) Advance(d time.Duration) {
	r.t.Helper()
	if r.Clock == nil {
		r.t.Fatal("looptest: Advance on a loop with the system clock (use StartWithClock)")
	}
	r.Clock.Advance(d)
	if r.running {
		OnLoop(r.t, r.Loop, func() {})
		return
	}
	r.Start()
	r.Stop()
}

// OnLoop runs fn on the loop and waits for it to finish.
// What fn set in motion with loop.AtTurnEnd (UDP answers it queued, say)
// has run too by then.
func OnLoop(t testing.TB, loop *evport.Loop, fn func()) {
	t.Helper()
	done := make(chan struct{})
	loop.Post(func() {
		fn()
		loop.AtTurnEnd(func() { close(done) }) // after fn's own
	})
	select {
	case <-done:
	case <-time.After(WaitLimit):
		t.Fatalf("loop did not run posted work within %v", WaitLimit)
	}
}

// WaitFor polls cond on the loop until it holds.
func WaitFor(t testing.TB, loop *evport.Loop, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitLimit)
	for {
		var ok bool
		OnLoop(t, loop, func() { ok = cond() })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
