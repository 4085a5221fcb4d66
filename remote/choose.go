/*
 * The choice of a remote's backend, as remotes.c's remote_backend:
 *
 *	no primary                      select one round-robin, make it
 *	                                primary, clear the backup
 *	primary's socket removed        clear both and start over
 *	primary usable                  use it; after a failover, drop the
 *	                                backup (logging the return to the
 *	                                original primary); a backup a spill
 *	                                chose stays
 *	primary not usable, backup      use the backup
 *	  usable
 *	primary not usable, no usable   select a new backup
 *	  backup
 *	nothing usable                  nil: the caller drops and counts
 *	untracked (a full table)        a usable backend by a hash of the
 *	                                address (table.go); nothing assigned
 *
 * Usable is ok and not ejected for answering no queries (backend's
 * health.go): an ejected primary's clients go to their backups as a
 * faulted one's do.
 *
 * Backends are held by ID and found in the Set (which never forgets one),
 * as remotes.c does; the Set's lookup is a binary search over a handful.
 */

package remote

import "github.com/joyent/mname-balancer/backend"

// Route chooses the backend for the remote's next packet or connection by
// the rules in the file comment, assigning a primary or a backup (and
// logging the change) where they say so; nil when no backend is usable.
func (t *Table) Route(r *Remote) *backend.Backend {
	if !r.Tracked() {
		return t.set.PickByHash(hashAddr(r.Addr))
	}
	var p *backend.Backend
	if r.primary != 0 {
		p = t.set.Lookup(r.primary)
		if p == nil || p.Removed() {
			t.unassign(r)
			p = nil
		}
	}
	if p == nil {
		b := t.set.Select()
		if b == nil {
			return nil
		}
		t.setPrimary(r, b.ID())
		r.backup, r.onBackup = 0, false
		t.rec.assigned(t.loop.Now(), r.Addr, b.ID())
		return b
	}
	if p.Usable() {
		if r.onBackup {
			r.onBackup = false
			r.backup = 0
			t.rec.returned(t.loop.Now(), r.Addr, p.ID())
		}
		return p
	}
	r.onBackup = true
	if r.backup != 0 {
		if b := t.set.Lookup(r.backup); b != nil && b.Usable() {
			return b
		}
	}
	b := t.set.Select()
	if b == nil {
		return nil
	}
	r.backup = b.ID()
	t.rec.backup(t.loop.Now(), r.Addr, b.ID(), p.ID())
	return b
}

// Spill chooses where a query of n bytes goes when full, the backend
// Route chose, cannot take it (backend.Backend.Full): the remote's backup
// when it is usable and has room, else the next usable backend with room,
// which becomes the backup when the remote has none usable and full is its
// primary. Nil when every usable backend is full: the caller drops the
// query as stuck. A client served untracked (a full table) spills
// likewise, with nothing assigned.
func (t *Table) Spill(r *Remote, full *backend.Backend, n int) *backend.Backend {
	tracked := r.Tracked()
	if tracked && r.backup != 0 && r.backup != full.ID() {
		if b := t.set.Lookup(r.backup); b != nil && b.Usable() {
			if !b.Full(n) {
				return b
			}
		} else if r.primary == full.ID() {
			r.backup = 0 // gone: a new one below
		}
	}
	b := t.set.SelectWithRoom(full, n)
	if b == nil {
		return nil
	}
	if tracked && r.backup == 0 && r.primary == full.ID() {
		r.backup = b.ID()
		t.rec.backup(t.loop.Now(), r.Addr, b.ID(), full.ID())
	}
	return b
}

// hashAddr spreads client addresses over the backends (Fibonacci hashing:
// neighbouring addresses land apart).
func hashAddr(addr uint32) uint32 { return (addr * 0x9E3779B1) >> 16 }

// unassign clears both of the remote's backends, so that it chooses again
// on its next packet or connection.
func (t *Table) unassign(r *Remote) {
	t.setPrimary(r, 0)
	r.backup = 0
	r.onBackup = false
}

// setPrimary keeps the backends' primary counts exact.
func (t *Table) setPrimary(r *Remote, id uint32) {
	if old := r.primary; old != 0 {
		switch n := t.primaries[old]; n {
		case 0:
			panic("remote: primary count below zero")
		case 1:
			delete(t.primaries, old)
		default:
			t.primaries[old] = n - 1
		}
	}
	r.primary = id
	if id != 0 {
		t.primaries[id]++
	}
}
