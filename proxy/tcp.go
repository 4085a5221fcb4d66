/*
 * The TCP listener and its proxies (the package comment gives the model):
 * what each state of a proxy does, the admission limits, back-pressure and
 * the records. The client's backend is the one the remote table routes it
 * to, as for UDP.
 *
 * A proxy's life in detail:
 *
 *	accepted     admission (see Limits below), then the remote and its
 *	             backend are looked up; refused or no backend: the client
 *	             is closed at once and counted
 *	handshake    the backend session is dialled and INBOUND_TCP (client
 *	             address and port) queued; INBOUND_TCP_OK must arrive within
 *	             OKTimeout or the backend's control session (the one it had
 *	             when the connection was routed) is faulted and both sides
 *	             are closed. Client bytes that arrive meanwhile stay in the
 *	             client Conn's receive buffer (bounded: reading stops when
 *	             it is full), to be forwarded after the OK
 *	established  bytes are copied verbatim both ways, but from the client
 *	             only whole DNS messages (a partial one waits in the
 *	             receive buffer, which holds the largest message, until it
 *	             is complete): node-mname never closes a session that holds
 *	             a partial message, not even when the balancer closes its
 *	             end, so one that will never be completed (the client's EOF
 *	             or a deadline came first) must never reach it. Bytes that
 *	             followed the OK in the same read are the first of the stream
 *	closing      end-of-file from one side becomes a write shutdown on the
 *	             other, once everything before it has been forwarded (a
 *	             client's partial last message is dropped); when
 *	             both directions have ended and both queues are written out,
 *	             both sides close. An error on either side, anything but
 *	             INBOUND_TCP_OK first, or a deadline closes both at once
 *
 * Deadlines: one timer per proxy, for the earliest that applies
 * (deadline.go).
 *
 * Limits (the descriptor budget): at most MaxConns proxies at once and
 * MaxPerClient from one client address; and a connection is refused when
 * the descriptor it arrived on and the one its backend session would take
 * would leave fewer than FDReserve (at most a quarter of the limit) below
 * the soft RLIMIT_NOFILE, read at each accept (an operator may lower it
 * under a running balancer with prlimit), so that backend control sessions
 * can always reconnect. Descriptors are allocated lowest first, so an
 * accepted fd n means n descriptors below it are in use. The excess is
 * closed at once, counted, and logged at a limited rate; so are accept
 * failures (EMFILE, say), which the Listener meets with a pause.
 *
 * Back-pressure: each direction moves bytes from one Conn's receive buffer
 * into the other's send queue, and only as many as that queue takes. What
 * is left stays in the receive buffer, which stops reading when full, so a
 * side that does not read (client or backend) holds the balancer to at most
 * a receive buffer and tcpSendBuffer bytes per direction. When a send queue
 * drains, the opposite side is resumed.
 *
 * Records: tcp_proxy.c's, at its levels and on the proxy's logger (backend,
 * conn_id, remote_ip, remote_port): the traces of each step ("TCP frontend
 * data", "forwarded bytes from front to back", "backend reports TCP OK",
 * "TCP stream EOF" with which, ...; free when trace is off) and the debug
 * records of each side closing. C's send failures ("forward to backend
 * failed", "FIN send failed", ...) have no counterpart: Conn.Write queues
 * and cannot fail, and a failed send or shutdown closes that side, which is
 * logged as "TCP error".
 *
 * teardown is the one place that closes both sides and takes a proxy out
 * of live and perClient (the package comment's invariants).
 */

package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/internal/ipv4"
	"github.com/joyent/mname-balancer/remote"
)

const (
	tcpRecvBuffer = 32 << 10
	tcpSendBuffer = 64 << 10
	// The client's receive buffer holds the largest message whole (a
	// two-byte length and up to 65535 bytes): only whole messages are
	// forwarded.
	tcpClientRecvBuffer = 2 + 65535
)

var errNotTCPOK = errors.New("backend answered INBOUND_TCP with something other than INBOUND_TCP_OK")

