/*
 * Tests of a proxied connection's deadlines and limits (deadline.go,
 * tcp.go's admission) against a fake backend. The deadlines here are a
 * fraction of a second and the waits are bounded by waitLimit, so a test
 * fails on a missing close, never on a slow machine; where a connection
 * must stay open, the activity that keeps it open comes ten times as often
 * as the deadline.
 */

package proxy_test

import (
	"io"
	"net"
	"reflect"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/proxy"
)

func TestTCPMessageScanner(t *testing.T) {
	for _, tc := range []struct {
		name      string
		chunks    [][]byte
		completed []int
		partial   int
	}{
		{"one message", [][]byte{{0, 3, 'a', 'b', 'c'}}, []int{1}, 0},
		{"prefix split", [][]byte{{0}, {3, 'a'}, {'b', 'c'}}, []int{0, 0, 1}, 0},
		{"two in one read, third begun", [][]byte{{0, 1, 'a', 0, 2, 'b', 'c', 1}}, []int{2}, 1},
		{"empty message", [][]byte{{0, 0}}, []int{1}, 0},
		{"big length", [][]byte{{0xff, 0xff}, make([]byte, 65534)}, []int{0, 0}, 65536},
		{"big length done", [][]byte{{0xff, 0xff}, make([]byte, 65535)}, []int{0, 1}, 0},
	} {
		completed, partial := proxy.ScanMessages(tc.chunks...)
		if !reflect.DeepEqual(completed, tc.completed) || partial != tc.partial {
			t.Errorf("%s: completed %v, partial %d; want %v, %d", tc.name, completed, partial, tc.completed, tc.partial)
		}
	}
}

// stats reads the TCP counters on the loop.
func (h *tcpHarness) stats() proxy.TCPStats {
	var s proxy.TCPStats
	onLoop(h.t, h.loop, func() { s = h.tcp.Stats() })
	return s
}

// TestTCPMessageTimeout: a client that sends part of a message and then
// nothing is closed at the message deadline and counted; so is one that
// sends nothing.
func TestTCPMessageTimeout(t *testing.T) {
	cfg := testTCPConfig()
	cfg.MessageTimeout = 300 * time.Millisecond
	h := newTCPHarness(t, cfg)

	partial := h.dial()
	h.nextSession(true)
	if _, err := partial.Write([]byte{0, 12, 'x'}); err != nil {
		t.Fatal(err)
	}
	silent := h.dial()
	h.nextSession(true)
	expectClientClosed(t, partial)
	expectClientClosed(t, silent)
	waitFor(t, h.loop, "both proxies gone", func() bool { return h.tcp.Live() == 0 })
	if s := h.stats(); s.MessageTimeouts != 2 || s.IdleTimeouts != 0 || s.HalfCloseTimeouts != 0 {
		t.Errorf("stats %+v, want 2 message timeouts and no other", s)
	}
	r := h.logs.Wait(t, 2, "TCP connection timed out", "timeout", "message")
	if r[0].Str("level") != "30" || r[0].Str("timeout_ms") != "300" {
		t.Errorf("record %v, want level 30 and timeout_ms 300", r[0])
	}
}

