/*
 * The Table itself: finding remotes by address, creating them, and the
 * cap (the defaults, the fields, HeardFrom, eviction and refusal).
 *
 * A new remote in a full table evicts the least recently seen one, unless
 * that one was seen within Timings.EvictAfter: then the table is full of
 * clients that are all still active, and the new client is served
 * untracked: HeardFrom returns a stand-in remote outside the table
 * (Tracked false), for which Route hashes the client's address over the
 * usable backends (the same backend for the same address while they stay
 * the same), and the table counts it. The client is not Known: the UDP
 * proxy keeps a bounded record of its outstanding queries for the
 * reflection guard. EvictAfter (10 s) is longer than a backend may take
 * to answer before its clients fail over (about 2 s, the heartbeat
 * timeout), which is what lets the reflection guard (Known) keep every
 * answer to a tracked client.
 *
 * Remotes are found by a map[uint32]uint32 from address to slot number
 * (slots.go). A known remote costs no allocation; a new one allocates only
 * when the map or the slots grow. The primary counts are a map from
 * backend ID, adjusted at every assignment, clearing, expiry and eviction
 * of a primary (choose.go).
 */

package remote

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
)

// Timings govern expiry, eviction and rebalancing.
type Timings struct {
	Expiry     time.Duration // forget a remote silent this long
	Sweep      time.Duration // how often to look for silent remotes
	Rebalance  time.Duration // how often to even out primaries
	EvictAfter time.Duration // never evict a remote seen more recently than this (0: evict any)
}

// DefaultTimings are the C balancer's (a remote expires after 5 minutes of
// silence, swept every 30 s; rebalancing every 15 s), and a 10 s eviction
// guard: five times the fast-failover bound and longer than a DNS client
// waits for an answer.
func DefaultTimings() Timings {
	return Timings{Expiry: 5 * time.Minute, Sweep: 30 * time.Second, Rebalance: 15 * time.Second, EvictAfter: 10 * time.Second}
}

// DefaultMaxRemotes caps the table so that it costs at most 256 MB: 2^20
// remotes at 256 bytes each (a remote costs under 100 bytes of heap; the
// rest is headroom for the garbage collector and the map's growth).
const DefaultMaxRemotes = 1 << 20

// maxMaxRemotes is the largest cap: slot numbers are uint32 with one value
// reserved.
const maxMaxRemotes = 1 << 31

// Stats are a remote's counters.
type Stats struct {
	UDP     uint64 // UDP packets forwarded
	UDPDrop uint64 // UDP packets dropped (over the rate cap, no backend, or every usable backend full)
	TCP     uint64 // TCP connections forwarded
	TCPDrop uint64 // TCP connections refused (no backend)
}

// TableStats are the table's own counters.
type TableStats struct {
	New       uint64 // remotes created
	Expired   uint64 // remotes forgotten after Timings.Expiry of silence
	Evicted   uint64 // remotes evicted to make room (table full)
	Untracked uint64 // packets and connections of new clients a table full of remotes seen within EvictAfter could not add (served untracked)

	RecordsSuppressed uint64 // per-client records not written (rate limits)
}

// Table is the set of remotes; see the file comment.
type Table struct {
	loop    *evport.Loop
	log     zerolog.Logger
	set     *backend.Set
	timings Timings
	max     int

	byAddr    map[uint32]uint32 // address -> slot number
	primaries map[uint32]int    // backend ID -> remotes whose primary it is (no zeros)
	slots     slots
	stats     TableStats
	rec       records
	moving    []uint32 // Rebalance's scratch: candidate addresses

	capInterval  int64 // the rate cap's interval between queries (ns); 0: no cap (ratecap.go)
	capTolerance int64 // how far ahead of now a remote's due may be (burst-1 intervals)

	// untracked stands in for a client a full table could not add (its
	// Tracked is false); never in byAddr or the slots: Route hashes its
	// address over the usable backends.
	untracked Remote

	sweepTimer     *evport.Timer
	rebalanceTimer *evport.Timer
	expireMore     *evport.Timer // Expire's continuation (maintain.go)
	top            topRemotes    // the busiest clients (top.go)
}

