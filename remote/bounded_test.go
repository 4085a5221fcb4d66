/*
Tests of the bounded table (issue 12): eviction of the least recently seen
remote when full (by last contact, not by creation), the refusal of new
clients when every remote was seen within EvictAfter (known clients still
served), Known for the reflection guard, primary counts exact through
eviction, the rate limit on per-client records under a flood of new
clients (a burst, then one summary with the count), and no allocation on
the lookup of a known remote nor per new address in a full table.

Time is a hand-driven clock (looptest.StartWithClock): the tests step it
to just before and just past each interval.
*/

package remote_test

import (
	"testing"
	"time"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/remote"
)

func TestEvictLeastRecentlySeen(t *testing.T) {
	rt := noPeriodic
	rt.EvictAfter = 10 * time.Second
	h := newHarnessClock(t, rt, "5301", "5302")
	onLoop(t, h.loop, func() {
		h.table.SetMaxRemotes(3)
		for i := 1; i <= 3; i++ {
			h.table.Route(h.table.HeardFrom(ip10(i)))
		}
	})
	// Within EvictAfter of the last of them: a newcomer is served
	// untracked.
	h.run.Advance(rt.EvictAfter - time.Nanosecond)
	onLoop(t, h.loop, func() {
		r := h.table.HeardFrom(ip10(4))
		if r.Tracked() || h.table.Route(r) == nil || h.table.Known(ip10(4)) || h.table.Stats().Untracked != 1 {
			t.Errorf("a newcomer %v before EvictAfter was admitted, or not served (stats %+v)", rt.EvictAfter-time.Nanosecond, h.table.Stats())
		}
	})
	h.run.Advance(time.Nanosecond)
	onLoop(t, h.loop, func() {
		h.table.HeardFrom(ip10(1)) // 1 is seen again: 2 is now the oldest
		if b := h.table.Route(h.table.HeardFrom(ip10(4))); b == nil {
			t.Error("the new remote got no backend")
		}
		if h.table.Len() != 3 || h.table.Known(ip10(2)) || !h.table.Known(ip10(1)) || !h.table.Known(ip10(3)) || !h.table.Known(ip10(4)) {
			t.Errorf("Len %d, known 1:%v 2:%v 3:%v 4:%v; want 3 remotes, 2 evicted", h.table.Len(),
				h.table.Known(ip10(1)), h.table.Known(ip10(2)), h.table.Known(ip10(3)), h.table.Known(ip10(4)))
		}
		if st := h.table.Stats(); st.Evicted != 1 || st.New != 4 || st.Untracked != 1 {
			t.Errorf("stats %+v, want 4 new, 1 evicted, 1 untracked", st)
		}
	})
	rs := h.logs.Find(t, "remote table full: evicting least recently seen remote")
	if len(rs) != 1 || rs[0].Str("remote_ip") != "10.0.0.2" || rs[0].Str("max_remotes") != "3" {
		t.Errorf("eviction records %v, want one for 10.0.0.2", rs)
	}
	h.checkCounts()
}