// TCPStats counts the TCP path's events since start (loop goroutine only).
type TCPStats struct {
	Accepted       uint64 // connections accepted from the listener
	Refused        uint64 // closed at once without a proxy (every cause below)
	RefusedFull    uint64 // MaxConns proxies were open
	RefusedClient  uint64 // MaxPerClient proxies from that address were open
	RefusedReserve uint64 // too few descriptors left (FDReserve)
	NoBackend      uint64 // no backend was usable (ok and not ejected)
	Untracked      uint64 // proxied for a new client a remote table full of active remotes could not add
	ConnectFailed  uint64 // the chosen backend's socket could not be connected
	AcceptErrors   uint64 // accept(2) failures (EMFILE, ENFILE, ...), or a peer that is not IPv4: no connection to refuse

	OKTimeouts        uint64 // no INBOUND_TCP_OK within OKTimeout
	MessageTimeouts   uint64 // a client message not complete within MessageTimeout
	IdleTimeouts      uint64 // no byte moved for IdleTimeout
	HalfCloseTimeouts uint64 // backend did not finish within HalfCloseTimeout of the client's EOF
	Errors            uint64 // "TCP error": a socket error on either side
	BackendClosed     uint64 // the backend ended the session before INBOUND_TCP_OK
	NotTCPOK          uint64 // the backend answered INBOUND_TCP with another frame
	LameDuckClosed    uint64 // closed at a stop, owing its client nothing (LameDuck)
	GraceClosed       uint64 // still open when the stop's grace ran out (Abort)

	Open int // proxies open now
}

// TCP is the TCP listener and its live proxies.
type TCP struct {
	loop      *evport.Loop
	log       zerolog.Logger
	table     *remote.Table
	ln        *evport.Listener // nil until Start
	lnFD      int
	port      uint16
	addr      netip.AddrPort // bound address
	cfg       TCPConfig
	nextID    uint64
	live      map[*tcpProxy]struct{}
	perClient map[uint32]int
	drained   func()
	closed    bool
	lameDuck  bool // LameDuck was called: each proxy ends once it owes its client nothing
	stats     TCPStats

	// Records that client input can trigger, each kind at a limited rate.
	refusedLog, acceptErrLog, timeoutLog, errorLog, connectLog, okTimeoutLog *bunyan.RateLimiter
}

// Messages of the rate-limited records (the C balancer's where it had one).
const (
	msgRefused   = "refusing TCP connection"
	msgAcceptErr = "incoming TCP accept failure"
	msgTimeout   = "TCP connection timed out"
	msgError     = "TCP error"
	msgConnect   = "could not connect to backend for TCP"
	msgOKTimeout = "timed out connecting to backend"
)

// ListenTCP binds the TCP listener and starts accepting; its rate-limited
// records join limits.
func ListenTCP(loop *evport.Loop, log zerolog.Logger, limits *bunyan.Limits, addr netip.AddrPort, table *remote.Table, cfg TCPConfig) (*TCP, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	fd, err := bindSocket(unix.SOCK_STREAM, addr)
	if err != nil {
		return nil, fmt.Errorf("TCP socket: %w", err)
	}
	if err := unix.Listen(fd, tcpBacklog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%v: %w", addr, &SocketError{StepListen, err})
	}
	t, err := TCPOnSocket(loop, log, limits, fd, table, cfg)
	if err != nil {
		return nil, fmt.Errorf("TCP socket %v: %w", addr, err)
	}
	if err := t.Start(); err != nil {
		return nil, err
	}
	return t, nil
}

// TCPOnSocket takes fd, a bound and listening AF_INET stream socket (one
// inherited from the process handing over, see cmd/bbal), without
// accepting on it until Start. It closes fd if it is not such a socket.
func TCPOnSocket(loop *evport.Loop, log zerolog.Logger, limits *bunyan.Limits, fd int, table *remote.Table, cfg TCPConfig) (*TCP, error) {
	if err := cfg.validate(); err != nil {
		unix.Close(fd)
		return nil, err
	}
	addr, err := checkSocket(fd, unix.SOCK_STREAM)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("TCP socket fd %d: %w", fd, err)
	}
	t := &TCP{loop: loop, log: log, table: table, port: addr.Port(), addr: addr, lnFD: fd, cfg: cfg,
		live: make(map[*tcpProxy]struct{}), perClient: make(map[uint32]int)}
	rate := bunyan.DefaultRate
	t.refusedLog = limits.New(log, zerolog.WarnLevel, msgRefused, rate)
	// At the descriptor limit the Listener retries every AcceptBackoff, ten
	// times a second: at the default rate that would still be a warning
	// each time, so accept failures get one a second.
	t.acceptErrLog = limits.New(log, zerolog.WarnLevel, msgAcceptErr,
		bunyan.Rate{Every: time.Second, Burst: 5, SummaryEvery: 10 * time.Second})
	t.timeoutLog = limits.New(log, zerolog.InfoLevel, msgTimeout, rate)
	t.errorLog = limits.New(log, zerolog.ErrorLevel, msgError, rate)
	t.connectLog = limits.New(log, zerolog.WarnLevel, msgConnect, rate)
	t.okTimeoutLog = limits.New(log, zerolog.ErrorLevel, msgOKTimeout, rate)
	return t, nil
}

