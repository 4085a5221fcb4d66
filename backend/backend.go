/*
 * Backend: one backend process behind one socket file, and its standing
 * control session, which carries every UDP query and the heartbeats (SPEC
 * §3, §4). This is backends.c's backend_t.
 *
 * States (the flags operators see in mdb):
 *
 *	connecting   session dialled, CLIENT_HELLO queued, SERVER_HELLO awaited
 *	             for at most ConnectTimeout
 *	ok           SERVER_HELLO seen: traffic flows; a CLIENT_HEARTBEAT goes
 *	             out HeartbeatInterval after the hello or the last reply,
 *	             and its SERVER_HEARTBEAT must come within HeartbeatTimeout
 *	reconnecting faulted: no session, a reconnect timer runs
 *	removed      the socket file is gone: no session, no timer, until a scan
 *	             finds the file again and connects at once
 *
 * Any protocol violation (a first frame other than SERVER_HELLO, a second
 * SERVER_HELLO, a SERVER_HEARTBEAT with none outstanding, INBOUND_TCP_OK or
 * an unknown type, an OUTBOUND_UDP over 1500 bytes), a missed heartbeat,
 * the connect timeout, end-of-file or any socket error faults the backend:
 * not ok, session closed, reconnect after the current delay, which starts at
 * ReconnectFirst, grows by ReconnectStep per fault up to ReconnectMax and is
 * reset by the next SERVER_HELLO. A session that ends in the middle of a
 * frame is a protocol error too. Everything that changes a Backend runs on
 * the loop: its session's callbacks and timers, the Set, the remote table
 * (primary counts), the UDP path (ForwardUDP) and the TCP proxy (Fault).
 *
 * Invariants: ok implies session != nil and hello seen; at most one of the
 * connect, heartbeat and reconnect timers matters at a time (each is
 * stopped when its state is left); removed implies session == nil and no
 * timer scheduled.
 */

package backend

import (
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
)

// controlRecvBuffer bounds the receive buffer (it grows to it while answers
// arrive in bursts); controlSendBuffer is the stuck bound: UDP frames
// queued for a backend that is not reading.
const (
	controlRecvBuffer = 64 << 10
	controlSendBuffer = 256 << 10
)

// Stats are a backend's counters (the C be_stat_* fields).
type Stats struct {
	ConnStart uint64 // sessions started (be_stat_conn_start)
	ConnError uint64 // sessions ended by a fault (be_stat_conn_error)
	UDP       uint64 // UDP packets forwarded (be_stat_udp)
	TCP       uint64 // TCP connections forwarded (be_stat_tcp)
	Stuck     uint64 // UDP packets dropped because the session was stuck
}

// Backend is one backend process; see the file comment.
type Backend struct {
	id   uint32
	path string
	set  *Set
	log  zerolog.Logger

	session        *evport.Conn
	sessionNum     uint64 // counts sessions started; names the current one
	ok             bool
	hello          bool
	hbOutstanding  bool
	removed        bool
	reconnectDelay time.Duration
	remotes        int

	connectTimer   *Timer
	heartbeatTimer *Timer
	reconnectTimer *Timer

	Stats Stats
}

// Timer is the loop's timer type, named here for the fields above.
type Timer = evport.Timer

func newBackend(s *Set, id uint32, path string) *Backend {
	b := &Backend{id: id, path: path, set: s}
	b.log = s.log.With().Uint32("be_id", id).Str("be_path", path).Logger()
	b.connectTimer = s.loop.NewTimer(b.connectTimedOut)
	b.heartbeatTimer = s.loop.NewTimer(b.heartbeatDue)
	b.reconnectTimer = s.loop.NewTimer(b.connect)
	return b
}

// ID is the backend's number (5300-5399 from its socket name, else assigned).
func (b *Backend) ID() uint32 { return b.id }

// Path is the backend's socket path.
func (b *Backend) Path() string { return b.path }

// OK reports whether the backend takes new traffic.
func (b *Backend) OK() bool { return b.ok }

// Removed reports whether the socket file is gone.
func (b *Backend) Removed() bool { return b.removed }

// Reconnecting reports whether a reconnect is scheduled.
func (b *Backend) Reconnecting() bool { return b.reconnectTimer.Scheduled() }

