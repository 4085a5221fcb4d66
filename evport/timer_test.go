/*
 * Tests of the loop's timers: expiry order and first-scheduled-first among
 * equal expiries, Reset and Stop (from outside and from inside callbacks,
 * on the running timer and on others), the rule that a timer scheduled
 * during the due-timer run waits for the next turn (so a zero-delay
 * self-resetting timer cannot starve fds), periodic timers, and Now staying
 * the same for one turn's timers and advancing across turns.
 *
 * The tests of what runs when run the loop on a hand-driven clock
 * (evporttest.Clock, moved by advance), so they are exact and take no real
 * time; the heap model test sets the loop's time directly. The tests about
 * turns (a timer scheduled during the run waits for the next turn, Now
 * stays the same for one turn's timers, a spinning timer cannot starve fds)
 * run on the system clock, which is what they are about.
 */

package evport

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestTimersRunInExpiryOrder(t *testing.T) {
	l, clock := newClockLoop(t)
	var order []int
	for _, ms := range []int{30, 10, 0, 20, 5} {
		l.NewTimer(func() { order = append(order, ms) }).Reset(time.Duration(ms) * time.Millisecond)
	}
	advance(t, l, clock, 0)
	if want := []int{0}; !slices.Equal(order, want) {
		t.Fatalf("at +0: order = %v, want %v", order, want)
	}
	advance(t, l, clock, 10*time.Millisecond)
	if want := []int{0, 5, 10}; !slices.Equal(order, want) {
		t.Fatalf("at +10ms: order = %v, want %v", order, want)
	}
	advance(t, l, clock, time.Hour)
	if want := []int{0, 5, 10, 20, 30}; !slices.Equal(order, want) {
		t.Fatalf("order = %v, want %v", order, want)
	}
}

// A timer fires when the clock reaches its expiry, not a moment before,
// however much real time passes.
func TestTimerFiresExactlyAtExpiry(t *testing.T) {
	l, clock := newClockLoop(t)
	t0 := l.Now()
	var ranAt time.Time
	l.NewTimer(func() { ranAt = l.Now() }).Reset(time.Second)
	advance(t, l, clock, time.Second-time.Nanosecond)
	// Real time passing changes nothing: the loop blocks (no timer is due
	// on its clock) until the goroutine stops it.
	go func() {
		time.Sleep(20 * time.Millisecond)
		l.Post(l.Stop)
	}()
	if err := l.Run(); err != nil {
		t.Fatal(err)
	}
	if !ranAt.IsZero() {
		t.Fatalf("timer due at +1s ran at +%v", ranAt.Sub(t0))
	}
	advance(t, l, clock, time.Nanosecond)
	if got := ranAt.Sub(t0); got != time.Second {
		t.Fatalf("timer due at +1s ran at +%v (zero: not at all)", got)
	}
}

func TestTimersEqualExpiryRunInSchedulingOrder(t *testing.T) {
	l, clock := newClockLoop(t)
	var order []int
	const n = 40
	// All scheduled outside Run, so Reset(d) reads the same Now: equal
	// expiries. A heap that ignored the tie-break would scramble them.
	for i := 0; i < n; i++ {
		l.NewTimer(func() { order = append(order, i) }).Reset(5 * time.Millisecond)
	}
	advance(t, l, clock, 5*time.Millisecond)
	if len(order) != n {
		t.Fatalf("%d of %d timers ran", len(order), n)
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("order = %v, want 0..%d", order, n-1)
		}
	}
}