// Start starts accepting.
func (t *TCP) Start() error {
	var err error
	t.ln, err = evport.NewListener(t.loop, t.lnFD, t.accept, t.acceptError)
	if err != nil { // NewListener has closed the fd
		t.closed = true
		return fmt.Errorf("TCP listener fd %d: %w", t.lnFD, err)
	}
	t.log.Info().Str("address", t.addr.Addr().String()).Str("port", strconv.Itoa(int(t.port))).
		Int("max_conns", t.cfg.MaxConns).Int("max_per_client", t.cfg.MaxPerClient).Int("fd_reserve", t.cfg.FDReserve).
		Msg("listening for TCP packets")
	return nil
}

// Addr is the bound address.
func (t *TCP) Addr() netip.AddrPort { return t.addr }

// ListenerFD is the listening socket's descriptor, to hand to a successor
// process.
func (t *TCP) ListenerFD() int { return t.lnFD }

// Port is the bound port.
func (t *TCP) Port() uint16 { return t.port }

// Live is the number of open proxied connections.
func (t *TCP) Live() int { return len(t.live) }

// Stats returns the counters (loop goroutine only).
func (t *TCP) Stats() TCPStats {
	s := t.stats
	s.Open = len(t.live)
	return s
}

// Close stops accepting; open proxies carry on.
func (t *TCP) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	var err error
	if t.ln != nil {
		err = t.ln.Close()
	} else {
		err = unix.Close(t.lnFD)
	}
	t.checkDrained()
	return err
}

// Drain calls done once no proxy is open any more (at once if none is).
func (t *TCP) Drain(done func()) {
	t.drained = done
	t.checkDrained()
}

// errLameDuck ends a connection that owes its client nothing once the
// balancer is stopping.
var errLameDuck = errors.New("balancer stopping: connection idle")

// LameDuck stops accepting, closes at once every connection that owes its
// client nothing (RFC 7766 6.2.3 lets a server close idle connections; the
// client reconnects, to the next process) and lets each of the others
// finish what it is doing and close as soon as it owes nothing (see idle).
// It returns how many it closed at once.
func (t *TCP) LameDuck() (closedIdle int) {
	t.lameDuck = true
	before := t.stats.LameDuckClosed
	for p := range t.live {
		p.endIfLameDuck()
	}
	t.Close()
	return int(t.stats.LameDuckClosed - before)
}

// errShutdownGrace ends a connection still open when a stop's grace runs
// out.
var errShutdownGrace = errors.New("balancer stopping: grace period over")

// Abort closes every open proxy, counting each (GraceClosed): cmd/bbal
// calls it when a stop's grace has run out.
func (t *TCP) Abort() {
	for p := range t.live {
		t.stats.GraceClosed++
		p.teardown(errShutdownGrace)
	}
}

func (t *TCP) checkDrained() {
	if len(t.live) > 0 {
		return
	}
	if t.drained != nil {
		done := t.drained
		t.drained = nil
		done()
	}
}

func (t *TCP) acceptError(err error) {
	t.stats.AcceptErrors++
	if t.acceptErrLog.Allow(t.loop.Now()) {
		bunyan.Errno(t.log.Warn(), err).Msg(msgAcceptErr)
	}
}

