/*
 * Tests of a proxied connection's deadlines and limits (deadline.go,
 * tcp.go's admission) against a fake backend, at the default deadlines on
 * the loop's hand-driven clock (evporttest): each deadline is checked at
 * its exact instant (still open 1 ns before, closed at it), and nothing
 * depends on how fast the machine is. The waits on real I/O are bounded by
 * waitLimit.
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

// expectOpen checks that the proxies are all still open.
func (h *tcpHarness) expectOpen(n int, when string) {
	h.t.Helper()
	if st := h.stats(); st.Open != n {
		h.t.Fatalf("%s: %d proxies open, want %d (stats %+v)", when, st.Open, n, st)
	}
}

// TestTCPMessageTimeout: a client that sends part of its first message,
// and one that sends nothing, are closed exactly MessageTimeout after the
// accept, and counted.
func TestTCPMessageTimeout(t *testing.T) {
	cfg := proxy.DefaultTCPConfig(1 << 16)
	h := newTCPHarness(t, cfg)

	partial := h.dial()
	h.nextSession(true)
	if _, err := partial.Write([]byte{0, 12, 'x'}); err != nil {
		t.Fatal(err)
	}
	silent := h.dial()
	h.nextSession(true)
	h.waitScanned(3)
	h.advance(cfg.MessageTimeout - time.Nanosecond)
	h.expectOpen(2, "just before the message deadline")
	h.advance(time.Nanosecond)
	expectClientClosed(t, partial)
	expectClientClosed(t, silent)
	if s := h.stats(); s.Open != 0 || s.MessageTimeouts != 2 || s.IdleTimeouts != 0 || s.HalfCloseTimeouts != 0 {
		t.Errorf("stats %+v, want 2 message timeouts and no other", s)
	}
	r := h.logs.Wait(t, 2, "TCP connection timed out", "timeout", "message")
	if r[0].Str("level") != "30" || r[0].Str("timeout_ms") != "5000" {
		t.Errorf("record %v, want level 30 and timeout_ms 5000", r[0])
	}
}

// TestTCPTricklingClient: after a first message, a client that trickles
// the next a byte a second (each byte well within the idle timeout) is
// closed MessageTimeout after that message's first byte; a client that
// keeps completing messages is not closed at all.
func TestTCPTricklingClient(t *testing.T) {
	cfg := proxy.DefaultTCPConfig(1 << 16)
	h := newTCPHarness(t, cfg)
	trickle := h.dial()
	h.nextSession(true)
	steady := h.dial()
	h.nextSession(true)
	write := func(c net.Conn, b ...byte) {
		t.Helper()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	write(trickle, 0, 1, 'q') // a first message, complete
	write(steady, 0, 1, 'q')
	scanned := uint64(6)
	h.waitScanned(scanned)
	h.advance(time.Second)
	write(trickle, 0x40) // the next message's first byte: its deadline starts
	scanned++
	h.waitScanned(scanned)
	for range 4 { // a byte a second, and a whole message from steady
		h.advance(time.Second)
		write(trickle, 0x00)
		write(steady, 0, 1, 'q')
		scanned += 4
		h.waitScanned(scanned)
	}
	h.advance(cfg.MessageTimeout - 4*time.Second - time.Nanosecond)
	h.expectOpen(2, "just before the trickled message's deadline")
	h.advance(time.Nanosecond)
	expectClientClosed(t, trickle)
	scanned -= 3 + 1 + 4 // the trickling client's, gone with it
	for range 30 {       // the steady client outlives every deadline
		write(steady, 0, 1, 'q')
		scanned += 3
		h.waitScanned(scanned)
		h.advance(time.Second)
	}
	if st := h.stats(); st.MessageTimeouts != 1 || st.Open != 1 {
		t.Errorf("stats %+v, want 1 message timeout and the steady client still open", st)
	}
}

// TestTCPIdleTimeout: an established connection on which nothing moves is
// closed exactly IdleTimeout after the last byte moved.
func TestTCPIdleTimeout(t *testing.T) {
	cfg := proxy.DefaultTCPConfig(1 << 16)
	h := newTCPHarness(t, cfg)
	c := h.dial()
	s := h.nextSession(true)
	h.advance(time.Second) // the handshake's time does not count
	if _, err := c.Write([]byte{0, 1, 'q'}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	s.Conn.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := io.ReadFull(s, buf); err != nil {
		t.Fatalf("backend read: %v", err)
	}
	h.advance(cfg.IdleTimeout - time.Nanosecond)
	h.expectOpen(1, "just before the idle deadline")
	h.advance(time.Nanosecond)
	expectClientClosed(t, c)
	if st := h.stats(); st.IdleTimeouts != 1 || st.MessageTimeouts != 0 {
		t.Errorf("stats %+v, want 1 idle timeout", st)
	}
	h.logs.Wait(t, 1, "TCP connection timed out", "timeout", "idle", "timeout_ms", "10000")
}

// TestTCPHalfCloseTimeout: the client sends one byte and closes; the
// backend gets the EOF (the partial byte is dropped) but never closes.
// Both sides are closed exactly HalfCloseTimeout later, not never. After a
// complete message the backend owes an answer: the half-close deadline
// does not apply, the idle one does.
func TestTCPHalfCloseTimeout(t *testing.T) {
	cfg := proxy.DefaultTCPConfig(1 << 16)
	h := newTCPHarness(t, cfg)
	c := h.dial()
	s := h.nextSession(true)
	if _, err := c.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	h.waitClientEOFs(1)
	h.advance(cfg.HalfCloseTimeout - time.Nanosecond)
	h.expectOpen(1, "just before the half-close deadline")
	h.advance(time.Nanosecond)
	expectClientClosed(t, c)
	s.ExpectClosed()
	if st := h.stats(); st.HalfCloseTimeouts != 1 || st.Open != 0 {
		t.Errorf("stats %+v, want 1 half-close timeout", st)
	}

	owed := h.dial()
	h.nextSession(true)
	if _, err := owed.Write([]byte{0, 1, 'q'}); err != nil {
		t.Fatal(err)
	}
	owed.CloseWrite()
	h.waitClientEOFs(1)
	h.advance(cfg.IdleTimeout - time.Nanosecond)
	h.expectOpen(1, "owing an answer, just before the idle deadline")
	h.advance(time.Nanosecond)
	expectClientClosed(t, owed)
	if st := h.stats(); st.HalfCloseTimeouts != 1 || st.IdleTimeouts != 1 {
		t.Errorf("stats %+v, want the connection owed an answer closed by the idle deadline", st)
	}
}

// TestTCPHalfCloseAfterCompleteThenPartial: a client that sends a
// complete message, then part of a second, then closes its side is owed
// nothing for the partial one (dropped at the EOF), but it is the last
// thing it sent: the half-close deadline applies, not the idle one, so
// both sides close exactly HalfCloseTimeout after the EOF.
func TestTCPHalfCloseAfterCompleteThenPartial(t *testing.T) {
	cfg := proxy.DefaultTCPConfig(1 << 16)
	h := newTCPHarness(t, cfg)
	c := h.dial()
	s := h.nextSession(true)
	if _, err := c.Write([]byte{0, 1, 'q', 0, 5, 'a'}); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	h.waitClientEOFs(1)
	got := make([]byte, 3)
	s.Conn.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := io.ReadFull(s, got); err != nil || string(got) != "\x00\x01q" {
		t.Fatalf("backend got %q (%v), want the complete message", got, err)
	}
	h.advance(cfg.HalfCloseTimeout - time.Nanosecond)
	h.expectOpen(1, "just before the half-close deadline")
	h.advance(time.Nanosecond)
	expectClientClosed(t, c)
	s.ExpectClosed()
	if st := h.stats(); st.HalfCloseTimeouts != 1 || st.IdleTimeouts != 0 || st.Open != 0 {
		t.Errorf("stats %+v, want 1 half-close timeout and no other", st)
	}
}

// TestTCPLimits: past MaxConns, and past MaxPerClient from one address,
// connections are closed at once and counted, with the records at a
// limited rate. Every connection comes from 127.0.0.1 (illumos's lo0 has
// no other address), so the two caps are met on two balancers: one whose
// per-client cap is the lower, one whose total cap is.
func TestTCPLimits(t *testing.T) {
	dialFrom := func(h *tcpHarness) *net.TCPConn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Timeout: waitLimit}
		c, err := d.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(int(h.tcp.Port())))
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		return c.(*net.TCPConn)
	}

	cfg := testTCPConfig()
	cfg.MaxConns = 3
	cfg.MaxPerClient = 2
	h := newTCPHarness(t, cfg)
	dialFrom(h)
	h.nextSession(true)
	dialFrom(h)
	h.nextSession(true)
	expectClientClosed(t, dialFrom(h)) // third from one address
	if st := h.stats(); st.Open != 2 || st.RefusedClient != 1 || st.RefusedFull != 0 || st.Refused != 1 {
		t.Errorf("stats %+v, want 2 open, 1 refused for the client cap", st)
	}
	recs := h.logs.Find(t, "refusing TCP connection")
	if len(recs) != 1 || recs[0].Str("reason") != "too many TCP connections from this client" || recs[0].Str("level") != "40" {
		t.Errorf("refusal records %v, want one warning for the client cap", recs)
	}

	cfg.MaxPerClient = cfg.MaxConns + 1
	full := newTCPHarness(t, cfg)
	for range cfg.MaxConns {
		dialFrom(full)
		full.nextSession(true)
	}
	const flood = 40
	for range flood {
		expectClientClosed(t, dialFrom(full)) // past MaxConns
	}
	if st := full.stats(); st.Open != 3 || st.RefusedClient != 0 || st.RefusedFull != flood || st.Refused != flood {
		t.Errorf("stats %+v, want 3 open, %d refused for the total cap", st, flood)
	}
	recs = full.logs.Find(t, "refusing TCP connection")
	if len(recs) == 0 || len(recs) > 20 {
		t.Errorf("%d refusal records for %d refusals, want between 1 and the burst of 20", len(recs), flood)
	}
	if len(recs) > 0 && recs[0].Str("reason") != "too many TCP connections" {
		t.Errorf("first refusal %v", recs[0])
	}
}

// TestTCPDescriptorReserveRule: both sides of the boundary. With a limit
// of 1000 and a reserve of 100, the accepted fd 898 and the session's 899
// leave fds 900-999 free, exactly the reserve: admitted; fd 899 is one
// too many. The reserve is at most a quarter of the limit.
func TestTCPDescriptorReserveRule(t *testing.T) {
	for _, tc := range []struct {
		fd, reserve, limit int
		refused            bool
	}{
		{898, 100, 1000, false},
		{899, 100, 1000, true},
		{0, 100, 1000, false},
		{998, 0, 1000, false},
		{999, 0, 1000, true},
		{73, 1000, 100, false}, // reserve capped at 25
		{74, 1000, 100, true},
	} {
		if got := proxy.LeavesTooFew(tc.fd, tc.reserve, tc.limit); got != tc.refused {
			t.Errorf("fd %d, reserve %d, limit %d: refused %v, want %v", tc.fd, tc.reserve, tc.limit, got, tc.refused)
		}
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
