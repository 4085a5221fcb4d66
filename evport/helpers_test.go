/*
 * Test helpers shared by the evport tests: a loop that is closed when the
 * test ends, a way to run it until a condition holds (with a deadline, so a
 * broken loop fails the test instead of hanging it), socket constructors
 * (socketpairs, AF_UNIX and TCP loopback listeners, connected raw pairs),
 * and connRecorder, a ConnHandler that records every callback and fails the
 * test if anything is reported after Closed.
 *
 * Every callback runs on the goroutine that calls Run, which in these tests
 * is the test goroutine itself, so recorder state needs no locking; the race
 * detector would report it if a callback ran anywhere else.
 */

package evport

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/evport/evporttest"
	"golang.org/x/sys/unix"
)

// newTestLoop returns a loop that is closed when the test ends.
func newTestLoop(t *testing.T) *Loop {
	t.Helper()
	l, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Loop.Close: %v", err)
		}
	})
	return l
}

// newClockLoop returns a loop on a hand-driven clock, closed when the test
// ends: its timers fire only when advance moves the clock.
func newClockLoop(t *testing.T) (*Loop, *evporttest.Clock) {
	t.Helper()
	clock := evporttest.NewClock()
	l, err := NewWithClock(clock)
	if err != nil {
		t.Fatalf("NewWithClock: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Loop.Close: %v", err)
		}
	})
	return l, clock
}

// advance moves the clock forward by d and runs the loop until it has
// caught up: every timer due at the new time has run.
func advance(t *testing.T, l *Loop, clock *evporttest.Clock, d time.Duration) {
	t.Helper()
	clock.Advance(d)
	l.Post(l.Stop)
	if err := l.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// runUntil runs l until cond holds (checked every millisecond on the loop)
// and fails the test if it does not within limit.
func runUntil(t *testing.T, l *Loop, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	timedOut := false
	poll := l.Every(time.Millisecond, func() {
		if cond() {
			l.Stop()
			return
		}
		if time.Now().After(deadline) {
			timedOut = true
			l.Stop()
		}
	})
	err := l.Run()
	poll.Stop()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if timedOut {
		t.Fatalf("timed out after %v waiting for %s", limit, what)
	}
}

// stuckInOneTurn reports whether the loop has stayed in the current turn
// for a long time: a callback that finds Now unchanged since its previous
// run and well behind the real clock is being rerun inside one turn. (Now
// alone cannot tell: on a coarse clock two quick turns may read the same.)
func stuckInOneTurn(l *Loop, previousNow time.Time) bool {
	return l.Now().Equal(previousNow) && time.Since(previousNow) > 200*time.Millisecond
}

// runFor runs l for about d, from its first turn: whatever is ready when
// runFor is called is dispatched before it returns. (The stop timer is set
// on that turn, from the clock it read. Set here, it would count from the
// Now of the loop's last turn, which on a loaded machine can be more than
// d ago: the first turn would then find it due and stop before waiting.)
func runFor(t *testing.T, l *Loop, d time.Duration) {
	t.Helper()
	stop := l.NewTimer(l.Stop)
	l.Post(func() { stop.Reset(d) })
	if err := l.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	stop.Stop()
}

// socketpair returns a connected pair of non-blocking AF_UNIX stream fds;
// the caller owns both.
func socketpair(t *testing.T) (int, int) {
	t.Helper()
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socketpair: %v", err)
	}
	return sp[0], sp[1]
}

// shortTempDir is a temporary directory with a path short enough for
// sockaddr_un (t.TempDir embeds the test name and can be too long).
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "evp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// listenUnix returns a listening AF_UNIX socket and its path; the caller
// owns the fd.
func listenUnix(t *testing.T) (int, string) {
	t.Helper()
	path := filepath.Join(shortTempDir(t), "s")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		t.Fatalf("bind %s: %v", path, err)
	}
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		t.Fatalf("listen: %v", err)
	}
	return fd, path
}

// loopback4 is 127.0.0.1 with the given port.
func loopback4(port int) *unix.SockaddrInet4 {
	return &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
}

// boundTCP returns a TCP socket bound to 127.0.0.1 on a free port, and the
// port; listening is up to the caller. The caller owns the fd.
func boundTCP(t *testing.T) (int, int) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		t.Fatalf("SO_REUSEADDR: %v", err)
	}
	if err := unix.Bind(fd, loopback4(0)); err != nil {
		unix.Close(fd)
		t.Fatalf("bind: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		t.Fatalf("getsockname: %v", err)
	}
	return fd, sa.(*unix.SockaddrInet4).Port
}

// listenTCP returns a listening TCP socket on 127.0.0.1 and its port.
func listenTCP(t *testing.T) (int, int) {
	t.Helper()
	fd, port := boundTCP(t)
	if err := unix.Listen(fd, 128); err != nil {
		unix.Close(fd)
		t.Fatalf("listen: %v", err)
	}
	return fd, port
}