func (t *TCP) accept(fd int, peer unix.Sockaddr) {
	in4, ok := peer.(*unix.SockaddrInet4)
	if !ok {
		// Not expected: the listener is AF_INET (made so, or checked
		// when inherited), whose accept(2) yields IPv4 peers only. Such
		// a peer would be an accept that gave nothing usable.
		unix.Close(fd)
		t.acceptError(fmt.Errorf("accept: fd %d: peer %T is not IPv4", fd, peer))
		return
	}
	t.stats.Accepted++
	addr := ipv4.FromBytes(in4.Addr)
	port := uint16(in4.Port)
	t.nextID++
	bunyan.IPv4(t.log.Debug().Uint64("conn_id", t.nextID), "remote_ip", addr).
		Uint16("remote_port", port).Msg("inbound TCP connection")
	if reason := t.admit(fd, addr); reason != "" {
		t.stats.Refused++
		unix.Close(fd)
		if t.refusedLog.Allow(t.loop.Now()) {
			bunyan.IPv4(t.log.Warn().Uint64("conn_id", t.nextID), "remote_ip", addr).Uint16("remote_port", port).
				Str("reason", reason).Int("open", len(t.live)).Msg(msgRefused)
		}
		return
	}
	r := t.table.HeardFrom(addr)
	b := t.table.Route(r)
	if b == nil {
		t.stats.Refused++
		bunyan.IPv4(t.log.Trace(), "remote_ip", addr).Msg("could not find backend for remote")
		t.stats.NoBackend++
		r.Stats.TCPDrop++
		unix.Close(fd)
		return
	}
	keepaliveErr := setKeepalive(fd)
	now := t.loop.Now()
	p := &tcpProxy{tcp: t, id: t.nextID, backend: b, session: b.SessionNumber(), addr: addr, port: port,
		started: now, lastActive: now}
	p.log = t.log.With().Uint32("backend", b.ID()).Uint32("be_id", b.ID()).Uint64("conn_id", p.id).
		Str("remote_ip", bunyan.IPv4String(addr)).Uint16("remote_port", port).Logger()
	if keepaliveErr != nil {
		bunyan.Errno(p.log.Warn(), keepaliveErr).Msg("could not enable TCP keep-alive")
	}
	p.clientEnd.p, p.backendEnd.p = p, p
	client, err := evport.NewConn(t.loop, fd, &p.clientEnd, evport.ConnConfig{RecvBuffer: tcpClientRecvBuffer, SendBuffer: tcpSendBuffer})
	if err != nil { // NewConn has closed fd
		t.connectFailed(p, r, err)
		return
	}
	p.client = client
	p.log.Trace().Msg("connecting to backend")
	server, err := evport.Dial(t.loop, b.Sockaddr(), &p.backendEnd, evport.ConnConfig{RecvBuffer: tcpRecvBuffer, SendBuffer: tcpSendBuffer})
	if err != nil {
		p.done = true // not yet live: closing the client must not tear down
		p.client.Close()
		t.connectFailed(p, r, err)
		return
	}
	p.server = server
	p.server.Write(backend.AppendInboundTCP(nil, addr, port))
	p.okTimer = t.loop.NewTimer(p.okTimedOut)
	p.okTimer.Reset(t.cfg.OKTimeout)
	p.deadline = t.loop.NewTimer(p.deadlineReached)
	p.armDeadline()
	t.live[p] = struct{}{}
	t.perClient[addr]++
	b.Stats.TCP++
	r.Stats.TCP++
	if !r.Tracked() {
		t.stats.Untracked++
	}
}

// admit checks the limits for a new connection from addr on fd and
// returns why it is refused ("" to admit).
func (t *TCP) admit(fd int, addr uint32) string {
	switch {
	case len(t.live) >= t.cfg.MaxConns:
		t.stats.RefusedFull++
		return "too many TCP connections"
	case t.perClient[addr] >= t.cfg.MaxPerClient:
		t.stats.RefusedClient++
		return "too many TCP connections from this client"
	case fdsRunningOut(fd, t.cfg.FDReserve):
		t.stats.RefusedReserve++
		return "descriptors reserved for backend sessions"
	}
	return ""
}

// connectFailed counts and logs a proxy that could not be set up.
// r is the client's remote, valid only during accept (remote.Table.HeardFrom).
func (t *TCP) connectFailed(p *tcpProxy, r *remote.Remote, err error) {
	t.stats.Refused++
	t.stats.ConnectFailed++
	r.Stats.TCPDrop++
	if t.connectLog.Allow(t.loop.Now()) {
		bunyan.Errno(p.log.Warn(), err).Msg(msgConnect)
	}
}

