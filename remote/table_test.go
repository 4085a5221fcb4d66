/*
 * Tests of the remote table (table.go) with a real backend Set of
 * demo backends on a loop: the choice of primary and backup and its log
 * records, removal of the primary, nothing OK, expiry (by the clock and by
 * the periodic sweep) and rebalancing, each checking that the backends'
 * primary counts stay exact.
 *
 * A backend is taken down with Backend.Fault; it reconnects by itself
 * after the reconnect delay (200 ms here), which is how "the primary comes
 * back" happens. Steps that must see a backend down run in one loop turn.
 */

package remote_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/remote"
)

// noPeriodic: tests that call Expire and Rebalance themselves.
var noPeriodic = remote.Timings{Expiry: time.Hour, Sweep: time.Hour, Rebalance: time.Hour}

func TestNewRemotesRoundRobin(t *testing.T) {
	h := newHarness(t, noPeriodic, "5301", "5302", "5303")
	var got []uint32
	onLoop(t, h.loop, func() {
		for i := 1; i <= 6; i++ {
			r := h.table.HeardFrom(ip10(i))
			got = append(got, idOf(h.table.Route(r)))
		}
		if h.table.Len() != 6 {
			t.Errorf("Len() %d, want 6", h.table.Len())
		}
		for _, id := range []uint32{5301, 5302, 5303} {
			if n := h.table.RemotesOf(id); n != 2 {
				t.Errorf("backend %d is primary of %d remotes, want 2", id, n)
			}
		}
	})
	want := []uint32{5301, 5302, 5303, 5301, 5302, 5303}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("primaries %v, want %v", got, want)
		}
	}
	for i := 1; i <= 6; i++ {
		ip := bunyan.IPv4String(ip10(i))
		if n := len(h.logs.Find(t, "new remote peer", "remote_ip", ip)); n != 1 {
			t.Errorf("%d \"new remote peer\" records for %s, want 1", n, ip)
		}
		if rs := h.logs.Find(t, "remote assigned to new primary backend", "remote_ip", ip); len(rs) != 1 || rs[0].Str("be_id") != idString(want[i-1]) {
			t.Errorf("primary records for %s: %v, want one naming backend %d", ip, rs, want[i-1])
		}
	}

	// Known remotes: same record, same primary, nothing new logged.
	var first *remote.Remote
	onLoop(t, h.loop, func() { first = h.table.HeardFrom(ip10(1)) })
	time.Sleep(5 * time.Millisecond)
	onLoop(t, h.loop, func() {
		for i := 1; i <= 6; i++ {
			r := h.table.HeardFrom(ip10(i))
			if b := h.table.Route(r); idOf(b) != want[i-1] {
				t.Errorf("remote %d moved to %d, want it to stay on %d", i, idOf(b), want[i-1])
			}
		}
		r := h.table.HeardFrom(ip10(1))
		if r != first || r.Addr != ip10(1) || !r.LastSeen().After(r.FirstSeen()) {
			t.Errorf("remote 1 is %p (first %p), first seen %v last seen %v", r, first, r.FirstSeen(), r.LastSeen())
		}
		if h.table.Len() != 6 {
			t.Errorf("Len() %d, want 6", h.table.Len())
		}
	})
	if n := len(h.logs.Find(t, "new remote peer")); n != 6 {
		t.Errorf("%d \"new remote peer\" records, want 6", n)
	}
	if n := len(h.logs.Find(t, "remote assigned to new primary backend")); n != 6 {
		t.Errorf("%d primary records, want 6", n)
	}
	h.checkCounts()
}

func idString(id uint32) string { return strconv.FormatUint(uint64(id), 10) }

