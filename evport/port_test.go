/*
 * Tests of Port, the readiness binding, used directly without a loop: the
 * one-shot contract (a fired association stays quiet until re-armed, even
 * with the data still unread), re-association replacing the interest set,
 * Dissociate, hang-ups reported as both directions, and Wait's timeout.
 */

package evport

import (
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func newTestPort(t *testing.T) *Port {
	t.Helper()
	p, err := NewPort()
	if err != nil {
		t.Fatalf("NewPort: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Port.Close: %v", err)
		}
	})
	return p
}

// pairForPort is a socketpair closed at the end of the test.
func pairForPort(t *testing.T) (int, int) {
	a, b := socketpair(t)
	t.Cleanup(func() { unix.Close(a); unix.Close(b) })
	return a, b
}

// waitEvents waits up to timeout and returns what fired.
func waitEvents(t *testing.T, p *Port, timeout time.Duration) []Event {
	t.Helper()
	out := make([]Event, 8)
	n, err := p.Wait(out, timeout)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return out[:n]
}

// expectOne waits for exactly one event, on fd, and returns its events.
func expectOne(t *testing.T, p *Port, fd int) Events {
	t.Helper()
	evs := waitEvents(t, p, 5*time.Second)
	if len(evs) != 1 || evs[0].FD != fd {
		t.Fatalf("want one event on fd %d, got %+v", fd, evs)
	}
	return evs[0].Events
}

func expectNone(t *testing.T, p *Port, why string) {
	t.Helper()
	if evs := waitEvents(t, p, 30*time.Millisecond); len(evs) != 0 {
		t.Fatalf("%s: want no event, got %+v", why, evs)
	}
}