// HeartbeatOutstanding reports whether a CLIENT_HEARTBEAT awaits its reply.
func (b *Backend) HeartbeatOutstanding() bool { return b.hbOutstanding }

// ReconnectDelay is the wait before the next reconnect after a fault.
func (b *Backend) ReconnectDelay() time.Duration { return b.reconnectDelay }

// Remotes is the number of remotes whose primary this backend is.
func (b *Backend) Remotes() int { return b.remotes }

// AdjustRemotes changes the primary count (the remote table keeps it).
func (b *Backend) AdjustRemotes(delta int) { b.remotes += delta }

// Log is the backend's logger (carrying be_id and be_path).
func (b *Backend) Log() *zerolog.Logger { return &b.log }

// Sockaddr is the backend's socket address, for TCP sessions.
func (b *Backend) Sockaddr() *unix.SockaddrUnix { return &unix.SockaddrUnix{Name: b.path} }

// ForwardUDP queues an INBOUND_UDP frame carrying msg from addr:port on the
// control session. It reports false, and counts the drop as stuck, when
// the session cannot take the frame; false without counting when the
// backend is not ok.
func (b *Backend) ForwardUDP(addr uint32, port uint16, msg []byte) bool {
	if !b.ok {
		return false
	}
	s := b.set
	s.scratch = AppendInboundUDP(s.scratch[:0], addr, port, msg)
	if b.session.Free() < len(s.scratch) {
		b.Stats.Stuck++
		if e := b.log.Trace(); e.Enabled() {
			bunyan.IPv4(e, "remote_ip", addr).Uint16("remote_port", port).Msg("backend stuck; UDP packet dropped")
		}
		return false
	}
	b.session.Write(s.scratch)
	b.Stats.UDP++
	return true
}

// Session names the current control session (0: none yet). The TCP proxy
// notes it when it routes a connection here, so that a later Fault is about
// that session and no other.
func (b *Backend) Session() uint64 { return b.sessionNum }

// Fault tears down control session number session and schedules a
// reconnect; the TCP proxy calls it when the backend does not answer
// INBOUND_TCP in time. A fault about a session that has already ended (the
// backend was faulted meanwhile, or has reconnected since) is ignored:
// twenty proxies timing out together are one fault, not twenty, and none
// of them may kill a fresh session.
func (b *Backend) Fault(session uint64, reason string) {
	if session != b.sessionNum || b.session == nil {
		return
	}
	b.fault(reason, nil)
}

// connect starts a control session now.
func (b *Backend) connect() {
	b.reconnectTimer.Stop()
	if b.session != nil {
		return
	}
	b.Stats.ConnStart++
	b.log.Debug().Msg("connecting to backend")
	c, err := evport.Dial(b.set.loop, b.Sockaddr(), b, evport.ConnConfig{
		RecvBuffer: controlRecvBuffer,
		SendBuffer: controlSendBuffer,
	})
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			b.markRemoved()
			return
		}
		b.fault("connect failed", err)
		return
	}
	b.session = c
	b.sessionNum++
	b.hello, b.hbOutstanding = false, false
	b.connectTimer.Reset(b.set.timings.ConnectTimeout)
	b.session.Write(AppendClientHello(b.set.scratch[:0]))
}

func (b *Backend) markRemoved() {
	b.removed = true
	b.ok = false
	b.reconnectTimer.Stop()
	b.log.Info().Msg("backend socket removed")
}

// returned is called by a scan that finds a removed backend's file again.
func (b *Backend) returned() {
	b.removed = false
	b.reconnectDelay = 0
	b.connect()
}

// vanished is called by a scan that no longer finds the socket file: a
// backend waiting to reconnect is marked removed at once rather than left to
// fail its next connect; a live session is left alone.
func (b *Backend) vanished() {
	if b.session == nil && !b.removed {
		b.markRemoved()
	}
}

// Connected implements evport.ConnHandler.
func (b *Backend) Connected(c *evport.Conn) {
	b.log.Debug().Msg("backend socket connected")
}

