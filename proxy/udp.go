/*
 * The UDP path (SPEC §6): the listening UDP socket, client datagrams in,
 * backend answers out.
 *
 * In: when the socket is readable the loop reads up to udpBatch datagrams
 * (the C balancer's 16), then yields to other work. For each: a datagram
 * over 1500 bytes is dropped with a warning (rate-limited, guard.go); otherwise the client's remote
 * record and backend are found and the datagram is queued on that backend's
 * control session as INBOUND_UDP. The loop flushes each session once at the
 * end of the batch. No backend, or a stuck one, drops the datagram and
 * counts it against the remote. Trace records as udp_proxy.c's: "received
 * UDP packet from remote", "could not find backend for remote", "forwarding
 * UDP packet to backend" (on the backend's logger: be_id, be_path) and, when
 * the socket is drained, "ran out of UDP packets" with the batch's count.
 *
 * Out: the backends' OUTBOUND_UDP answers arrive through the answer sink
 * installed on the backend Set and are sent from the listening socket to
 * the address and port the backend named, if that address is a client in
 * the remote table (the reflection guard, guard.go). A send error drops that answer
 * and is logged (at most once per logEvery, with a count of the rest).
 *
 * The receive buffer is 64 KiB so that an oversized datagram's true size is
 * known. Nothing on this path allocates: addresses stay numbers, the
 * buffers are the UDP's own, and trace records are built only when enabled
 * (on illumos, x/sys's EventPort still allocates per wake-up and per re-arm:
 * see evport/port_illumos.go).
 */

package proxy

import (
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

const (
	udpBatch   = 16
	udpMaxSize = backend.MaxUDPLength
	logEvery   = 5 * time.Second
)

// UDP is the listening UDP socket and its packet path.
type UDP struct {
	loop  *evport.Loop
	log   zerolog.Logger
	fd    *evport.FD
	sock  *evport.DatagramSocket
	table *remote.Table
	port  uint16
	buf   []byte

	stats         UDPStats  // counters for mdb (inspect.go)
	limits        udpLimits // rate-limited records (guard.go)
	sendErrors    uint64    // answers dropped since the last log record
	sendErrLogged time.Time
	closed        bool
}

// ListenUDP binds the UDP socket, installs the answer sink on set and
// starts reading.
func ListenUDP(loop *evport.Loop, log zerolog.Logger, addr netip.AddrPort, table *remote.Table, set *backend.Set) (*UDP, error) {
	fd, err := bindSocket(unix.SOCK_DGRAM, addr)
	if err != nil {
		return nil, fmt.Errorf("UDP socket: %w", err)
	}
	port, err := boundPort(fd)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	u := &UDP{
		loop:  loop,
		log:   log,
		sock:  evport.NewDatagramSocket(fd),
		table: table,
		port:  port,
		buf:   make([]byte, 64<<10),
	}
	u.fd = loop.NewFD(fd, u.ready)
	if err := u.fd.Arm(evport.Readable); err != nil {
		u.fd.Close()
		return nil, err
	}
	u.limits.start(loop, log)
	set.SetAnswerSink(u.SendAnswer)
	log.Info().Str("address", addr.Addr().String()).Uint16("port", port).Msg("listening for UDP packets")
	return u, nil
}

// Port is the bound port (useful when asked for port 0).
func (u *UDP) Port() uint16 { return u.port }

// Close closes the socket. Answers that arrive afterwards (during the
// shutdown grace period) are dropped: the fd number may already belong to
// a new backend session.
func (u *UDP) Close() error {
	u.closed = true
	u.limits.stop()
	return u.fd.Close()
}

func (u *UDP) ready(evport.Events) {
	for i := 0; i < udpBatch; i++ {
		n, addr, port, err := u.sock.RecvFrom(u.buf)
		if err == unix.EAGAIN {
			u.log.Trace().Int("packet_count", i).Msg("ran out of UDP packets")
			break
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			bunyan.Errno(u.log.Warn(), err).Msg("UDP receive failed")
			break
		}
		u.Forward(u.buf[:n], addr, port)
	}
	if err := u.fd.Arm(evport.Readable); err != nil {
		// Deaf for good: fail the loop so the supervisor restarts us.
		u.loop.Fail(fmt.Errorf("re-arm UDP socket: %w", err))
	}
}

// Forward takes one client datagram to its backend.
func (u *UDP) Forward(msg []byte, addr uint32, port uint16) {
	u.stats.Received++
	if len(msg) > udpMaxSize {
		u.dropOversized(addr, port, len(msg))
		return
	}
	if e := u.log.Trace(); e.Enabled() {
		bunyan.IPv4(e, "remote_ip", addr).Uint16("remote_port", port).Int("len", len(msg)).
			Msg("received UDP packet from remote")
	}
	r := u.table.Lookup(addr)
	b := u.table.Backend(r)
	if b == nil || !b.ForwardUDP(addr, port, msg) {
		if b == nil {
			u.stats.DropNoBackend++
			if e := u.log.Trace(); e.Enabled() {
				bunyan.IPv4(e, "remote_ip", addr).Msg("could not find backend for remote")
			}
		} else {
			u.stats.DropStuck++
		}
		r.Stats.UDPDrop++
		return
	}
	u.stats.Forwarded++
	r.Stats.UDP++
	if e := b.Log().Trace(); e.Enabled() {
		bunyan.IPv4(e, "remote_ip", addr).Uint16("remote_port", port).
			Int("len", len(msg)).Msg("forwarding UDP packet to backend")
	}
}

// SendAnswer sends a backend's answer to the client; the backend Set's
// answer sink.
func (u *UDP) SendAnswer(addr uint32, port uint16, msg []byte) {
	if u.closed || !u.answerAllowed(addr, port, len(msg)) {
		return
	}
	err := u.sock.SendTo(msg, addr, port)
	if err == nil {
		u.stats.Answered++
		return
	}
	u.stats.DropSendError++
	u.sendErrors++
	now := u.loop.Now()
	if !u.sendErrLogged.IsZero() && now.Sub(u.sendErrLogged) < logEvery {
		return
	}
	u.sendErrLogged = now
	e := bunyan.IPv4(u.log.Warn(), "remote_ip", addr).Uint16("remote_port", port).Uint64("dropped", u.sendErrors)
	bunyan.Errno(e, err).Msg("could not send UDP answer; dropped")
	u.sendErrors = 0
}
