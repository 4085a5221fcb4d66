/*
 * Tests of the busiest clients (top.go) on the hand-driven clock: a heavy
 * and a medium client among many light ones are the first two of the last
 * complete window, with counts within their overcount of the truth; the
 * window's total counts every contact; a window turns at its end, and a
 * quiet window reports nobody.
 */

package remote_test

import (
	"testing"

	"github.com/joyent/mname-balancer/remote"
)

func TestTopRemotesFindsTheBusiest(t *testing.T) {
	h := newHarnessClock(t, noPeriodic, "5301")
	// Every contact below is at one instant: in one window.
	const light = 3000
	onLoop(t, h.loop, func() {
		for i := 0; i < light; i++ {
			h.table.HeardFrom(ip10(1000 + i))
			if i%6 == 0 {
				h.table.HeardFrom(ip10(1)) // 500
			}
			if i%15 == 0 {
				h.table.HeardFrom(ip10(2)) // 200
			}
		}
		// Still the window being counted: the last complete one is quiet.
		if top, _, total := h.table.TopRemotes(nil); len(top) != 0 || total != 0 {
			t.Errorf("before the window ended: %d busiest, %d contacts; want none", len(top), total)
		}
	})
	h.run.Advance(remote.TopWindow)
	onLoop(t, h.loop, func() {
		top, _, total := h.table.TopRemotes(nil)
		if total != light+500+200 {
			t.Errorf("window total %d, want %d", total, light+700)
		}
		if len(top) < 2 || top[0].Addr != ip10(1) || top[1].Addr != ip10(2) {
			t.Fatalf("busiest %+v, want 10.0.0.1 then 10.0.0.2", top)
		}
		for i, want := range []uint64{500, 200} {
			if c, o := top[i].Contacts, top[i].Overcount; c < want || c-o > want {
				t.Errorf("%#x: %d contacts (overcount %d), truth %d", top[i].Addr, c, o, want)
			}
		}
	})
	// Two windows later, with nothing heard: nobody.
	h.run.Advance(2 * remote.TopWindow)
	onLoop(t, h.loop, func() {
		if top, _, total := h.table.TopRemotes(nil); len(top) != 0 || total != 0 {
			t.Errorf("after a quiet window: %d busiest, %d contacts; want none", len(top), total)
		}
	})
}
