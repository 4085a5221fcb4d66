/*
 * The choice of a remote's backend, as remotes.c's remote_backend:
 *
 *	no primary                      select one round-robin, make it
 *	                                primary, clear the backup
 *	primary's socket removed        clear both and start over
 *	primary ok                      use it; drop any backup (logging the
 *	                                return to the original primary)
 *	primary not ok, backup ok       use the backup
 *	primary not ok, no ok backup    select a new backup
 *	nothing ok                      nil: the caller drops and counts
 *	refused by a full table         nil, likewise (table.go)
 *
 * Backends are held by ID and found in the Set (which never forgets one),
 * as remotes.c does; the Set's lookup is a binary search over a handful.
 */

package remote

import "github.com/joyent/mname-balancer/backend"

// Route chooses the backend for the remote's next packet or connection by
// the rules in the file comment, assigning a primary or a backup (and
// logging the change) where they say so; nil when no backend is ok.
func (t *Table) Route(r *Remote) *backend.Backend {
	if r == &t.refused {
		return nil
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
		r.backup = 0
		t.rec.assigned(t.loop.Now(), r.Addr, b.ID())
		return b
	}
	if p.OK() {
		if r.backup != 0 {
			r.backup = 0
			t.rec.returned(t.loop.Now(), r.Addr, p.ID())
		}
		return p
	}
	if r.backup != 0 {
		if b := t.set.Lookup(r.backup); b != nil && b.OK() {
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

// unassign clears both of the remote's backends, so that it chooses again
// on its next packet or connection.
func (t *Table) unassign(r *Remote) {
	t.setPrimary(r, 0)
	r.backup = 0
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
