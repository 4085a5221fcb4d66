/*
 * Backend: one backend process behind one socket file, and its standing
 * control session (backend.c's backend_t). The states, the faults, the
 * back-off and the probe are described in the package comment; the state
 * machine itself is in state.go, the session callbacks in session.go.
 *
 * Log records are the C balancer's, same msg, level and fields, for the
 * same events (backend.c): "connecting to backend" and "backend socket
 * connected" (info), "backend socket established" (info), each fault's
 * cause record, "backend faulted (reset and reconnect)" (error, only when
 * the backend was ok), "backend socket closed" (info), "reconnect triggered
 * for backend" (debug, delay_secs), "backend socket removed" (info).
 */

package backend

import (
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
)

// UDPBatch is the most datagrams the UDP path forwards to backends in one
// loop turn (one receive batch). A session's send queue holds one such batch
// of maximal frames beyond the kernel's buffer, and no more.
const UDPBatch = 64

// controlReserve is queue room kept for the control frames (CLIENT_HELLO,
// CLIENT_HEARTBEAT) that must go out even when UDP frames fill the rest.
const controlReserve = 64

// controlRecvBuffer bounds the receive buffer (it grows to it while answers
// arrive in bursts); controlSendBuffer bounds the send queue: one UDPBatch
// of maximal frames plus the control reserve.
const (
	controlRecvBuffer = 64 << 10
	controlSendBuffer = UDPBatch*MaxFrameLength + controlReserve
)

// heartbeatRetry is how soon a heartbeat that found no room is tried again
// (backend.c's rearm).
const heartbeatRetry = time.Second

// Stats are a backend's counters (the C be_stat_* fields).
type Stats struct {
	ConnStart uint64 // sessions started (be_stat_conn_start)
	ConnError uint64 // sessions ended by a fault, and failed connects (be_stat_conn_error)
	UDP       uint64 // UDP packets forwarded (be_stat_udp)
	TCP       uint64 // TCP connections forwarded (be_stat_tcp)
	Stuck     uint64 // UDP packets dropped because the session was stuck (be_stat_stuck)
	Probes    uint64 // heartbeats sent or hurried because queries went unanswered
	Answers   uint64 // OUTBOUND_UDP answers received (the probe queries' too)

	Ejections    uint64 // times ejected for answering no queries (health.go)
	EjectCapped  uint64 // times the ejection cap kept it in use instead
	ProbeQueries uint64 // the balancer's own probe queries sent while ejected
	Spilled      uint64 // queries that found its session full and went to another backend
}

// Backend is one backend process; see the package comment.
type Backend struct {
	id   uint32
	path string
	set  *Set
	log  zerolog.Logger

	state      State
	session    *evport.Conn // exactly in the states with a session
	sessionNum uint64       // counts sessions started; names the current one
	timer      *evport.Timer

	heartbeatWait time.Duration // deadline of the heartbeat being sent
	heartbeatAt   time.Time     // when the outstanding heartbeat was sent (or its wait last renewed)
	delay         time.Duration // wait of the pending (or last) reconnect; 0: none since the last fresh connect
	helloAt       time.Time     // when the current session became ok
	created       time.Time     // when the set first found the socket file
	since         time.Time     // when the backend last became ok, stopped being ok, or was removed
	why           string        // the last fault's cause ("" once ok again)
	probeSince    time.Time     // first query since the last answer or heartbeat reply; zero: none
	clock         answerClock   // the unanswered-query clock, stopped by answers only (health.go)
	health        health        // ejection (health.go)

	Stats Stats
}

func newBackend(s *Set, id uint32, path string) *Backend {
	now := s.loop.Now()
	b := &Backend{id: id, path: path, set: s, created: now, since: now}
	b.log = s.log.With().Uint32("be_id", id).Str("be_path", path).Logger()
	b.timer = s.loop.NewTimer(b.timerFired)
	b.health.timer = s.loop.NewTimer(b.probeFired)
	return b
}

// ID is the backend's number (5300-5399 from its socket name, else assigned).
func (b *Backend) ID() uint32 { return b.id }

// Path is the backend's socket path.
func (b *Backend) Path() string { return b.path }

// State is the backend's current state.
func (b *Backend) State() State { return b.state }