// TestFullOfActiveRemotesServesNewClientsUntracked: a table full of
// remotes seen within EvictAfter adds no new client but serves it
// untracked, by a hash of its address over the usable backends: the same
// backend each time, and new clients spread over all of them.
func TestFullOfActiveRemotesServesNewClientsUntracked(t *testing.T) {
	rt := noPeriodic
	rt.EvictAfter = time.Hour
	h := newHarness(t, rt, "5301", "5302")
	onLoop(t, h.loop, func() {
		h.table.SetMaxRemotes(2)
		h.table.Route(h.table.HeardFrom(ip10(1)))
		h.table.Route(h.table.HeardFrom(ip10(2)))
		var first uint32
		for range 3 {
			r := h.table.HeardFrom(ip10(3))
			if r == nil || r.Tracked() {
				t.Fatalf("HeardFrom in a full table returned %v, want an untracked stand-in", r)
			}
			b := h.table.Route(r)
			if b == nil {
				t.Fatal("an untracked client got no backend")
			}
			if first == 0 {
				first = b.ID()
			} else if b.ID() != first {
				t.Errorf("the untracked client went to %d, then %d: want the same backend", first, b.ID())
			}
			r.Stats.UDP++ // what the proxy does: must be harmless
		}
		used := map[uint32]int{}
		for i := 100; i < 200; i++ {
			used[h.table.Route(h.table.HeardFrom(ip10(i))).ID()]++
		}
		if len(used) != 2 || used[5301] < 25 || used[5302] < 25 {
			t.Errorf("100 untracked clients went to %v, want both backends, each 25 or more", used)
		}
		if h.table.Len() != 2 || h.table.Known(ip10(3)) {
			t.Errorf("Len %d, 10.0.0.3 known %v; want 2 and not known", h.table.Len(), h.table.Known(ip10(3)))
		}
		for i := 1; i <= 2; i++ {
			if h.table.Route(h.table.HeardFrom(ip10(i))) == nil {
				t.Errorf("known remote %d not served in a full table", i)
			}
		}
		if st := h.table.Stats(); st.Untracked != 103 || st.Evicted != 0 {
			t.Errorf("stats %+v, want 103 untracked, none evicted", st)
		}
		h.table.Each(func(r *remote.Remote) {
			if r.Addr == ip10(3) {
				t.Error("the refused client is in the table")
			}
		})
	})
	rs := h.logs.Find(t, "remote table full of active remotes: serving new client untracked", "remote_ip", "10.0.0.3")
	if len(rs) != 3 || rs[0].Str("level") != "40" {
		t.Errorf("untracked records %v, want 3 at warn", rs)
	}
	h.checkCounts()
}

func TestEvictionKeepsCountsExact(t *testing.T) {
	rt := noPeriodic
	rt.EvictAfter = 0 // evict any: every new remote past the cap evicts one
	h := newHarness(t, rt, "5301", "5302", "5303")
	onLoop(t, h.loop, func() {
		h.table.SetMaxRemotes(50)
		for i := 0; i < 500; i++ {
			if h.table.Route(h.table.HeardFrom(ip10(i))) == nil {
				t.Fatalf("remote %d got no backend", i)
			}
			if i%7 == 0 { // keep some old ones alive
				h.table.HeardFrom(ip10(i / 2))
			}
		}
		if h.table.Len() > 50 {
			t.Errorf("Len %d beyond the cap 50", h.table.Len())
		}
		total, withPrimary := 0, 0
		for _, b := range h.set.Backends() {
			total += h.table.RemotesOf(b.ID())
		}
		h.table.Each(func(r *remote.Remote) {
			if r.PrimaryID() != 0 {
				withPrimary++
			}
		})
		if total != withPrimary || withPrimary < 25 {
			t.Errorf("primary counts add up to %d, %d remotes have a primary (want equal, >= 25)", total, withPrimary)
		}
		h.table.Expire() // Expiry is an hour: nothing goes
		if h.table.Len() != 50 {
			t.Errorf("Len %d after a sweep, want 50", h.table.Len())
		}
	})
	h.checkCounts()
}

func TestExpiryOfManyRemotesIsSpreadOverTurns(t *testing.T) {
	const n = 10000
	rt := noPeriodic
	rt.Expiry = time.Minute
	h := newHarnessClock(t, rt, "5301", "5302")
	onLoop(t, h.loop, func() {
		for i := 0; i < n; i++ {
			h.table.Route(h.table.HeardFrom(ip10(i)))
		}
	})
	h.run.Advance(rt.Expiry + time.Nanosecond)
	onLoop(t, h.loop, func() {
		h.table.HeardFrom(ip10(n)) // a fresh one stays
		h.table.Expire()
		// One turn forgets a batch, not everything.
		if left := h.table.Len(); left <= 1 || left >= n+1 {
			t.Errorf("%d remotes left after one turn of expiry, want some but not all of %d expired", left, n)
		}
	})
	waitFor(t, h.loop, "the rest expired on later turns", func() bool { return h.table.Len() == 1 })
	onLoop(t, h.loop, func() {
		if !h.table.Known(ip10(n)) {
			t.Error("the fresh remote was expired")
		}
		if st := h.table.Stats(); st.Expired != n {
			t.Errorf("Expired %d, want %d", st.Expired, n)
		}
	})
	h.checkCounts()
}

