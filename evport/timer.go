/*
 * Timers: one-shot and periodic callbacks on the loop, the successor of the
 * C balancer's timeouts.c. All timers live in one binary heap ordered by
 * expiry, ties broken by the order in which they were scheduled, so timers
 * due at the same instant run first-scheduled first.
 *
 * A Timer is created stopped (NewTimer) and scheduled with Reset; Stop
 * unschedules it. Both are safe at any time on the loop, including from
 * inside any timer's callback, its own included: the loop takes a timer out
 * of the heap before calling it, so a callback that resets its own timer
 * simply schedules it again. A timer scheduled while the due timers are
 * being run waits for the next turn even if it is already due, so a
 * callback that re-arms itself with a zero delay cannot starve the loop.
 *
 * Periodic timers (Every) are rescheduled one period after their previous
 * expiry (or one period from now if the loop fell behind) before their
 * callback runs; the callback may Stop or Reset them.
 *
 * Expiries are computed from the loop's clock (Loop.Now), which is read at
 * the start of each turn and again after each wait. Timers are not safe
 * for use from other goroutines: Post first.
 */

package evport

import "time"

// Timer is a callback scheduled on a loop; see the file comment.
type Timer struct {
	loop   *Loop
	fn     func()
	when   time.Time
	seq    uint64
	set    time.Time // when it was last scheduled (mdb's to_scheduled_at)
	index  int       // position in the heap, -1 when not scheduled
	period time.Duration
}

// NewTimer returns a stopped timer that will run fn on the loop.
func (l *Loop) NewTimer(fn func()) *Timer {
	return &Timer{loop: l, fn: fn, index: -1}
}

// Every starts a periodic timer running fn every period, first one period
// from now.
func (l *Loop) Every(period time.Duration, fn func()) *Timer {
	if period <= 0 {
		panic("evport: Every needs a positive period")
	}
	t := l.NewTimer(fn)
	t.period = period
	t.Reset(period)
	return t
}

// Reset (re)schedules the timer d from the loop's current time.
func (t *Timer) Reset(d time.Duration) {
	t.schedule(t.loop.now.Add(d))
}

// Stop unschedules the timer and reports whether it was scheduled.
func (t *Timer) Stop() bool {
	if t.index < 0 {
		return false
	}
	t.loop.timers.remove(t.index)
	return true
}

// Scheduled reports whether the timer is waiting to run.
func (t *Timer) Scheduled() bool { return t.index >= 0 }

// When is the time the timer is scheduled for (zero if not scheduled).
func (t *Timer) When() time.Time {
	if t.index < 0 {
		return time.Time{}
	}
	return t.when
}

func (t *Timer) schedule(when time.Time) {
	l := t.loop
	if t.index >= 0 {
		l.timers.remove(t.index)
	}
	l.seq++
	t.when, t.seq, t.set = when, l.seq, l.now
	l.timers.push(t)
}

// runTimers runs every timer due at the loop's current time that was
// scheduled before this call began.
func (l *Loop) runTimers() {
	limit := l.seq
	for len(l.timers) > 0 {
		t := l.timers[0]
		if t.when.After(l.now) || t.seq > limit {
			return
		}
		l.timers.remove(0)
		if t.period > 0 {
			next := t.when.Add(t.period)
			if !next.After(l.now) {
				next = l.now.Add(t.period)
			}
			t.schedule(next)
		}
		t.fn()
	}
}

// timerHeap is a binary min-heap of timers by (when, seq); each timer knows
// its index so that Stop and Reset are O(log n).
type timerHeap []*Timer

func (h timerHeap) less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}

func (h timerHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) push(t *Timer) {
	t.index = len(*h)
	*h = append(*h, t)
	h.up(t.index)
}

func (h *timerHeap) remove(i int) {
	old := *h
	last := len(old) - 1
	t := old[i]
	if i != last {
		old.swap(i, last)
	}
	old[last] = nil
	*h = old[:last]
	if i != last {
		if !h.down(i) {
			h.up(i)
		}
	}
	t.index = -1
}

func (h timerHeap) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !h.less(i, parent) {
			return
		}
		h.swap(i, parent)
		i = parent
	}
}

// down sifts element i towards the leaves and reports whether it moved.
func (h timerHeap) down(i int) bool {
	start := i
	n := len(h)
	for {
		smallest := i
		l, r := 2*i+1, 2*i+2
		if l < n && h.less(l, smallest) {
			smallest = l
		}
		if r < n && h.less(r, smallest) {
			smallest = r
		}
		if smallest == i {
			return i != start
		}
		h.swap(i, smallest)
		i = smallest
	}
}
