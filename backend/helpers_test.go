/*
 * Test harness for the backend sessions and the Set: a real evport loop
 * running on its own goroutine, a socket directory under /tmp (short, so
 * that socket paths fit sun_path), fake backends that the test drives frame
 * by frame with the codec, and a goroutine-safe log buffer whose bunyan
 * records the tests search.
 *
 * The balancer's rule holds here too: Set and Backend state is touched only
 * on the loop. The test goroutine reaches it with onLoop (Post and wait) and
 * polls conditions with waitFor, which evaluates them on the loop. A fake
 * backend is plain blocking Go on the test goroutine: accept, read a frame,
 * write a frame, each with a deadline so that a broken balancer fails the
 * test instead of hanging it.
 */

package backend

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/bunyan/bunyantest"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/evport/looptest"
)

const waitLimit = looptest.WaitLimit

type logBuffer = bunyantest.Buffer

func startLoop(t *testing.T) *evport.Loop { return looptest.Start(t).Loop }

var (
	onLoop  = looptest.OnLoop
	waitFor = looptest.WaitFor
)

// harness is a Set over a fresh socket directory on a running loop.
type harness struct {
	t    *testing.T
	loop *evport.Loop
	logs *logBuffer
	dir  string
	set  *Set

	mu      sync.Mutex
	answers []answer // OUTBOUND_UDP answers the sink received
}

type answer struct {
	addr uint32
	port uint16
	msg  []byte
}

// socketDir makes a short directory under /tmp, removed when the test ends.
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "bt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// newHarness creates the Set (not started) with timings tm.
func newHarness(t *testing.T, tm Timings) *harness {
	t.Helper()
	h := &harness{t: t, dir: socketDir(t), logs: &logBuffer{}}
	h.loop = startLoop(t)
	log := bunyan.New(h.logs, zerolog.DebugLevel)
	onLoop(t, h.loop, func() {
		h.set = NewSet(h.loop, log, h.dir, tm)
		h.set.SetAnswerSink(func(addr uint32, port uint16, msg []byte) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.answers = append(h.answers, answer{addr, port, append([]byte(nil), msg...)})
		})
	})
	t.Cleanup(func() { onLoop(t, h.loop, h.set.Stop) })
	return h
}

func (h *harness) start() { onLoop(h.t, h.loop, h.set.Start) }

func (h *harness) rescan() { onLoop(h.t, h.loop, h.set.Rescan) }

// backend returns the backend for the socket named name (nil if unknown).
func (h *harness) backend(name string) *Backend {
	var b *Backend
	onLoop(h.t, h.loop, func() { b = h.set.byPath[filepath.Join(h.dir, name)] })
	return b
}

// stats reads a backend's counters on the loop.
func (h *harness) stats(b *Backend) Stats {
	var s Stats
	onLoop(h.t, h.loop, func() { s = b.Stats })
	return s
}

// fakeBackend is the backend end of the protocol, driven by the test.
type fakeBackend struct {
	t     *testing.T
	path  string
	ln    *net.UnixListener
	conns chan *net.UnixConn
}

// listenFake creates a socket named name in dir.
func listenFake(t *testing.T, dir, name string) *fakeBackend {
	t.Helper()
	path := filepath.Join(dir, name)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatalf("listen %s: %v", path, err)
	}
	f := &fakeBackend{t: t, path: path, ln: ln, conns: make(chan *net.UnixConn, 64)}
	go func() {
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				close(f.conns)
				return
			}
			f.conns <- c
		}
	}()
	t.Cleanup(f.close)
	return f
}

// close stops listening and removes the socket file.
func (f *fakeBackend) close() { f.ln.Close() }

// accept waits for the balancer to connect.
func (f *fakeBackend) accept() *fakeSession {
	f.t.Helper()
	select {
	case c, ok := <-f.conns:
		if !ok {
			f.t.Fatalf("%s: listener closed while waiting for a connection", f.path)
		}
		s := &fakeSession{t: f.t, c: c, r: bufio.NewReader(c)}
		f.t.Cleanup(func() { c.Close() })
		return s
	case <-time.After(waitLimit):
		f.t.Fatalf("%s: no connection from the balancer within %v", f.path, waitLimit)
	}
	return nil
}

// fakeSession is one accepted control session.
type fakeSession struct {
	t *testing.T
	c *net.UnixConn
	r *bufio.Reader
}

// readFrame reads one balancer-to-backend frame; Data is copied.
func (s *fakeSession) readFrame() Frame {
	s.t.Helper()
	s.c.SetReadDeadline(time.Now().Add(waitLimit))
	var hdr [4]byte
	if _, err := io.ReadFull(s.r, hdr[:]); err != nil {
		s.t.Fatalf("reading a frame: %v", err)
	}
	buf := hdr[:]
	for {
		f, n, err := ParseClientFrame(buf)
		if err != nil {
			s.t.Fatalf("balancer sent a bad frame: %v", err)
		}
		if n > 0 {
			f.Data = append([]byte(nil), f.Data...)
			return f
		}
		b, err := s.r.ReadByte()
		if err != nil {
			s.t.Fatalf("reading a frame: %v", err)
		}
		buf = append(buf, b)
	}
}

// expect reads a frame and checks its type.
func (s *fakeSession) expect(typ FrameType) Frame {
	s.t.Helper()
	f := s.readFrame()
	if f.Type != typ {
		s.t.Fatalf("balancer sent %v, want %v", f.Type, typ)
	}
	return f
}

func (s *fakeSession) write(b []byte) {
	s.t.Helper()
	s.c.SetWriteDeadline(time.Now().Add(waitLimit))
	if _, err := s.c.Write(b); err != nil {
		s.t.Fatalf("writing to the balancer: %v", err)
	}
}

// hello completes the handshake.
func (s *fakeSession) hello() {
	s.t.Helper()
	s.expect(FrameClientHello)
	s.write(AppendServerHello(nil))
}

// expectClosed waits for the balancer to close the session, and fails on
// any byte that arrives first.
func (s *fakeSession) expectClosed() {
	s.t.Helper()
	s.c.SetReadDeadline(time.Now().Add(waitLimit))
	var b [1]byte
	n, err := s.r.Read(b[:])
	if n > 0 {
		s.t.Fatalf("balancer sent %#x, want the session closed", b[0])
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		s.t.Fatalf("want the session closed, got %v", err)
	}
}

// u32 is a raw little-endian word, for frames the codec will not make.
func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