func TestBackupWhilePrimaryDown(t *testing.T) {
	h := newHarness(t, noPeriodic, "5301", "5302", "5303")
	ip := bunyan.IPv4String(ip10(1))
	b1, b2 := h.be(5301), h.be(5302)
	onLoop(t, h.loop, func() {
		r := h.table.HeardFrom(ip10(1))
		if b := h.table.Route(r); b != b1 {
			t.Errorf("primary %d, want 5301", idOf(b))
			return
		}
		b1.Fault(b1.SessionNumber(), "test")
		if b := h.table.Route(r); b != b2 {
			t.Errorf("with the primary down got %d, want backup 5302", idOf(b))
			return
		}
		if h.table.PrimaryOf(r) != b1 || h.table.BackupOf(r) != b2 {
			t.Errorf("primary %d backup %d, want 5301 and 5302", idOf(h.table.PrimaryOf(r)), idOf(h.table.BackupOf(r)))
		}
		// The backup is reused while the primary stays down.
		for range 3 {
			if b := h.table.Route(r); b != b2 {
				t.Errorf("second packet went to %d, want the backup 5302", idOf(b))
			}
		}
		// The primary count stays with the primary.
		if h.table.RemotesOf(b1.ID()) != 1 || h.table.RemotesOf(b2.ID()) != 0 {
			t.Errorf("counts 5301:%d 5302:%d, want 1 and 0", h.table.RemotesOf(b1.ID()), h.table.RemotesOf(b2.ID()))
		}
		// The backup fails too: a new backup.
		b2.Fault(b2.SessionNumber(), "test")
		if b := h.table.Route(r); idOf(b) != 5303 || h.table.BackupOf(r) != b {
			t.Errorf("with primary and backup down got %d (backup %d), want 5303", idOf(b), idOf(h.table.BackupOf(r)))
		}
	})
	rs := h.logs.Find(t, "remote assigned to new backup backend", "remote_ip", ip)
	if len(rs) != 2 || rs[0].Str("be_id") != "5302" || rs[1].Str("be_id") != "5303" || rs[0].Str("primary_be_id") != "5301" {
		t.Errorf("backup records %v, want two: 5302 then 5303, primary 5301", rs)
	}

	waitFor(t, h.loop, "5301 back", b1.OK)
	onLoop(t, h.loop, func() {
		r := h.table.HeardFrom(ip10(1))
		for range 2 {
			if b := h.table.Route(r); b != b1 {
				t.Errorf("with the primary back got %d, want 5301", idOf(b))
			}
		}
		if h.table.BackupOf(r) != nil {
			t.Errorf("backup %d kept after the primary returned", idOf(h.table.BackupOf(r)))
		}
	})
	if rs := h.logs.Find(t, "remote assigned to original primary backend", "remote_ip", ip); len(rs) != 1 || rs[0].Str("be_id") != "5301" {
		t.Errorf("return records %v, want one naming 5301", rs)
	}
	if n := len(h.logs.Find(t, "remote assigned to new primary backend")); n != 1 {
		t.Errorf("%d primary records, want 1 (the primary never changed)", n)
	}
	h.checkCounts()
}

func TestPrimaryRemoved(t *testing.T) {
	h := newHarness(t, noPeriodic, "5301", "5302", "5303")
	b1 := h.be(5301)
	onLoop(t, h.loop, func() {
		r := h.table.HeardFrom(ip10(1))
		h.table.Route(r)
		b1.Fault(b1.SessionNumber(), "test")
		if b := h.table.Route(r); idOf(b) != 5302 {
			t.Errorf("backup %d, want 5302", idOf(b))
		}
	})
	h.demos["5301"].Close() // removes the socket
	waitFor(t, h.loop, "5301 removed", b1.Removed)
	onLoop(t, h.loop, func() {
		r := h.table.HeardFrom(ip10(1))
		b := h.table.Route(r)
		// Round-robin goes on after 5302, the backup just chosen.
		if idOf(b) != 5303 || h.table.PrimaryOf(r) != b || h.table.BackupOf(r) != nil {
			t.Errorf("got %d, primary %d backup %d; want a new primary 5303 and no backup", idOf(b), idOf(h.table.PrimaryOf(r)), idOf(h.table.BackupOf(r)))
		}
		if h.table.RemotesOf(b1.ID()) != 0 || h.table.RemotesOf(b.ID()) != 1 {
			t.Errorf("counts 5301:%d %d:%d, want 0 and 1", h.table.RemotesOf(b1.ID()), idOf(b), h.table.RemotesOf(b.ID()))
		}
	})
	rs := h.logs.Find(t, "remote assigned to new primary backend", "remote_ip", "10.0.0.1")
	if len(rs) != 2 || rs[1].Str("be_id") != "5303" {
		t.Errorf("primary records %v, want 5301 then 5303", rs)
	}
	h.checkCounts()
}

