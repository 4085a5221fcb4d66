//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/backend"
)

/*
The echo backends. Both kinds do the same work per query, so that the
paths compare the balancers and not the backends: take the query, set QR
(echoAnswer), send it back, on one thread with blocking raw syscalls that
move a batch at a time.

  - UDP echo (for dnsdist and the direct path; with a single instance it is
    also the reflector, the ceiling): recvmmsg up to 64 datagrams, answer
    each, sendmmsg them back.
  - Frame echo (for bbal): the backend protocol over AF_UNIX, as node-mname
    speaks it. A control session gets SERVER_HELLO for CLIENT_HELLO and
    SERVER_HEARTBEAT for each CLIENT_HEARTBEAT; each read (up to 256 KiB)
    is parsed into INBOUND_UDP frames whose answers go back as OUTBOUND_UDP
    frames in one write. It waits for input in poll(POLLIN), as node-mname
    waits in epoll, not in a blocking read: a reader asleep in read(2) on
    an AF_UNIX stream is woken each time the balancer consumes one of its
    answers (the freed send space wakes every sleeper on the socket, and
    only poll and epoll filter by event), and each such wake-up would be
    counted against the balancer's path. A session that starts with
    INBOUND_TCP gets INBOUND_TCP_OK and then carries DNS over TCP.

Both serve from a blocking descriptor that the Go runtime's netpoller does
not watch (rawDup), and pass through the Go scheduler every 5 ms (yielder),
so that an echo costs its own work and not the runtime's.

DNS over TCP (the UDP echo's TCP listener on the same port, and framed TCP
sessions after the OK) is one function: read length-prefixed queries,
answer each, flush when no more input is buffered (pipelined queries get
their answers in one write).
*/

// serveUDPEcho answers every datagram on the blocking socket fd until the
// socket fails.
func serveUDPEcho(fd int) error {
	runtime.LockOSThread()
	b := newBatch(batchSize, 2048, false)
	var y yielder
	for {
		y.maybe()
		n, err := b.recv(fd)
		if err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return fmt.Errorf("udp echo: recvmmsg: %w", err)
		}
		for i := 0; i < n; i++ {
			msg := b.data(i)
			echoAnswer(msg)
			b.setLen(i, len(msg))
		}
		if err := b.send(fd, n); err != nil {
			return fmt.Errorf("udp echo: %w", err)
		}
	}
}

// serveDNSTCP answers length-prefixed DNS messages on rw until EOF.
func serveDNSTCP(r *bufio.Reader, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	msg := make([]byte, 2+65535)
	for {
		if _, err := io.ReadFull(r, msg[:2]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		n := int(binary.BigEndian.Uint16(msg))
		if _, err := io.ReadFull(r, msg[2:2+n]); err != nil {
			return err
		}
		echoAnswer(msg[2 : 2+n])
		if _, err := bw.Write(msg[:2+n]); err != nil {
			return err
		}
		if r.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
	}
}

// serveTCPEcho accepts DNS-over-TCP connections on ln until it is closed.
func serveTCPEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = serveDNSTCP(bufio.NewReaderSize(c, 64<<10), c)
		}()
	}
}

// frameEcho is a backend-protocol echo listening on an AF_UNIX socket.
type frameEcho struct {
	ln    net.Listener
	hello func() // called on each CLIENT_HELLO

	// For the soak: a flapping backend and a reflecting one.
	flapAfter time.Duration // > 0: an unknown frame type this long after each hello
	spurious  *spurious     // non-nil: also sends answers to a victim that never asked
}

// spurious is a backend's misbehaviour of sending OUTBOUND_UDP frames to an
// address that never asked (issue 12's reflection): once armed, left more
// such frames of 1500 bytes, one beside each real answer.
type spurious struct {
	armed atomic.Bool
	left  atomic.Int64
	addr  uint32
	port  uint16
	data  []byte
}

// take reports whether one more spurious answer is to be sent.
func (s *spurious) take() bool {
	return s != nil && s.armed.Load() && s.left.Add(-1) >= 0
}

// listenFrameEcho creates the socket at path.
func listenFrameEcho(path string, hello func()) (*frameEcho, error) {
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("frame echo: %w", err)
	}
	return &frameEcho{ln: ln, hello: hello}, nil
}

// serve accepts sessions until the listener is closed.
func (e *frameEcho) serve() {
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return
		}
		go e.session(c.(*net.UnixConn))
	}
}

