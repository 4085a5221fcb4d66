/*
 * Tests of Conn over real sockets: AF_UNIX socketpairs, AF_UNIX and TCP
 * loopback connections made with Dial and accepted by a Listener, and raw
 * peers (an fd the test reads and writes itself) where the test needs to
 * control the other side byte by byte.
 *
 * Covered: data both ways; partial writes against a tiny kernel send
 * buffer (Stuck, order, Drained); the SendBuffer bound; reads split at
 * every byte boundary; the RecvBuffer high-water mark and Resume; EOF only
 * after every byte is consumed; half-close both ways; Dial failures (a
 * missing AF_UNIX path, a refused TCP port); peer reset; Closed exactly
 * once, whoever closes and from wherever, and no callback after it.
 */

package evport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestConnDataBothWays(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			l := newTestLoop(t)
			ra, rb := newRecorder(t, "a"), newRecorder(t, "b")
			a, b := connPair(t, l, kind, ra, rb, ConnConfig{}, ConnConfig{})
			if kind != "socketpair" && ra.connected != 1 {
				t.Fatalf("dialer Connected %d times", ra.connected)
			}
			if rb.connected != 0 {
				t.Fatalf("accepted/wrapped Conn got Connected")
			}
			toB, toA := pattern(10000), pattern(7777)
			if n := a.Write(toB); n != len(toB) {
				t.Fatalf("a.Write = %d", n)
			}
			if n := b.Write(toA); n != len(toA) {
				t.Fatalf("b.Write = %d", n)
			}
			if a.Queued() != len(toB) {
				t.Fatalf("Queued = %d before the flush, want %d", a.Queued(), len(toB))
			}
			runUntil(t, l, 5*time.Second, "data", func() bool {
				return len(ra.data) == len(toA) && len(rb.data) == len(toB)
			})
			if !bytes.Equal(rb.data, toB) || !bytes.Equal(ra.data, toA) {
				t.Fatal("data corrupted in transit")
			}
			if ra.drained != 1 || rb.drained != 1 {
				t.Fatalf("Drained a=%d b=%d, want 1 each", ra.drained, rb.drained)
			}
			if a.Queued() != 0 || a.Stuck() {
				t.Fatalf("a: Queued %d Stuck %v after drain", a.Queued(), a.Stuck())
			}
			a.Close()
			runUntil(t, l, 5*time.Second, "b to see the close", func() bool { return rb.eof == 1 })
			b.Close()
			if ra.closed != 1 || ra.err != nil || rb.closed != 1 || rb.err != nil {
				t.Fatalf("Closed a=%d(%v) b=%d(%v)", ra.closed, ra.err, rb.closed, rb.err)
			}
		})
	}
}

// Writing 4 MiB through a 4 KiB kernel send buffer: the Conn gets stuck,
// waits for writability, and everything arrives complete and in order.
func TestConnPartialWrites(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			l := newTestLoop(t)
			const total = 4 << 20
			payload := pattern(total)
			ra, rb := newRecorder(t, "sender"), newRecorder(t, "receiver")
			a, b := connPair(t, l, kind, ra, rb, ConnConfig{}, ConnConfig{})
			if err := unix.SetsockoptInt(a.FD(), unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
				t.Fatal(err)
			}
			sent, shortWrites, stuckSeen := 0, 0, false
			fill := func() {
				for sent < total && a.Free() > 0 {
					n := a.Write(payload[sent:])
					if n < total-sent {
						shortWrites++
					}
					sent += n
				}
			}
			drainedAll := false
			ra.onDrained = func(c *Conn) {
				if sent == total {
					drainedAll = true
				}
				fill()
			}
			rb.onReceived = func(c *Conn, data []byte) int {
				stuckSeen = stuckSeen || a.Stuck()
				return len(data)
			}
			fill()
			runUntil(t, l, 15*time.Second, "4 MiB", func() bool {
				stuckSeen = stuckSeen || a.Stuck()
				return len(rb.data) == total && drainedAll
			})
			if !bytes.Equal(rb.data, payload) {
				t.Fatal("bytes lost, duplicated or reordered")
			}
			if !stuckSeen {
				t.Fatal("sender never Stuck with a 4 KiB send buffer")
			}
			if shortWrites == 0 {
				t.Fatal("Write never took less than asked")
			}
			if a.Queued() != 0 || a.Stuck() {
				t.Fatalf("after the drain: Queued %d Stuck %v", a.Queued(), a.Stuck())
			}
			a.Close()
			b.Close()
		})
	}
}