// rawPair returns two connected non-blocking stream fds of the given kind
// ("unix": a socketpair; "tcp": a loopback connection), without a loop.
func rawPair(t *testing.T, kind string) (int, int) {
	t.Helper()
	switch kind {
	case "unix":
		return socketpair(t)
	case "tcp":
		lfd, port := listenTCP(t)
		defer unix.Close(lfd)
		cfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatalf("socket: %v", err)
		}
		if err := unix.Connect(cfd, loopback4(port)); err != nil {
			unix.Close(cfd)
			t.Fatalf("connect: %v", err)
		}
		afd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			unix.Close(cfd)
			t.Fatalf("accept: %v", err)
		}
		if err := unix.SetNonblock(cfd, true); err != nil {
			t.Fatalf("nonblock: %v", err)
		}
		return afd, cfd
	}
	t.Fatalf("unknown kind %q", kind)
	return -1, -1
}

// connKinds are the ways to make a pair of Conns: a socketpair wrapped with
// NewConn on both ends, or Dial to a Listener over AF_UNIX or TCP loopback.
var connKinds = []string{"socketpair", "unix", "tcp"}

// connPair makes two Conns connected to each other on l: a (for the
// listener kinds, the dialing side) and b, and runs the loop until both
// exist and a's connect has finished.
func connPair(t *testing.T, l *Loop, kind string, ha, hb ConnHandler, cfgA, cfgB ConnConfig) (*Conn, *Conn) {
	t.Helper()
	if kind == "socketpair" {
		fa, fb := socketpair(t)
		a, err := NewConn(l, fa, ha, cfgA)
		if err != nil {
			t.Fatalf("NewConn: %v", err)
		}
		b, err := NewConn(l, fb, hb, cfgB)
		if err != nil {
			t.Fatalf("NewConn: %v", err)
		}
		return a, b
	}
	var lfd int
	var sa unix.Sockaddr
	switch kind {
	case "unix":
		var path string
		lfd, path = listenUnix(t)
		sa = &unix.SockaddrUnix{Name: path}
	case "tcp":
		var port int
		lfd, port = listenTCP(t)
		sa = loopback4(port)
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	var b *Conn
	ln, err := NewListener(l, lfd, func(fd int, _ unix.Sockaddr) {
		if b != nil {
			t.Errorf("second connection accepted")
			unix.Close(fd)
			return
		}
		var err error
		if b, err = NewConn(l, fd, hb, cfgB); err != nil {
			t.Errorf("NewConn: %v", err)
		}
	}, func(err error) { t.Errorf("listener: %v", err) })
	if err != nil {
		t.Fatalf("NewListener: %v", err) // it closed lfd
	}
	defer ln.Close()
	a, err := Dial(l, sa, ha, cfgA)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	runUntil(t, l, 5*time.Second, "connection", func() bool {
		return b != nil && !a.Connecting()
	})
	return a, b
}

// connRecorder is a ConnHandler that records what it is told. The optional
// hooks customise it; without onReceived it consumes everything. Any
// callback after Closed is a test failure.
type connRecorder struct {
	t    *testing.T
	name string

	connected int
	data      []byte // consumed bytes, in order
	received  int    // Received calls
	eof       int
	drained   int
	closed    int
	err       error

	onConnected func(c *Conn)
	onReceived  func(c *Conn, data []byte) int
	onEOF       func(c *Conn)
	onDrained   func(c *Conn)
	onClosed    func(c *Conn, err error)
}

func newRecorder(t *testing.T, name string) *connRecorder {
	return &connRecorder{t: t, name: name}
}

func (r *connRecorder) afterClosed(what string) {
	if r.closed > 0 {
		r.t.Errorf("%s: %s called after Closed", r.name, what)
	}
}

func (r *connRecorder) Connected(c *Conn) {
	r.afterClosed("Connected")
	r.connected++
	if r.onConnected != nil {
		r.onConnected(c)
	}
}

func (r *connRecorder) Received(c *Conn, data []byte) int {
	r.afterClosed("Received")
	if r.eof > 0 {
		r.t.Errorf("%s: Received after EOF", r.name)
	}
	r.received++
	n := len(data)
	if r.onReceived != nil {
		n = r.onReceived(c, data)
	}
	r.data = append(r.data, data[:n]...)
	return n
}

func (r *connRecorder) EOF(c *Conn) {
	r.afterClosed("EOF")
	r.eof++
	if r.onEOF != nil {
		r.onEOF(c)
	}
}

func (r *connRecorder) Drained(c *Conn) {
	r.afterClosed("Drained")
	r.drained++
	if r.onDrained != nil {
		r.onDrained(c)
	}
}

func (r *connRecorder) Closed(c *Conn, err error) {
	r.afterClosed("Closed")
	r.closed++
	r.err = err
	if r.onClosed != nil {
		r.onClosed(c, err)
	}
}

// pattern returns n bytes that make misordered, lost or duplicated bytes
// visible.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// goid is the current goroutine's id, from its stack header.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic("goid: cannot parse stack header")
	}
	return id
}