// fdsRunningOut reports whether fd (just accepted) and one more for the
// backend session would leave fewer than reserve descriptors (at most a
// quarter of the limit) below the soft RLIMIT_NOFILE, read each time: an
// operator may change it with prlimit while the balancer runs.
func fdsRunningOut(fd, reserve int) bool {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<31 {
		return false
	}
	return leavesTooFew(fd, reserve, int(lim.Cur))
}

// leavesTooFew reports whether fd and fd+1 (descriptors are allocated
// lowest first: the backend session's comes next) would leave fewer than
// reserve, at most limit/4, of the descriptors below limit free.
func leavesTooFew(fd, reserve, limit int) bool {
	return fd+2+min(reserve, limit/4) > limit
}

// tcpProxy is one client connection and its backend session.
type tcpProxy struct {
	tcp     *TCP
	id      uint64
	log     zerolog.Logger
	backend *backend.Backend
	session uint64 // the backend's control session when this was routed
	addr    uint32
	port    uint16

	client, server        *evport.Conn
	clientEnd, backendEnd endpoint
	okTimer               *evport.Timer
	established           bool
	clientEOF, serverEOF  bool
	done                  bool

	// Deadlines (deadline.go).
	deadline   *evport.Timer
	started    time.Time  // accepted
	lastActive time.Time  // a byte last moved either way
	msgStart   time.Time  // the first byte of the message in progress arrived
	scan       msgScanner // message boundaries in the client's stream
	scanned    uint64     // client stream bytes scanned
	messages   uint64     // complete client messages seen
	dropped    int        // bytes of a partial last message dropped at the client's EOF
	answerScan msgScanner // message boundaries in the backend's stream (answers)
	answers    uint64     // complete answers passed to the client

	toBackend, toClient uint64 // bytes forwarded each way
}

// endpoint adapts one side's Conn events to the proxy.
type endpoint struct{ p *tcpProxy }

var _ evport.ConnHandler = (*endpoint)(nil)

func (e *endpoint) isClient() bool { return e == &e.p.clientEnd }

// Connected implements evport.ConnHandler (backend side only).
func (e *endpoint) Connected(*evport.Conn) {
	e.p.log.Debug().Msg("connected to backend")
}

// Received forwards bytes to the other side, as many as it takes.
func (e *endpoint) Received(c *evport.Conn, data []byte) int {
	p := e.p
	if e.isClient() {
		p.log.Trace().Msg("TCP frontend data")
		p.clientBytes(data)
		if !p.established {
			p.log.Trace().Msg("TCP data arrived from remote, but backend not yet connected")
			return 0 // held until INBOUND_TCP_OK
		}
		whole := int(p.boundary() - p.toBackend) // complete messages in data
		n := p.server.Write(data[:whole])
		p.log.Trace().Int("count", n).Msg("forwarded bytes from front to back")
		p.moved(n)
		p.toBackend += uint64(n)
		if n == whole && c.AtEOF() && whole < len(data) {
			// The client has ended with a partial message, which the
			// backend will never see: drop it, so that the client's EOF
			// is passed on.
			p.dropped = len(data) - whole
			return len(data)
		}
		return n
	}
	p.log.Trace().Msg("TCP backend data")
	if p.established {
		n := p.client.Write(data)
		p.log.Trace().Int("count", n).Msg("forwarded bytes from back to front")
		p.moved(n)
		p.toClient += uint64(n)
		p.answers += uint64(p.answerScan.feed(data[:n]))
		p.endIfLameDuck()
		return n
	}
	if len(data) < 4 {
		if c.AtEOF() {
			p.backendClosedEarly()
		}
		return 0
	}
	frameType := binary.LittleEndian.Uint32(data)
	if backend.FrameType(frameType) != backend.FrameInboundTCPOK {
		p.log.Warn().Uint32("frame_type", frameType).Msg("backend invalid TCP OK")
		p.tcp.stats.NotTCPOK++
		p.teardown(errNotTCPOK)
		return 0
	}
	const n = 4
	p.log.Trace().Msg("backend reports TCP OK")
	p.established = true
	p.okTimer.Stop()
	p.lastActive = p.tcp.loop.Now()
	p.armDeadline()
	p.client.Resume()
	if p.done {
		return n
	}
	m := p.client.Write(data[n:])
	p.toClient += uint64(m)
	p.answers += uint64(p.answerScan.feed(data[n : n+m]))
	p.endIfLameDuck()
	return n + m
}

