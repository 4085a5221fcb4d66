/*
 * The UDP path: the listening UDP socket, client datagrams in, backend
 * answers out (the package comment gives the model; this is how).
 *
 * In: the socket is watched (evport FD.Watch), armed once and for good: each
 * turn in which it is readable the loop reads one batch of up to
 * evport.DatagramBatch datagrams (one recvmmsg on Linux), then yields to
 * other work, and comes back on the next turn if more are waiting; no
 * re-arming per wake-up (on illumos the loop renews the association, one
 * port_associate per wake-up). For each: a datagram over 1500 bytes is
 * dropped with a warning (rate-limited, guard.go); otherwise the client's
 * remote is found (remote.Table.HeardFrom), the datagram dropped and
 * counted if the client is over its rate cap (remote.Table.Admit), else
 * routed to its backend (remote.Table.Route) and queued on that
 * backend's control session as INBOUND_UDP. The loop flushes each session
 * once at the end of the turn. A backend whose session is full (stuck)
 * spills the datagram to the client's backup, or any other usable backend
 * with room (remote.Table.Spill), counted as spilled against the full
 * one. No backend, or every usable one full, drops the datagram and
 * counts it against the remote. Trace records as udp_proxy.c's:
 * "received UDP packet from remote", "could not find backend for remote",
 * "forwarding UDP packet to backend" (on the backend's logger: be_id,
 * be_path) and, when the socket is drained, "ran out of UDP packets" with
 * the batch's count.
 *
 * Out: the backends' OUTBOUND_UDP answers arrive through SendAnswer, which
 * cmd/bbal installs as the backend Set's answer sink, and are sent from the
 * listening socket to the address and port the backend named, if that
 * address is a client in the remote table or the answer is to an
 * untracked client's outstanding query (the reflection guard, guard.go).
 * Answers are queued on the socket's send batch, each slot remembering the
 * backend that sent it, and go out together (one sendmmsg on Linux) when
 * the turn's handlers have all run (Loop.AtTurnEnd): the answers parsed
 * from every backend read of a turn leave in one batch, a full batch at
 * once. (Sending each backend read's answers as soon as it was parsed cost
 * one sendmmsg per backend per turn: at 100k queries a second, 0.5 system
 * calls per query instead of 0.3.) A send error drops that answer and is
 * logged with the C balancer's record, "outbound UDP packet error" (error,
 * on the logger of the backend whose answer failed first: be_id, be_path;
 * dest_ip, dest_port, data_len, errno, strerror), at a limited rate (at
 * most one record per sendErrorEvery; each says how many answers were
 * dropped since the last one, and a summary counts the records
 * suppressed): a client can trigger it (Binder logs the same EHOSTUNREACH
 * symptom at error, "asymmetric routing?").
 *
 * Each datagram's true size is known (evport.DatagramSocket), so an
 * oversized one is reported with it. Nothing on this path allocates:
 * addresses stay numbers, the batches are the socket's own, and trace
 * records are built only when enabled.
 */

package proxy

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/remote"
)

const (
	udpMaxSize     = backend.MaxUDPLength
	sendErrorEvery = 5 * time.Second
)

// UDP is the listening UDP socket and its packet path.
type UDP struct {
	loop  *evport.Loop
	log   zerolog.Logger
	fd    *evport.FD
	sock  *evport.DatagramSocket
	table *remote.Table
	port  uint16
	addr  netip.AddrPort                         // bound address
	flush func()                                 // u.flushAnswers, made once: AtTurnEnd takes it without allocating
	from  [evport.DatagramBatch]*backend.Backend // who sent each queued answer (nil: none, in tests)

	stats      UDPStats   // counters for mdb (inspect.go)
	limits     udpLimits  // rate-limited records (guard.go)
	untracked  *untracked // outstanding queries of untracked clients (guard.go)
	sendErrors uint64     // answers dropped since the last "could not send" record
	closed     bool
}

