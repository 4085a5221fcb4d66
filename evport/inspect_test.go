/*
 * Tests of AppendTimers, the operator's view of the pending timers: each
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
