/*
 * Remotes: the client hosts the balancer has heard from, keyed by IPv4
 * address, and which backend each one talks to (SPEC §5); remotes.c's
 * remote_t and its AVL tree.
 *
 * A remote is created on first contact (a UDP packet or a TCP connection)
 * and forgotten once it has been silent for Timings.Expiry (a sweep runs
 * every Timings.Sweep). Each has a primary backend, to which it sticks, and
 * a backup used only while the primary is not ok:
 *
 *	no primary                      select one round-robin, make it
 *	                                primary, clear the backup
 *	primary's socket removed        clear both and start over
 *	primary ok                      use it; drop any backup (logging the
 *	                                return to the original primary)
 *	primary not ok, backup ok       use the backup
 *	primary not ok, no ok backup    select a new backup
 *	nothing ok                      nil: the caller drops and counts
 *
 * Each backend counts the remotes whose primary it is (Backend.Remotes);
 * this table is the only writer of that count, and keeps it exact: every
 * assignment, clearing and expiry of a primary adjusts it.
 *
 * Every Timings.Rebalance the table evens out the load: over the ok
 * backends it takes the highest and lowest primary counts; if their spread
 * exceeds the number of ok backends, it clears the primary of (spread minus
 * that number) remotes of the busiest backend, the lowest client addresses
 * first as remotes.c does, which choose again on their next packet. Each
 * moved remote logs "rebalancing to reduce spread" with its remote_ip.
 *
 * Everything here runs on the loop. Lookup of a known remote allocates
 * nothing; creating one does (a record and its child logger).
 */

package remote

import (
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
)

// Timings govern expiry and rebalancing.
type Timings struct {
	Expiry    time.Duration // forget a remote silent this long
	Sweep     time.Duration // how often to look for silent remotes
	Rebalance time.Duration // how often to even out primaries
}

// DefaultTimings are SPEC §5's.
func DefaultTimings() Timings {
	return Timings{Expiry: 5 * time.Minute, Sweep: 30 * time.Second, Rebalance: 15 * time.Second}
}

// Scale divides every interval by f (f > 1 shortens them); a test aid.
func (t Timings) Scale(f float64) Timings {
	d := func(x time.Duration) time.Duration { return time.Duration(float64(x) / f) }
	return Timings{Expiry: d(t.Expiry), Sweep: d(t.Sweep), Rebalance: d(t.Rebalance)}
}

// Stats are a remote's counters.
type Stats struct {
	UDP     uint64 // UDP packets forwarded
	UDPDrop uint64 // UDP packets dropped (no backend, or stuck)
	TCP     uint64 // TCP connections forwarded
	TCPDrop uint64 // TCP connections refused (no backend)
}

// Remote is one client host.
type Remote struct {
	Addr      uint32
	FirstSeen time.Time
	LastSeen  time.Time
	Stats     Stats

	primary *backend.Backend
	backup  *backend.Backend
	log     zerolog.Logger
}

// Primary is the backend the remote sticks to (nil: none yet).
func (r *Remote) Primary() *backend.Backend { return r.primary }

// Backup is the stand-in while the primary is not ok (nil: none).
func (r *Remote) Backup() *backend.Backend { return r.backup }

// Log is the remote's logger (carrying remote_ip).
func (r *Remote) Log() *zerolog.Logger { return &r.log }

// Table is the set of remotes; see the file comment.
type Table struct {
	loop    *evport.Loop
	log     zerolog.Logger
	set     *backend.Set
	timings Timings
	byAddr  map[uint32]*Remote
	moving  []uint32 // Rebalance's scratch: candidate addresses

	sweepTimer     *evport.Timer
	rebalanceTimer *evport.Timer
}

// NewTable creates an empty table choosing among set's backends.
func NewTable(loop *evport.Loop, log zerolog.Logger, set *backend.Set, t Timings) *Table {
	return &Table{loop: loop, log: log, set: set, timings: t, byAddr: make(map[uint32]*Remote)}
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
}

// Len is the number of remotes known.
func (t *Table) Len() int { return len(t.byAddr) }

