/*
 * Tests of the Runner on a hand-driven clock: Advance returns only after the
 * loop has run the timers then due, whether the Runner is running the loop
 * or stopped (the test goroutine being the loop), and nothing fires before
 * its time however long the test waits in real time.
 */

package looptest

import (
	"testing"
	"time"

	"github.com/joyent/mname-balancer/evport/evporttest"
)

func TestAdvanceRunsDueTimersBeforeReturning(t *testing.T) {
	r := StartWithClock(t)
	fired := 0 // loop state
	var firedAt time.Time
	OnLoop(t, r.Loop, func() {
		r.Loop.NewTimer(func() {
			fired++
			firedAt = r.Loop.Now()
		}).Reset(3 * time.Second)
	})
	r.Advance(2 * time.Second)
	time.Sleep(20 * time.Millisecond) // real time moves nothing
	OnLoop(t, r.Loop, func() {
		if fired != 0 {
			t.Errorf("timer due at +3s fired at +2s")
		}
	})
	r.Advance(time.Second)
	// No waiting: Advance has returned, so the timer has run.
	OnLoop(t, r.Loop, func() {
		if fired != 1 || !firedAt.Equal(evporttest.Epoch.Add(3*time.Second)) {
			t.Errorf("fired %d times, at %v; want once, at Epoch+3s", fired, firedAt)
		}
	})
}

func TestAdvanceWithTheRunnerStopped(t *testing.T) {
	r := StartWithClock(t)
	r.Stop()
	fired := 0
	r.Loop.NewTimer(func() { fired++ }).Reset(time.Minute)
	r.Advance(time.Minute)
	if fired != 1 {
		t.Fatalf("timer fired %d times after Advance with the Runner stopped", fired)
	}
	if r.Running() {
		t.Fatal("Advance left a stopped Runner running")
	}
}

// OnLoop returns only after what fn asked for with AtTurnEnd has run
// (ran is written on the loop; without that ordering, the read here would
// see false or be a data race).
func TestOnLoopWaitsForTurnEndFunctions(t *testing.T) {
	r := Start(t)
	ran := false // loop state
	for range 50 {
		ran = false
		OnLoop(t, r.Loop, func() {
			r.Loop.AtTurnEnd(func() { ran = true })
		})
		if !ran {
			t.Fatal("OnLoop returned before fn's AtTurnEnd function ran")
		}
	}
}