func TestPortOneShot(t *testing.T) {
	p := newTestPort(t)
	a, b := pairForPort(t)
	if _, err := unix.Write(b, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := p.Associate(a, 1, Readable); err != nil {
		t.Fatalf("Associate: %v", err)
	}
	if ev := expectOne(t, p, a); ev != Readable {
		t.Fatalf("events = %v, want Readable", ev)
	}
	// The byte is still unread, but the association has fired.
	expectNone(t, p, "after firing, before re-arm")
	expectNone(t, p, "still not re-armed")

	if err := p.Associate(a, 1, Readable); err != nil {
		t.Fatalf("re-Associate: %v", err)
	}
	if ev := expectOne(t, p, a); ev != Readable {
		t.Fatalf("events = %v, want Readable", ev)
	}
	expectNone(t, p, "after second firing")
}

func TestPortAssociateReplacesInterest(t *testing.T) {
	p := newTestPort(t)
	a, b := pairForPort(t)

	// a is writable at once; asking for Readable instead must drop that.
	if err := p.Associate(a, 1, Writable); err != nil {
		t.Fatal(err)
	}
	if err := p.Associate(a, 1, Readable); err != nil {
		t.Fatal(err)
	}
	expectNone(t, p, "Writable replaced by Readable, nothing to read")
	if _, err := unix.Write(b, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if ev := expectOne(t, p, a); ev != Readable {
		t.Fatalf("events = %v, want Readable only", ev)
	}

	// And the other way round: Readable replaced by Writable reports only
	// Writable although there is data to read.
	if err := p.Associate(a, 1, Readable); err != nil {
		t.Fatal(err)
	}
	if err := p.Associate(a, 1, Writable); err != nil {
		t.Fatal(err)
	}
	if ev := expectOne(t, p, a); ev != Writable {
		t.Fatalf("events = %v, want Writable only", ev)
	}
}

func TestPortDissociate(t *testing.T) {
	p := newTestPort(t)
	a, b := pairForPort(t)
	if err := p.Dissociate(a); err != nil {
		t.Fatalf("Dissociate of an fd never associated: %v", err)
	}
	if _, err := unix.Write(b, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := p.Associate(a, 1, Readable); err != nil {
		t.Fatal(err)
	}
	if err := p.Dissociate(a); err != nil {
		t.Fatalf("Dissociate: %v", err)
	}
	expectNone(t, p, "dissociated with data pending")
	if err := p.Dissociate(a); err != nil {
		t.Fatalf("second Dissociate: %v", err)
	}
	// Associating again after Dissociate works.
	if err := p.Associate(a, 1, Readable); err != nil {
		t.Fatalf("Associate after Dissociate: %v", err)
	}
	if ev := expectOne(t, p, a); ev != Readable {
		t.Fatalf("events = %v, want Readable", ev)
	}
}

// A peer's hang-up wakes a reader. epoll reports EPOLLHUP, which the
// Linux binding gives as Readable|Writable; illumos sockets report a
// hang-up (and an error) as an input event, POLLIN, possibly without
// POLLHUP, so there Readable alone is right too.
func TestPortHangupReportsBothDirections(t *testing.T) {
	p := newTestPort(t)
	a, b := socketpair(t)
	t.Cleanup(func() { unix.Close(a) })
	if err := p.Associate(a, 1, Readable); err != nil {
		t.Fatal(err)
	}
	unix.Close(b)
	ev := expectOne(t, p, a)
	if ev != Readable|Writable && !(runtime.GOOS == "illumos" && ev == Readable) {
		t.Fatalf("hang-up reported as %v, want Readable|Writable (or Readable on illumos)", ev)
	}
}

func TestPortWaitSeveralFDs(t *testing.T) {
	p := newTestPort(t)
	a1, b1 := pairForPort(t)
	a2, b2 := pairForPort(t)
	for _, fd := range []int{b1, b2} {
		if _, err := unix.Write(fd, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, fd := range []int{a1, a2} {
		if err := p.Associate(fd, 1, Readable); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[int]int{}
	deadline := time.Now().Add(5 * time.Second)
	for len(seen) < 2 && time.Now().Before(deadline) {
		for _, ev := range waitEvents(t, p, time.Second) {
			seen[ev.FD]++
		}
	}
	if seen[a1] != 1 || seen[a2] != 1 || len(seen) != 2 {
		t.Fatalf("events per fd = %v, want one each on %d and %d", seen, a1, a2)
	}
	expectNone(t, p, "both fired")
}

func TestPortWaitTimeout(t *testing.T) {
	p := newTestPort(t)
	a, _ := pairForPort(t)
	if err := p.Associate(a, 1, Readable); err != nil {
		t.Fatal(err)
	}
	// A zero timeout polls.
	start := time.Now()
	if evs := waitEvents(t, p, 0); len(evs) != 0 {
		t.Fatalf("poll: got %+v", evs)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("zero-timeout Wait took %v", d)
	}
	// A signal may cut a wait short (Wait then returns nothing), so allow
	// a few attempts to see one full wait; none may report events or
	// overstay grossly.
	const timeout = 50 * time.Millisecond
	full := false
	for attempt := 0; attempt < 3 && !full; attempt++ {
		start := time.Now()
		evs := waitEvents(t, p, timeout)
		d := time.Since(start)
		if len(evs) != 0 {
			t.Fatalf("timed-out Wait returned %+v", evs)
		}
		if d > 2*time.Second {
			t.Fatalf("Wait(%v) took %v", timeout, d)
		}
		full = d >= timeout-5*time.Millisecond
	}
	if !full {
		t.Fatalf("Wait(%v) never waited that long in 3 attempts", timeout)
	}
}

func TestWaitMillis(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int
	}{
		{-1, -1},
		{-time.Hour, -1},
		{0, 0},
		{time.Nanosecond, 1},
		{500 * time.Microsecond, 1},
		{time.Millisecond, 1},
		{time.Millisecond + 1, 2},
		{1500 * time.Millisecond, 1500},
		{1e6 * time.Second, 1e9},
		{100 * 365 * 24 * time.Hour, 1e9}, // capped: fits epoll's int
	} {
		if got := waitMillis(c.d); got != c.want {
			t.Errorf("waitMillis(%v) = %d, want %d", c.d, got, c.want)
		}
	}
}

// The generation given to Associate comes back with the event, whole (the
// top bit included), and re-associating replaces it.
func TestPortEventCarriesGeneration(t *testing.T) {
	p := newTestPort(t)
	a, b := pairForPort(t)
	if _, err := unix.Write(b, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, gen := range []uint32{7, 0xfffffffe} {
		if err := p.Associate(a, 1, Writable); err != nil {
			t.Fatal(err)
		}
		if err := p.Associate(a, gen, Readable); err != nil { // re-arm: replaces both
			t.Fatal(err)
		}
		evs := waitEvents(t, p, 5*time.Second)
		if len(evs) != 1 || evs[0].FD != a || evs[0].Gen != gen || evs[0].Events != Readable {
			t.Fatalf("got %+v, want one Readable event on fd %d with generation %#x", evs, a, gen)
		}
	}
}

// Wake from another goroutine ends a Wait that would block forever; the
// wake-up itself is not reported as an event, and it is consumed: several
// Wakes before a Wait end that one Wait only.
func TestPortWake(t *testing.T) {
	p := newTestPort(t)
	a, _ := pairForPort(t)
	if err := p.Associate(a, 1, Readable); err != nil { // never fires: nothing to read
		t.Fatal(err)
	}
	go func() {
		time.Sleep(10 * time.Millisecond)
		if err := p.Wake(); err != nil {
			t.Error(err)
		}
	}()
	// Wait forever, but for the Wake (or a signal: then wait again).
	done := make(chan []Event, 1)
	go func() {
		out := make([]Event, 8)
		n, err := p.Wait(out, -1)
		if err != nil {
			t.Error(err)
		}
		done <- out[:n]
	}()
	select {
	case evs := <-done:
		if len(evs) != 0 {
			t.Fatalf("Wake reported as events %+v", evs)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wake did not end a Wait with no timeout")
	}

	for range 3 {
		if err := p.Wake(); err != nil {
			t.Fatal(err)
		}
	}
	if evs := waitEvents(t, p, 5*time.Second); len(evs) != 0 {
		t.Fatalf("Wake reported as events %+v", evs)
	}
	// All three consumed: the next Wait waits out its timeout (a signal
	// may cut it short, so allow a few tries to see one full wait).
	const timeout = 30 * time.Millisecond
	full := false
	for attempt := 0; attempt < 3 && !full; attempt++ {
		start := time.Now()
		if evs := waitEvents(t, p, timeout); len(evs) != 0 {
			t.Fatalf("events %+v after the wake-ups were consumed", evs)
		}
		full = time.Since(start) >= timeout-5*time.Millisecond
	}
	if !full {
		t.Fatal("Wait kept returning early: a wake-up was not consumed")
	}
}
