/*
 * Clock: where the loop reads the time. A loop made by New reads the
 * system clock; NewWithClock gives it another, such as the hand-driven test
 * clock of evport/evporttest, so that timer, expiry and heartbeat tests do
 * not depend on how fast a loaded machine runs.
 *
 * The loop asks its clock three things: the time (once per turn, and again
 * after each wait), how long it may block in the kernel before the next
 * timer is due, and, once, where to report that the time has moved. The
 * system clock moves by itself, so the loop sleeps until the next expiry and
 * never hears from it. A hand-driven clock never expires a timer by the
 * passing of real time: the loop blocks until an fd fires or work is posted,
 * and the clock, when a test moves it, calls the function the loop gave it,
 * which posts a catch-up (read the clock, run the timers now due) to the
 * loop. Posted work runs in posting order, so whatever a test posts after
 * moving the clock finds those timers already run.
 */

package evport

import "time"

// Clock is a loop's source of time; see the file comment.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Until reports how long the loop may block before the time is t:
	// zero when t is not after Now; otherwise the time left, or, for a
	// clock that does not move by itself, a negative duration (block
	// until an fd fires or work is posted).
	Until(t time.Time) time.Duration
	// Attach is called once, by NewWithClock, with a function that the
	// clock calls, from any goroutine, each time it has moved by other
	// means than the passing of real time; a system clock ignores it.
	Attach(moved func())
}

// systemClock is the real time, the default clock of a loop.
type systemClock struct{}

func (systemClock) Now() time.Time                  { return time.Now() }
func (systemClock) Until(t time.Time) time.Duration { return max(0, time.Until(t)) }
func (systemClock) Attach(func())                   {}

// clockMoved is the loop's side of Clock.Attach: on the loop, catch up with
// a clock that was moved by hand.
func (l *Loop) clockMoved() {
	l.now = l.clock.Now()
	l.runTimers()
}
