// Package backendtest is the one fake backend of the balancer's tests: the
// backend end of the control-session protocol, driven frame by frame by the
// test with the backend package's codec. It listens on a socket file the
// balancer finds in its socket directory; each session the balancer opens
// is handed to the test, which reads and writes frames with blocking Go on
// its own goroutine, every call bounded by looptest.WaitLimit so that a
// broken balancer fails the test instead of hanging it.
package backendtest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/evport/looptest"
)

// SocketDir makes a short directory under /tmp (socket paths must fit
// sun_path), removed when the test ends.
func SocketDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Fake is a listening fake backend.
type Fake struct {
	t     testing.TB
	Path  string
	ln    *net.UnixListener
	conns chan *net.UnixConn
}

// Listen creates the socket name in dir and accepts sessions on it until
// Close or the end of the test.
func Listen(t testing.TB, dir, name string) *Fake {
	t.Helper()
	path := filepath.Join(dir, name)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatalf("listen %s: %v", path, err)
	}
	f := &Fake{t: t, Path: path, ln: ln, conns: make(chan *net.UnixConn, 64)}
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
	t.Cleanup(f.Close)
	return f
}

// Close stops listening and removes the socket file.
func (f *Fake) Close() { f.ln.Close() }

// Accept waits for the balancer's next session.
func (f *Fake) Accept() *Session {
	f.t.Helper()
	select {
	case c, ok := <-f.conns:
		if !ok {
			f.t.Fatalf("%s: listener closed while waiting for a connection", f.Path)
		}
		f.t.Cleanup(func() { c.Close() })
		return &Session{t: f.t, Conn: c, r: bufio.NewReader(c)}
	case <-time.After(looptest.WaitLimit):
		f.t.Fatalf("%s: no connection from the balancer within %v", f.Path, looptest.WaitLimit)
	}
	return nil
}

// Session is one accepted session.
type Session struct {
	t    testing.TB
	Conn *net.UnixConn
	r    *bufio.Reader
}

// readFrame reads one balancer-to-backend frame; Data is copied.
func (s *Session) readFrame() backend.Frame {
	s.t.Helper()
	s.Conn.SetReadDeadline(time.Now().Add(looptest.WaitLimit))
	var hdr [4]byte
	if _, err := io.ReadFull(s.r, hdr[:]); err != nil {
		s.t.Fatalf("reading a frame: %v", err)
	}
	buf := hdr[:]
	for {
		f, n, err := backend.ParseClientFrame(buf)
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

// Expect reads a frame and checks its type.
func (s *Session) Expect(typ backend.FrameType) backend.Frame {
	s.t.Helper()
	f := s.readFrame()
	if f.Type != typ {
		s.t.Fatalf("balancer sent %v, want %v", f.Type, typ)
	}
	return f
}

// Read reads raw bytes that follow the frames read so far (through the
// same buffer, so no byte is lost between frames and raw reads).
func (s *Session) Read(p []byte) (int, error) { return s.r.Read(p) }

// Write sends raw bytes to the balancer.
func (s *Session) Write(b []byte) {
	s.t.Helper()
	s.Conn.SetWriteDeadline(time.Now().Add(looptest.WaitLimit))
	if _, err := s.Conn.Write(b); err != nil {
		s.t.Fatalf("writing to the balancer: %v", err)
	}
}

// Hello completes the handshake: reads CLIENT_HELLO, answers SERVER_HELLO.
func (s *Session) Hello() {
	s.t.Helper()
	s.Expect(backend.FrameClientHello)
	s.Write(backend.AppendServerHello(nil))
}

// ExpectClosed waits for the balancer to close the session, and fails on
// any byte that arrives first.
func (s *Session) ExpectClosed() {
	s.t.Helper()
	s.Conn.SetReadDeadline(time.Now().Add(looptest.WaitLimit))
	var b [1]byte
	n, err := s.r.Read(b[:])
	if n > 0 {
		s.t.Fatalf("balancer sent %#x, want the session closed", b[0])
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		s.t.Fatalf("want the session closed, got %v", err)
	}
}

// U32 is a raw little-endian word, for frames the codec will not make.
func U32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