// ListenUDP binds the UDP socket and starts reading; its rate-limited
// records join limits. The caller installs SendAnswer as the backend Set's
// answer sink.
func ListenUDP(loop *evport.Loop, log zerolog.Logger, limits *bunyan.Limits, addr netip.AddrPort, table *remote.Table) (*UDP, error) {
	fd, err := bindSocket(unix.SOCK_DGRAM, addr)
	if err != nil {
		return nil, fmt.Errorf("UDP socket: %w", err)
	}
	u, err := UDPOnSocket(loop, log, limits, fd, table)
	if err != nil {
		return nil, fmt.Errorf("UDP socket %v: %w", addr, err)
	}
	if err := u.Start(); err != nil {
		u.Close()
		return nil, err
	}
	return u, nil
}

// UDPOnSocket takes fd, a bound AF_INET datagram socket (one inherited
// from the process handing over, see cmd/bbal), without reading from it
// until Start. It closes fd if it is not such a socket.
func UDPOnSocket(loop *evport.Loop, log zerolog.Logger, limits *bunyan.Limits, fd int, table *remote.Table) (*UDP, error) {
	addr, err := checkSocket(fd, unix.SOCK_DGRAM)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("UDP socket fd %d: %w", fd, err)
	}
	u := &UDP{
		loop:      loop,
		log:       log,
		sock:      evport.NewDatagramSocket(fd),
		table:     table,
		port:      addr.Port(),
		addr:      addr,
		untracked: new(untracked),
	}
	u.flush = u.flushAnswers
	u.fd = loop.NewFD(fd, u.ready)
	u.limits.init(log, limits)
	return u, nil
}

// Start starts reading client datagrams.
func (u *UDP) Start() error {
	if err := u.fd.Watch(evport.Readable); err != nil {
		return fmt.Errorf("UDP socket fd %d: %w", u.fd.Int(), err)
	}
	u.log.Info().Str("address", u.addr.Addr().String()).Str("port", strconv.Itoa(int(u.port))).Msg("listening for UDP packets")
	return nil
}

// Addr is the bound address.
func (u *UDP) Addr() netip.AddrPort { return u.addr }

// FD is the socket's descriptor, to hand to a successor process.
func (u *UDP) FD() int { return u.fd.Int() }

// Port is the bound port (useful when asked for port 0).
func (u *UDP) Port() uint16 { return u.port }

// Close closes the socket. Answers that arrive afterwards (during the
// shutdown grace period) are dropped: the fd number may already belong to
// a new backend session.
func (u *UDP) Close() error {
	u.flushAnswers() // what the turn queued so far; later answers are dropped
	u.closed = true
	return u.fd.Close()
}

// StopReading stops reading client datagrams; answers are still sent
// until Close. What is queued in the socket stays there, for a successor
// that shares it to read (cmd/bbal's handover) or for Close to discard.
func (u *UDP) StopReading() error {
	if u.closed {
		return nil
	}
	return u.fd.Arm(0)
}

// Outstanding is how many forwarded datagrams have had no answer sent (or
// dropped) yet: an estimate, since a backend may drop a query unanswered,
// of the answers still to come.
func (u *UDP) Outstanding() uint64 {
	s := &u.stats
	done := s.Answered + s.DropSendError + s.DropNotClient
	if done >= s.Forwarded {
		return 0
	}
	return s.Forwarded - done
}

// ready reads one batch; the socket stays watched, so the loop calls again
// on the next turn while datagrams are waiting.
func (u *UDP) ready(evport.Events) {
	n, err := u.sock.RecvBatch()
	switch {
	case err == unix.EAGAIN:
	case err != nil: // not expected of a bound AF_INET socket; bounded all the same
		if u.limits.recvFailed.Allow(u.loop.Now()) {
			bunyan.Errno(u.log.Warn(), err).Msg(msgRecvFailed)
		}
	}
	for i := 0; i < n; i++ {
		msg, size, addr, port := u.sock.Received(i)
		u.forward(msg, size, addr, port)
	}
	if n < evport.DatagramBatch {
		u.log.Trace().Int("packet_count", n).Msg("ran out of UDP packets")
	}
}

