/*
 * The table's periodic work, as remotes.c's remotes_expire and
 * backend.c's backends_rebalance with remotes_rebalance:
 *
 * Expire forgets remotes silent for longer than Timings.Expiry, oldest
 * first, stopping at the first that is not (the seen-order list makes it
 * proportional to what expires, not to the table). It forgets at most
 * expireBatch per loop turn and continues on the next turn, so that the
 * end of a flood of a million addresses (about half a second of map
 * deletions) does not stall the packet path.
 *
 * Every Timings.Rebalance the table evens out the load: over the stable
 * backends (ok for Timings.StableAfter) it takes the highest and lowest
 * primary counts; if their spread exceeds the number of stable backends, it
 * clears the primary of (spread minus that number) remotes of the busiest
 * backend, the lowest client addresses
 * first as remotes.c's AVL walk does, which choose again on their next
 * packet. Each moved remote logs "rebalancing to reduce spread" with its
 * remote_ip (rate-limited).
 */

package remote

import (
	"slices"

	"github.com/joyent/mname-balancer/backend"
)

// movingKeep bounds the scratch slice Rebalance keeps between runs.
const movingKeep = 4096

// expireBatch is the most remotes Expire forgets in one loop turn (a few
// milliseconds).
const expireBatch = 4096

// Expire forgets remotes silent for longer than Timings.Expiry.
func (t *Table) Expire() {
	now := t.loop.Now()
	limit := now.UnixNano() - int64(t.timings.Expiry)
	for i := 0; ; i++ {
		n, ok := t.slots.oldest()
		if !ok {
			return
		}
		r := t.slots.at(n)
		if r.lastSeen >= limit {
			return
		}
		if i == expireBatch {
			if t.expireMore == nil {
				t.expireMore = t.loop.NewTimer(t.Expire)
			}
			t.expireMore.Reset(0) // the rest on a later turn
			return
		}
		t.stats.Expired++
		t.rec.expired(now, r.Addr, r.lastSeen)
		t.forget(n)
	}
}

// Rebalance evens out the primaries among stable backends (file comment).
// Only stable backends count (backend.Stable): a flapping one would always
// have the fewest and draw more clients onto itself.
func (t *Table) Rebalance() {
	var busiest *backend.Backend
	okCount, lowest := 0, 0
	for _, b := range t.set.Backends() {
		if !b.Stable() {
			continue
		}
		n := t.primaries[b.ID()]
		if okCount == 0 || n < lowest {
			lowest = n
		}
		if busiest == nil || n > t.primaries[busiest.ID()] {
			busiest = b
		}
		okCount++
	}
	if busiest == nil {
		return
	}
	highest := t.primaries[busiest.ID()]
	spread := highest - lowest
	t.log.Trace().Int("max_count", highest).Int("min_count", lowest).Uint32("max_be_id", busiest.ID()).
		Int("spread", spread).Msg("balancer spread statistics")
	if spread <= okCount {
		return
	}
	move := spread - okCount
	id := busiest.ID()
	t.moving = t.moving[:0]
	t.slots.each(func(r *Remote) {
		if r.primary == id {
			t.moving = append(t.moving, r.Addr)
		}
	})
	slices.Sort(t.moving)
	now := t.loop.Now()
	for _, addr := range t.moving[:min(move, len(t.moving))] {
		r := t.slots.at(t.byAddr[addr])
		t.rec.rebalanced(now, addr, id, spread)
		t.unassign(r)
	}
	if cap(t.moving) > movingKeep {
		t.moving = nil
	}
}
