/*
 * The TCP path (SPEC §7): the TCP listener and one proxy per accepted
 * client connection, each joined to a new AF_UNIX session with the
 * client's backend (the one the remote table picks, as for UDP).
 *
 * A proxy's life:
 *
 *	accepted     the remote and its backend are looked up; no backend: the
 *	             client is closed and a TCP drop counted
 *	handshake    the backend session is dialled and INBOUND_TCP (client
 *	             address and port) queued; INBOUND_TCP_OK must arrive within
 *	             TCPOKTimeout or the backend's control session (the one
 *	             it had when the connection was routed) is faulted and both
 *	             sides are closed. Client bytes that arrive meanwhile stay in the
 *	             client Conn's receive buffer (bounded: reading stops when
 *	             it is full), to be forwarded after the OK
 *	established  bytes are copied verbatim both ways; bytes that followed
 *	             the OK in the same read are the first of the stream
 *	closing      end-of-file from one side becomes a write shutdown on the
 *	             other, once everything before it has been forwarded; when
 *	             both directions have ended and both queues are written out,
 *	             both sides close. An error on either side, or anything but
 *	             INBOUND_TCP_OK first, closes both at once
 *
 * Back-pressure: each direction moves bytes from one Conn's receive buffer
 * into the other's send queue, and only as many as that queue takes. What
 * is left stays in the receive buffer, which stops reading when full, so a
 * side that does not read (client or backend) holds the balancer to at most
 * tcpRecvBuffer + tcpSendBuffer bytes per direction. When a send queue
 * drains, the opposite side is resumed.
 *
 * Invariants: each fd is closed exactly once (Conn guarantees it; the
 * proxy closes both sides in one place, teardown); a proxy is in live from
 * accept to teardown and nowhere else.
 */

package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/remote"
)

// TCPOKTimeout is how long a backend has to answer INBOUND_TCP.
const TCPOKTimeout = 10 * time.Second

const (
	tcpRecvBuffer = 32 << 10
	tcpSendBuffer = 64 << 10
)

var errNotTCPOK = errors.New("backend answered INBOUND_TCP with something other than INBOUND_TCP_OK")

// TCP is the TCP listener and its live proxies.
type TCP struct {
	loop      *evport.Loop
	log       zerolog.Logger
	table     *remote.Table
	ln        *evport.Listener
	port      uint16
	okTimeout time.Duration
	nextID    uint64
	live      map[*tcpProxy]struct{}
	drained   func()
	stats     TCPStats // counters for mdb (inspect.go)
}

// ListenTCP binds the TCP listener and starts accepting.
func ListenTCP(loop *evport.Loop, log zerolog.Logger, addr netip.AddrPort, table *remote.Table, okTimeout time.Duration) (*TCP, error) {
	fd, err := bindSocket(unix.SOCK_STREAM, addr)
	if err != nil {
		return nil, fmt.Errorf("TCP socket: %w", err)
	}
	if err := unix.Listen(fd, tcpBacklog); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%v: %w", addr, &SocketError{"listen", err})
	}
	port, err := boundPort(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	t := &TCP{loop: loop, log: log, table: table, port: port, okTimeout: okTimeout, live: make(map[*tcpProxy]struct{})}
	t.ln, err = evport.NewListener(loop, fd, t.accept, t.acceptError)
	if err != nil { // NewListener has closed fd
		return nil, err
	}
	log.Info().Str("address", addr.Addr().String()).Uint16("port", port).Msg("listening for TCP packets")
	return t, nil
}

// Port is the bound port.
func (t *TCP) Port() uint16 { return t.port }

// Live is the number of open proxied connections.
func (t *TCP) Live() int { return len(t.live) }

// Close stops accepting; open proxies carry on.
func (t *TCP) Close() error { return t.ln.Close() }

// Drain calls done once no proxy is open any more (at once if none is).
func (t *TCP) Drain(done func()) {
	t.drained = done
	t.checkDrained()
}

// Abort closes every open proxy.
func (t *TCP) Abort() {
	for p := range t.live {
		p.teardown(errors.New("balancer shutting down"))
	}
}

func (t *TCP) checkDrained() {
	if t.drained != nil && len(t.live) == 0 {
		done := t.drained
		t.drained = nil
		done()
	}
}

func (t *TCP) acceptError(err error) {
	bunyan.Errno(t.log.Warn(), err).Msg("incoming TCP accept failure")
}