// Each calls fn for every remote, in no particular order.
func (t *Table) Each(fn func(*Remote)) {
	for _, r := range t.byAddr {
		fn(r)
	}
}

// Lookup returns the remote for addr, creating it on first contact, and
// marks it seen now.
func (t *Table) Lookup(addr uint32) *Remote {
	now := t.loop.Now()
	r := t.byAddr[addr]
	if r == nil {
		r = &Remote{Addr: addr, FirstSeen: now}
		r.log = t.log.With().Str("remote_ip", bunyan.IPv4String(addr)).Logger()
		t.byAddr[addr] = r
		r.log.Info().Msg("new remote peer")
	}
	r.LastSeen = now
	return r
}

// Backend chooses the backend for the remote's next packet or connection
// by the rules in the file comment; nil when no backend is ok.
func (t *Table) Backend(r *Remote) *backend.Backend {
	if p := r.primary; p != nil && p.Removed() {
		t.setPrimary(r, nil)
		r.backup = nil
	}
	if r.primary == nil {
		b := t.set.Select()
		if b == nil {
			return nil
		}
		t.setPrimary(r, b)
		r.backup = nil
		r.log.Info().Uint32("be_id", b.ID()).Msg("remote assigned to new primary backend")
		return b
	}
	if r.primary.OK() {
		if r.backup != nil {
			r.backup = nil
			r.log.Info().Uint32("be_id", r.primary.ID()).Msg("remote assigned to original primary backend")
		}
		return r.primary
	}
	if r.backup != nil && r.backup.OK() {
		return r.backup
	}
	b := t.set.Select()
	if b == nil {
		return nil
	}
	r.backup = b
	r.log.Info().Uint32("be_id", b.ID()).Uint32("primary_be_id", r.primary.ID()).Msg("remote assigned to new backup backend")
	return b
}

// setPrimary keeps the backends' primary counts exact.
func (t *Table) setPrimary(r *Remote, b *backend.Backend) {
	if r.primary != nil {
		r.primary.AdjustRemotes(-1)
	}
	r.primary = b
	if b != nil {
		b.AdjustRemotes(1)
	}
}

// Expire forgets remotes silent for longer than Timings.Expiry.
func (t *Table) Expire() {
	now := t.loop.Now()
	for addr, r := range t.byAddr {
		if now.Sub(r.LastSeen) <= t.timings.Expiry {
			continue
		}
		r.log.Info().Time("last_seen", r.LastSeen).Msg("expiring remote entry")
		t.setPrimary(r, nil)
		delete(t.byAddr, addr)
	}
}

// Rebalance evens out the primaries among ok backends (file comment).
func (t *Table) Rebalance() {
	var busiest *backend.Backend
	okCount, lowest := 0, 0
	for _, b := range t.set.Backends() {
		if !b.OK() {
			continue
		}
		if okCount == 0 || b.Remotes() < lowest {
			lowest = b.Remotes()
		}
		if busiest == nil || b.Remotes() > busiest.Remotes() {
			busiest = b
		}
		okCount++
	}
	if busiest == nil {
		return
	}
	spread := busiest.Remotes() - lowest
	if spread <= okCount {
		return
	}
	move := spread - okCount
	t.log.Trace().Int("max_count", busiest.Remotes()).Int("min_count", lowest).Uint32("max_be_id", busiest.ID()).
		Int("spread", spread).Msg("balancer spread statistics")
	// remotes.c walks its AVL tree in address order: the lowest client
	// addresses of the busiest backend move first.
	t.moving = t.moving[:0]
	for addr, r := range t.byAddr {
		if r.primary == busiest {
			t.moving = append(t.moving, addr)
		}
	}
	slices.Sort(t.moving)
	for _, addr := range t.moving[:min(move, len(t.moving))] {
		r := t.byAddr[addr]
		r.log.Info().Uint32("be_id", busiest.ID()).Int("spread", spread).Msg("rebalancing to reduce spread")
		t.setPrimary(r, nil)
		r.backup = nil
	}
	t.moving = t.moving[:0]
}