func TestFloodOfNewClientsIsRateLimited(t *testing.T) {
	h := newHarnessClock(t, remote.Timings{Expiry: time.Hour, Sweep: time.Hour, Rebalance: time.Hour}, "5301", "5302")
	onLoop(t, h.loop, func() {
		h.table.Start()
		for i := 0; i < 1000; i++ { // the clock stands still
			h.table.Route(h.table.HeardFrom(ip10(i)))
		}
	})
	for _, msg := range []string{"new remote peer", "remote assigned to new primary backend"} {
		if n := len(h.logs.Find(t, msg)); n != bunyan.DefaultRate.Burst {
			t.Errorf("%d %q records for 1000 new clients at once, want the burst of %d", n, msg, bunyan.DefaultRate.Burst)
		}
		if rs := h.logs.Find(t, "log records suppressed", "suppressed_msg", msg); len(rs) != 0 {
			t.Errorf("a summary before a second has passed: %v", rs)
		}
	}
	// The process's flush (one timer in bbal) writes the summaries a second
	// later: the table's limiters are in the group it flushes.
	h.run.Advance(time.Second)
	onLoop(t, h.loop, func() { h.limits.Flush(h.loop.Now()) })
	for _, msg := range []string{"new remote peer", "remote assigned to new primary backend"} {
		rs := h.logs.Find(t, "log records suppressed", "suppressed_msg", msg)
		if want := 1000 - bunyan.DefaultRate.Burst; len(rs) != 1 || int(rs[0].Num("suppressed")) != want {
			t.Errorf("summaries for %q: %v, want one counting %d", msg, rs, want)
		}
	}
	onLoop(t, h.loop, func() {
		if st := h.table.Stats(); st.RecordsSuppressed != 2*(1000-uint64(bunyan.DefaultRate.Burst)) {
			t.Errorf("RecordsSuppressed %d, want %d", st.RecordsSuppressed, 2*(1000-bunyan.DefaultRate.Burst))
		}
	})
}

func TestKnownRemoteLookupDoesNotAllocate(t *testing.T) {
	h := newHarness(t, noPeriodic, "5301", "5302")
	onLoop(t, h.loop, func() {
		for i := 0; i < 100; i++ {
			h.table.Route(h.table.HeardFrom(ip10(i)))
		}
		i := 0
		if n := testing.AllocsPerRun(1000, func() {
			i = (i + 1) % 100
			r := h.table.HeardFrom(ip10(i))
			if h.table.Route(r) == nil || !h.table.Known(ip10(i)) || h.table.Known(ip10(1000)) {
				t.Fatal("known remote not served")
			}
			r.Stats.UDP++
		}); n != 0 {
			t.Errorf("Lookup+Backend+Known of a known remote: %v allocations, want 0", n)
		}
	})
}

// TestFullTableDoesNotAllocate: a flood against a full table costs no
// allocation per new address, whether each evicts the oldest or is
// refused.
func TestFullTableDoesNotAllocate(t *testing.T) {
	for _, tc := range []struct {
		name       string
		evictAfter time.Duration
	}{{"evicting", 0}, {"refusing", time.Hour}} {
		t.Run(tc.name, func(t *testing.T) {
			rt := noPeriodic
			rt.EvictAfter = tc.evictAfter
			h := newHarnessClock(t, rt, "5301", "5302")
			onLoop(t, h.loop, func() {
				h.table.SetMaxRemotes(10000)
				i := 0
				for ; i < 20000; i++ { // full, and past the map's growth
					h.table.Route(h.table.HeardFrom(ip10(i)))
				}
				n := testing.AllocsPerRun(50000, func() {
					i++
					h.table.Route(h.table.HeardFrom(ip10(i)))
				})
				if n != 0 {
					t.Errorf("%v allocations per new address in a full table, want 0", n)
				}
				if h.table.Len() != 10000 {
					t.Errorf("Len %d, want the cap 10000", h.table.Len())
				}
			})
		})
	}
}
