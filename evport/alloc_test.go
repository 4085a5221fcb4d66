/*
 * Allocation checks for the steady state of the packet path: queueing a
 * small message on an established Conn and flushing it (as the loop does at
 * the end of a turn), moving a timer, and one wake-up of the Port (re-arm,
 * wait, dispatch). All must allocate nothing once
 * the buffers have grown to their working size. The loop is driven by hand
 * (Write, then flushDirty) so that nothing else runs in between.
 */

package evport

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// countingHandler is a ConnHandler that allocates nothing.
type countingHandler struct{ drained, other int }

func (h *countingHandler) Connected(*Conn)                {}
func (h *countingHandler) Received(_ *Conn, b []byte) int { h.other++; return len(b) }
func (h *countingHandler) EOF(*Conn)                      { h.other++ }
func (h *countingHandler) Drained(*Conn)                  { h.drained++ }
func (h *countingHandler) Closed(*Conn, error)            { h.other++ }

func TestWriteFlushAllocatesNothing(t *testing.T) {
	l := newTestLoop(t)
	fa, fb := socketpair(t)
	t.Cleanup(func() { unix.Close(fb) })
	h := &countingHandler{}
	c, err := NewConn(l, fa, h, ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := pattern(48)
	buf := make([]byte, 256)
	bad := 0
	roundTrip := func() {
		if c.Write(msg) != len(msg) {
			bad++
		}
		l.flushDirty()
		if n, err := unix.Read(fb, buf); err != nil || n != len(msg) {
			bad++
		}
	}
	roundTrip() // grow the send queue and the flush list once
	h.drained = 0
	allocs := testing.AllocsPerRun(1000, roundTrip)
	if bad != 0 {
		t.Fatalf("%d round trips went wrong", bad)
	}
	if h.drained != 1001 { // AllocsPerRun runs once more to warm up
		t.Fatalf("Drained %d times in 1001 round trips", h.drained)
	}
	if allocs != 0 {
		t.Fatalf("Write+flush allocates %v times per message", allocs)
	}
}

func TestTimerResetAllocatesNothing(t *testing.T) {
	l := newTestLoop(t)
	for i := 0; i < 100; i++ {
		l.NewTimer(func() {}).Reset(time.Duration(i) * time.Millisecond)
	}
	tm := l.NewTimer(func() {})
	tm.Reset(time.Second)
	d := time.Duration(0)
	allocs := testing.AllocsPerRun(1000, func() {
		d = (d + 7*time.Millisecond) % (200 * time.Millisecond)
		tm.Reset(d)
	})
	if allocs != 0 {
		t.Fatalf("Timer.Reset allocates %v times", allocs)
	}
	allocs = testing.AllocsPerRun(1000, func() {
		tm.Stop()
		tm.Reset(time.Second)
	})
	if allocs != 0 {
		t.Fatalf("Timer.Stop+Reset allocates %v times", allocs)
	}
}

// The Port's steady state: re-arming a ready fd, waiting and dispatching
// its event (one loop wake-up, without the rest of the turn) allocates
// nothing, on either binding.
func TestArmWaitDispatchAllocatesNothing(t *testing.T) {
	l := newTestLoop(t)
	fa, fb := socketpair(t)
	t.Cleanup(func() { unix.Close(fb) })
	if _, err := unix.Write(fb, []byte("x")); err != nil { // stays unread: always ready
		t.Fatal(err)
	}
	fired := 0
	f := l.NewFD(fa, func(Events) { fired++ })
	t.Cleanup(func() { f.Close() })
	bad := 0
	wakeUp := func() {
		if err := f.Arm(Readable); err != nil {
			bad++
		}
		n, err := l.port.Wait(l.events, time.Second)
		if err != nil || n != 1 {
			bad++
		}
		for i := 0; i < n; i++ {
			l.dispatch(l.events[i])
		}
	}
	allocs := testing.AllocsPerRun(1000, wakeUp)
	if bad != 0 || fired != 1001 {
		t.Fatalf("%d of 1001 wake-ups went wrong; the handler ran %d times", bad, fired)
	}
	if allocs != 0 {
		t.Fatalf("re-arm + wait + dispatch allocates %v times", allocs)
	}
}