// OK reports whether the session is up and greeted: ok, with or without a
// heartbeat outstanding (be_ok). An ok backend may be ejected: Usable says
// whether it takes traffic.
func (b *Backend) OK() bool { return b.state.ok() }

// Stable reports whether the backend is usable and has been ok since its
// hello for at least Timings.StableAfter; see flap damping in the package
// comment.
func (b *Backend) Stable() bool {
	return b.Usable() && b.set.loop.Now().Sub(b.helloAt) >= b.set.timings.StableAfter
}

// Removed reports whether the socket file is gone (be_removed).
func (b *Backend) Removed() bool { return b.state == StateRemoved }

// Reconnecting reports whether a reconnect is scheduled (be_reconnect).
func (b *Backend) Reconnecting() bool { return b.state == StateReconnecting }

// HeartbeatOutstanding reports whether a CLIENT_HEARTBEAT awaits its reply.
func (b *Backend) HeartbeatOutstanding() bool { return b.state == StateHeartbeat }

// ReconnectDelay is the wait of the pending reconnect, or of the last one
// (0 for a backend that has never faulted).
func (b *Backend) ReconnectDelay() time.Duration { return b.delay }

// Log is the backend's logger (carrying be_id and be_path).
func (b *Backend) Log() *zerolog.Logger { return &b.log }

// Sockaddr is the backend's socket address, for TCP sessions.
func (b *Backend) Sockaddr() *unix.SockaddrUnix { return &unix.SockaddrUnix{Name: b.path} }

// SessionNumber is the number of the current control session (0: none
// yet; each new session takes the next). The TCP proxy notes it when it
// routes a connection here, so that a later Fault is about that session
// and no other.
func (b *Backend) SessionNumber() uint64 { return b.sessionNum }

// ForwardUDP queues an INBOUND_UDP frame carrying msg from addr:port on the
// control session. It reports false, and counts the drop as stuck, when the
// session is stuck (the kernel took no more) or its queue is full; false
// without counting when the backend is not ok.
func (b *Backend) ForwardUDP(addr uint32, port uint16, msg []byte) bool {
	if !b.state.ok() {
		return false
	}
	c := b.session
	if b.Full(len(msg)) {
		b.Stats.Stuck++
		if e := b.log.Trace(); e.Enabled() {
			bunyan.IPv4(e, "remote_ip", addr).Uint16("remote_port", port).Msg("stuck backend write queue")
		}
		// A query dropped because the backend reads nothing is a query
		// it left unanswered: a hung backend under load is stuck within
		// a fraction of ProbeAfter, and must be probed all the same.
		b.noteQuery()
		return false
	}
	var hdr [udpHeaderLen]byte
	c.Write(appendUDPHeader(hdr[:0], FrameInboundUDP, addr, port, len(msg)))
	c.Write(msg)
	b.Stats.UDP++
	b.noteQuery()
	return true
}

// Full reports whether the session of this ok backend could not take a
// query of n bytes now (the condition ForwardUDP drops as stuck): the
// caller may spill the query to another backend (NoteSpilled) instead.
func (b *Backend) Full(n int) bool {
	if !b.state.ok() {
		return false
	}
	c := b.session
	return c.Stuck() || c.Free() < udpHeaderLen+n+controlReserve
}

// NoteSpilled counts a query that found this backend full and went to
// another; it still counts as a query this backend left unanswered (a
// hung backend is full within a fraction of ProbeAfter under load).
func (b *Backend) NoteSpilled() {
	b.Stats.Spilled++
	b.noteQuery()
}

// noteQuery runs the unanswered-query clocks: the heartbeat probe's, which
// once it has run for ProbeAfter probes the backend (this query's call is
// the probe's only trigger: there is no timer), and the ejection's
// (health.go). Queries dropped as stuck count too.
func (b *Backend) noteQuery() {
	now := b.set.loop.Now()
	if b.clock.since.IsZero() {
		b.clock.since = now
	}
	b.clock.queries++
	b.checkAnswers(now)
	if b.probeSince.IsZero() {
		b.probeSince = now
		return
	}
	if now.Sub(b.probeSince) < b.set.timings.ProbeAfter {
		return
	}
	switch b.state {
	case StateOK:
		b.Stats.Probes++
		b.log.Debug().Dur("unanswered_ms", now.Sub(b.probeSince)).Msg("queries unanswered; probing backend")
		b.sendHeartbeat(b.set.timings.ProbeTimeout)
	case StateHeartbeat:
		if b.timer.When().Sub(now) > b.set.timings.ProbeTimeout {
			b.Stats.Probes++
			b.log.Debug().Dur("unanswered_ms", now.Sub(b.probeSince)).Msg("queries unanswered; heartbeat deadline shortened")
			b.timer.Reset(b.set.timings.ProbeTimeout)
		}
	}
}