func TestConnSendBound(t *testing.T) {
	l := newTestLoop(t)
	fa, fb := socketpair(t)
	t.Cleanup(func() { unix.Close(fb) })
	r := newRecorder(t, "a")
	c, err := NewConn(l, fa, r, ConnConfig{SendBuffer: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Free() != 1000 {
		t.Fatalf("Free = %d, want 1000", c.Free())
	}
	msg := pattern(1500)
	if n := c.Write(msg[:600]); n != 600 {
		t.Fatalf("Write(600) = %d", n)
	}
	if n := c.Write(msg[600:]); n != 400 {
		t.Fatalf("Write(900) with 400 free = %d, want 400", n)
	}
	if c.Free() != 0 || c.Queued() != 1000 {
		t.Fatalf("Free %d Queued %d, want 0 and 1000", c.Free(), c.Queued())
	}
	if n := c.Write(msg[1000:]); n != 0 {
		t.Fatalf("Write to a full queue = %d", n)
	}
	runUntil(t, l, 5*time.Second, "drain", func() bool { return r.drained == 1 })
	if c.Free() != 1000 {
		t.Fatalf("Free = %d after the drain", c.Free())
	}
	buf := make([]byte, 2000)
	n, err := unix.Read(fb, buf)
	if err != nil || !bytes.Equal(buf[:n], msg[:1000]) {
		t.Fatalf("peer read %d bytes (%v), want the first 1000 of the message", n, err)
	}
}

// TestConnSendQueueBoundedForSlowReader: a peer that reads a little at a
// time while the Conn is kept full never lets the send queue empty (so
// flush never starts it over), yet the queue's array stays within
// SendBuffer (the bound Conn's doc states): the bytes already written are
// dropped from the front when more need room.
func TestConnSendQueueBoundedForSlowReader(t *testing.T) {
	const sendBuffer = 16 << 10
	l := newTestLoop(t)
	fa, fb := socketpair(t)
	t.Cleanup(func() { unix.Close(fb) })
	if err := unix.SetsockoptInt(fa, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	r := newRecorder(t, "a")
	c, err := NewConn(l, fa, r, ConnConfig{SendBuffer: sendBuffer})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := pattern(sendBuffer)
	buf := make([]byte, 512)
	read, maxCap := 0, 0
	runUntil(t, l, 20*time.Second, "8 send buffers through a slow reader", func() bool {
		for c.Free() > 0 {
			c.Write(payload[:c.Free()])
		}
		maxCap = max(maxCap, cap(c.sbuf))
		if n, err := unix.Read(fb, buf); err == nil {
			read += n
		}
		return read >= 8*sendBuffer
	})
	if r.drained != 0 {
		t.Fatalf("the send queue emptied %d times: the reader was not slow enough to test compaction", r.drained)
	}
	if maxCap > sendBuffer {
		t.Errorf("send queue array grew to %d bytes for a SendBuffer of %d", maxCap, sendBuffer)
	}
}

// frame is a length-prefixed test message: 4 bytes of length, then body.
func frame(body []byte) []byte {
	f := binary.LittleEndian.AppendUint32(nil, uint32(len(body)))
	return append(f, body...)
}

// Each message reaches the Conn in two writes split at every possible byte,
// with the Conn seeing the first piece on its own before the second is
// written. A handler that only consumes whole messages sees each once.
func TestConnReadsSplitAtEveryByte(t *testing.T) {
	for _, kind := range []string{"unix", "tcp"} {
		t.Run(kind, func(t *testing.T) {
			l := newTestLoop(t)
			fc, peer := rawPair(t, kind)
			t.Cleanup(func() { unix.Close(peer) })
			// A small receive buffer, so that leftovers are compacted and
			// the buffer is filled to its end.
			const recvBuf = 64
			var msgs [][]byte
			for size := 0; size <= recvBuf-4; size += 3 {
				msgs = append(msgs, pattern(size + 7)[7:])
			}
			var got [][]byte
			r := newRecorder(t, "conn")
			partials := 0
			r.onReceived = func(c *Conn, data []byte) int {
				used := 0
				for {
					rest := data[used:]
					if len(rest) < 4 || len(rest) < 4+int(binary.LittleEndian.Uint32(rest)) {
						break
					}
					size := int(binary.LittleEndian.Uint32(rest))
					got = append(got, append([]byte(nil), rest[4:4+size]...))
					used += 4 + size
				}
				if used < len(data) {
					partials++
				}
				return used
			}
			c, err := NewConn(l, fc, r, ConnConfig{RecvBuffer: recvBuf})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			// The schedule: for message m and split i, write a small whole
			// message plus the first i bytes of m, then (once the Conn has
			// been offered those) the rest of m.
			type step struct{ first, second []byte }
			var steps []step
			var want [][]byte
			filler := []byte{0xAA}
			for _, m := range msgs {
				f := frame(m)
				for i := 1; i < len(f); i++ {
					steps = append(steps, step{append(frame(filler), f[:i]...), f[i:]})
					want = append(want, filler, m)
				}
			}
			next, waitingForSecond := 0, false
			offeredBefore := 0
			writeNext := func() {
				s := steps[next]
				if !waitingForSecond {
					mustWriteAll(t, peer, s.first)
					offeredBefore = r.received
					waitingForSecond = true
					return
				}
				mustWriteAll(t, peer, s.second)
				waitingForSecond = false
				next++
			}
			// Drive the peer from a 0-delay timer that acts only when the
			// Conn has caught up: after the first piece, when Received has
			// run on it; after the second, when the message is consumed.
			// (It relies on the next-turn rule for timers; if that broke,
			// it would spin inside one turn, so it checks.)
			var driver *Timer
			var lastNow time.Time
			driver = l.NewTimer(func() {
				if stuckInOneTurn(l, lastNow) {
					t.Error("0-delay timer reruns within one turn")
					return
				}
				lastNow = l.Now()
				switch {
				case next == len(steps):
					return
				case !waitingForSecond && len(got) == 2*next:
					writeNext()
				case waitingForSecond && r.received > offeredBefore && c.Buffered() > 0:
					writeNext()
				}
				driver.Reset(0)
			})
			driver.Reset(0)
			runUntil(t, l, 15*time.Second, "all messages", func() bool { return len(got) == len(want) })
			driver.Stop()
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("message %d = %x, want %x", i, got[i], want[i])
				}
			}
			if partials < len(steps) {
				t.Fatalf("only %d deliveries of a partial message for %d splits", partials, len(steps))
			}
			if c.Buffered() != 0 {
				t.Fatalf("%d bytes left buffered", c.Buffered())
			}
		})
	}
}

// mustWriteAll writes b to a non-blocking fd that has room.
func mustWriteAll(t *testing.T, fd int, b []byte) {
	t.Helper()
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err != nil {
			t.Fatalf("peer write: %v", err)
		}
		b = b[n:]
	}
}