// session serves one connection from the balancer on a blocking dup of its
// descriptor.
func (e *frameEcho) session(c *net.UnixConn) {
	fd, err := rawDup(c)
	c.Close()
	if err != nil {
		return
	}
	// rawDup made fd blocking first: os.NewFile puts only a non-blocking
	// descriptor on the netpoller.
	f := os.NewFile(uintptr(fd), "frame echo session")
	defer f.Close()
	buf := make([]byte, 256<<10)
	have := 0
	for have < 4 {
		n, err := unix.Read(fd, buf[have:])
		if n <= 0 || err != nil {
			return
		}
		have += n
	}
	if backend.FrameType(binary.LittleEndian.Uint32(buf)) == backend.FrameInboundTCP {
		// The INBOUND_TCP frame is 12 bytes; what follows is the stream.
		for have < 12 {
			n, err := unix.Read(fd, buf[have:])
			if n <= 0 || err != nil {
				return
			}
			have += n
		}
		if _, err := f.Write(backend.AppendInboundTCPOK(nil)); err != nil {
			return
		}
		r := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(append([]byte(nil), buf[12:have]...)), f), 64<<10)
		_ = serveDNSTCP(r, f)
		return
	}
	runtime.LockOSThread()
	_ = e.control(fd, buf, have)
}

// control runs a control session whose first have bytes are in buf.
func (e *frameEcho) control(fd int, buf []byte, have int) error {
	outBuf := make([]byte, 0, 2*len(buf))
	var y yielder
	for {
		y.maybe()
		off := 0
		out := outBuf[:0]
		for {
			f, n, err := backend.ParseClientFrame(buf[off:have])
			if err != nil {
				return err
			}
			if n == 0 {
				break
			}
			off += n
			switch f.Type {
			case backend.FrameClientHello:
				out = backend.AppendServerHello(out)
				e.hello()
				if e.flapAfter > 0 {
					time.AfterFunc(e.flapAfter, func() {
						_, _ = unix.Write(fd, []byte{0xef, 0xbe, 0xad, 0xde})
					})
				}
			case backend.FrameClientHeartbeat:
				out = backend.AppendServerHeartbeat(out)
			case backend.FrameInboundUDP:
				out = backend.AppendOutboundUDP(out, f.Addr, f.Port, f.Data)
				echoAnswer(out[len(out)-len(f.Data):])
				if e.spurious.take() {
					out = backend.AppendOutboundUDP(out, e.spurious.addr, e.spurious.port, e.spurious.data)
				}
			}
		}
		for len(out) > 0 {
			n, err := unix.Write(fd, out)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			out = out[n:]
		}
		have = copy(buf, buf[off:have])
		n, err := readAfterPoll(fd, buf[have:])
		if err != nil || n == 0 {
			return err
		}
		have += n
	}
}

// readAfterPoll waits in poll until fd is readable, then reads into buf
// (see the file comment for why not in read itself).
func readAfterPoll(fd int, buf []byte) (int, error) {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(pfd, -1); err != nil && err != unix.EINTR {
			return 0, fmt.Errorf("frame echo: poll: %w", err)
		}
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		return n, err
	}
}

// helloCounter counts control-session hellos and reports each on stdout
// (the runner waits for them).
type helloCounter struct {
	mu sync.Mutex
	w  io.Writer
}

func (h *helloCounter) hello() {
	h.mu.Lock()
	fmt.Fprintln(h.w, "hello")
	h.mu.Unlock()
}

// yielder passes a busy echo loop through the Go scheduler every 5 ms, as
// the balancer's loop does (evport/yield.go): a goroutine locked to its
// thread that only ever waits in blocking system calls otherwise keeps the
// runtime's sysmon thread waking every few tens of microseconds and has it
// preempted every 10 ms, CPU and context switches that belong to no path.
type yielder struct{ last time.Time }

func (y *yielder) maybe() {
	if now := time.Now(); now.Sub(y.last) >= 5*time.Millisecond {
		y.last = now
		runtime.Gosched()
	}
}

// rawDup is a blocking duplicate of c's descriptor that the Go runtime's
// netpoller does not watch. (c.File() would be watched: every frame the
// balancer writes, and every answer it reads, would also wake an idle
// thread of this process in the netpoller, for nothing, and that cost
// would be counted against the balancer's path.)
func rawDup(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.Dup(int(s)) }); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, dupErr
	}
	// O_NONBLOCK belongs to the open file, which c shares until it closes.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
