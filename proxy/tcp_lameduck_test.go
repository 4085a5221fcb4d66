package proxy_test

import (
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/backend/backendtest"
)

// TestTCPLameDuck: a lame-duck stop closes the listener and, at once, a
// connection that owes its client nothing; one whose query the backend
// has not answered yet stays open until the answer has reached its
// client, then closes; Drain reports when none is left. Both closes are
// counted (LameDuckClosed).
func TestTCPLameDuck(t *testing.T) {
	h := newTCPHarness(t, testTCPConfig())
	idle, busy, s := idleAndBusy(t, h)

	var closedIdle int
	drained := make(chan struct{})
	onLoop(t, h.loop, func() {
		closedIdle = h.tcp.LameDuck()
		h.tcp.Drain(func() { close(drained) })
	})
	if closedIdle != 1 {
		t.Errorf("LameDuck closed %d at once, want the idle one", closedIdle)
	}
	expectClientClosed(t, idle)
	if c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(int(h.tcp.Port())), waitLimit); err == nil {
		c.Close()
		t.Error("a connection was accepted after LameDuck")
	}
	onLoop(t, h.loop, func() {
		select {
		case <-drained:
			t.Error("drained with a query unanswered")
		default:
		}
		if n := h.tcp.Live(); n != 1 {
			t.Errorf("%d connections open after LameDuck, want the busy one", n)
		}
	})

	answer := "\x00\x02ok"
	s.Write([]byte(answer))
	busy.SetReadDeadline(time.Now().Add(waitLimit))
	got := make([]byte, len(answer))
	if _, err := io.ReadFull(busy, got); err != nil || string(got) != answer {
		t.Fatalf("client read %q, %v; want the answer", got, err)
	}
	expectClientClosed(t, busy)
	select {
	case <-drained:
	case <-time.After(waitLimit):
		t.Fatal("Drain never reported the last connection gone")
	}
	onLoop(t, h.loop, func() {
		if st := h.tcp.Stats(); st.LameDuckClosed != 2 || h.tcp.Live() != 0 {
			t.Errorf("LameDuckClosed %d, %d live; want 2 and none", st.LameDuckClosed, h.tcp.Live())
		}
	})
}

// TestTCPAbortCountsGrace: when a stop's grace runs out, Abort closes a
// connection still busy and counts it (GraceClosed), apart from the idle
// one the lame duck had already closed; Drain then reports none left.
func TestTCPAbortCountsGrace(t *testing.T) {
	h := newTCPHarness(t, testTCPConfig())
	idle, busy, _ := idleAndBusy(t, h)

	drained := make(chan struct{})
	onLoop(t, h.loop, func() {
		h.tcp.LameDuck()
		h.tcp.Drain(func() { close(drained) })
	})
	expectClientClosed(t, idle)
	onLoop(t, h.loop, func() {
		if n := h.tcp.Live(); n != 1 {
			t.Fatalf("%d connections open after LameDuck, want the busy one", n)
		}
		h.tcp.Abort()
	})
	expectClientClosed(t, busy)
	select {
	case <-drained:
	case <-time.After(waitLimit):
		t.Fatal("Drain never reported the aborted connection gone")
	}
	onLoop(t, h.loop, func() {
		st := h.tcp.Stats()
		if st.GraceClosed != 1 || st.LameDuckClosed != 1 || h.tcp.Live() != 0 {
			t.Errorf("GraceClosed %d, LameDuckClosed %d, %d live; want 1, 1 and none",
				st.GraceClosed, st.LameDuckClosed, h.tcp.Live())
		}
		h.tcp.Abort() // nothing left to close: nothing counted
		if st := h.tcp.Stats(); st.GraceClosed != 1 {
			t.Errorf("an Abort with nothing open moved GraceClosed to %d", st.GraceClosed)
		}
	})
}

// idleAndBusy opens two client connections: one that has sent nothing,
// and one whose query has reached its backend session s, unanswered.
func idleAndBusy(t *testing.T, h *tcpHarness) (idle, busy *net.TCPConn, s *backendtest.Session) {
	t.Helper()
	idle = h.dial()
	h.nextSession(true)
	busy = h.dial()
	s = h.nextSession(true)
	query := "\x00\x01q"
	if _, err := busy.Write([]byte(query)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(query))
	if _, err := io.ReadFull(s, got); err != nil || string(got) != query {
		t.Fatalf("backend read %q, %v; want the query", got, err)
	}
	return idle, busy, s
}
