/*
Package evporttest holds test support for code built on evport that does not
need a running loop: a Clock that tests move by hand.

A loop made with evport.NewWithClock(c) reads the time only from c, so its
timers fire when, and only when, the test advances the clock: timer,
expiry and heartbeat tests become exact instead of racing real time on a
loaded machine. Advance wakes every loop on the clock and has it run the
timers then due, as posted work; anything the test posts afterwards
(looptest.OnLoop, looptest.WaitFor) runs after those timers. See
looptest.StartWithClock.

This package imports nothing from evport (the clock satisfies
evport.Clock structurally), so evport's own tests can use it too.
*/
package evporttest

import (
	"sync"
	"time"
)

// Epoch is where a Clock made by NewClock starts: a fixed instant, so that
// test output does not change from run to run.
var Epoch = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// Clock is a clock that moves only when told to. Safe for concurrent use.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	moved []func()
}

// NewClock returns a clock standing at Epoch.
func NewClock() *Clock { return &Clock{now: Epoch} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Until is zero when t is not after Now and negative otherwise: a loop on
// this clock never sleeps towards a timer, it waits to be woken by Advance.
func (c *Clock) Until(t time.Time) time.Duration {
	if t.After(c.Now()) {
		return -1
	}
	return 0
}

// Attach registers a loop's catch-up function (evport.NewWithClock calls
// it); Advance calls every registered function.
func (c *Clock) Attach(moved func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.moved = append(c.moved, moved)
}

// Advance moves the clock forward by d (d >= 0) and tells every loop on it
// to run the timers now due, as work posted to the loop: they have run
// before anything the caller posts after Advance returns. Called on a loop
// goroutine, or while no Run is running, the catch-up waits for that loop's
// next turn.
func (c *Clock) Advance(d time.Duration) {
	if d < 0 {
		panic("evporttest: Advance by a negative duration")
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	moved := c.moved
	c.mu.Unlock()
	for _, fn := range moved {
		fn()
	}
}