// EOF passes a finished direction on as a write shutdown.
func (e *endpoint) EOF(c *evport.Conn) {
	p := e.p
	if e.isClient() {
		p.log.Trace().Str("which", "front").Msg("TCP stream EOF")
		p.clientEOF = true
		p.lastActive = p.tcp.loop.Now()
		p.armDeadline()
		if p.server != nil {
			p.server.CloseWrite()
		}
	} else {
		p.log.Trace().Str("which", "back").Msg("TCP stream EOF")
		p.serverEOF = true
		if !p.established {
			p.backendClosedEarly()
			return
		}
		p.client.CloseWrite()
	}
	p.maybeFinished()
}

// Drained resumes the opposite side, which may have bytes waiting.
func (e *endpoint) Drained(c *evport.Conn) {
	p := e.p
	if e.isClient() {
		p.server.Resume()
	} else {
		p.client.Resume()
	}
	p.maybeFinished()
	p.endIfLameDuck()
}

// Closed: either side failing ends the pair. A Conn reports err == nil
// only when the proxy closed it itself (teardown).
func (e *endpoint) Closed(c *evport.Conn, err error) {
	p := e.p
	if e.isClient() {
		p.log.Debug().Msg("frontend connection closed")
	} else {
		p.log.Debug().Msg("backend connection closed")
	}
	if err != nil && !p.done {
		p.tcp.stats.Errors++
		if p.tcp.errorLog.Allow(p.tcp.loop.Now()) {
			which := "back"
			if e.isClient() {
				which = "front"
			}
			bunyan.Errno(p.log.Error().Str("which", which).Str("cause", err.Error()), err).Msg(msgError)
		}
	}
	p.teardown(err)
}

func (p *tcpProxy) maybeFinished() {
	if p.clientEOF && p.serverEOF && p.client.Queued() == 0 && p.server.Queued() == 0 {
		p.teardown(nil)
	}
}

// idle reports whether the connection owes its client nothing: no client
// message partly read or waiting to be forwarded, as many whole answers
// passed back as messages forwarded (one answer per query: Binder serves
// no zone transfers), and nothing queued for the client. A connection
// still in its handshake is idle until its client has sent a byte.
func (p *tcpProxy) idle() bool {
	return p.scan.have == 0 && p.scanned == p.toBackend && p.answers >= p.messages &&
		p.answerScan.have == 0 && (p.client == nil || p.client.Queued() == 0)
}

// endIfLameDuck ends the connection once the balancer is stopping and the
// connection owes its client nothing.
func (p *tcpProxy) endIfLameDuck() {
	if p.tcp.lameDuck && !p.done && p.idle() {
		p.tcp.stats.LameDuckClosed++
		p.teardown(errLameDuck)
	}
}

func (p *tcpProxy) okTimedOut() {
	p.tcp.stats.OKTimeouts++
	if p.tcp.okTimeoutLog.Allow(p.tcp.loop.Now()) {
		p.log.Error().Dur("timeout_ms", p.tcp.cfg.OKTimeout).Msg(msgOKTimeout)
	}
	p.backend.Fault(p.session, "no INBOUND_TCP_OK in time")
	p.teardown(errors.New("INBOUND_TCP_OK timeout"))
}

// backendClosedEarly ends a connection whose backend ended the session
// before INBOUND_TCP_OK.
func (p *tcpProxy) backendClosedEarly() {
	if !p.done {
		p.tcp.stats.BackendClosed++
	}
	p.teardown(errBackendClosedEarly)
}

var errBackendClosedEarly = errors.New("backend closed the session before INBOUND_TCP_OK")

// teardown closes both sides, once.
func (p *tcpProxy) teardown(err error) {
	if p.done {
		return
	}
	p.done = true
	if err != nil {
		bunyan.Errno(p.log.Debug(), err).Msg("TCP teardown")
	}
	p.okTimer.Stop()
	p.deadline.Stop()
	p.client.Close()
	p.server.Close()
	p.log.Debug().Uint64("to_backend", p.toBackend).Uint64("to_client", p.toClient).Int("dropped", p.dropped).
		Msg("proxy connection finished")
	t := p.tcp
	delete(t.live, p)
	if t.perClient[p.addr]--; t.perClient[p.addr] <= 0 {
		delete(t.perClient, p.addr)
	}
	t.checkDrained()
}