func TestNothingOK(t *testing.T) {
	h := newHarness(t, noPeriodic, "5301")
	b1 := h.be(5301)
	onLoop(t, h.loop, func() {
		// An existing remote whose primary fails, with nothing else OK.
		old := h.table.HeardFrom(ip10(1))
		h.table.Route(old)
		b1.Fault(b1.SessionNumber(), "test")
		if b := h.table.Route(old); b != nil {
			t.Errorf("got %d with nothing OK, want nil", idOf(b))
		}
		if h.table.PrimaryOf(old) != b1 || h.table.BackupOf(old) != nil {
			t.Errorf("primary %d backup %d, want the primary kept and no backup", idOf(h.table.PrimaryOf(old)), idOf(h.table.BackupOf(old)))
		}
		// A new remote with nothing OK: known, but without a primary.
		r := h.table.HeardFrom(ip10(2))
		if b := h.table.Route(r); b != nil {
			t.Errorf("new remote got %d with nothing OK, want nil", idOf(b))
		}
		if h.table.PrimaryOf(r) != nil || h.table.Len() != 2 || h.table.RemotesOf(b1.ID()) != 1 {
			t.Errorf("primary %d, Len %d, 5301 count %d; want none, 2, 1", idOf(h.table.PrimaryOf(r)), h.table.Len(), h.table.RemotesOf(b1.ID()))
		}
	})
	if n := len(h.logs.Find(t, "no backends available")); n != 1 {
		t.Errorf("%d \"no backends available\" records, want 1", n)
	}
	// When the backend returns, the new remote gets it as primary.
	waitFor(t, h.loop, "5301 back", b1.OK)
	onLoop(t, h.loop, func() {
		if b := h.table.Route(h.table.HeardFrom(ip10(2))); b != b1 {
			t.Errorf("got %d, want 5301", idOf(b))
		}
	})
	h.checkCounts()
}

func TestExpire(t *testing.T) {
	rt := noPeriodic
	rt.Expiry = 600 * time.Millisecond
	h := newHarnessClock(t, rt, "5301", "5302")
	b1, b2 := h.be(5301), h.be(5302)
	onLoop(t, h.loop, func() {
		h.table.Route(h.table.HeardFrom(ip10(1))) // A -> 5301
		h.table.Route(h.table.HeardFrom(ip10(3))) // C -> 5302
	})
	h.run.Advance(300 * time.Millisecond)
	onLoop(t, h.loop, func() { h.table.HeardFrom(ip10(3)) }) // C heard from again
	// At exactly Expiry A is kept (remotes.c expires when age > Expiry).
	h.run.Advance(300 * time.Millisecond)
	onLoop(t, h.loop, func() {
		h.table.Expire()
		if h.table.Len() != 2 {
			t.Errorf("%d remotes at exactly Expiry, want A and C kept", h.table.Len())
		}
	})
	h.run.Advance(time.Nanosecond)
	onLoop(t, h.loop, func() {
		h.table.Route(h.table.HeardFrom(ip10(2))) // B, new -> 5301
		h.table.Expire()
		var left []uint32
		h.table.Each(func(r *remote.Remote) { left = append(left, r.Addr) })
		if h.table.Len() != 2 || len(left) != 2 {
			t.Errorf("remotes %v, want B and C", left)
		}
		for _, a := range left {
			if a == ip10(1) {
				t.Error("A, silent longer than Expiry, was kept")
			}
		}
		if h.table.RemotesOf(b1.ID()) != 1 || h.table.RemotesOf(b2.ID()) != 1 {
			t.Errorf("counts 5301:%d 5302:%d, want 1 and 1", h.table.RemotesOf(b1.ID()), h.table.RemotesOf(b2.ID()))
		}
	})
	rs := h.logs.Find(t, "expiring remote entry")
	if len(rs) != 1 || rs[0].Str("remote_ip") != "10.0.0.1" || rs[0].Str("level") != "30" {
		t.Errorf("expiry records %v, want one info record for 10.0.0.1 (remotes.c)", rs)
	}
	h.checkCounts()

	// A remote that returns after expiry is new again.
	onLoop(t, h.loop, func() { h.table.Route(h.table.HeardFrom(ip10(1))) })
	if n := len(h.logs.Find(t, "new remote peer", "remote_ip", "10.0.0.1")); n != 2 {
		t.Errorf("%d \"new remote peer\" records for A, want 2", n)
	}
	h.checkCounts()
}

func TestSweepRunsPeriodically(t *testing.T) {
	rt := remote.Timings{Expiry: 150 * time.Millisecond, Sweep: 50 * time.Millisecond, Rebalance: time.Hour}
	h := newHarnessClock(t, rt, "5301")
	b1 := h.be(5301)
	onLoop(t, h.loop, func() {
		h.table.Start()
		h.table.Route(h.table.HeardFrom(ip10(1)))
	})
	// Sweeps at 50, 100, 150 ms: the remote's age is at most Expiry.
	for range 3 {
		h.run.Advance(rt.Sweep)
	}
	onLoop(t, h.loop, func() {
		if h.table.Len() != 1 {
			t.Errorf("expired by the sweep at Expiry, want kept until older than Expiry")
		}
	})
	h.run.Advance(rt.Sweep) // the sweep at 200 ms
	onLoop(t, h.loop, func() {
		if h.table.Len() != 0 {
			t.Errorf("%d remotes after the sweep past Expiry, want none", h.table.Len())
		}
	})
	onLoop(t, h.loop, func() {
		if h.table.RemotesOf(b1.ID()) != 0 {
			t.Errorf("5301 count %d after expiry, want 0", h.table.RemotesOf(b1.ID()))
		}
	})
}

