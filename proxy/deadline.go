/*
 * A proxied connection's deadlines (issue 12): one timer per proxy, always
 * set for the earliest deadline that applies, so that no client can hold
 * two descriptors for longer than the deadlines allow.
 *
 *	message     the client's message in progress must be complete within
 *	            MessageTimeout of its first byte; before the first message,
 *	            within MessageTimeout of the accept. Bounds clients that
 *	            say nothing, or trickle a byte at a time
 *	idle        once established, no byte moved either way (read from one
 *	            side and taken for the other) for IdleTimeout
 *	half-close  the client has shut its write side with no message or a
 *	            partial one last, so there is nothing more the backend can
 *	            answer: it must finish within HalfCloseTimeout of the last
 *	            byte moved (node-mname never closes a session holding a
 *	            partial message: this is what ends it). After complete
 *	            messages the backend owes answers, which a client that
 *	            reads slowly may take long to drain, and the idle deadline
 *	            applies instead. The message deadline no longer applies
 *	            once the client has shut its side (it cannot complete a
 *	            message)
 *
 * During the handshake only the message deadline applies besides the
 * INBOUND_TCP_OK timeout (a backend slow to accept is the backend's fault,
 * not the client's).
 *
 * Activity only records the time (lastActive, msgStart); the timer is
 * re-armed only when a deadline may have moved earlier (a message begins,
 * the handshake ends, the client's EOF). When it fires before the deadline
 * that applies now (activity moved it later), it re-arms for the rest.
 */

package proxy

import "time"

// timeoutKind names the deadline that expired (the "timeout" field).
type timeoutKind int

const (
	noTimeout timeoutKind = iota
	messageTimeout
	idleTimeout
	halfCloseTimeout
)

func (k timeoutKind) String() string {
	switch k {
	case messageTimeout:
		return "message"
	case idleTimeout:
		return "idle"
	case halfCloseTimeout:
		return "half-close"
	}
	return "none"
}

// nextDeadline is the earliest deadline that applies now.
func (p *tcpProxy) nextDeadline() (time.Time, timeoutKind) {
	cfg := &p.tcp.cfg
	if p.clientEOF && (p.messages == 0 || p.scan.have > 0) {
		return p.lastActive.Add(cfg.HalfCloseTimeout), halfCloseTimeout
	}
	var when time.Time
	kind := noTimeout
	switch {
	case p.clientEOF: // the client cannot finish a message any more
	case p.messages == 0:
		when, kind = p.started.Add(cfg.MessageTimeout), messageTimeout
	case p.scan.have > 0:
		when, kind = p.msgStart.Add(cfg.MessageTimeout), messageTimeout
	}
	if p.established {
		if idle := p.lastActive.Add(cfg.IdleTimeout); kind == noTimeout || idle.Before(when) {
			when, kind = idle, idleTimeout
		}
	}
	return when, kind
}

// armDeadline sets the timer for the earliest deadline, unless it is
// already set no later than that.
func (p *tcpProxy) armDeadline() {
	when, kind := p.nextDeadline()
	if kind == noTimeout {
		p.deadline.Stop()
		return
	}
	if p.deadline.Scheduled() && !p.deadline.When().After(when) {
		return
	}
	p.deadline.Reset(when.Sub(p.tcp.loop.Now()))
}

// deadlineReached runs when the timer fires: the connection ends if the
// deadline that applies now has passed, else the timer waits for it.
func (p *tcpProxy) deadlineReached() {
	now := p.tcp.loop.Now()
	when, kind := p.nextDeadline()
	if kind == noTimeout {
		return
	}
	if now.Before(when) {
		p.deadline.Reset(when.Sub(now))
		return
	}
	t := p.tcp
	var limit time.Duration
	switch kind {
	case messageTimeout:
		t.stats.MessageTimeouts++
		limit = t.cfg.MessageTimeout
	case idleTimeout:
		t.stats.IdleTimeouts++
		limit = t.cfg.IdleTimeout
	case halfCloseTimeout:
		t.stats.HalfCloseTimeouts++
		limit = t.cfg.HalfCloseTimeout
	}
	if t.timeoutLog.Allow(now) {
		p.log.Info().Str("timeout", kind.String()).Dur("timeout_ms", limit).
			Uint64("messages", p.messages).Uint64("to_backend", p.toBackend).Uint64("to_client", p.toClient).
			Msg(msgTimeout)
	}
	p.teardown(errTimeout{kind})
}

type errTimeout struct{ kind timeoutKind }

func (e errTimeout) Error() string { return e.kind.String() + " timeout" }

// moved records that n bytes moved from one side to the other.
func (p *tcpProxy) moved(n int) {
	if n > 0 {
		p.lastActive = p.tcp.loop.Now()
	}
}

// clientBytes follows message boundaries in the client's buffered bytes
// (data begins at the first byte not yet forwarded; only the part not seen
// before is scanned) and re-arms the deadline when a message begins.
func (p *tcpProxy) clientBytes(data []byte) {
	seen := p.scanned - p.toBackend // bytes of data scanned on an earlier call
	if uint64(len(data)) <= seen {
		return
	}
	fresh := data[seen:]
	p.scanned += uint64(len(fresh))
	wasPartial := p.scan.have > 0
	completed := p.scan.feed(fresh)
	p.messages += uint64(completed)
	if p.scan.have > 0 && (completed > 0 || !wasPartial) {
		p.msgStart = p.tcp.loop.Now()
		p.armDeadline()
	}
}

// boundary is the client stream offset after the last complete message
// scanned.
func (p *tcpProxy) boundary() uint64 { return p.scanned - uint64(p.scan.have) }

// msgScanner follows DNS-over-TCP message boundaries (RFC 1035 4.2.2: a
// two-byte big-endian length, then the message) in a byte stream.
type msgScanner struct {
	have   int // bytes of the current message seen, length prefix included
	length int // the current message's length, once have >= 2
}

// feed scans b and returns how many messages it completed.
func (s *msgScanner) feed(b []byte) (completed int) {
	for len(b) > 0 {
		if s.have < 2 {
			s.length = s.length<<8 | int(b[0])
			s.have++
			b = b[1:]
		} else {
			take := min(len(b), 2+s.length-s.have)
			s.have += take
			b = b[take:]
		}
		if s.have >= 2 && s.have == 2+s.length {
			completed++
			s.have, s.length = 0, 0
		}
	}
	return completed
}