// Received implements evport.ConnHandler: parses the frames of the stream.
func (b *Backend) Received(c *evport.Conn, data []byte) int {
	used := 0
	for b.session == c {
		f, n, err := ParseServerFrame(data[used:])
		if err != nil {
			b.fault("protocol error", err)
			return used
		}
		if n == 0 {
			break
		}
		used += n
		b.handleFrame(&f)
	}
	if b.session == c && used < len(data) && c.AtEOF() {
		b.fault("protocol error", fmt.Errorf("session closed in the middle of a frame (%d bytes)", len(data)-used))
	}
	return used
}

func (b *Backend) handleFrame(f *Frame) {
	if !b.hello {
		if f.Type != FrameServerHello {
			b.fault("protocol error", fmt.Errorf("%v before SERVER_HELLO", f.Type))
			return
		}
		b.hello, b.ok = true, true
		b.reconnectDelay = 0
		b.connectTimer.Stop()
		b.heartbeatTimer.Reset(b.set.timings.HeartbeatInterval)
		b.log.Info().Msg("backend socket established")
		return
	}
	switch f.Type {
	case FrameOutboundUDP:
		if e := b.log.Trace(); e.Enabled() {
			bunyan.IPv4(e, "remote_ip", f.Addr).Uint16("remote_port", f.Port).Int("len", len(f.Data)).Msg("answer from backend")
		}
		b.set.answer(f.Addr, f.Port, f.Data)
	case FrameServerHeartbeat:
		if !b.hbOutstanding {
			b.fault("protocol error", errors.New("SERVER_HEARTBEAT with no heartbeat outstanding"))
			return
		}
		b.hbOutstanding = false
		b.heartbeatTimer.Reset(b.set.timings.HeartbeatInterval)
	case FrameServerHello:
		b.fault("protocol error", errors.New("second SERVER_HELLO"))
	default:
		b.fault("protocol error", fmt.Errorf("unexpected %v on control session", f.Type))
	}
}

// heartbeatDue either sends the next heartbeat or, with one outstanding,
// declares the backend dead.
func (b *Backend) heartbeatDue() {
	if b.session == nil {
		return
	}
	if b.hbOutstanding {
		b.log.Warn().Msg("no heartbeat from backend")
		b.fault("heartbeat timeout", nil)
		return
	}
	// A frame is queued whole or not at all: part of one would corrupt
	// the stream.
	hb := AppendClientHeartbeat(b.set.scratch[:0])
	if b.session.Free() < len(hb) {
		b.fault("session stuck; heartbeat not sent", nil)
		return
	}
	b.session.Write(hb)
	b.hbOutstanding = true
	b.heartbeatTimer.Reset(b.set.timings.HeartbeatTimeout)
}

func (b *Backend) connectTimedOut() {
	b.fault("timed out waiting for SERVER_HELLO", nil)
}

// EOF implements evport.ConnHandler: the backend closed its session.
func (b *Backend) EOF(c *evport.Conn) {
	b.fault("backend closed the session", nil)
}

// Drained implements evport.ConnHandler.
func (b *Backend) Drained(c *evport.Conn) {}

// Closed implements evport.ConnHandler; a session we did not close
// ourselves failed.
func (b *Backend) Closed(c *evport.Conn, err error) {
	if b.session == c {
		b.fault("session error", err)
	}
}

// fault marks the backend not ok, closes the session and schedules the
// reconnect with back-off.
func (b *Backend) fault(reason string, err error) {
	wasUp := b.session != nil
	b.ok, b.hello, b.hbOutstanding = false, false, false
	b.connectTimer.Stop()
	b.heartbeatTimer.Stop()
	if s := b.session; s != nil {
		b.session = nil
		s.Close()
	}
	if wasUp || err != nil {
		b.Stats.ConnError++
	}
	switch {
	case b.reconnectDelay == 0:
		b.reconnectDelay = b.set.timings.ReconnectFirst
	default:
		b.reconnectDelay = min(b.reconnectDelay+b.set.timings.ReconnectStep, b.set.timings.ReconnectMax)
	}
	e := b.log.Warn().Str("reason", reason).Dur("reconnect_delay_ms", b.reconnectDelay)
	if err != nil {
		e = bunyan.Errno(e, err)
	}
	e.Msg("backend faulted (reset and reconnect)")
	var st unix.Stat_t
	if serr := unix.Stat(b.path, &st); errors.Is(serr, fs.ErrNotExist) {
		b.markRemoved()
		return
	}
	b.reconnectTimer.Reset(b.reconnectDelay)
}