func TestTimerResetMovesIt(t *testing.T) {
	l, clock := newClockLoop(t)
	var order []string
	a := l.NewTimer(func() { order = append(order, "a") })
	b := l.NewTimer(func() { order = append(order, "b") })
	c := l.NewTimer(func() { order = append(order, "c") })
	a.Reset(5 * time.Millisecond)
	b.Reset(15 * time.Millisecond)
	c.Reset(40 * time.Millisecond)
	a.Reset(30 * time.Millisecond) // later than b now
	c.Reset(1 * time.Millisecond)  // first now
	if !a.Scheduled() || !a.When().Equal(l.Now().Add(30*time.Millisecond)) {
		t.Fatalf("a: scheduled %v when %v", a.Scheduled(), a.When())
	}
	advance(t, l, clock, 5*time.Millisecond)
	if want := []string{"c"}; !slices.Equal(order, want) {
		t.Fatalf("at +5ms: order = %v, want %v (a was moved)", order, want)
	}
	advance(t, l, clock, 25*time.Millisecond)
	if want := []string{"c", "b", "a"}; !slices.Equal(order, want) {
		t.Fatalf("order = %v, want %v", order, want)
	}
	if a.Scheduled() || !a.When().IsZero() {
		t.Fatalf("fired one-shot timer still scheduled (when %v)", a.When())
	}
	// It runs exactly once.
	advance(t, l, clock, time.Hour)
	if len(order) != 3 {
		t.Fatalf("order = %v after extra time", order)
	}
}

func TestTimerStopPreventsIt(t *testing.T) {
	l, clock := newClockLoop(t)
	ran := map[string]int{}
	a := l.NewTimer(func() { ran["a"]++ })
	b := l.NewTimer(func() { ran["b"]++ })
	if a.Stop() {
		t.Fatal("Stop of a never-scheduled timer reported true")
	}
	a.Reset(5 * time.Millisecond)
	b.Reset(10 * time.Millisecond)
	if !a.Stop() {
		t.Fatal("Stop of a scheduled timer reported false")
	}
	if a.Stop() {
		t.Fatal("second Stop reported true")
	}
	if a.Scheduled() {
		t.Fatal("stopped timer still scheduled")
	}
	advance(t, l, clock, time.Hour)
	if ran["a"] != 0 || ran["b"] != 1 {
		t.Fatalf("ran = %v, want a 0, b 1", ran)
	}
}

func TestTimerResetAndStopFromCallbacks(t *testing.T) {
	l, clock := newClockLoop(t)
	ran := map[string]int{}
	var self, selfStop, victim, moved, late *Timer

	// A timer that resets itself until it has run three times.
	self = l.NewTimer(func() {
		ran["self"]++
		if self.Scheduled() {
			t.Error("own timer still scheduled inside its callback")
		}
		if ran["self"] < 3 {
			self.Reset(2 * time.Millisecond)
		}
	})
	// A timer that stops itself: nothing to stop, so Stop reports false.
	selfStop = l.NewTimer(func() {
		ran["selfStop"]++
		if selfStop.Stop() {
			t.Error("Stop of the running one-shot timer reported true")
		}
	})
	// The killer runs first among timers due at the same instant, and
	// stops one, moves another later, and starts a third.
	victim = l.NewTimer(func() { ran["victim"]++ })
	moved = l.NewTimer(func() {
		ran["moved"]++
		if ran["killer"] == 0 {
			t.Error("moved timer ran before the callback that moved it")
		}
	})
	late = l.NewTimer(func() { ran["late"]++ })
	killer := l.NewTimer(func() {
		ran["killer"]++
		if !victim.Stop() {
			t.Error("Stop of a due timer from another callback reported false")
		}
		moved.Reset(10 * time.Millisecond)
		late.Reset(0)
	})
	self.Reset(time.Millisecond)
	selfStop.Reset(time.Millisecond)
	killer.Reset(5 * time.Millisecond)
	victim.Reset(5 * time.Millisecond)
	moved.Reset(5 * time.Millisecond)

	// Millisecond by millisecond: self at 1, 3, 5; killer at 5 (victim
	// stopped, late due at once, moved to 15).
	for range 14 {
		advance(t, l, clock, time.Millisecond)
	}
	want := map[string]int{"self": 3, "selfStop": 1, "killer": 1, "victim": 0, "moved": 0, "late": 1}
	for k, v := range want {
		if ran[k] != v {
			t.Errorf("at +14ms: %s ran %d times, want %d (all: %v)", k, ran[k], v, ran)
		}
	}
	advance(t, l, clock, time.Millisecond)
	advance(t, l, clock, time.Hour)
	want["moved"] = 1
	for k, v := range want {
		if ran[k] != v {
			t.Errorf("%s ran %d times, want %d (all: %v)", k, ran[k], v, ran)
		}
	}
}