// forward takes one client datagram of size bytes, of which msg holds the
// first ones (all of them unless it is oversized).
func (u *UDP) forward(msg []byte, size int, addr uint32, port uint16) {
	u.stats.Received++
	if size > udpMaxSize {
		u.dropOversized(addr, port, size)
		return
	}
	if e := u.log.Trace(); e.Enabled() {
		bunyan.IPv4(e, "remote_ip", addr).Uint16("remote_port", port).Int("len", len(msg)).
			Msg("received UDP packet from remote")
	}
	r := u.table.HeardFrom(addr)
	if !u.table.Admit(r) {
		u.stats.DropRateCapped++ // over its fair share (remote's ratecap.go)
		r.Stats.UDPDrop++
		return
	}
	b := u.table.Route(r)
	if b != nil && b.Full(len(msg)) {
		// Spill, don't drop: the client's backup (or another backend)
		// takes what its full backend cannot.
		if s := u.table.Spill(r, b, len(msg)); s != nil {
			b.NoteSpilled()
			u.stats.Spilled++
			b = s
		}
	}
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
	if !r.Tracked() {
		u.stats.ServedUntracked++
		u.untracked.note(addr, port, msg, u.loop.Now().UnixNano())
	}
	if e := b.Log().Trace(); e.Enabled() {
		bunyan.IPv4(e, "remote_ip", addr).Uint16("remote_port", port).
			Int("len", len(msg)).Msg("forwarding UDP packet to backend")
	}
}

// SendAnswer queues a backend's answer to the client, to be sent when the
// turn's handlers have run; the backend Set's answer sink.
func (u *UDP) SendAnswer(from *backend.Backend, addr uint32, port uint16, msg []byte) {
	if u.closed || !u.answerAllowed(addr, port, msg) {
		return
	}
	if u.sock.QueuedSends() == evport.DatagramBatch {
		u.flushAnswers() // a full batch goes now; the callback goes on
	}
	slot := u.sock.QueuedSends()
	if !u.sock.QueueSend(msg, addr, port) {
		// Longer than a batch slot (the backends' frames never are): alone.
		if err := u.sock.SendTo(msg, addr, port); err != nil {
			u.sendFailed(1, evport.SendFailure{Err: err, Addr: addr, Port: port, Len: len(msg)}, from)
			return
		}
		u.stats.Answered++
		return
	}
	u.from[slot] = from
	if slot == 0 {
		u.loop.AtTurnEnd(u.flush) // the first of a batch schedules its flush
	}
}

// flushAnswers sends the queued answers (at the end of the turn that
// queued them, or when a batch is full).
func (u *UDP) flushAnswers() {
	if u.closed {
		return
	}
	queued := u.sock.QueuedSends()
	sent, failed, first := u.sock.FlushSends()
	u.stats.Answered += uint64(sent)
	if failed > 0 {
		u.sendFailed(failed, first, u.from[first.Slot])
	}
	clear(u.from[:queued]) // a removed backend is not kept alive by a slot
}

// sendFailed counts answers that could not be sent and logs, at a limited
// rate and on the logger of the backend that sent the first of them (from),
// that one with the number dropped since the last record.
func (u *UDP) sendFailed(failed int, first evport.SendFailure, from *backend.Backend) {
	u.stats.DropSendError += uint64(failed)
	u.sendErrors += uint64(failed)
	if !u.limits.sendFailed.Allow(u.loop.Now()) {
		return
	}
	e := u.log.Error() // answers from no backend: proxy tests only
	if from != nil {
		e = from.Log().Error()
	}
	e = bunyan.IPv4(e, "dest_ip", first.Addr).Uint16("dest_port", first.Port).Int("data_len", first.Len)
	bunyan.Errno(e, first.Err).Uint64("dropped", u.sendErrors).Msg(msgSendFailed)
	u.sendErrors = 0
}
