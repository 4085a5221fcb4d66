/*
 * The busiest clients, without walking the table: the Space-Saving
 * algorithm (Metwally, Agrawal, El Abbadi, 2005) over every contact
 * HeardFrom sees (untracked clients included), in fixed windows of
 * topWindow. topK counters: a contact from a tracked address counts on
 * its counter; one from another address takes the smallest counter's
 * place and count (plus one), and that count is kept as the new address's
 * possible overcount. Any address with more than 1/topK of a window's
 * contacts is among them, and each count is at most its overcount above
 * the truth. The last complete window is reported (TopRemotes), so a
 * summary answers "who is busiest" with no walk of a million remotes.
 *
 * Cost per contact: a scan of topK addresses, and of topK counts for an
 * address not tracked; no allocation, no timer (windows turn when a
 * contact or a reader comes after the window's end).
 */

package remote

import (
	"cmp"
	"slices"
	"time"
)

const (
	topK      = 32               // addresses tracked per window
	topWindow = 10 * time.Second // a window's length
)

// TopRemote is one of the busiest clients of a window.
type TopRemote struct {
	Addr      uint32 // host order
	Contacts  uint64 // UDP queries and TCP connections counted (at most Overcount more than the truth)
	Overcount uint64 // how much Contacts may exceed the truth
	Backend   uint32 // its primary's ID now; 0: none, or no longer in the table
}

// topWindowCounts is one window's counters.
type topWindowCounts struct {
	start int64 // Unix nanoseconds
	n     int
	addr  [topK]uint32
	count [topK]uint64
	over  [topK]uint64
	total uint64 // every contact of the window
}

// topRemotes is the current window and the last complete one.
type topRemotes struct {
	cur, last topWindowCounts
}

// turn starts a new window if the current one is over at now.
func (t *topRemotes) turn(now int64) {
	if now-t.cur.start < int64(topWindow) {
		return
	}
	if now-t.cur.start < 2*int64(topWindow) {
		t.last = t.cur
	} else {
		t.last = topWindowCounts{start: now - int64(topWindow)} // a quiet window
	}
	t.cur = topWindowCounts{start: now - (now-t.cur.start)%int64(topWindow)}
}

// note counts one contact from addr at now.
func (t *topRemotes) note(addr uint32, now int64) {
	t.turn(now)
	w := &t.cur
	w.total++
	for i := 0; i < w.n; i++ {
		if w.addr[i] == addr {
			w.count[i]++
			return
		}
	}
	if w.n < topK {
		w.addr[w.n], w.count[w.n], w.over[w.n] = addr, 1, 0
		w.n++
		return
	}
	m := 0
	for i := 1; i < topK; i++ {
		if w.count[i] < w.count[m] {
			m = i
		}
	}
	w.addr[m], w.over[m] = addr, w.count[m]
	w.count[m]++
}

// TopRemotes appends the busiest clients of the last complete window
// (topWindow long, ended at most topWindow ago), busiest first, and
// returns the window's start and its contacts in all.
func (t *Table) TopRemotes(dst []TopRemote) (_ []TopRemote, start time.Time, total uint64) {
	t.top.turn(t.loop.Now().UnixNano())
	w := &t.top.last
	from := len(dst)
	for i := 0; i < w.n; i++ {
		x := TopRemote{Addr: w.addr[i], Contacts: w.count[i], Overcount: w.over[i]}
		if n, ok := t.byAddr[x.Addr]; ok {
			x.Backend = t.slots.at(n).primary
		}
		dst = append(dst, x)
	}
	slices.SortFunc(dst[from:], func(a, b TopRemote) int {
		if c := cmp.Compare(b.Contacts, a.Contacts); c != 0 {
			return c
		}
		return cmp.Compare(a.Addr, b.Addr)
	})
	return dst, time.Unix(0, w.start), w.total
}

// TopWindow is the length of TopRemotes's windows.
const TopWindow = topWindow
