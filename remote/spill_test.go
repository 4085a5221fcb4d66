package remote_test

import (
	"testing"

	"github.com/joyent/mname-balancer/backend"
)

// spillHarness: three demo backends on the hand-driven clock, and fill,
// which forwards maximal queries to a backend until its session is full
// (the sessions are flushed only at the end of a loop turn, so a backend
// filled stays full for the rest of the callback).
func spillHarness(t *testing.T) (h *harness, fill func(*backend.Backend)) {
	h = newHarnessClock(t, noPeriodic, "5301", "5302", "5303")
	msg := make([]byte, backend.MaxUDPLength)
	fill = func(b *backend.Backend) {
		for i := 0; !b.Full(len(msg)); i++ {
			if i > 1000 || !b.ForwardUDP(0x0A000001, 5353, msg) {
				t.Fatalf("backend %d: not full after %d queries", b.ID(), i)
			}
		}
	}
	return h, fill
}

// TestSpill: a query the client's primary cannot take (its session full
// for this loop turn) goes to a backup, which the spill assigns, and to
// the same backup while it has room; with the backup full too, to the
// other backend with room, the backup kept; with every backend full,
// nowhere. The primary, usable throughout, stays the remote's, and so
// does the backup a spill chose.
func TestSpill(t *testing.T) {
	h, fill := spillHarness(t)
	const addr, n = 0x0A000001, backend.MaxUDPLength
	// One loop turn: the sessions are flushed only at its end.
	onLoop(t, h.loop, func() {
		r := h.table.HeardFrom(addr)
		p := h.table.Route(r)
		if p == nil || h.table.BackupOf(r) != nil {
			t.Fatalf("first route: %v, backup %v; want a primary and no backup", p, h.table.BackupOf(r))
		}
		fill(p)
		backup := h.table.Spill(r, p, n)
		if backup == nil || backup == p {
			t.Fatalf("spill from the full primary %d went to %v", p.ID(), backup)
		}
		if got := h.table.BackupOf(r); got != backup {
			t.Errorf("after the spill the backup is %v, want the backend spilled to, %d", got, backup.ID())
		}
		for i := range 3 {
			if s := h.table.Spill(r, p, n); s != backup {
				t.Errorf("spill %d went to %d, want the backup %d while it has room", i+2, idOf(s), backup.ID())
			}
		}
		fill(backup)
		other := h.table.Spill(r, p, n)
		if other == nil || other == p || other == backup {
			t.Fatalf("with primary and backup full the spill went to %d, want the third backend", idOf(other))
		}
		if got := h.table.BackupOf(r); got != backup {
			t.Errorf("a spill past a full backup made the backup %d, want it kept (%d)", idOf(got), backup.ID())
		}
		fill(other)
		if s := h.table.Spill(r, p, n); s != nil {
			t.Errorf("with every backend full the spill went to %d, want nowhere", s.ID())
		}
		if got := h.table.Route(r); got != p {
			t.Errorf("route after the spills: %d, want the primary %d (usable throughout)", idOf(got), p.ID())
		}
		if got := h.table.BackupOf(r); got != backup {
			t.Errorf("route after the spills left the backup %d, want the spill's %d", idOf(got), backup.ID())
		}
	})
	h.checkCounts()
}

// TestSpillDoesNotAllocate: choosing where a full backend's query goes,
// the backup or (the backup full too) another backend with room, and
// counting it against the full one, allocate nothing.
func TestSpillDoesNotAllocate(t *testing.T) {
	h, fill := spillHarness(t)
	const addr, n = 0x0A000001, backend.MaxUDPLength
	onLoop(t, h.loop, func() {
		r := h.table.HeardFrom(addr)
		p := h.table.Route(r)
		fill(p)
		backup := h.table.Spill(r, p, n)
		spill := func() {
			s := h.table.Spill(h.table.HeardFrom(addr), p, n)
			if s == nil || s == p {
				t.Fatalf("spilled to %d", idOf(s))
			}
			p.NoteSpilled()
		}
		if a := testing.AllocsPerRun(1000, spill); a != 0 {
			t.Errorf("a spill to the backup allocates %v times, want 0", a)
		}
		fill(backup)
		if a := testing.AllocsPerRun(1000, spill); a != 0 {
			t.Errorf("a spill past a full backup allocates %v times, want 0", a)
		}
	})
}
