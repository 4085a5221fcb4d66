/*
 * Tests of the loop itself: Post from many goroutines (every function runs
 * once, on the loop goroutine, in each poster's order), Post(l.Stop) ending
 * a Run that is blocked with nothing to do, work posted from the loop
 * running on a later turn, and FD registration (one-shot dispatch, Arm
 * with the same or an empty set, Watch staying armed and Arm making a
 * watched fd one-shot again, Close exactly once).
 */

package evport

import (
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestPostFromManyGoroutines(t *testing.T) {
	l := newTestLoop(t)
	const goroutines, perGoroutine = 8, 1000
	loopID := goid()
	got := make([][]int, goroutines) // touched only on the loop
	total := 0
	offLoop := 0
	var start sync.WaitGroup
	start.Add(1)
	var done sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			for i := 0; i < perGoroutine; i++ {
				l.Post(func() {
					if goid() != loopID {
						offLoop++
					}
					got[g] = append(got[g], i)
					total++
				})
			}
		}()
	}
	start.Done()
	runUntil(t, l, 10*time.Second, "all posts", func() bool { return total >= goroutines*perGoroutine })
	done.Wait()
	runFor(t, l, 10*time.Millisecond) // nothing more may arrive
	if offLoop != 0 {
		t.Fatalf("%d posted functions ran off the loop goroutine", offLoop)
	}
	if total != goroutines*perGoroutine {
		t.Fatalf("%d posted functions ran, want %d", total, goroutines*perGoroutine)
	}
	for g, seq := range got {
		if len(seq) != perGoroutine {
			t.Fatalf("goroutine %d: %d functions ran, want %d", g, len(seq), perGoroutine)
		}
		for i, v := range seq {
			if v != i {
				t.Fatalf("goroutine %d: function %d ran in position %d", g, v, i)
			}
		}
	}
}

func TestPostStopEndsBlockedRun(t *testing.T) {
	l := newTestLoop(t)
	ran := make(chan struct{})
	returned := make(chan error, 1)
	go func() { returned <- l.Run() }()
	// The loop has no timers and no fds, only its Port's wake-up: it sleeps
	// until a post wakes it.
	time.Sleep(20 * time.Millisecond)
	l.Post(func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("posted function did not run")
	}
	time.Sleep(10 * time.Millisecond)
	l.Post(l.Stop)
	select {
	case err := <-returned:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Post(l.Stop) did not stop Run")
	}
}

func TestPostFromLoopRunsNextTurn(t *testing.T) {
	l := newTestLoop(t)
	var outer, inner time.Time
	l.Post(func() {
		outer = l.Now()
		l.Post(func() { inner = l.Now() })
		time.Sleep(20 * time.Millisecond) // a coarse clock moves on too
	})
	runUntil(t, l, 5*time.Second, "nested post", func() bool { return !inner.IsZero() })
	if !inner.After(outer) {
		t.Fatalf("post from a posted function ran in the same turn (%v, %v)", outer, inner)
	}
}