// unbalance faults 5302, gives n new remotes (from addr base up) to 5301,
// and waits for 5302 to come back.
func (h *harness) unbalance(base, n int) {
	h.t.Helper()
	b1, b2 := h.be(5301), h.be(5302)
	onLoop(h.t, h.loop, func() {
		b2.Fault(b2.SessionNumber(), "test")
		for i := base; i < base+n; i++ {
			if b := h.table.Route(h.table.HeardFrom(ip10(i))); b != b1 {
				h.t.Errorf("remote %d went to %d, want 5301 while 5302 is down", i, idOf(b))
			}
		}
	})
	waitFor(h.t, h.loop, "5302 back", b2.OK)
}

func TestRebalance(t *testing.T) {
	h := newHarness(t, noPeriodic, "5301", "5302")
	b1, b2 := h.be(5301), h.be(5302)
	msg := "rebalancing to reduce spread"
	h.unbalance(1, 10)

	// Spread 10 over 2 OK backends: 8 remotes leave 5301, the lowest
	// addresses first (remotes.c walks its tree in address order).
	onLoop(t, h.loop, func() {
		h.table.Rebalance()
		if h.table.RemotesOf(b1.ID()) != 2 || h.table.RemotesOf(b2.ID()) != 0 {
			t.Errorf("counts 5301:%d 5302:%d, want 2 and 0", h.table.RemotesOf(b1.ID()), h.table.RemotesOf(b2.ID()))
		}
		h.table.Each(func(r *remote.Remote) {
			if moved, low := h.table.PrimaryOf(r) == nil, r.Addr <= ip10(8); moved != low {
				t.Errorf("remote %s moved %v, want only 10.0.0.1-8 moved", bunyan.IPv4String(r.Addr), moved)
			}
		})
		if h.table.Len() != 10 {
			t.Errorf("%d remotes, want 10", h.table.Len())
		}
		// Spread 2 == OK count: nothing more.
		h.table.Rebalance()
		if h.table.RemotesOf(b1.ID()) != 2 {
			t.Errorf("second rebalance moved remotes: 5301 has %d", h.table.RemotesOf(b1.ID()))
		}
	})
	rs := h.logs.Find(t, msg)
	if len(rs) != 8 {
		t.Errorf("%d rebalance records, want one per moved remote (8): %v", len(rs), rs)
	}
	for i, r := range rs {
		if want := bunyan.IPv4String(ip10(i + 1)); r.Str("remote_ip") != want || r.Str("level") != "30" || r.Str("be_id") != "5301" {
			t.Errorf("rebalance record %d: %v, want info, remote_ip %s, be_id 5301", i, r, want)
		}
	}
	h.checkCounts()

	// The cleared remotes choose again round-robin on their next packet.
	onLoop(t, h.loop, func() {
		for i := 1; i <= 10; i++ {
			if h.table.Route(h.table.HeardFrom(ip10(i))) == nil {
				t.Errorf("remote %d got no backend", i)
			}
		}
		if h.table.RemotesOf(b1.ID()) != 6 || h.table.RemotesOf(b2.ID()) != 4 {
			t.Errorf("counts 5301:%d 5302:%d, want 6 and 4", h.table.RemotesOf(b1.ID()), h.table.RemotesOf(b2.ID()))
		}
	})
	h.checkCounts()

	// One more for 5301 while 5302 is down: 7 against 4. While 5302 is down
	// only 5301 counts (spread 0); once it is back the spread is 3 > 2 and
	// one remote moves.
	b2Down := false
	onLoop(t, h.loop, func() {
		b2.Fault(b2.SessionNumber(), "test")
		h.table.Route(h.table.HeardFrom(ip10(11)))
		h.table.Rebalance()
		b2Down = !b2.OK()
	})
	if !b2Down {
		t.Fatal("5302 was not down")
	}
	if n := len(h.logs.Find(t, msg)); n != 8 {
		t.Errorf("rebalanced over a backend that is down (%d records, want the first 8)", n)
	}
	waitFor(t, h.loop, "5302 back", b2.OK)
	lowest := ^uint32(0)
	onLoop(t, h.loop, func() {
		h.table.Each(func(r *remote.Remote) {
			if h.table.PrimaryOf(r) == b1 && r.Addr < lowest {
				lowest = r.Addr
			}
		})
		h.table.Rebalance()
		if h.table.RemotesOf(b1.ID()) != 6 || h.table.RemotesOf(b2.ID()) != 4 {
			t.Errorf("counts 5301:%d 5302:%d, want 6 and 4", h.table.RemotesOf(b1.ID()), h.table.RemotesOf(b2.ID()))
		}
	})
	if rs := h.logs.Find(t, msg); len(rs) != 9 || rs[8].Str("spread") != "3" || rs[8].Str("remote_ip") != bunyan.IPv4String(lowest) {
		t.Errorf("rebalance records %v, want a ninth for %s (the lowest of 5301's) with spread 3", rs, bunyan.IPv4String(lowest))
	}
	h.checkCounts()
}

