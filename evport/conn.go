/*
 * Conn: a buffered, non-blocking stream connection living on the loop, the
 * successor of the C balancer's cconn. It serves both the backend sessions
 * (AF_UNIX) and the two sides of a proxied TCP connection.
 *
 * A Conn owns its fd, a receive buffer and a send queue, and reports to its
 * ConnHandler, always on the loop:
 *
 *	Connected  an outbound connect finished (never for accepted sockets)
 *	Received   buffered bytes; the handler returns how many it consumed and
 *	           the rest stay buffered, in order, for the next call
 *	EOF        the peer shut its write side and every byte before that has
 *	           been consumed
 *	Drained    the send queue, non-empty before, has been written out
 *	Closed     exactly once, whoever closed it; err says why (nil: Close)
 *
 * States: connecting -> open -> closed. While connecting, writes are queued
 * and reading waits. A connect that fails at once is returned by Dial; one
 * that fails later arrives as Closed(err), with err wrapping the errno.
 *
 * Receiving: each readiness reads once into the receive buffer, which starts
 * small and doubles up to RecvBuffer bytes while reads keep filling it. The
 * buffer is the high-water mark: when it is full of bytes the handler has
 * not consumed, the Conn stops reading (the kernel then pushes back on the
 * peer) until the handler calls Resume, which offers the bytes again and
 * reads on when there is room.
 *
 * Sending: Write copies into the send queue, never more than SendBuffer
 * bytes queued, and returns how much it took; nothing is written at once.
 * The loop flushes every Conn that queued bytes once at the end of its turn,
 * so the frames of a whole batch of datagrams go out in one write(2). When
 * the kernel buffer is full the Conn is Stuck until the fd is writable again.
 * CloseWrite shuts the write side down once the queue has drained
 * (half-close); reading goes on.
 *
 * Invariants: 0 <= rstart <= rend <= cap(rbuf) <= RecvBuffer;
 * len(sbuf) - shead <= SendBuffer; cap(sbuf) <= SendBuffer, however long
 * a slow reader keeps the queue from emptying (Write drops the bytes
 * already written from the front before the array would have to grow,
 * and grows it no further than SendBuffer);
 * after Closed no callback runs and every method is a harmless no-op.
 */