// TestTCPTricklingClient: a client sending its message a byte at a time,
// each byte well within the idle timeout, is still closed at the message
// deadline; a client that keeps completing messages is not.
func TestTCPTricklingClient(t *testing.T) {
	cfg := testTCPConfig()
	cfg.MessageTimeout = time.Second
	h := newTCPHarness(t, cfg)

	trickle := h.dial()
	h.nextSession(true)
	steady := h.dial()
	steadyBackend := h.nextSession(true)
	stop := make(chan struct{})
	defer close(stop)
	go func() { // the steady client: one whole message every 100 ms
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := steady.Write([]byte{0, 1, 'q'}); err != nil {
					return
				}
			}
		}
	}()
	go func() { // the backend reads whatever arrives
		buf := make([]byte, 512)
		steadyBackend.Conn.SetReadDeadline(time.Now().Add(waitLimit))
		for {
			if _, err := steadyBackend.Conn.Read(buf); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		buf := make([]byte, 1)
		trickle.SetReadDeadline(time.Now().Add(waitLimit))
		for i := 0; ; i++ {
			if _, err := trickle.Write([]byte{0x40}); err != nil { // a 16 KiB message, never complete
				break
			}
			time.Sleep(100 * time.Millisecond)
			trickle.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := trickle.Read(buf); err != nil && !isTimeout(err) {
				break
			}
		}
		closed <- time.Since(start)
	}()
	select {
	case d := <-closed:
		t.Logf("trickling client closed after %v", d)
	case <-time.After(waitLimit):
		t.Fatal("the trickling client was not closed")
	}
	if s := h.stats(); s.MessageTimeouts != 1 || s.Open != 1 {
		t.Errorf("stats %+v, want 1 message timeout and the steady client still open", s)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestTCPIdleTimeout: an established connection on which nothing moves is
// closed at the idle deadline.
func TestTCPIdleTimeout(t *testing.T) {
	cfg := testTCPConfig()
	cfg.IdleTimeout = 300 * time.Millisecond
	h := newTCPHarness(t, cfg)
	c := h.dial()
	s := h.nextSession(true)
	if _, err := c.Write([]byte{0, 1, 'q'}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	s.Conn.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := s.Read(buf); err != nil {
		t.Fatalf("backend read: %v", err)
	}
	expectClientClosed(t, c)
	if st := h.stats(); st.IdleTimeouts != 1 || st.MessageTimeouts != 0 {
		t.Errorf("stats %+v, want 1 idle timeout", st)
	}
	h.logs.Wait(t, 1, "TCP connection timed out", "timeout", "idle")
}

// TestTCPHalfCloseTimeout: the client sends one byte and closes; the
// backend holds the partial message and never closes (node-mname's way).
// Both sides are closed at the half-close deadline, not never.
func TestTCPHalfCloseTimeout(t *testing.T) {
	cfg := testTCPConfig()
	cfg.HalfCloseTimeout = 300 * time.Millisecond
	h := newTCPHarness(t, cfg)
	c := h.dial()
	s := h.nextSession(true)
	if _, err := c.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	expectClientClosed(t, c)
	s.Conn.SetReadDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 16)
	for {
		if _, err := s.Read(buf); err != nil {
			if isTimeout(err) {
				t.Fatal("the backend session was not closed")
			}
			break
		}
	}
	waitFor(t, h.loop, "proxy gone", func() bool { return h.tcp.Live() == 0 })
	if st := h.stats(); st.HalfCloseTimeouts != 1 || st.MessageTimeouts != 0 {
		t.Errorf("stats %+v, want 1 half-close timeout", st)
	}

	// After a complete message the backend owes an answer: the half-close
	// deadline does not apply (the idle one, an hour here, does).
	owed := h.dial()
	h.nextSession(true)
	if _, err := owed.Write([]byte{0, 1, 'q'}); err != nil {
		t.Fatal(err)
	}
	owed.CloseWrite()
	time.Sleep(5 * cfg.HalfCloseTimeout)
	if st := h.stats(); st.Open != 1 || st.HalfCloseTimeouts != 1 {
		t.Errorf("stats %+v, want the connection that owes an answer still open", st)
	}
}

// TestTCPLimits: past MaxConns, and past MaxPerClient from one address,
// connections are closed at once and counted, with the records at a
// limited rate.
func TestTCPLimits(t *testing.T) {
	cfg := testTCPConfig()
	cfg.MaxConns = 3
	cfg.MaxPerClient = 2
	h := newTCPHarness(t, cfg)
	dialFrom := func(src string) *net.TCPConn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: waitLimit}
		c, err := d.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(int(h.tcp.Port())))
		if err != nil {
			t.Fatalf("dial from %s: %v", src, err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.TCPConn)
	}
	dialFrom("127.0.0.1")
	h.nextSession(true)
	dialFrom("127.0.0.1")
	h.nextSession(true)
	expectClientClosed(t, dialFrom("127.0.0.1")) // third from one address
	dialFrom("127.0.0.2")
	h.nextSession(true)
	const flood = 40
	for range flood {
		expectClientClosed(t, dialFrom("127.0.0.3")) // past MaxConns
	}
	st := h.stats()
	if st.Open != 3 || st.RefusedClient != 1 || st.RefusedFull != flood || st.Refused != flood+1 {
		t.Errorf("stats %+v, want 3 open, 1 refused for the client cap, %d for the total cap", st, flood)
	}
	recs := h.logs.Find(t, "refusing TCP connection")
	if len(recs) == 0 || len(recs) > 20 {
		t.Errorf("%d refusal records for %d refusals, want between 1 and the burst of 20", len(recs), flood+1)
	}
	if recs[0].Str("reason") != "too many TCP connections from this client" || recs[0].Str("level") != "40" {
		t.Errorf("first refusal %v", recs[0])
	}
}

