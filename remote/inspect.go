/*
 * Read-only views of the remote table for the operator's tools (package
 * mdb): each remote as the C balancer's remote_t showed it, and names for
 * the table's timers. Call these on the loop only (Post first); they never
 * change anything.
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
	t.slots.each(func(r *Remote) {
		dst = append(dst, Info{Object: uintptr(unsafe.Pointer(r)), Addr: r.Addr, Backend: r.primary, Backup: r.backup,
			Stats: r.Stats, FirstSeen: r.FirstSeen(), LastSeen: r.LastSeen()})
	})
	return dst
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