func TestFDDispatchIsOneShot(t *testing.T) {
	l := newTestLoop(t)
	a, b := socketpair(t)
	t.Cleanup(func() { unix.Close(b) })
	var calls []Events
	f := l.NewFD(a, func(ev Events) { calls = append(calls, ev) })
	if f.Int() != a {
		t.Fatalf("Int() = %d, want %d", f.Int(), a)
	}
	if _, err := unix.Write(b, []byte("x")); err != nil {
		t.Fatal(err)
	}
	runFor(t, l, 10*time.Millisecond)
	if len(calls) != 0 {
		t.Fatalf("handler ran %d times before Arm", len(calls))
	}
	if err := f.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	if err := f.Arm(Readable); err != nil { // same set: no change
		t.Fatal(err)
	}
	if f.Armed() != Readable {
		t.Fatalf("Armed() = %v", f.Armed())
	}
	runFor(t, l, 20*time.Millisecond)
	if len(calls) != 1 || calls[0] != Readable {
		t.Fatalf("calls = %v, want one Readable (unread data must not re-fire)", calls)
	}
	if f.Armed() != 0 {
		t.Fatalf("Armed() = %v after firing", f.Armed())
	}
	// Arm then disarm: nothing fires.
	if err := f.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	if err := f.Arm(0); err != nil {
		t.Fatal(err)
	}
	runFor(t, l, 20*time.Millisecond)
	if len(calls) != 1 {
		t.Fatalf("disarmed fd fired: %v", calls)
	}
	// Re-arm after disarm fires again.
	if err := f.Arm(Readable | Writable); err != nil {
		t.Fatal(err)
	}
	runFor(t, l, 20*time.Millisecond)
	if len(calls) != 2 || calls[1] != Readable|Writable {
		t.Fatalf("calls = %v, want a second Readable|Writable", calls)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := f.Arm(Readable); err == nil {
		t.Fatal("Arm of a closed FD succeeded")
	}
	if _, err := unix.FcntlInt(uintptr(a), unix.F_GETFD, 0); err != unix.EBADF {
		t.Fatalf("fd still open after FD.Close (fcntl: %v)", err)
	}
}

// Closing an fd from the handler of another fd that fired in the same
// batch drops the closed fd's event.
func TestFDClosedEarlierInBatchIsNotDispatched(t *testing.T) {
	l := newTestLoop(t)
	a1, b1 := socketpair(t)
	a2, b2 := socketpair(t)
	t.Cleanup(func() { unix.Close(b1); unix.Close(b2) })
	var f1, f2 *FD
	calls := 0
	closer := func(Events) {
		calls++
		// Whichever runs first closes the other.
		if calls == 1 {
			f1.Close()
			f2.Close()
		}
	}
	f1 = l.NewFD(a1, closer)
	f2 = l.NewFD(a2, closer)
	for _, fd := range []int{b1, b2} {
		if _, err := unix.Write(fd, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := f1.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	if err := f2.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // let both be ready for one Wait
	runFor(t, l, 20*time.Millisecond)
	if calls != 1 {
		t.Fatalf("handlers ran %d times, want 1", calls)
	}
}

// Disarming an fd from the handler of another fd that fired in the same
// batch drops its event too: handlers run only for armed fds.
func TestFDDisarmedEarlierInBatchIsNotDispatched(t *testing.T) {
	l := newTestLoop(t)
	a1, b1 := socketpair(t)
	a2, b2 := socketpair(t)
	t.Cleanup(func() { unix.Close(b1); unix.Close(b2) })
	var f1, f2 *FD
	calls := 0
	disarmer := func(Events) {
		calls++
		if calls == 1 {
			if err := f1.Arm(0); err != nil {
				t.Error(err)
			}
			if err := f2.Arm(0); err != nil {
				t.Error(err)
			}
		}
	}
	f1 = l.NewFD(a1, disarmer)
	f2 = l.NewFD(a2, disarmer)
	t.Cleanup(func() { f1.Close(); f2.Close() })
	for _, fd := range []int{b1, b2} {
		if _, err := unix.Write(fd, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := f1.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	if err := f2.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // let both be ready for one Wait
	runFor(t, l, 20*time.Millisecond)
	if calls != 1 {
		t.Fatalf("handlers ran %d times, want 1", calls)
	}
}

// An event whose generation is not that of the fd's current registration
// is dropped: it was armed by an earlier registration of the same number.
func TestDispatchDropsEventOfEarlierGeneration(t *testing.T) {
	l := newTestLoop(t)
	a, b := socketpair(t)
	t.Cleanup(func() { unix.Close(b) })
	var old, cur []Events
	f1 := l.NewFD(a, func(ev Events) { old = append(old, ev) })
	if err := f1.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	stale := Event{FD: a, Gen: f1.gen, Events: Readable}
	// The registration ends without closing the fd, and a new one takes
	// the same number.
	f1.closed = true
	if err := l.port.Dissociate(a); err != nil {
		t.Fatal(err)
	}
	f2 := l.NewFD(a, func(ev Events) { cur = append(cur, ev) })
	t.Cleanup(func() { f2.Close() })
	if f2.gen == f1.gen {
		t.Fatalf("two registrations share generation %d", f2.gen)
	}
	if err := f2.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	l.dispatch(stale)
	if len(old)+len(cur) != 0 || f2.Armed() != Readable {
		t.Fatalf("stale event dispatched (old %v, new %v, armed %v)", old, cur, f2.Armed())
	}
	l.dispatch(Event{FD: a, Gen: f2.gen, Events: Readable})
	if len(cur) != 1 || cur[0] != Readable || len(old) != 0 {
		t.Fatalf("current event: old %v, new %v; want one Readable to the new handler", old, cur)
	}
	l.dispatch(Event{FD: 1 << 20, Events: Readable}) // beyond the table: ignored
}

// The same through the kernel: two fds fire in one batch; the first
// handler closes the other fd and registers a new socket, with nothing to
// read, under the same number, armed. The closed fd's event, still in the
// batch, must not reach the new registration.
func TestEventForReusedFDNumberIsDropped(t *testing.T) {
	l := newTestLoop(t)
	a1, b1 := socketpair(t)
	a2, b2 := socketpair(t)
	quiet, quietPeer := socketpair(t) // never written to
	t.Cleanup(func() { unix.Close(b1); unix.Close(b2); unix.Close(quiet); unix.Close(quietPeer) })
	var f1, f2, reused *FD
	calls := 0
	newCalls := 0
	// Whichever runs first closes the other.
	first := func(self **FD) {
		calls++
		if calls > 1 {
			return
		}
		other := f2
		if self == &f2 {
			other = f1
		}
		num := other.Int()
		if err := other.Close(); err != nil {
			t.Error(err)
		}
		if err := unix.Dup2(quiet, num); err != nil {
			t.Error(err)
			return
		}
		reused = l.NewFD(num, func(Events) { newCalls++ })
		if err := reused.Arm(Readable); err != nil {
			t.Error(err)
		}
	}
	f1 = l.NewFD(a1, func(Events) { first(&f1) })
	f2 = l.NewFD(a2, func(Events) { first(&f2) })
	t.Cleanup(func() {
		f1.Close()
		f2.Close()
		if reused != nil {
			reused.Close()
		}
	})
	for _, fd := range []int{b1, b2} {
		if _, err := unix.Write(fd, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := f1.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	if err := f2.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	// Both are readable before the loop waits, so one Wait returns both.
	runFor(t, l, 50*time.Millisecond)
	if calls != 1 {
		t.Fatalf("old handlers ran %d times, want 1", calls)
	}
	if reused == nil {
		t.Fatal("the first handler did not re-register the number")
	}
	if newCalls != 0 {
		t.Fatalf("the new registration's handler ran %d times for an event of the closed fd", newCalls)
	}
}

// A watched fd stays armed: its handler runs on every turn while the fd
// is ready (here it reads one byte per call), without re-arming, and
// again when new data comes; Arm(0) ends it.
func TestWatchStaysArmedAcrossEvents(t *testing.T) {
	l := newTestLoop(t)
	a, b := socketpair(t)
	t.Cleanup(func() { unix.Close(b) })
	var got []byte
	var turns []time.Time
	var f *FD
	f = l.NewFD(a, func(ev Events) {
		var one [1]byte
		if n, err := unix.Read(a, one[:]); err == nil && n == 1 {
			got = append(got, one[0])
		}
		turns = append(turns, l.Now())
		if f.Armed() != Readable {
			t.Errorf("watched fd disarmed inside its handler (armed %v)", f.Armed())
		}
	})
	t.Cleanup(func() { f.Close() })
	if _, err := unix.Write(b, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := f.Watch(Readable); err != nil {
		t.Fatal(err)
	}
	runUntil(t, l, 5*time.Second, "three bytes, one per call", func() bool { return len(got) == 3 })
	runFor(t, l, 20*time.Millisecond)
	if string(got) != "abc" || len(turns) != 3 {
		t.Fatalf("read %q in %d calls, want abc in 3", got, len(turns))
	}
	if _, err := unix.Write(b, []byte("d")); err != nil {
		t.Fatal(err)
	}
	runUntil(t, l, 5*time.Second, "the next byte without re-arming", func() bool { return len(got) == 4 })
	if err := f.Arm(0); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(b, []byte("e")); err != nil {
		t.Fatal(err)
	}
	runFor(t, l, 30*time.Millisecond)
	if string(got) != "abcd" {
		t.Fatalf("read %q; after Arm(0) the handler must not run", got)
	}
}

// Arm on a watched fd makes it one-shot again, even for the events it is
// watched for: the handler runs once for two bytes (it reads one per
// call) and the fd stays quiet until armed again.
func TestArmAfterWatchIsOneShot(t *testing.T) {
	l := newTestLoop(t)
	a, b := socketpair(t)
	t.Cleanup(func() { unix.Close(b) })
	var got []byte
	var f *FD
	f = l.NewFD(a, func(Events) {
		var one [1]byte
		if n, err := unix.Read(a, one[:]); err == nil && n == 1 {
			got = append(got, one[0])
		}
		if f.Armed() != 0 {
			t.Errorf("one-shot fd still armed inside its handler (armed %v)", f.Armed())
		}
	})
	t.Cleanup(func() { f.Close() })
	if err := f.Watch(Readable); err != nil {
		t.Fatal(err)
	}
	if err := f.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(b, []byte("xy")); err != nil {
		t.Fatal(err)
	}
	// n turns, each waiting without blocking (posted work is pending), so
	// a ready fd that is still armed is dispatched on every one.
	turns := func(n int) {
		var step func()
		step = func() {
			if n--; n == 0 {
				l.Stop()
				return
			}
			l.Post(step)
		}
		l.Post(step)
		if err := l.Run(); err != nil {
			t.Fatal(err)
		}
	}
	turns(5)
	if string(got) != "x" {
		t.Fatalf("read %q, want x: Arm after Watch must fire once", got)
	}
	if err := f.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	turns(5)
	if string(got) != "xy" {
		t.Fatalf("read %q after re-arming, want xy", got)
	}
}

// A watched fd's handler may close it: the loop does not renew a closed
// registration (on event ports it would fail), and Run goes on.
func TestWatchedFDClosedByItsHandler(t *testing.T) {
	l := newTestLoop(t)
	a, b := socketpair(t)
	t.Cleanup(func() { unix.Close(b) })
	calls := 0
	var f *FD
	f = l.NewFD(a, func(Events) {
		calls++
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	if _, err := unix.Write(b, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := f.Watch(Readable); err != nil {
		t.Fatal(err)
	}
	runFor(t, l, 30*time.Millisecond)
	if calls != 1 || l.failed != nil {
		t.Fatalf("handler ran %d times; loop failure %v", calls, l.failed)
	}
}

// AtTurnEnd's functions run once every handler of the events one wait
// returned has run, in the order asked, not between handlers; asked for by
// a timer, before the loop waits.
func TestAtTurnEndRunsAfterTheTurnsHandlers(t *testing.T) {
	l := newTestLoop(t)
	a1, b1 := socketpair(t)
	a2, b2 := socketpair(t)
	t.Cleanup(func() { unix.Close(b1); unix.Close(b2) })
	var order []string
	handler := func(name string) func(Events) {
		return func(Events) {
			order = append(order, name)
			l.AtTurnEnd(func() { order = append(order, "end "+name) })
		}
	}
	f1 := l.NewFD(a1, handler("1"))
	f2 := l.NewFD(a2, handler("2"))
	t.Cleanup(func() { f1.Close(); f2.Close() })
	// Both readable before the loop runs: one wait returns both.
	for _, fd := range []int{b1, b2} {
		if _, err := unix.Write(fd, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := f1.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	if err := f2.Arm(Readable); err != nil {
		t.Fatal(err)
	}
	runUntil(t, l, 5*time.Second, "both handlers", func() bool { return len(order) == 4 })
	if !(order[2] == "end "+order[0] && order[3] == "end "+order[1]) {
		t.Fatalf("order %q: the turn-end functions must follow both handlers, in the order asked", order)
	}

	ranEnd := false
	l.NewTimer(func() {
		l.AtTurnEnd(func() { ranEnd = true })
		l.Stop()
	}).Reset(0)
	if err := l.Run(); err != nil {
		t.Fatal(err)
	}
	if !ranEnd || len(l.atEnd) != 0 {
		t.Fatalf("turn-end function of a timer: ran %v, %d left", ranEnd, len(l.atEnd))
	}
}

// On event ports a watched fd is associated again after each event, once:
// not when its handler already did so by changing its interest, nor when
// it disarmed, re-armed one-shot or closed it; never where the binding
// keeps the fd armed itself.
func TestRenewAfterEvent(t *testing.T) {
	watched := func(ev Events) *FD { return &FD{armed: ev, watch: true} }
	changed := watched(Readable)
	closed := watched(Readable)
	closed.closed = true
	oneShot := &FD{armed: Readable}
	for _, tc := range []struct {
		name    string
		f       *FD
		before  Events
		oneShot bool
		want    bool
	}{
		{"unchanged interest", watched(Readable), Readable, true, true},
		{"handler watched for something else", changed, Readable | Writable, true, false},
		{"handler re-armed one-shot", oneShot, Readable, true, false},
		{"handler closed it", closed, Readable, true, false},
		{"level-triggered binding", watched(Readable), Readable, false, false},
	} {
		if got := tc.f.renewAfterEvent(tc.oneShot, tc.before); got != tc.want {
			t.Errorf("%s: renew %v, want %v", tc.name, got, tc.want)
		}
	}
}
