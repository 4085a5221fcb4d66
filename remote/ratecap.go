/*
 * Fair share per client (issue 20): a cap on each remote's query rate, a
 * token bucket kept as one number per remote (the generic cell rate
 * algorithm: due is when the remote's bucket would next be full, in the
 * loop's Unix nanoseconds). A query at now is admitted when due is at
 * most (burst-1) intervals ahead of now, and pushes due one interval
 * further; so a client gets rate queries a second, and bursts of up to
 * burst at once after a quiet spell. Clients served untracked (a full
 * table) have no entry and are not capped. A Table has no cap until
 * SetRateCap; the daemon sets DefaultClientRate (bbal --udp-client-rate).
 *
 * Why a cap on by default, and why 2,000: spilling a full backend's
 * queries to the others (proxy) spreads one hot client's excess over every
 * backend. Measured on a 2-core machine under a load average of 16-18 (one
 * node-mname answered 5-17k q/s there; ~11k on an idle one), a client at
 * 20k q/s next to 100 q/s clients: without a cap its neighbours got
 * 71.9 % of their answers and the other backends' clients 72.1 % (spill
 * alone), with a cap of 1,000 99.5 % and 99.5 %, of 5,000 91.0 % and
 * 91.1 %. A Binder client (a zone's or a node's resolver) sends a few
 * queries a second; 2,000 is far above that and under a fifth of what
 * one backend answers, so no client can fill a backend by itself. Drops
 * are counted (udp_dropped reason rate_capped), so an operator whose
 * clients really are that busy sees it and raises or removes the cap.
 */

package remote

// DefaultClientRate is the daemon's per-client query cap (a second, and
// the burst): see the file comment.
const DefaultClientRate = 2000

// SetRateCap caps each remote's queries at rate a second with bursts of
// up to burst (at least 1); rate 0 removes the cap. Call it at start.
func (t *Table) SetRateCap(rate, burst int) {
	if rate <= 0 {
		t.capInterval, t.capTolerance = 0, 0
		return
	}
	t.capInterval = int64(1e9) / int64(rate)
	t.capTolerance = int64(max(burst, 1)-1) * t.capInterval
}

// Admit reports whether the remote may send one more query now under the
// rate cap, and counts it against the cap if so; a refused query is the
// caller's to drop and count. Always true without a cap and for a client
// served untracked.
func (t *Table) Admit(r *Remote) bool {
	if t.capInterval == 0 || !r.Tracked() {
		return true
	}
	now := t.loop.Now().UnixNano()
	due := max(r.due, now)
	if due-now > t.capTolerance {
		return false
	}
	r.due = due + t.capInterval
	return true
}