// answered stops both clocks: an OUTBOUND_UDP arrived. An ejected backend
// returns.
func (b *Backend) answered() {
	now := b.set.loop.Now()
	b.Stats.Answers++
	b.clock = answerClock{lastAnswer: now}
	b.probeSince = time.Time{}
	b.health.capped = false
	if b.health.ejected {
		b.restore(now)
	}
}

// Fault tears down control session number session and schedules a
// reconnect; the TCP proxy calls it (after its own record) when the backend
// does not answer INBOUND_TCP in time. A fault about a session that has
// already ended (the backend was faulted meanwhile, or has reconnected
// since) is ignored: twenty proxies timing out together are one fault, not
// twenty, and none of them may kill a fresh session.
func (b *Backend) Fault(session uint64, reason string) {
	if session != b.sessionNum || !b.state.hasSession() {
		return
	}
	b.fault(reason)
}

// enter applies event e: the next state from the table, then that state's
// entry actions. An event the table does not allow is a bug in this
// package, and stops the balancer as the C program's VERIFY would.
func (b *Backend) enter(e event) {
	from := b.state
	to, ok := transition(from, e)
	if !ok {
		panic(fmt.Sprintf("backend %d: event %v in state %v", b.id, e, from))
	}
	wasStable := b.Stable()
	b.state = to
	if from.ok() && !to.ok() {
		b.endEjection()
	}
	// Since counts from the last change an operator sees: into or out of
	// ok (a heartbeat's round trip is no change), or into or out of
	// removed (the connecting and reconnecting of a backend that keeps
	// failing are one outage).
	if from.ok() != to.ok() || (from == StateRemoved) != (to == StateRemoved) {
		b.since = b.set.loop.Now()
	}
	if from.hasSession() && !to.hasSession() {
		c := b.session
		b.session = nil
		c.Close()
		b.log.Info().Msg("backend socket closed")
	}
	tm := &b.set.timings
	switch to {
	case StateConnecting:
		b.probeSince = time.Time{}
		b.clock = answerClock{}
		b.timer.Reset(tm.ConnectTimeout)
	case StateOK:
		if from == StateConnecting {
			b.helloAt = b.set.loop.Now()
			b.why = ""
		}
		b.timer.Reset(tm.HeartbeatInterval)
	case StateHeartbeat:
		b.timer.Reset(b.heartbeatWait)
	case StateReconnecting:
		// Flap damping: only a session that stayed ok for a while
		// starts the back-off again.
		if wasStable {
			b.delay = 0
		}
		b.delay = tm.nextDelay(b.delay)
		b.timer.Reset(b.delay)
		b.log.Debug().Uint32("delay_secs", uint32(b.delay/time.Second)).Int64("delay_ms", b.delay.Milliseconds()).
			Msg("reconnect triggered for backend")
	case StateRemoved:
		b.why = "socket file removed"
		b.timer.Stop()
	default:
		b.timer.Stop()
	}
}

// invariant reports the first way the backend's fields disagree with its
// state (nil: none). The tests call it after every step.
func (b *Backend) invariant() error {
	s := b.state
	switch {
	case s >= numStates:
		return fmt.Errorf("state %v out of range", s)
	case s.hasSession() != (b.session != nil):
		return fmt.Errorf("state %v with session %v", s, b.session != nil)
	case b.session != nil && b.session.IsClosed():
		return fmt.Errorf("state %v with a closed session", s)
	case (s.hasSession() || s == StateReconnecting) != b.timer.Scheduled():
		return fmt.Errorf("state %v with timer scheduled %v", s, b.timer.Scheduled())
	case b.health.ejected && !s.ok():
		return fmt.Errorf("ejected in state %v", s)
	case b.health.ejected != b.health.timer.Scheduled():
		return fmt.Errorf("ejected %v with the probe timer scheduled %v", b.health.ejected, b.health.timer.Scheduled())
	}
	return nil
}