// TestTCPDescriptorReserve: when a connection would leave fewer than
// FDReserve descriptors (at most a quarter of the limit) below the soft
// RLIMIT_NOFILE, read at each accept, it is refused and counted; with
// room again, the next one is served.
func TestTCPDescriptorReserve(t *testing.T) {
	h := newTCPHarness(t, testTCPConfig())
	var saved unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
		t.Fatal(err)
	}
	restore := func() {
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &saved); err != nil {
			t.Fatalf("restoring RLIMIT_NOFILE: %v", err)
		}
	}
	t.Cleanup(restore)
	// The lowest free descriptor is next: the client's socket takes it,
	// the accepted one the one after. A limit three above leaves the
	// accepted one and the backend session's, but not the reserve.
	next, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(next)
	lowered := unix.Rlimit{Cur: uint64(next + 3), Max: saved.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	expectClientClosed(t, h.dial())
	restore()
	if st := h.stats(); st.RefusedReserve != 1 || st.Open != 0 {
		t.Errorf("stats %+v, want 1 refused for the reserve", st)
	}
	h.logs.Wait(t, 1, "refusing TCP connection", "reason", "descriptors reserved for backend sessions")

	h.dial()
	h.nextSession(true)
	waitFor(t, h.loop, "admitted with the limit restored", func() bool { return h.tcp.Live() == 1 })
}

// TestTCPWholeMessagesOnly: the backend gets a client's message only once
// it is complete, and a partial last message is dropped at the client's
// EOF, which is passed on: node-mname never closes a session holding a
// partial message.
func TestTCPWholeMessagesOnly(t *testing.T) {
	h := newTCPHarness(t, testTCPConfig())
	c := h.dial()
	s := h.nextSession(true)
	write := func(b ...byte) {
		t.Helper()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	write(0, 5, 'a', 'b')
	s.Conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 64)
	if n, err := s.Read(buf); err == nil || n > 0 {
		t.Fatalf("backend got %q before the message was complete", buf[:n])
	}
	write('c', 'd', 'e', 0, 2, 'x') // completes the first, begins a second
	s.Conn.SetReadDeadline(time.Now().Add(waitLimit))
	got := make([]byte, 7)
	if _, err := io.ReadFull(s, got); err != nil || string(got) != "\x00\x05abcde" {
		t.Fatalf("backend got %q (%v), want the whole first message", got, err)
	}
	c.CloseWrite() // the second message, partial, is dropped; EOF passes
	rest, err := io.ReadAll(s)
	if err != nil || len(rest) != 0 {
		t.Fatalf("after the client's EOF the backend read %q (%v), want EOF and nothing", rest, err)
	}
}
