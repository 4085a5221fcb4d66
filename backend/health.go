/*
 * Health judged on real answers (issue 20): a backend whose session is up
 * and whose frame parser answers heartbeats may still have a DNS handler
 * that answers nothing (node-mname answers CLIENT_HEARTBEAT in its frame
 * parser, not in its DNS handler). The heartbeat cannot see that; the
 * queries can.
 *
 * The detector is the unanswered-query clock of the package comment,
 * counted apart from the heartbeat probe's: it starts at the first query
 * forwarded (or dropped as full) since the last OUTBOUND_UDP, counts the
 * queries sent since, and only an OUTBOUND_UDP stops it (a heartbeat reply
 * does not). The first query at or after Timings.EjectAfter on it, with at
 * least ejectMinQueries sent, ejects the backend: it stays ok (its session
 * and heartbeats go on) but is not usable (Usable): Route sends its
 * clients to their backups and Select skips it. A backend that answers
 * anything, however slowly, stops the clock with each answer and is never
 * ejected; a hung one is ejected here and then faulted by the heartbeat
 * probe.
 *
 * While ejected, the backend is sent a DNS query of the balancer's own
 * every Timings.EjectProbe (an A query for bbal-probe.invalid., which a DNS server
 * answers, if only with REFUSED, from its handler), from the reserved
 * source 0.0.0.0 port 0; the first OUTBOUND_UDP of any kind, the probe's
 * answer or a late one to a client, returns it. The probe's answer is the
 * balancer's and goes to no client.
 *
 * The cap (MaxEjectPercent, as Envoy's max_ejection_percent): at most that
 * share of the ok backends is ejected at once, at least one, and never the
 * last usable backend. A backend the cap keeps keeps its traffic; the cap's
 * refusal is counted and logged once per unanswered period.
 *
 * Ejection and return are logged at warn with the evidence: the queries
 * sent since the clock started, since when, the heartbeats answered
 * meanwhile, the answers the session has seen and when the last came.
 *
 * Ejection is a second, independent state beside the session's State: it
 * is changed only by eject and restore (and ended with the session in
 * Backend.enter), and its own timer is scheduled exactly while ejected.
 */

package backend

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/evport"
)

// MaxEjectPercent is the largest share of the ok backends ejected at once
// (at least one is allowed, and never the last usable one).
const MaxEjectPercent = 50

// ejectMinQueries is the fewest unanswered queries that eject a backend: a
// lone query the backend chose not to answer is no evidence.
const ejectMinQueries = 3

// The reserved source of the balancer's probe queries: no client sends
// from port 0, so an answer addressed there is the balancer's own.
const (
	probeAddr = 0
	probePort = 0
)

// probeQuery is the probe: ID 0 (patched per probe), RD clear, one
// question: bbal-probe.invalid., type A, class IN.
var probeQuery = [...]byte{
	0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
	10, 'b', 'b', 'a', 'l', '-', 'p', 'r', 'o', 'b', 'e',
	7, 'i', 'n', 'v', 'a', 'l', 'i', 'd', 0,
	0, 1, 0, 1,
}

// health is a backend's ejection state (file comment).
type health struct {
	ejected bool
	since   time.Time     // ejected at
	timer   *evport.Timer // the probe's: scheduled exactly while ejected
	probeID uint16        // ID of the last probe query
	capped  bool          // the cap kept the backend in this unanswered period (logged)
}

// answerClock is the unanswered-query clock's state: what eject reads.
type answerClock struct {
	since      time.Time // first query since the last answer; zero: none
	queries    uint64    // queries sent (or dropped as full) since then
	heartbeats uint64    // heartbeat replies seen since then
	lastAnswer time.Time // when the session's last OUTBOUND_UDP came
}

// Usable reports whether the backend takes new clients' and failed-over
// clients' traffic: ok and not ejected.
func (b *Backend) Usable() bool { return b.state.ok() && !b.health.ejected }

// Ejected reports whether the backend is ok but ejected for answering no
// queries, and since when.
func (b *Backend) Ejected() (bool, time.Time) { return b.health.ejected, b.health.since }

// checkAnswers ejects the backend once its queries have gone unanswered
// for EjectAfter (file comment); called with each query.
func (b *Backend) checkAnswers(now time.Time) {
	c := &b.clock
	if b.health.ejected || c.queries < ejectMinQueries || now.Sub(c.since) < b.set.timings.EjectAfter {
		return
	}
	if !b.set.mayEject() {
		if !b.health.capped {
			b.health.capped = true
			b.Stats.EjectCapped++
			b.evidence(b.log.Warn(), now).Int("max_eject_percent", MaxEjectPercent).
				Msg("backend answers no queries; not ejected: too many backends ejected already")
		}
		return
	}
	b.eject(now)
}

// eject takes the backend out of use and starts probing it.
func (b *Backend) eject(now time.Time) {
	b.health.ejected = true
	b.health.since = now
	b.Stats.Ejections++
	b.evidence(b.log.Warn(), now).Msg("backend answers no queries; ejected")
	b.sendProbe()
	b.health.timer.Reset(b.set.timings.EjectProbe)
}

// restore puts an ejected backend back in use: it answered.
func (b *Backend) restore(now time.Time) {
	b.health.ejected = false
	b.health.timer.Stop()
	b.log.Warn().Time("ejected_since", b.health.since).Int64("ejected_ms", now.Sub(b.health.since).Milliseconds()).
		Uint64("answers", b.Stats.Answers).Msg("backend answers queries again; returned")
}

// endEjection ends an ejection with the session (a fault, a stop): the
// backend is unusable anyway, and a new session starts healthy.
func (b *Backend) endEjection() {
	b.health.ejected = false
	b.health.capped = false
	b.health.timer.Stop()
}

// probeFired sends the next probe query while ejected.
func (b *Backend) probeFired() {
	if !b.health.ejected || !b.state.ok() {
		return
	}
	b.sendProbe()
	b.health.timer.Reset(b.set.timings.EjectProbe)
}

// sendProbe queues one probe query (when there is room beyond the control
// reserve; else the next tick tries again).
func (b *Backend) sendProbe() {
	c := b.session
	if c.Stuck() || c.Free() < udpHeaderLen+len(probeQuery)+controlReserve {
		return
	}
	b.health.probeID++
	q := probeQuery
	q[0], q[1] = byte(b.health.probeID>>8), byte(b.health.probeID)
	var hdr [udpHeaderLen]byte
	c.Write(appendUDPHeader(hdr[:0], FrameInboundUDP, probeAddr, probePort, len(q)))
	c.Write(q[:])
	b.Stats.ProbeQueries++
}

// mayEject reports whether one more backend may be ejected under the cap.
func (s *Set) mayEject() bool {
	ok, ejected := 0, 0
	for _, b := range s.byID {
		if b.state.ok() {
			ok++
			if b.health.ejected {
				ejected++
			}
		}
	}
	limit := max(1, ok*MaxEjectPercent/100)
	return ejected < limit && ok-ejected > 1
}

// evidence adds the unanswered-query clock's readings to a record.
func (b *Backend) evidence(e *zerolog.Event, now time.Time) *zerolog.Event {
	c := &b.clock
	e = e.Uint64("queries_sent", c.queries).Time("unanswered_since", c.since).
		Int64("unanswered_ms", now.Sub(c.since).Milliseconds()).
		Uint64("heartbeats_answered", c.heartbeats).Uint64("answers", b.Stats.Answers)
	if !c.lastAnswer.IsZero() {
		e = e.Time("last_answer", c.lastAnswer)
	}
	return e
}