package evport

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Default buffer bounds of a Conn (ConnConfig's zero fields).
const (
	defaultRecvBuffer = 64 << 10
	defaultSendBuffer = 256 << 10
	initialRecvBuffer = 4 << 10
)

// ConnHandler receives a Conn's events; see the file comment.
type ConnHandler interface {
	Connected(c *Conn)
	Received(c *Conn, data []byte) (consumed int)
	EOF(c *Conn)
	Drained(c *Conn)
	Closed(c *Conn, err error)
}

// ConnConfig bounds a Conn's buffers; zero fields take the defaults
// (64 KiB to receive, 256 KiB queued to send).
type ConnConfig struct {
	RecvBuffer int // receive buffer, the high-water mark for reading
	SendBuffer int // bound on queued, unwritten bytes
}

// Conn is a buffered non-blocking stream connection; see the file comment.
// Its memory is bounded by its ConnConfig: at most RecvBuffer for the
// receive buffer and SendBuffer for the send queue's array.
type Conn struct {
	loop    *Loop
	fd      *FD
	handler ConnHandler

	rbuf        []byte
	rstart      int
	rend        int
	recvMax     int
	eof         bool // read returned 0
	eofReported bool
	growNext    bool // the last read filled all the room there was
	delivering  bool // inside Received

	sbuf     []byte
	shead    int
	sendMax  int
	stuck    bool // the kernel refused bytes; waiting for Writable
	dirty    bool // on the loop's flush list
	shutWant bool
	shutDone bool

	connecting bool
	closed     bool
}

func (cfg ConnConfig) withDefaults() ConnConfig {
	if cfg.RecvBuffer <= 0 {
		cfg.RecvBuffer = defaultRecvBuffer
	}
	if cfg.SendBuffer <= 0 {
		cfg.SendBuffer = defaultSendBuffer
	}
	return cfg
}

// NewConn wraps an already-connected non-blocking stream fd (an accepted
// socket, say). The Conn owns the fd from here on.
func NewConn(l *Loop, fd int, h ConnHandler, cfg ConnConfig) (*Conn, error) {
	c := newConn(l, fd, h, cfg)
	if err := c.rearm(); err != nil {
		c.fd.Close()
		c.closed = true
		return nil, err
	}
	return c, nil
}

// Dial starts a non-blocking connect to sa (AF_UNIX or AF_INET). An error
// known at once (a missing socket file, say) is returned and no Conn is
// made; otherwise the outcome arrives as Connected or Closed.
func Dial(l *Loop, sa unix.Sockaddr, h ConnHandler, cfg ConnConfig) (*Conn, error) {
	domain := unix.AF_UNIX
	if _, ok := sa.(*unix.SockaddrInet4); ok {
		domain = unix.AF_INET
	}
	fd, err := unix.Socket(domain, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	err = unix.Connect(fd, sa)
	if err != nil && err != unix.EINPROGRESS {
		unix.Close(fd)
		return nil, fmt.Errorf("connect: %w", err)
	}
	c := newConn(l, fd, h, cfg)
	c.connecting = true
	if err := c.rearm(); err != nil {
		c.fd.Close()
		c.closed = true
		return nil, err
	}
	return c, nil
}

func newConn(l *Loop, fd int, h ConnHandler, cfg ConnConfig) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{loop: l, handler: h, recvMax: cfg.RecvBuffer, sendMax: cfg.SendBuffer}
	c.fd = l.NewFD(fd, c.ready)
	c.fd.conn = c
	return c
}

// FD is the connection's file descriptor (for socket options and tests).
func (c *Conn) FD() int { return c.fd.Int() }

// Connecting reports whether an outbound connect is still in progress.
func (c *Conn) Connecting() bool { return c.connecting }

// IsClosed reports whether the Conn has been closed.
func (c *Conn) IsClosed() bool { return c.closed }

// AtEOF reports whether the peer has shut its write side: the bytes now
// buffered are all there will ever be. A handler that needs whole messages
// uses it to tell a truncated one from one still arriving.
func (c *Conn) AtEOF() bool { return c.eof }

// Buffered is the number of received bytes not yet consumed.
func (c *Conn) Buffered() int { return c.rend - c.rstart }

// Queued is the number of bytes waiting in the send queue.
func (c *Conn) Queued() int { return len(c.sbuf) - c.shead }

// Free is how many more bytes Write would take now.
func (c *Conn) Free() int {
	if c.closed || c.shutWant {
		return 0
	}
	return c.sendMax - c.Queued()
}

// Stuck reports whether the kernel's send buffer is full: queued bytes wait
// for the socket to become writable.
func (c *Conn) Stuck() bool { return c.stuck }

// Write queues up to Free() bytes of b and returns how many it took. The
// bytes go out when the loop flushes at the end of the turn.
func (c *Conn) Write(b []byte) int {
	n := min(len(b), c.Free())
	if n == 0 {
		return 0
	}
	if c.shead > 0 && len(c.sbuf)+n > cap(c.sbuf) {
		// Drop the bytes already written rather than grow the array.
		c.sbuf = c.sbuf[:copy(c.sbuf, c.sbuf[c.shead:])]
		c.shead = 0
	}
	if need := len(c.sbuf) + n; need > cap(c.sbuf) {
		// Grow by doubling, but never past SendBuffer: queued bytes
		// (need) never exceed it once the front is dropped.
		grown := make([]byte, len(c.sbuf), min(max(2*cap(c.sbuf), need), c.sendMax))
		copy(grown, c.sbuf)
		c.sbuf = grown
	}
	c.sbuf = append(c.sbuf, b[:n]...)
	c.markDirty()
	return n
}

// CloseWrite shuts down the write side once the queue has drained.
func (c *Conn) CloseWrite() {
	if c.closed || c.shutWant {
		return
	}
	c.shutWant = true
	c.markDirty()
}

// Resume offers the buffered bytes to the handler again and reads on if
// there is room; the consumer calls it when it can take more.
func (c *Conn) Resume() {
	if c.closed || c.delivering {
		return // from inside Received the bytes are being offered already
	}
	c.deliver()
	c.rearmOrClose()
}

// Close closes the connection now, dropping anything queued, and reports
// Closed(c, nil) to the handler unless it was closed already.
func (c *Conn) Close() { c.fail(nil) }

func (c *Conn) markDirty() {
	if !c.dirty {
		c.dirty = true
		c.loop.dirty = append(c.loop.dirty, c)
	}
}

// flushDirty writes out every Conn that queued bytes during this turn.
// Flushing may queue bytes on further Conns (a Drained handler forwarding
// data): they are flushed in the same pass.
func (l *Loop) flushDirty() {
	for i := 0; i < len(l.dirty); i++ {
		c := l.dirty[i]
		l.dirty[i] = nil
		c.dirty = false
		if c.closed || c.connecting {
			continue
		}
		if !c.stuck {
			c.flush()
		}
		c.rearmOrClose()
	}
	l.dirty = l.dirty[:0]
}

// ready is the fd handler.
func (c *Conn) ready(ev Events) {
	if c.connecting {
		c.finishConnect()
	} else {
		if ev&Writable != 0 {
			c.stuck = false
			c.flush()
		}
		if ev&Readable != 0 && !c.closed {
			c.read()
		}
	}
	c.rearmOrClose()
}

func (c *Conn) finishConnect() {
	soerr, err := unix.GetsockoptInt(c.fd.Int(), unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soerr != 0 {
		err = unix.Errno(soerr)
	}
	if err != nil {
		c.fail(fmt.Errorf("connect: %w", err))
		return
	}
	c.connecting = false
	c.handler.Connected(c)
	if !c.closed {
		c.flush()
	}
}

func (c *Conn) read() {
	if c.eof {
		return
	}
	if !c.makeRoom() {
		return
	}
	room := cap(c.rbuf) - c.rend
	n, err := unix.Read(c.fd.Int(), c.rbuf[c.rend:cap(c.rbuf)])
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		return
	case err != nil:
		c.fail(fmt.Errorf("read: %w", err))
		return
	case n == 0:
		c.eof = true
	default:
		c.rend += n
		c.growNext = n == room
	}
	c.deliver()
}

// makeRoom prepares the buffer for a read and reports whether there is
// any room. Unconsumed bytes (a partial frame, say) move to the front so
// the read gets all the space; the buffer starts small and doubles, up to
// its bound, whenever a read filled all the room it had or unconsumed
// bytes fill it.
func (c *Conn) makeRoom() bool {
	if c.rbuf == nil {
		c.rbuf = make([]byte, min(initialRecvBuffer, c.recvMax))
	}
	if c.rstart > 0 {
		c.rend = copy(c.rbuf, c.rbuf[c.rstart:c.rend])
		c.rstart = 0
	}
	if (c.growNext || c.rend == cap(c.rbuf)) && cap(c.rbuf) < c.recvMax {
		grown := make([]byte, min(2*cap(c.rbuf), c.recvMax))
		c.rend = copy(grown, c.rbuf[:c.rend])
		c.rbuf = grown
		c.growNext = false
	}
	return c.rend < cap(c.rbuf)
}

// deliver offers the buffered bytes, then EOF once they are all consumed.
func (c *Conn) deliver() {
	if c.rend > c.rstart {
		c.delivering = true
		n := c.handler.Received(c, c.rbuf[c.rstart:c.rend])
		c.delivering = false
		if c.closed {
			return
		}
		c.rstart += max(0, min(n, c.rend-c.rstart))
		if c.rstart == c.rend {
			c.rstart, c.rend = 0, 0
		}
	}
	if c.eof && !c.eofReported && c.rend == c.rstart {
		c.eofReported = true
		c.handler.EOF(c)
	}
}

// flush writes queued bytes until the queue is empty or the kernel pushes
// back, then carries out a pending write shutdown.
func (c *Conn) flush() {
	hadBytes := c.Queued() > 0
	for c.Queued() > 0 {
		n, err := unix.Write(c.fd.Int(), c.sbuf[c.shead:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			c.stuck = true
			return
		}
		if err != nil {
			c.fail(fmt.Errorf("write: %w", err))
			return
		}
		c.shead += n
	}
	c.sbuf, c.shead = c.sbuf[:0], 0
	if c.shutWant && !c.shutDone {
		c.shutDone = true
		if err := unix.Shutdown(c.fd.Int(), unix.SHUT_WR); err != nil && err != unix.ENOTCONN {
			c.fail(fmt.Errorf("shutdown: %w", err))
			return
		}
	}
	if hadBytes {
		c.handler.Drained(c)
	}
}

// wanted is the readiness the Conn waits for in its current state.
func (c *Conn) wanted() Events {
	if c.closed {
		return 0
	}
	if c.connecting {
		return Writable
	}
	var ev Events
	if c.stuck {
		ev |= Writable
	}
	if !c.eof && (c.rbuf == nil || c.rend-c.rstart < c.recvMax) {
		ev |= Readable
	}
	return ev
}

// rearm keeps the fd watched for what the Conn now wants: an unchanged
// interest costs nothing (epoll is level-triggered; on event ports the
// loop renews the association after each event), a changed one a single
// call, none disarms.
func (c *Conn) rearm() error { return c.fd.Watch(c.wanted()) }

func (c *Conn) rearmOrClose() {
	if c.closed {
		return
	}
	if err := c.rearm(); err != nil {
		c.fail(err)
	}
}

// fail closes the connection once and tells the handler why.
func (c *Conn) fail(err error) {
	if c.closed {
		return
	}
	c.closed = true
	c.stuck = false
	if cerr := c.fd.Close(); err == nil && cerr != nil {
		err = cerr
	}
	c.rbuf, c.sbuf = nil, nil
	c.rstart, c.rend, c.shead = 0, 0, 0
	c.handler.Closed(c, err)
}
