/*
 * Tests of AppendTimers, the operator's view of the pending timers, and of
 * NumTimers, their count, through scheduling, stopping and firing: each
 * entry's ScheduledAt is the loop time of the timer's last Reset, and the
 * entries come out soonest first, equal expiries in scheduling order (Seq),
 * whatever order the heap keeps them in. Run on the hand-driven clock so
 * that the times are exact.
 */

package evport

import (
	"testing"
	"time"
)

func TestAppendTimersScheduledAtIsLastReset(t *testing.T) {
	l, clock := newClockLoop(t)
	tm := l.NewTimer(func() {})
	tm.Reset(time.Hour)
	advance(t, l, clock, 7*time.Second)
	second := l.Now()
	tm.Reset(time.Hour)
	advance(t, l, clock, 3*time.Second)
	timers := l.AppendTimers(nil)
	if len(timers) != 1 {
		t.Fatalf("AppendTimers: %d timers, want 1", len(timers))
	}
	got := timers[0]
	if got.Timer != tm || !got.ScheduledAt.Equal(second) || !got.When.Equal(second.Add(time.Hour)) {
		t.Fatalf("AppendTimers: timer %p scheduled at %v due %v, want %p scheduled at %v (the second Reset) due %v",
			got.Timer, got.ScheduledAt, got.When, tm, second, second.Add(time.Hour))
	}
}

func TestAppendTimersOrderWhenThenSeq(t *testing.T) {
	l, _ := newClockLoop(t)
	mk := func(d time.Duration) *Timer {
		tm := l.NewTimer(func() {})
		tm.Reset(d)
		return tm
	}
	// Heap array [r a b c d]; stopping r moves d (due with b, scheduled
	// after it) to the root, and it sifts down to index 1, before b: the
	// heap's array then holds d ahead of b, so only sorting on Seq after
	// When puts b first.
	r := mk(1 * time.Second)
	a := mk(10 * time.Second)
	b := mk(20 * time.Second)
	c := mk(25 * time.Second)
	d := mk(20 * time.Second)
	r.Stop()
	want := []*Timer{a, b, d, c}
	timers := l.AppendTimers(nil)
	if len(timers) != len(want) {
		t.Fatalf("AppendTimers: %d timers, want %d", len(timers), len(want))
	}
	for i, ti := range timers {
		if ti.Timer != want[i] {
			t.Fatalf("AppendTimers[%d] is the timer due at +%v (seq %d), want the one due at +%v (seq %d)",
				i, ti.When.Sub(l.Now()), ti.Seq, want[i].when.Sub(l.Now()), want[i].seq)
		}
	}
	if timers[1].Seq >= timers[2].Seq {
		t.Fatalf("equal expiries: seq %d before seq %d", timers[1].Seq, timers[2].Seq)
	}
}

func TestNumTimersCountsScheduledTimers(t *testing.T) {
	l, clock := newClockLoop(t)
	count := func(when string, want int) {
		t.Helper()
		if n, listed := l.NumTimers(), len(l.AppendTimers(nil)); n != want || listed != want {
			t.Fatalf("%s: NumTimers %d, AppendTimers lists %d; want %d", when, n, listed, want)
		}
	}
	base := l.NumTimers() // timers the loop keeps for itself, if any
	count("a new loop", base)
	once := l.NewTimer(func() {})
	count("a timer made, not scheduled", base)
	once.Reset(time.Second)
	count("a one-shot scheduled", base+1)
	once.Reset(2 * time.Second)
	count("the one-shot rescheduled", base+1)
	every := l.Every(5*time.Second, func() {})
	stopped := l.NewTimer(func() {})
	stopped.Reset(time.Hour)
	count("a periodic and another one-shot scheduled", base+3)
	stopped.Stop()
	count("the other one-shot stopped", base+2)
	advance(t, l, clock, 3*time.Second)
	count("the one-shot fired", base+1)
	advance(t, l, clock, 5*time.Second)
	count("the periodic fired and rescheduled", base+1)
	every.Stop()
	count("the periodic stopped", base)
}
