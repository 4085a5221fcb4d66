/*
 * Read-only views of the remote table for the operator's tools (package
 * mdb): each remote as the C balancer's remote_t showed it, and names for
 * the table's timers. Call these on the loop only (Post first); they never
 * change anything.
 *
 * A large table is read in slices (AppendInfoFrom), one per loop turn, so
 * that no turn spends long on inspection. A slice is a range of slot
 * numbers, and the cursor the next slot number: slots never move, and a
 * remote keeps its slot from creation until it is forgotten, so a walk in
 * slices sees every remote that is in the table for the whole walk exactly
 * once, whatever is created, evicted or expired between slices. A remote
 * created or forgotten during the walk is seen at most once (if its slot
 * is reached while it holds it); an address forgotten and heard from again
 * during the walk is a new remote, in a new slot, and may be seen twice
 * (once as each). Each remote is copied as it is when its slice is taken.
 */

package remote

import (
	"time"
	"unsafe"

	"github.com/joyent/mname-balancer/evport"
)

// Info is a copy of one remote (the C remote_t).
type Info struct {
	Object    uintptr   // the remote's address: a stable handle
	Addr      uint32    // rem_addr, host order
	Backend   uint32    // rem_backend: the primary's ID, 0 for none
	Backup    uint32    // rem_backend_backup: 0 for none
	Stats     Stats     // rem_stat_*
	FirstSeen time.Time // rem_first_seen
	LastSeen  time.Time // rem_last_seen
}

// AppendInfo appends a copy of every remote, in no particular order.
func (t *Table) AppendInfo(dst []Info) []Info {
	t.slots.each(func(r *Remote) { dst = append(dst, info(r)) })
	return dst
}

// AppendInfoFrom appends a copy of every remote in the span slots from
// slot number cursor (at most span slots are looked at, in slot order) and
// returns the cursor to continue from; done is true when no slot is left.
// A walk starts at cursor 0; see the file comment for what it sees.
func (t *Table) AppendInfoFrom(dst []Info, cursor uint32, span int) (_ []Info, next uint32, done bool) {
	end := t.slots.span()
	if uint64(cursor)+uint64(span) < uint64(end) {
		end = cursor + uint32(span)
	}
	for n := cursor; n < end; n++ {
		if r := t.slots.at(n); r.inUse {
			dst = append(dst, info(r))
		}
	}
	return dst, end, end >= t.slots.span()
}

func info(r *Remote) Info {
	return Info{Object: uintptr(unsafe.Pointer(r)), Addr: r.Addr, Backend: r.primary, Backup: r.backup,
		Stats: r.Stats, FirstSeen: r.FirstSeen(), LastSeen: r.LastSeen()}
}

// NameTimers calls name for each timer the table owns, with what it is
// about (mdb's to_arg).
func (t *Table) NameTimers(name func(t *evport.Timer, arg string)) {
	if t.sweepTimer != nil {
		name(t.sweepTimer, "remote table (expiry)")
	}
	if t.rebalanceTimer != nil {
		name(t.rebalanceTimer, "remote table (rebalance)")
	}
	if t.expireMore != nil {
		name(t.expireMore, "remote table (expiry, continued)")
	}
}