func TestRebalanceRunsPeriodically(t *testing.T) {
	rt := remote.Timings{Expiry: time.Hour, Sweep: time.Hour, Rebalance: 50 * time.Millisecond}
	h := newHarness(t, rt, "5301", "5302")
	b1 := h.be(5301)
	h.unbalance(1, 6)
	onLoop(t, h.loop, h.table.Start)
	waitFor(t, h.loop, "a rebalance", func() bool { return h.table.RemotesOf(b1.ID()) < 6 })
	if n := len(h.logs.Find(t, "rebalancing to reduce spread")); n != 4 {
		t.Errorf("%d rebalance records, want 4 (spread 6 over 2 backends)", n)
	}
	h.checkCounts()
}

// Rebalance spreads over stable backends only (maintain.go): a backend ok
// for less than StableAfter is left out though it has the fewest primaries,
// so a flapping one does not draw clients; once it has been ok for
// StableAfter it counts. The other tests' backends are stable at once.
func TestRebalanceCountsStableBackendsOnly(t *testing.T) {
	bt := backendTimings()
	bt.StableAfter = time.Second
	h := newHarnessWith(t, noPeriodic, nil, true, bt, "5301", "5302")
	b1, b2 := h.be(5301), h.be(5302)
	msg := "rebalancing to reduce spread"
	h.run.Advance(bt.StableAfter) // both stable
	// 5302 faults (stable, so it reconnects after ReconnectFirst) and
	// 5301 gets 10 new remotes meanwhile.
	onLoop(t, h.loop, func() {
		b2.Fault(b2.SessionNumber(), "test")
		for i := 1; i <= 10; i++ {
			if b := h.table.Route(h.table.HeardFrom(ip10(i))); b != b1 {
				t.Errorf("remote %d went to %d, want 5301 while 5302 is down", i, idOf(b))
			}
		}
	})
	h.run.Advance(bt.ReconnectFirst)
	waitFor(t, h.loop, "5302 back", b2.OK)

	// 5302 is ok but not stable: only 5301 counts, spread 0.
	h.run.Advance(bt.StableAfter - time.Nanosecond)
	onLoop(t, h.loop, func() {
		if !b2.OK() || b2.Stable() || !b1.Stable() {
			t.Fatalf("5302 ok %v stable %v, 5301 stable %v; want 5302 ok and not stable, 5301 stable", b2.OK(), b2.Stable(), b1.Stable())
		}
		h.table.Rebalance()
		if h.table.RemotesOf(b1.ID()) != 10 || h.table.RemotesOf(b2.ID()) != 0 {
			t.Errorf("counts 5301:%d 5302:%d, want 10 and 0 (5302 not yet stable)", h.table.RemotesOf(b1.ID()), h.table.RemotesOf(b2.ID()))
		}
	})
	if n := len(h.logs.Find(t, msg)); n != 0 {
		t.Errorf("%d rebalance records while 5302 was not stable, want none", n)
	}

	// StableAfter after its hello 5302 counts: spread 10 over 2, 8 move.
	h.run.Advance(time.Nanosecond)
	onLoop(t, h.loop, func() {
		if !b2.Stable() {
			t.Fatal("5302 not stable StableAfter after its hello")
		}
		h.table.Rebalance()
		if h.table.RemotesOf(b1.ID()) != 2 || h.table.RemotesOf(b2.ID()) != 0 {
			t.Errorf("counts 5301:%d 5302:%d, want 2 and 0", h.table.RemotesOf(b1.ID()), h.table.RemotesOf(b2.ID()))
		}
	})
	if n := len(h.logs.Find(t, msg)); n != 8 {
		t.Errorf("%d rebalance records once 5302 was stable, want 8", n)
	}
	h.checkCounts()
}