// NewTable creates an empty table choosing among set's backends, holding
// at most DefaultMaxRemotes (see SetMaxRemotes); its rate-limited records
// join limits.
func NewTable(loop *evport.Loop, log zerolog.Logger, limits *bunyan.Limits, set *backend.Set, t Timings) *Table {
	tb := &Table{loop: loop, log: log, set: set, timings: t, max: DefaultMaxRemotes,
		byAddr: make(map[uint32]uint32), primaries: make(map[uint32]int)}
	tb.slots.init()
	tb.rec.init(log, limits)
	return tb
}

// SetMaxRemotes sets the cap on remotes (1 .. 2^31); call it before the
// table fills (bbal's -r, at start). Lowered below Len, it evicts nothing
// at once: each new remote then evicts one (or is served untracked), and the table
// shrinks to the cap only by expiry.
func (t *Table) SetMaxRemotes(n int) {
	t.max = min(max(n, 1), maxMaxRemotes)
}

// Start runs the expiry sweep and the rebalance periodically.
func (t *Table) Start() {
	t.sweepTimer = t.loop.Every(t.timings.Sweep, t.Expire)
	t.rebalanceTimer = t.loop.Every(t.timings.Rebalance, t.Rebalance)
}

// Stop stops the periodic work.
func (t *Table) Stop() {
	if t.sweepTimer != nil {
		t.sweepTimer.Stop()
		t.rebalanceTimer.Stop()
	}
	if t.expireMore != nil {
		t.expireMore.Stop()
	}
}

// Len is the number of remotes known.
func (t *Table) Len() int { return len(t.byAddr) }

// Stats are the table's counters.
func (t *Table) Stats() TableStats {
	s := t.stats
	s.RecordsSuppressed = t.rec.suppressed()
	return s
}

// RemotesOf is the number of remotes whose primary is backend id.
func (t *Table) RemotesOf(id uint32) int { return t.primaries[id] }

// Each calls fn for every remote, in no particular order. fn must not
// call HeardFrom or Expire.
func (t *Table) Each(fn func(*Remote)) {
	t.slots.each(fn)
}

// Known reports whether addr is a remote in the table: a client the
// balancer has heard from recently (the reflection guard). It changes
// nothing and allocates nothing.
func (t *Table) Known(addr uint32) bool {
	_, ok := t.byAddr[addr]
	return ok
}

// HeardFrom records that addr sent a packet or connection now: it returns
// the remote for addr, creating it on first contact (and logging "new
// remote peer"), and marks it seen now. When the table is full of remotes
// seen within Timings.EvictAfter (see the file comment) it returns a
// stand-in outside the table (Tracked false), which Route serves by a hash
// of its address. It never returns nil.
//
// The *Remote is valid until the next HeardFrom or Expire (which may evict
// or forget it and reuse its slot): use it at once, never keep it.
func (t *Table) HeardFrom(addr uint32) *Remote {
	now := t.loop.Now()
	stamp := now.UnixNano()
	t.top.note(addr, stamp)
	if n, ok := t.byAddr[addr]; ok {
		r := t.slots.at(n)
		r.lastSeen = stamp
		t.slots.touch(n)
		return r
	}
	if len(t.byAddr) >= t.max && !t.evictOldest(now) {
		t.stats.Untracked++
		t.rec.untracked(now, addr, t.max)
		t.untracked = Remote{Addr: addr}
		return &t.untracked
	}
	n := t.slots.alloc()
	r := t.slots.at(n)
	*r = Remote{Addr: addr, firstSeen: stamp, lastSeen: stamp, inUse: true}
	t.slots.pushNewest(n)
	t.byAddr[addr] = n
	t.stats.New++
	t.rec.newPeer(now, addr)
	return r
}

// evictOldest makes room for one remote by evicting the least recently
// seen, unless it was seen within Timings.EvictAfter; it reports whether
// it made room.
func (t *Table) evictOldest(now time.Time) bool {
	n, ok := t.slots.oldest()
	if !ok {
		return false
	}
	r := t.slots.at(n)
	if now.UnixNano()-r.lastSeen < int64(t.timings.EvictAfter) {
		return false
	}
	t.stats.Evicted++
	t.rec.evicted(now, r.Addr, r.lastSeen, t.max)
	t.forget(n)
	return true
}

// forget removes the remote in slot n, keeping the primary counts exact.
func (t *Table) forget(n uint32) {
	r := t.slots.at(n)
	t.unassign(r)
	delete(t.byAddr, r.Addr)
	t.slots.release(n)
}