// A timer scheduled (already due) from a due timer's callback runs on the
// next turn, not in the same one: it sees a later Now. (The scheduling
// callback sleeps so that even a coarse clock has moved on.)
func TestTimerScheduledDuringRunWaitsForNextTurn(t *testing.T) {
	l := newTestLoop(t)
	var firstNow, secondNow time.Time
	second := l.NewTimer(func() { secondNow = l.Now() })
	l.NewTimer(func() {
		firstNow = l.Now()
		second.Reset(0)
		time.Sleep(20 * time.Millisecond)
	}).Reset(0)
	runUntil(t, l, 5*time.Second, "second timer", func() bool { return !secondNow.IsZero() })
	if !secondNow.After(firstNow) {
		t.Fatalf("timer scheduled during the timer run ran in the same turn (Now %v then %v)", firstNow, secondNow)
	}
}

func TestZeroDelaySelfResettingTimerDoesNotStarveFDs(t *testing.T) {
	l := newTestLoop(t)
	fa, fb := socketpair(t)
	t.Cleanup(func() { unix.Close(fb) })
	r := newRecorder(t, "conn")
	c, err := NewConn(l, fa, r, ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	spins := 0
	var lastNow time.Time
	var spin *Timer
	spin = l.NewTimer(func() {
		spins++
		if stuckInOneTurn(l, lastNow) {
			t.Error("zero-delay timer runs again and again within one turn")
			return
		}
		lastNow = l.Now()
		spin.Reset(0)
	})
	spin.Reset(0)
	// The peer writes once the spinner is going; the Conn must still hear.
	l.NewTimer(func() {
		if _, err := unix.Write(fb, []byte("ping")); err != nil {
			t.Error(err)
		}
	}).Reset(5 * time.Millisecond)
	runUntil(t, l, 5*time.Second, "data past a spinning timer", func() bool { return len(r.data) == 4 })
	spin.Stop()
	if string(r.data) != "ping" {
		t.Fatalf("got %q", r.data)
	}
	if spins < 2 {
		t.Fatalf("spinning timer ran %d times", spins)
	}
}

func TestEveryRunsRepeatedlyAndStopsItself(t *testing.T) {
	l, clock := newClockLoop(t)
	t0 := l.Now()
	count := 0
	var nows []time.Duration
	var tick *Timer
	tick = l.Every(2*time.Millisecond, func() {
		count++
		nows = append(nows, l.Now().Sub(t0))
		if !tick.Scheduled() {
			t.Error("periodic timer not rescheduled before its callback")
		}
		if count == 5 {
			if !tick.Stop() {
				t.Error("Stop of a periodic timer from its callback reported false")
			}
		}
	})
	advance(t, l, clock, time.Millisecond)
	if count != 0 {
		t.Fatalf("periodic timer ran %d times before its first period", count)
	}
	for range 19 {
		advance(t, l, clock, time.Millisecond)
	}
	if count != 5 {
		t.Fatalf("periodic timer ran %d times by +20ms after stopping itself at 5", count)
	}
	want := []time.Duration{2, 4, 6, 8, 10}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(nows, want) {
		t.Fatalf("ticks at %v, want %v", nows, want)
	}
}

func TestEveryRejectsNonPositivePeriod(t *testing.T) {
	l := newTestLoop(t)
	defer func() {
		if recover() == nil {
			t.Fatal("Every(0) did not panic")
		}
	}()
	l.Every(0, func() {})
}

// Periodic rescheduling, with the clock set by hand: one period after the
// previous expiry, or one period from now after falling behind (no burst
// of catch-up runs).
func TestEveryReschedulesFromExpiry(t *testing.T) {
	l, clock := newClockLoop(t)
	t0 := l.Now()
	count := 0
	tick := l.Every(10*time.Millisecond, func() { count++ })
	if got := tick.When(); !got.Equal(t0.Add(10 * time.Millisecond)) {
		t.Fatalf("first expiry %v, want t0+10ms", got.Sub(t0))
	}
	advance(t, l, clock, 13*time.Millisecond) // a little late
	if count != 1 || !tick.When().Equal(t0.Add(20*time.Millisecond)) {
		t.Fatalf("count %d, next %v; want 1, t0+20ms", count, tick.When().Sub(t0))
	}
	advance(t, l, clock, 42*time.Millisecond) // at +55ms, three periods behind
	if count != 2 || !tick.When().Equal(t0.Add(65*time.Millisecond)) {
		t.Fatalf("count %d, next %v; want 2, t0+65ms", count, tick.When().Sub(t0))
	}
	tick.Stop()
}

// A model check of the heap: random Reset and Stop calls on many timers,
// then the clock jumps forward; what runs, and in which order, must match
// sorting by (expiry, last scheduling).
func TestTimerHeapMatchesModel(t *testing.T) {
	l := newTestLoop(t)
	t0 := l.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 200
	type model struct {
		scheduled bool
		when      time.Duration
		seq       int
	}
	models := make([]model, n)
	timers := make([]*Timer, n)
	var ran []int
	for i := range timers {
		timers[i] = l.NewTimer(func() { ran = append(ran, i) })
	}
	seq := 0
	for op := 0; op < 5000; op++ {
		i := rng.IntN(n)
		if rng.IntN(4) == 0 {
			was := timers[i].Stop()
			if was != models[i].scheduled {
				t.Fatalf("op %d: Stop(%d) = %v, model says %v", op, i, was, models[i].scheduled)
			}
			models[i].scheduled = false
			continue
		}
		d := time.Duration(rng.IntN(20)) * time.Millisecond // many ties
		timers[i].Reset(d)
		seq++
		models[i] = model{scheduled: true, when: d, seq: seq}
	}
	var want []int
	for i, m := range models {
		if m.scheduled {
			want = append(want, i)
		}
	}
	slices.SortFunc(want, func(a, b int) int {
		if models[a].when != models[b].when {
			return int(models[a].when - models[b].when)
		}
		return models[a].seq - models[b].seq
	})
	l.now = t0.Add(time.Hour)
	l.runTimers()
	if !slices.Equal(ran, want) {
		t.Fatalf("ran %d timers %v\nwant %d %v", len(ran), ran, len(want), want)
	}
	if len(l.timers) != 0 {
		t.Fatalf("%d timers left in the heap", len(l.timers))
	}
}

func TestNowConstantWithinTurnAndAdvancesAcrossTurns(t *testing.T) {
	l := newTestLoop(t)
	var nowA, nowB, nowLater time.Time
	// Two timers due at the same instant run in the same turn; the first
	// takes a while, yet the second sees the same Now.
	l.NewTimer(func() {
		nowA = l.Now()
		time.Sleep(20 * time.Millisecond)
	}).Reset(time.Millisecond)
	later := l.NewTimer(func() { nowLater = l.Now() })
	l.NewTimer(func() {
		nowB = l.Now()
		later.Reset(0) // due at once, but runs on the next turn
	}).Reset(time.Millisecond)
	runUntil(t, l, 5*time.Second, "timers", func() bool { return !nowLater.IsZero() })
	if nowA.IsZero() || !nowA.Equal(nowB) {
		t.Fatalf("Now differs within one turn: %v vs %v", nowA, nowB)
	}
	if !nowLater.After(nowB) {
		t.Fatalf("Now did not advance across turns: %v then %v", nowB, nowLater)
	}
	// By the sleep, less a coarse clock's tick.
	if d := nowLater.Sub(nowB); d < 15*time.Millisecond {
		t.Fatalf("Now advanced %v across a 20 ms sleep", d)
	}
}