// A handler that consumes nothing stops the reading at RecvBuffer: the
// kernel buffers fill and the peer gets EAGAIN. Resume after consuming
// lets everything through, in order.
func TestConnHighWaterAndResume(t *testing.T) {
	for _, kind := range []string{"unix", "tcp"} {
		t.Run(kind, func(t *testing.T) {
			l := newTestLoop(t)
			fc, peer := rawPair(t, kind)
			t.Cleanup(func() { unix.Close(peer) })
			if err := unix.SetsockoptInt(peer, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096); err != nil {
				t.Fatal(err)
			}
			const recvBuf = 8192
			const total = 1 << 20
			payload := pattern(total)
			consume := false
			maxBuffered := 0
			r := newRecorder(t, "conn")
			r.onReceived = func(c *Conn, data []byte) int {
				maxBuffered = max(maxBuffered, len(data))
				if consume {
					return len(data)
				}
				return 0
			}
			c, err := NewConn(l, fc, r, ConnConfig{RecvBuffer: recvBuf})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			readies := 0
			ready := c.fd.handler
			c.fd.handler = func(ev Events) { readies++; ready(ev) }

			// The peer writes every millisecond until the kernel refuses.
			written, eagains := 0, 0
			var peerWriter *Timer
			peerWriter = l.Every(time.Millisecond, func() {
				for written < total {
					n, err := unix.Write(peer, payload[written:min(total, written+4096)])
					if err == unix.EAGAIN {
						eagains++
						break
					}
					if err != nil {
						t.Errorf("peer write: %v", err)
						peerWriter.Stop()
						return
					}
					written += n
				}
				if written == total {
					peerWriter.Stop()
				}
			})
			runUntil(t, l, 5*time.Second, "buffer full", func() bool { return c.Buffered() == recvBuf })
			// The peer goes on writing until the kernel pushes back, and then
			// makes no progress: nothing is read any more.
			stalled := 0
			lastWritten := written
			watch := l.Every(time.Millisecond, func() {
				if written == lastWritten {
					stalled++
				} else {
					stalled = 0
				}
				lastWritten = written
			})
			runUntil(t, l, 5*time.Second, "the peer to stall", func() bool { return stalled >= 5 })
			calls, wrote, eagainsBefore, readiesBefore := r.received, written, eagains, readies
			runFor(t, l, 30*time.Millisecond)
			watch.Stop()
			if c.fd.Armed()&Readable != 0 || readies != readiesBefore {
				t.Fatalf("full Conn still waits for input (armed %v, woken %d times)", c.fd.Armed(), readies-readiesBefore)
			}
			if c.Buffered() != recvBuf || maxBuffered != recvBuf {
				t.Fatalf("Buffered %d (max offered %d), want it held at %d", c.Buffered(), maxBuffered, recvBuf)
			}
			if r.received != calls {
				t.Fatalf("Received called %d more times while the buffer was full", r.received-calls)
			}
			if eagains <= eagainsBefore || written-wrote > 8192 {
				t.Fatalf("peer not blocked: %d more EAGAINs, %d more bytes written", eagains-eagainsBefore, written-wrote)
			}
			if len(r.data) != 0 {
				t.Fatalf("%d bytes recorded as consumed", len(r.data))
			}
			if written == total {
				t.Fatal("the whole payload fitted; the test proves nothing")
			}

			consume = true
			c.Resume()
			if c.Buffered() != 0 || len(r.data) != recvBuf {
				t.Fatalf("Resume: Buffered %d consumed %d, want 0 and %d", c.Buffered(), len(r.data), recvBuf)
			}
			runUntil(t, l, 10*time.Second, "the rest", func() bool { return len(r.data) == total })
			if !bytes.Equal(r.data, payload) {
				t.Fatal("data corrupted across the high-water stop")
			}
		})
	}
}