func (t *TCP) accept(fd int, peer unix.Sockaddr) {
	in4, ok := peer.(*unix.SockaddrInet4)
	if !ok {
		unix.Close(fd)
		return
	}
	addr := uint32(in4.Addr[0])<<24 | uint32(in4.Addr[1])<<16 | uint32(in4.Addr[2])<<8 | uint32(in4.Addr[3])
	port := uint16(in4.Port)
	t.stats.Accepted++
	t.nextID++
	bunyan.IPv4(t.log.Debug().Uint64("conn_id", t.nextID), "remote_ip", addr).
		Uint16("remote_port", port).Msg("inbound TCP connection")
	keepaliveErr := setKeepalive(fd)
	r := t.table.Lookup(addr)
	b := t.table.Backend(r)
	if b == nil {
		t.stats.Refused++
		r.Stats.TCPDrop++
		unix.Close(fd)
		return
	}
	p := &tcpProxy{tcp: t, remote: r, backend: b, session: b.Session(), addr: addr, port: port,
		id: t.nextID, started: t.loop.Now()}
	p.log = t.log.With().Uint32("backend", b.ID()).Uint64("conn_id", t.nextID).
		Str("remote_ip", bunyan.IPv4String(addr)).Uint16("remote_port", port).Logger()
	if keepaliveErr != nil {
		bunyan.Errno(p.log.Warn(), keepaliveErr).Msg("could not enable TCP keep-alive")
	}
	p.clientEnd.p, p.backendEnd.p = p, p
	client, err := evport.NewConn(t.loop, fd, &p.clientEnd, evport.ConnConfig{RecvBuffer: tcpRecvBuffer, SendBuffer: tcpSendBuffer})
	if err != nil { // NewConn has closed fd
		bunyan.Errno(p.log.Warn(), err).Msg("could not register TCP connection")
		t.stats.Refused++
		r.Stats.TCPDrop++
		return
	}
	p.client = client
	server, err := evport.Dial(t.loop, b.Sockaddr(), &p.backendEnd, evport.ConnConfig{RecvBuffer: tcpRecvBuffer, SendBuffer: tcpSendBuffer})
	if err != nil {
		bunyan.Errno(p.log.Warn(), err).Msg("could not connect to backend for TCP")
		t.stats.Refused++
		r.Stats.TCPDrop++
		p.client.Close()
		return
	}
	p.server = server
	p.server.Write(backend.AppendInboundTCP(nil, addr, port))
	p.okTimer = t.loop.NewTimer(p.okTimedOut)
	p.okTimer.Reset(t.okTimeout)
	t.live[p] = struct{}{}
	b.Stats.TCP++
	r.Stats.TCP++
}

// tcpProxy is one client connection and its backend session.
type tcpProxy struct {
	tcp     *TCP
	log     zerolog.Logger
	remote  *remote.Remote
	backend *backend.Backend
	session uint64 // the backend's control session when this was routed
	addr    uint32
	port    uint16

	id                  uint64    // conn_id
	started             time.Time // accepted at
	toBackend, toClient uint64    // bytes forwarded each way (mdb)

	client, server        *evport.Conn
	clientEnd, backendEnd endpoint
	okTimer               *evport.Timer
	established           bool
	clientEOF, serverEOF  bool
	done                  bool
}

// endpoint adapts one side's Conn events to the proxy.
type endpoint struct{ p *tcpProxy }

func (e *endpoint) isClient() bool { return e == &e.p.clientEnd }

// Connected implements evport.ConnHandler (backend side only).
func (e *endpoint) Connected(*evport.Conn) {
	e.p.log.Debug().Msg("connected to backend")
}

// Received forwards bytes to the other side, as many as it takes.
func (e *endpoint) Received(c *evport.Conn, data []byte) int {
	p := e.p
	if e.isClient() {
		if !p.established {
			return 0 // held until INBOUND_TCP_OK
		}
		n := p.server.Write(data)
		p.toBackend += uint64(n)
		return n
	}
	if p.established {
		n := p.client.Write(data)
		p.toClient += uint64(n)
		return n
	}
	if len(data) < 4 {
		if c.AtEOF() {
			p.teardown(errors.New("backend closed the session before INBOUND_TCP_OK"))
		}
		return 0
	}
	frameType := binary.LittleEndian.Uint32(data)
	if backend.FrameType(frameType) != backend.FrameInboundTCPOK {
		p.log.Warn().Uint32("frame_type", frameType).Msg("backend invalid TCP OK")
		p.teardown(errNotTCPOK)
		return 0
	}
	const n = 4
	p.established = true
	p.okTimer.Stop()
	p.client.Resume()
	if p.done {
		return n
	}
	m := p.client.Write(data[n:])
	p.toClient += uint64(m)
	return n + m
}

// EOF passes a finished direction on as a write shutdown.
func (e *endpoint) EOF(c *evport.Conn) {
	p := e.p
	if e.isClient() {
		p.clientEOF = true
		if p.server != nil {
			p.server.CloseWrite()
		}
	} else {
		p.serverEOF = true
		if !p.established {
			p.teardown(errors.New("backend closed the session before INBOUND_TCP_OK"))
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
}

// Closed: either side failing ends the pair. A Conn reports err == nil
// only when the proxy closed it itself (teardown).
func (e *endpoint) Closed(c *evport.Conn, err error) {
	p := e.p
	if err != nil && !p.done {
		which := "back"
		if e.isClient() {
			which = "front"
		}
		bunyan.Errno(p.log.Error().Str("which", which).Str("cause", err.Error()), err).Msg("TCP error")
	}
	p.teardown(err)
}

func (p *tcpProxy) maybeFinished() {
	if p.clientEOF && p.serverEOF && p.client.Queued() == 0 && p.server.Queued() == 0 {
		p.teardown(nil)
	}
}

func (p *tcpProxy) okTimedOut() {
	p.log.Error().Dur("timeout_ms", p.tcp.okTimeout).Msg("timed out connecting to backend")
	p.backend.Fault(p.session, "no INBOUND_TCP_OK in time")
	p.teardown(errors.New("INBOUND_TCP_OK timeout"))
}

// teardown closes both sides, once.
func (p *tcpProxy) teardown(err error) {
	if p.done {
		return
	}
	p.done = true
	if err != nil {
		bunyan.Errno(p.log.Debug(), err).Msg("TCP teardown")
	}
	if p.okTimer != nil {
		p.okTimer.Stop()
	}
	p.client.Close()
	if p.server != nil {
		p.server.Close()
	}
	p.log.Debug().Msg("proxy connection finished")
	delete(p.tcp.live, p)
	p.tcp.checkDrained()
}