// connectFresh connects at once: a new backend, or a returned socket file.
// The back-off starts over (backends_refresh's delay 0).
func (b *Backend) connectFresh() {
	b.delay = 0
	b.connect()
}

// connect starts a control session now.
func (b *Backend) connect() {
	b.log.Info().Msg("connecting to backend")
	b.Stats.ConnStart++
	c, err := b.set.dial(b.set.loop, b.Sockaddr(), (*sessionEvents)(b), evport.ConnConfig{
		RecvBuffer: controlRecvBuffer,
		SendBuffer: controlSendBuffer,
	})
	if err != nil {
		b.Stats.ConnError++
		msg := "connect(3SOCKET) failed"
		if descriptorsExhausted(err) {
			msg = "socket(2) failed"
		}
		bunyan.Errno(b.log.Error().Str("socket_path", b.path), err).Msg(msg)
		// Only a missing file is a removed backend: out of descriptors,
		// refused or anything else is a failed attempt, retried.
		if errors.Is(err, unix.ENOENT) {
			b.log.Info().Msg("backend socket removed")
			b.enter(evGone)
			return
		}
		bunyan.Errno(b.log.Error(), err).Msg("failed to connect")
		b.why = err.Error() // "connect: ..."
		b.enter(evFault)
		return
	}
	b.session = c
	b.sessionNum++
	b.enter(evDial)
	var frame [typeLen]byte
	c.Write(AppendClientHello(frame[:0]))
}

// descriptorsExhausted reports a failure of socket(2) for want of a
// descriptor (per process or system-wide).
func descriptorsExhausted(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE)
}

// returned is called by a scan that finds a removed backend's file again.
func (b *Backend) returned() {
	b.log.Info().Msg("backend socket returned (connecting)")
	b.connectFresh()
}

// vanished is called by a scan that no longer finds the socket file: a
// backend waiting to reconnect is marked removed at once rather than left to
// fail its next connect; a live session is left alone.
func (b *Backend) vanished() {
	if b.state == StateReconnecting {
		b.log.Info().Msg("backend socket removed")
		b.enter(evGone)
	}
}

// stop ends the session and every timer for good (Set.Stop).
func (b *Backend) stop() { b.enter(evStop) }

// timerFired is the one timer's callback; what it means depends on the state.
func (b *Backend) timerFired() {
	switch b.state {
	case StateConnecting:
		b.log.Warn().Msg("timed out connecting to backend")
		b.fault("connect timeout")
	case StateOK:
		b.sendHeartbeat(b.set.timings.HeartbeatTimeout)
	case StateHeartbeat:
		if now := b.set.loop.Now(); b.clock.lastAnswer.After(b.heartbeatAt) {
			// Answers came while the reply was awaited: the backend is
			// alive, its reply queued behind the queries it is working
			// through (a backend that answers is healthy, however
			// slowly). Wait again; only a wait without any answer faults.
			b.heartbeatAt = now
			b.timer.Reset(b.set.timings.ProbeTimeout)
			b.log.Debug().Msg("heartbeat reply late, answers still coming; waiting")
			return
		}
		b.log.Error().Msg("no heartbeat from backend")
		b.fault("no heartbeat")
	case StateReconnecting:
		b.connect()
	}
}

// sendHeartbeat queues a CLIENT_HEARTBEAT whose reply must come within
// wait. The control reserve keeps room for it; should there be none, it is
// tried again shortly, as backend.c does.
func (b *Backend) sendHeartbeat(wait time.Duration) {
	var frame [typeLen]byte
	hb := AppendClientHeartbeat(frame[:0])
	if b.session.Free() < len(hb) {
		b.timer.Reset(heartbeatRetry)
		return
	}
	b.session.Write(hb)
	b.heartbeatWait = wait
	b.heartbeatAt = b.set.loop.Now()
	b.enter(evHeartbeatSent)
	b.log.Trace().Msg("heartbeat sent")
}

// fault ends the session (or the attempt at one) and schedules the
// reconnect. The caller has logged the cause.
func (b *Backend) fault(reason string) {
	if b.state.ok() {
		b.log.Error().Str("reason", reason).Msg("backend faulted (reset and reconnect)")
	}
	b.Stats.ConnError++
	b.why = reason
	b.enter(evFault)
}