// EOF comes only once every byte before it is consumed, and after it no
// Received.
func TestConnEOFAfterAllDataConsumed(t *testing.T) {
	for _, kind := range []string{"unix", "tcp"} {
		t.Run(kind, func(t *testing.T) {
			l := newTestLoop(t)
			fc, peer := rawPair(t, kind)
			t.Cleanup(func() { unix.Close(peer) })
			payload := pattern(1000)
			mustWriteAll(t, peer, payload)
			if err := unix.Shutdown(peer, unix.SHUT_WR); err != nil {
				t.Fatal(err)
			}
			r := newRecorder(t, "conn")
			dataAtEOF := -1
			// Consume at most 10 bytes per offer, and ask again later.
			r.onReceived = func(c *Conn, data []byte) int {
				n := min(10, len(data))
				if n < len(data) {
					l.Post(c.Resume)
				}
				return n
			}
			r.onEOF = func(c *Conn) { dataAtEOF = len(r.data) }
			c, err := NewConn(l, fc, r, ConnConfig{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			runUntil(t, l, 5*time.Second, "EOF", func() bool { return r.eof > 0 })
			runFor(t, l, 10*time.Millisecond)
			if dataAtEOF != len(payload) || !bytes.Equal(r.data, payload) {
				t.Fatalf("EOF after %d of %d bytes", dataAtEOF, len(payload))
			}
			if r.eof != 1 {
				t.Fatalf("EOF reported %d times", r.eof)
			}
			if r.closed != 0 {
				t.Fatalf("Conn closed itself on EOF (err %v)", r.err)
			}
		})
	}
}

// CloseWrite after queued data: the peer reads the data, then EOF, and can
// still answer; the answer and its EOF reach the half-closed side.
func TestConnHalfCloseBothWays(t *testing.T) {
	for _, kind := range connKinds {
		t.Run(kind, func(t *testing.T) {
			l := newTestLoop(t)
			ra, rb := newRecorder(t, "a"), newRecorder(t, "b")
			a, b := connPair(t, l, kind, ra, rb, ConnConfig{}, ConnConfig{})
			question, answer := pattern(300000), pattern(200000)
			// More than the kernel takes at once, so the shutdown must wait
			// for the queue.
			if n := a.Write(question[:defaultSendBuffer]); n != defaultSendBuffer {
				t.Fatalf("Write = %d", n)
			}
			qsent := defaultSendBuffer
			ra.onDrained = func(c *Conn) {
				if qsent < len(question) {
					qsent += c.Write(question[qsent:])
					if qsent == len(question) {
						c.CloseWrite()
						if n := c.Write([]byte("late")); n != 0 || c.Free() != 0 {
							t.Errorf("Write after CloseWrite took %d bytes (Free %d)", n, c.Free())
						}
					}
				}
			}
			asent := 0
			rb.onEOF = func(c *Conn) {
				if len(rb.data) != len(question) {
					t.Errorf("b: EOF after %d of %d bytes", len(rb.data), len(question))
				}
				asent = c.Write(answer)
				c.CloseWrite()
			}
			runUntil(t, l, 10*time.Second, "both EOFs", func() bool { return ra.eof == 1 && rb.eof == 1 })
			if !bytes.Equal(rb.data, question) {
				t.Fatal("b: question corrupted")
			}
			if asent != len(answer) || !bytes.Equal(ra.data, answer) {
				t.Fatalf("a: got %d answer bytes of %d", len(ra.data), len(answer))
			}
			if ra.closed != 0 || rb.closed != 0 {
				t.Fatalf("half-closed Conns closed: a %v, b %v", ra.err, rb.err)
			}
			a.Close()
			b.Close()
			if ra.closed != 1 || rb.closed != 1 {
				t.Fatal("Close did not report Closed")
			}
		})
	}
}

func TestDialMissingUnixPath(t *testing.T) {
	l := newTestLoop(t)
	r := newRecorder(t, "dial")
	path := filepath.Join(shortTempDir(t), "nobody-home")
	c, err := Dial(l, &unix.SockaddrUnix{Name: path}, r, ConnConfig{})
	if !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Dial to a missing path: err %v, want ENOENT", err)
	}
	if c != nil {
		t.Fatal("Dial returned a Conn with its error")
	}
	runFor(t, l, 10*time.Millisecond)
	if r.connected+r.closed+r.received+r.eof+r.drained != 0 {
		t.Fatalf("callbacks after a failed Dial: %+v", r)
	}
}

func TestDialRefusedTCP(t *testing.T) {
	l := newTestLoop(t)
	// A bound socket that does not listen holds the port and refuses.
	fd, port := boundTCP(t)
	t.Cleanup(func() { unix.Close(fd) })
	r := newRecorder(t, "dial")
	c, err := Dial(l, loopback4(port), r, ConnConfig{})
	reports := 0
	if err != nil {
		if !errors.Is(err, unix.ECONNREFUSED) {
			t.Fatalf("Dial: %v, want ECONNREFUSED", err)
		}
		reports++
	} else {
		c.Write([]byte("queued while connecting"))
		runUntil(t, l, 5*time.Second, "refusal", func() bool { return r.closed > 0 })
		if !errors.Is(r.err, unix.ECONNREFUSED) {
			t.Fatalf("Closed(%v), want ECONNREFUSED", r.err)
		}
		if !c.IsClosed() {
			t.Fatal("IsClosed false after Closed")
		}
	}
	runFor(t, l, 20*time.Millisecond)
	reports += r.closed
	if reports != 1 {
		t.Fatalf("refusal reported %d times", reports)
	}
	if r.connected != 0 || r.drained != 0 {
		t.Fatalf("refused Conn reported Connected %d Drained %d", r.connected, r.drained)
	}
}

func TestConnPeerReset(t *testing.T) {
	l := newTestLoop(t)
	fc, peer := rawPair(t, "tcp")
	r := newRecorder(t, "conn")
	c, err := NewConn(l, fc, r, ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	mustWriteAll(t, peer, []byte("before the reset"))
	runUntil(t, l, 5*time.Second, "data", func() bool { return len(r.data) == 16 })
	if err := unix.SetsockoptLinger(peer, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0}); err != nil {
		t.Fatal(err)
	}
	unix.Close(peer)
	runUntil(t, l, 5*time.Second, "reset", func() bool { return r.closed > 0 })
	if !errors.Is(r.err, unix.ECONNRESET) && !errors.Is(r.err, unix.EPIPE) {
		t.Fatalf("Closed(%v), want ECONNRESET", r.err)
	}
	if !c.IsClosed() || r.closed != 1 || r.eof != 0 {
		t.Fatalf("closed %d eof %d", r.closed, r.eof)
	}
}

// Closed is reported exactly once, whoever closes and wherever from, and
// no callback runs after it (connRecorder fails the test if one does).
func TestConnClosedExactlyOnce(t *testing.T) {
	type scenario struct {
		name  string
		setup func(l *Loop, ra, rb *connRecorder)
		act   func(l *Loop, a, b *Conn)
	}
	closeTwice := func(c *Conn) { c.Close(); c.Close() }
	peerSendsAndShuts := func(l *Loop, a, b *Conn) { b.Write([]byte("hello")); b.CloseWrite() }
	scenarios := []scenario{
		{"Close twice", nil, func(l *Loop, a, b *Conn) { closeTwice(a) }},
		{"from Connected", func(l *Loop, ra, rb *connRecorder) {
			ra.onConnected = closeTwice
		}, nil},
		{"from Received", func(l *Loop, ra, rb *connRecorder) {
			ra.onReceived = func(c *Conn, data []byte) int {
				closeTwice(c)
				c.Write([]byte("x"))
				c.Resume()
				c.CloseWrite()
				return len(data)
			}
		}, peerSendsAndShuts},
		{"from EOF", func(l *Loop, ra, rb *connRecorder) {
			ra.onEOF = closeTwice
		}, peerSendsAndShuts},
		{"from Drained", func(l *Loop, ra, rb *connRecorder) {
			ra.onDrained = closeTwice
		}, func(l *Loop, a, b *Conn) { a.Write(pattern(100)); b.Write([]byte("hello")) }},
		{"from Closed", func(l *Loop, ra, rb *connRecorder) {
			ra.onClosed = func(c *Conn, err error) { closeTwice(c) }
		}, nil},
		{"by the peer first", nil, func(l *Loop, a, b *Conn) { b.Close() }},
		{"from a timer and a post", nil, func(l *Loop, a, b *Conn) {
			a.Write(pattern(100))
			l.NewTimer(a.Close).Reset(time.Millisecond)
			l.Post(a.Close)
			l.Post(a.Close)
		}},
	}
	for _, kind := range connKinds {
		for _, sc := range scenarios {
			t.Run(kind+"/"+sc.name, func(t *testing.T) {
				l := newTestLoop(t)
				ra, rb := newRecorder(t, "a"), newRecorder(t, "b")
				if sc.setup != nil {
					sc.setup(l, ra, rb)
				}
				a, b := connPair(t, l, kind, ra, rb, ConnConfig{}, ConnConfig{})
				if sc.act != nil {
					sc.act(l, a, b)
				}
				// Whatever else happens, a gets closed in the end.
				l.NewTimer(a.Close).Reset(50 * time.Millisecond)
				runUntil(t, l, 5*time.Second, "a closed", func() bool { return ra.closed > 0 })
				a.Close()
				a.Write([]byte("after"))
				a.CloseWrite()
				a.Resume()
				runFor(t, l, 20*time.Millisecond)
				if ra.closed != 1 {
					t.Fatalf("Closed reported %d times", ra.closed)
				}
				if !a.IsClosed() || a.Free() != 0 || a.Queued() != 0 || a.Buffered() != 0 {
					t.Fatalf("closed Conn: IsClosed %v Free %d Queued %d Buffered %d",
						a.IsClosed(), a.Free(), a.Queued(), a.Buffered())
				}
				b.Close()
				if rb.closed != 1 {
					t.Fatalf("b: Closed reported %d times", rb.closed)
				}
			})
		}
	}
}

// On event ports the loop associates a watched fd again after each event;
// when that fails (port_associate's EAGAIN at process.port-max-events) the
// Conn closes and tells its handler why, and the loop carries on, while a
// plain FD (a listener, a UDP socket) fails the loop. The failure here is
// a real one on both bindings: the fd was closed underneath (EBADF).
func TestRenewFailureEndsOnlyTheConn(t *testing.T) {
	l := newTestLoop(t)
	a, b := socketpair(t)
	t.Cleanup(func() { unix.Close(b) })
	r := newRecorder(t, "conn")
	c, err := NewConn(l, a, r, ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(a)
	c.fd.renewWatch()
	if !c.IsClosed() || r.closed != 1 || !errors.Is(r.err, unix.EBADF) {
		t.Fatalf("conn closed %v, Closed %d times with %v; want closed once with EBADF", c.IsClosed(), r.closed, r.err)
	}
	if l.failed != nil || l.stopped {
		t.Fatalf("the loop failed (%v) for one connection's re-arm", l.failed)
	}

	x, y := socketpair(t)
	t.Cleanup(func() { unix.Close(y) })
	f := l.NewFD(x, func(Events) {})
	if err := f.Watch(Readable); err != nil {
		t.Fatal(err)
	}
	unix.Close(x)
	f.renewWatch()
	if !errors.Is(l.failed, unix.EBADF) || f.Armed() != 0 {
		t.Fatalf("loop failure %v, armed %v: want the loop failed with EBADF and the fd disarmed", l.failed, f.Armed())
	}
}
