/*
 * Tests of a backend's control session (backend.go) against
 * fake backends that the test drives with the frame codec: the handshake,
 * every fault with the C balancer's records, the reconnect back-off, its
 * reset and flap damping, heartbeats and the fast-failover probe, the
 * connect timeout, a removed and returning socket, descriptor exhaustion,
 * forwarding UDP and the answer sink, the stuck bound, and the counters.
 * After each step the tests check the state machine's invariants.
 *
 * The timer tests (faults and their reconnect, back-off, flap damping,
 * heartbeat, connect timeout, probe) run the loop on a hand-driven clock
 * (looptest.StartWithClock) with the default intervals and check each one
 * to the nanosecond: nothing 1 ns before, the event at it. The others use
 * the default intervals divided by a constant (timescale.Scale); their timing is
 * only ever checked from below, never as a performance bound, and every
 * wait has a generous limit.
 */

package backend_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/internal/timescale"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/backend/backendtest"
)

// testTimings are the default intervals divided by 50: scan 100 ms, connect
// timeout 600 ms, reconnect 20 ms growing by 40 ms up to 640 ms, heartbeat
// 100 ms with a 300 ms timeout. Heartbeats are pushed out of the way: most
// fake backends here do not answer them; the heartbeat test restores them.
func testTimings() backend.Timings {
	tm := timescale.Scale(backend.DefaultTimings(), 50)
	tm.HeartbeatInterval = time.Hour
	// No probe on the real clock: queries left unanswered (or dropped as
	// stuck) for a second would fault the fake backend of a test slowed
	// by -race and load. TestProbe* check the probe on the hand-driven clock.
	tm.ProbeAfter = time.Hour
	return tm
}

func TestHelloMakesBackendOK(t *testing.T) {
	h := newHarness(t, testTimings())
	f := backendtest.Listen(t, h.dir, "5301")
	h.start()
	s := f.Accept()
	s.Expect(backend.FrameClientHello)
	b := h.backend("5301")
	if b == nil {
		t.Fatal("socket 5301 did not become a backend")
	}
	onLoop(t, h.loop, func() {
		if b.OK() {
			t.Error("backend is OK before SERVER_HELLO")
		}
		if b.ID() != 5301 || b.Path() != f.Path {
			t.Errorf("backend is %d %q, want 5301 %q", b.ID(), b.Path(), f.Path)
		}
	})

	// SERVER_HELLO split across two writes: half a frame changes nothing.
	hello := backend.AppendServerHello(nil)
	s.Write(hello[:2])
	time.Sleep(20 * time.Millisecond)
	onLoop(t, h.loop, func() {
		if b.OK() {
			t.Error("backend is OK after half a SERVER_HELLO")
		}
	})
	s.Write(hello[2:])
	waitFor(t, h.loop, "backend OK", b.OK)

	id := "5301"
	if n := len(h.logs.Find(t, "new backend", "be_id", id, "be_path", f.Path)); n != 1 {
		t.Errorf("%d \"new backend\" records for %s, want 1", n, id)
	}
	for _, msg := range []string{"connecting to backend", "backend socket connected", "backend socket established"} {
		if rs := h.logs.Find(t, msg, "be_id", id, "be_path", f.Path); len(rs) != 1 || rs[0].Str("level") != "30" {
			t.Errorf("%q records %v, want one at info", msg, rs)
		}
	}
	h.check()
	onLoop(t, h.loop, func() {
		if b.Stats != (backend.Stats{ConnStart: 1}) {
			t.Errorf("stats %+v, want one session started and nothing else", b.Stats)
		}
		if b.ReconnectDelay() != 0 || b.Reconnecting() || b.Removed() || b.HeartbeatOutstanding() {
			t.Errorf("delay %v reconnecting %v removed %v hb %v, want all clear",
				b.ReconnectDelay(), b.Reconnecting(), b.Removed(), b.HeartbeatOutstanding())
		}
	})
}

// recordsOf lists, in order, the records about backend id whose msg is one
// of msgs, as "msg@level".
func recordsOf(t *testing.T, h *harness, id string, msgs ...string) []string {
	t.Helper()
	var out []string
	for _, r := range h.logs.Records(t) {
		if r.Str("be_id") != id {
			continue
		}
		for _, m := range msgs {
			if r.Str("msg") == m {
				out = append(out, m+"@"+r.Str("level"))
			}
		}
	}
	return out
}

const faulted = "backend faulted (reset and reconnect)"

// TestProtocolFaults: each violation gives the C balancer's record, at its
// level and with its field, then "backend faulted (reset and reconnect)" at
// error exactly when the backend was ok; the session is closed and a
// reconnect scheduled after ReconnectFirst.
func TestProtocolFaults(t *testing.T) {
	hello := backend.AppendServerHello(nil)
	heartbeat := backend.AppendServerHeartbeat(nil)
	answer := backend.AppendOutboundUDP(nil, 0x7F000001, 53, []byte("answer"))
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	u32 := backendtest.U32
	// A UDP header claiming 4 GiB, with no payload: refused at once.
	hugeHeader := cat(u32(uint32(backend.FrameOutboundUDP)), u32(0x7F000001), u32(53), u32(0xFFFFFFFF))
	tests := []struct {
		name         string
		writes       [][]byte // each a separate write after CLIENT_HELLO is read
		msg, level   string   // the cause record
		field, value string   // one of its fields
		wasOK        bool
	}{
		{"SERVER_HEARTBEAT before SERVER_HELLO", [][]byte{heartbeat}, "errant frame before hello", "50", "frame_type", "1004", false},
		{"OUTBOUND_UDP before SERVER_HELLO", [][]byte{answer}, "errant frame before hello", "50", "frame_type", "1002", false},
		{"INBOUND_TCP_OK before SERVER_HELLO", [][]byte{backend.AppendInboundTCPOK(nil)}, "errant frame before hello", "50", "frame_type", "1003", false},
		{"unknown type before SERVER_HELLO", [][]byte{u32(7)}, "errant frame before hello", "50", "frame_type", "7", false},
		{"second SERVER_HELLO, same read", [][]byte{cat(hello, hello)}, "duplicate hello from backend", "50", "", "", true},
		{"second SERVER_HELLO, later read", [][]byte{hello, hello}, "duplicate hello from backend", "50", "", "", true},
		{"unsolicited SERVER_HEARTBEAT", [][]byte{cat(hello, heartbeat)}, "unexpected heartbeat response from backend", "50", "", "", true},
		{"INBOUND_TCP_OK on the control session", [][]byte{cat(hello, backend.AppendInboundTCPOK(nil), answer)}, "invalid frame type", "50", "frame_type", "1003", true},
		{"unknown type 7", [][]byte{cat(hello, u32(7), answer)}, "invalid frame type", "50", "frame_type", "7", true},
		{"balancer-side type CLIENT_HELLO", [][]byte{hello, u32(uint32(backend.FrameClientHello))}, "invalid frame type", "50", "frame_type", "1", true},
		{"OUTBOUND_UDP of 1501 bytes", [][]byte{hello, backend.AppendOutboundUDP(nil, 0x7F000001, 53, make([]byte, 1501))}, "backend sent oversized UDP packet", "40", "len", "1501", true},
		{"OUTBOUND_UDP header claiming 4 GiB", [][]byte{hello, hugeHeader}, "backend sent oversized UDP packet", "40", "len", "4294967295", true},
		{"OUTBOUND_UDP port above 65535", [][]byte{hello, cat(u32(uint32(backend.FrameOutboundUDP)), u32(1), u32(65536), u32(0))}, "backend sent invalid UDP port", "50", "frame_type", "1002", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm := backend.DefaultTimings()
			h := newClockHarness(t, tm)
			f := backendtest.Listen(t, h.dir, "5310")
			h.start()
			s := f.Accept()
			s.Expect(backend.FrameClientHello)
			b := h.backend("5310")

			for _, w := range tc.writes {
				s.Write(w)
				time.Sleep(5 * time.Millisecond) // separate reads
			}
			s.ExpectClosed()
			rs := h.logs.Wait(t, 1, tc.msg, "be_id", "5310", "be_path", f.Path)
			if r := rs[0]; r.Str("level") != tc.level || (tc.field != "" && r.Str(tc.field) != tc.value) {
				t.Errorf("%q record level %s %s=%q, want level %s %s=%q", tc.msg, r.Str("level"), tc.field, r.Str(tc.field), tc.level, tc.field, tc.value)
			}
			h.logs.Wait(t, 1, "backend socket closed", "be_id", "5310")
			want := []string{tc.msg + "@" + tc.level}
			if tc.wasOK {
				want = append(want, faulted+"@50")
			}
			want = append(want, "backend socket closed@30")
			if got := recordsOf(t, h, "5310", tc.msg, faulted, "backend socket closed"); !slices.Equal(got, want) {
				t.Errorf("records %q, want %q", got, want)
			}
			h.check()
			onLoop(t, h.loop, func() {
				if b.ReconnectDelay() != tm.ReconnectFirst || b.Stats.ConnError != 1 {
					t.Errorf("delay %v ConnError %d, want %v and 1", b.ReconnectDelay(), b.Stats.ConnError, tm.ReconnectFirst)
				}
			})
			h.mu.Lock()
			if len(h.answers) != 0 {
				t.Errorf("answers reached the sink from a faulted session: %+v", h.answers)
			}
			h.mu.Unlock()

			reconnectsAfter(t, h, f, b, "after the fault", tm.ReconnectFirst).Hello()
			waitFor(t, h.loop, "backend OK again", b.OK)
			h.check()
			if st := h.stats(b); st.ConnStart != 2 || st.ConnError != 1 {
				t.Errorf("stats %+v, want 2 sessions started, 1 error", st)
			}
		})
	}
}

// TestSocketError: a backend that closes with our CLIENT_HELLO unread
// resets the session (ECONNRESET on Linux): "backend socket error" with
// cause, errno and strerror.
func TestSocketError(t *testing.T) {
	h := newHarness(t, testTimings())
	f := backendtest.Listen(t, h.dir, "5311")
	h.start()
	s := f.Accept()
	// Once the balancer has flushed its CLIENT_HELLO, the bytes are in our
	// receive queue (AF_UNIX delivers at once): closing now resets.
	b := h.backend("5311")
	waitFor(t, h.loop, "CLIENT_HELLO sent", func() bool {
		c := b.SessionConn()
		return c != nil && c.Queued() == 0
	})
	s.Conn.Close()
	rs := h.logs.Wait(t, 1, "backend socket error", "be_id", "5311")
	if r := rs[0]; r.Str("level") != "50" || r.Str("errno") != strconv.Itoa(int(syscall.ECONNRESET)) || r.Str("strerror") == "" || r.Str("cause") == "" {
		t.Errorf("record %v, want level 50, errno ECONNRESET, strerror and cause", r)
	}
	f.Accept() // and it reconnects
	h.check()
}

// wantDelays are backend.c's reconnect delays under tm: 1, 3, 5, ... while
// below 32, so up to 33 s, then 33 again.
func wantDelays(tm backend.Timings) []time.Duration {
	var want []time.Duration
	for d := tm.ReconnectFirst; ; d += tm.ReconnectStep {
		want = append(want, d)
		if d >= tm.ReconnectMax {
			break
		}
	}
	return append(want, want[len(want)-1])
}

// reconnectsAfter checks, on the hand-driven clock, that b's pending
// reconnect is due exactly after d: nothing at d-1ns, a new session at d.
func reconnectsAfter(t *testing.T, h *harness, f *backendtest.Fake, b *backend.Backend, what string, d time.Duration) *backendtest.Session {
	t.Helper()
	if s := h.state(b); s != backend.StateReconnecting {
		t.Fatalf("%s: state %v, want reconnecting", what, s)
	}
	if got := h.due(b); got != d {
		t.Errorf("%s: reconnect due in %v, want %v", what, got, d)
	}
	h.advance(d - time.Nanosecond)
	if s := h.state(b); s != backend.StateReconnecting {
		t.Errorf("%s: state %v 1 ns before the delay, want still reconnecting", what, s)
	}
	h.advance(time.Nanosecond)
	if s := h.state(b); s != backend.StateConnecting {
		t.Errorf("%s: state %v at the delay, want connecting", what, s)
	}
	h.check()
	return f.Accept()
}

// TestReconnectBackoff faults a backend over and over (the fake closes each
// session after reading CLIENT_HELLO: "backend socket EOF") and checks, on
// a hand-driven clock, the delays 1, 3, 5, ... 31, 33, 33 s of backend.c,
// each to the nanosecond; then that a session that stayed ok for
// StableAfter starts over at 1 s, and one that did not carries on.
func TestReconnectBackoff(t *testing.T) {
	tm := backend.DefaultTimings()
	h := newClockHarness(t, tm)
	f := backendtest.Listen(t, h.dir, "5320")
	h.start()
	b := h.backend("5320")
	want := wantDelays(tm)
	if len(want) != 18 || want[len(want)-1] != 33*time.Second {
		t.Fatalf("delays %v, want 1 s to 33 s in 2 s steps, then 33 s again", want)
	}

	s := f.Accept()
	for i, d := range want {
		s.Expect(backend.FrameClientHello)
		s.Conn.Close()
		rs := h.logs.Wait(t, i+1, "reconnect triggered for backend", "be_id", "5320")
		if r := rs[i]; r.Num("delay_ms") != float64(d.Milliseconds()) || r.Num("delay_secs") != float64(d/time.Second) {
			t.Errorf("reconnect %d: delay_secs %v delay_ms %v, want %v", i, r.Num("delay_secs"), r.Num("delay_ms"), d)
		}
		s = reconnectsAfter(t, h, f, b, fmt.Sprintf("reconnect %d", i), d)
	}
	if n := len(h.logs.Find(t, faulted, "be_id", "5320")); n != 0 {
		t.Errorf("%d %q records for a backend never ok, want 0", n, faulted)
	}
	if rs := h.logs.Find(t, "backend socket EOF", "be_id", "5320"); len(rs) != len(want) || rs[0].Str("level") != "40" {
		t.Errorf("%d EOF records, want %d warnings", len(rs), len(want))
	}

	// Ok for exactly StableAfter: stable, and its fault starts over at 1 s.
	s.Hello()
	waitFor(t, h.loop, "backend OK", b.OK)
	h.advance(tm.StableAfter - time.Nanosecond)
	onLoop(t, h.loop, func() {
		if b.Stable() {
			t.Error("stable before StableAfter")
		}
	})
	h.advance(time.Nanosecond)
	onLoop(t, h.loop, func() {
		if !b.Stable() {
			t.Error("not stable after StableAfter")
		}
	})
	s.Conn.Close()
	waitFor(t, h.loop, "fault", b.Reconnecting)
	// (The heartbeat due at StableAfter is unread: the close is a reset.)
	if rs := h.logs.Find(t, faulted, "be_id", "5320"); len(rs) != 1 || rs[0].Str("level") != "50" {
		t.Errorf("%q records %v, want one error", faulted, rs)
	}
	s = reconnectsAfter(t, h, f, b, "after a stable session", tm.ReconnectFirst)
	s.Expect(backend.FrameClientHello)
	s.Conn.Close()
	waitFor(t, h.loop, "fault", b.Reconnecting)
	reconnectsAfter(t, h, f, b, "the next fault", tm.ReconnectFirst+tm.ReconnectStep)

	st := h.stats(b)
	if faults := uint64(len(want) + 2); st.ConnError != faults || st.ConnStart != faults+1 {
		t.Errorf("stats %+v, want %d errors and %d sessions started", st, faults, faults+1)
	}
}

// TestFlapDamping: a backend that completes its hello and faults before
// StableAfter, over and over, is backed off like a dead one (its hellos do
// not reset the delay) up to the maximum, and is never stable.
func TestFlapDamping(t *testing.T) {
	tm := backend.DefaultTimings()
	h := newClockHarness(t, tm)
	f := backendtest.Listen(t, h.dir, "5321")
	h.start()
	b := h.backend("5321")
	want := wantDelays(tm)
	s := f.Accept()
	for i, d := range want {
		s.Hello()
		waitFor(t, h.loop, "backend OK", b.OK)
		h.advance(tm.StableAfter - time.Nanosecond) // ok for almost long enough
		onLoop(t, h.loop, func() {
			if b.Stable() {
				t.Errorf("flap %d: stable", i)
			}
		})
		s.Write(backend.AppendServerHello(nil)) // a duplicate hello: fault
		waitFor(t, h.loop, "fault", b.Reconnecting)
		s = reconnectsAfter(t, h, f, b, fmt.Sprintf("flap %d", i), d)
	}
	if rs := h.logs.Find(t, faulted, "be_id", "5321"); len(rs) != len(want) || rs[0].Str("reason") != "duplicate hello" {
		t.Errorf("%d %q records, want %d (one per flap, reason duplicate hello)", len(rs), faulted, len(want))
	}
}

// TestHeartbeat, on a hand-driven clock: a CLIENT_HEARTBEAT exactly
// HeartbeatInterval after the hello and after each reply; one unanswered
// for HeartbeatTimeout faults the backend with "no heartbeat from backend"
// at error, then "backend faulted (reset and reconnect)".
func TestHeartbeat(t *testing.T) {
	tm := backend.DefaultTimings()
	h := newClockHarness(t, tm)
	f, b, s := h.startOK("5330")

	for round := 0; round < 2; round++ {
		if got := h.due(b); got != tm.HeartbeatInterval {
			t.Errorf("round %d: heartbeat due in %v, want %v", round, got, tm.HeartbeatInterval)
		}
		h.advance(tm.HeartbeatInterval - time.Nanosecond)
		if st := h.state(b); st != backend.StateOK {
			t.Errorf("round %d: state %v before the interval, want ok", round, st)
		}
		h.advance(time.Nanosecond)
		s.Expect(backend.FrameClientHeartbeat)
		if st := h.state(b); st != backend.StateHeartbeat || h.due(b) != tm.HeartbeatTimeout {
			t.Errorf("round %d: state %v due %v, want heartbeat due in %v", round, st, h.due(b), tm.HeartbeatTimeout)
		}
		s.Write(backend.AppendServerHeartbeat(nil))
		waitFor(t, h.loop, "reply taken", func() bool { return b.State() == backend.StateOK })
		h.check()
	}

	h.advance(tm.HeartbeatInterval)
	s.Expect(backend.FrameClientHeartbeat)
	h.advance(tm.HeartbeatTimeout - time.Nanosecond)
	if st := h.state(b); st != backend.StateHeartbeat {
		t.Errorf("state %v before the timeout, want heartbeat", st)
	}
	h.advance(time.Nanosecond)
	s.ExpectClosed()
	if want, got := []string{"no heartbeat from backend@50", faulted + "@50"}, recordsOf(t, h, "5330", "no heartbeat from backend", faulted); !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
	onLoop(t, h.loop, func() {
		if b.OK() || b.HeartbeatOutstanding() || !b.Reconnecting() {
			t.Errorf("after the timeout: state %v, want reconnecting", b.State())
		}
	})
	h.check()
	reconnectsAfter(t, h, f, b, "after the missed heartbeat", tm.ReconnectFirst).Hello()
	waitFor(t, h.loop, "backend OK again", b.OK)
}

// TestConnectTimeout, on a hand-driven clock: a backend that never says
// hello is given up exactly ConnectTimeout after the connect, with the C
// warning and no "faulted" record (it was never ok).
func TestConnectTimeout(t *testing.T) {
	tm := backend.DefaultTimings()
	h := newClockHarness(t, tm)
	f := backendtest.Listen(t, h.dir, "5340")
	h.start()
	b := h.backend("5340")
	s := f.Accept()
	s.Expect(backend.FrameClientHello) // and never answer
	if got := h.due(b); got != tm.ConnectTimeout {
		t.Errorf("connect timeout due in %v, want %v", got, tm.ConnectTimeout)
	}
	h.advance(tm.ConnectTimeout - time.Nanosecond)
	if st := h.state(b); st != backend.StateConnecting {
		t.Errorf("state %v before the timeout, want connecting", st)
	}
	h.advance(time.Nanosecond)
	s.ExpectClosed()
	if rs := h.logs.Find(t, "timed out connecting to backend", "be_id", "5340"); len(rs) != 1 || rs[0].Str("level") != "40" {
		t.Errorf("\"timed out connecting to backend\" records %v, want one warning", rs)
	}
	if n := len(h.logs.Find(t, faulted, "be_id", "5340")); n != 0 {
		t.Errorf("%d %q records for a backend that was never ok, want 0", n, faulted)
	}
	if st := h.stats(b); st.ConnError != 1 {
		t.Errorf("ConnError %d, want 1", st.ConnError)
	}
	h.check()
	reconnectsAfter(t, h, f, b, "after the timeout", tm.ReconnectFirst).Hello()
	waitFor(t, h.loop, "backend OK after reconnecting", b.OK)
}

// TestProbe, on a hand-driven clock: the first query when queries have
// gone unanswered for ProbeAfter gets the backend a heartbeat, due within
// ProbeTimeout; answered, the backend stays ok; a heartbeat already
// outstanding has its deadline cut to ProbeTimeout, and later queries leave
// a deadline that short alone; unanswered, the backend is faulted with "no
// heartbeat from backend" at error. Answered queries never probe, and a new
// session does not inherit the old one's unanswered queries.
func TestProbe(t *testing.T) {
	tm := backend.DefaultTimings()
	h := newClockHarness(t, tm)
	f, b, s := h.startOK("5397")

	query := func() {
		t.Helper()
		onLoop(t, h.loop, func() {
			if !b.ForwardUDP(0x7F000001, 5353, []byte("q")) {
				t.Error("ForwardUDP refused")
			}
		})
		s.Expect(backend.FrameInboundUDP)
	}
	answer := func() {
		t.Helper()
		s.Write(backend.AppendOutboundUDP(nil, 0x7F000001, 5353, []byte("a")))
		waitFor(t, h.loop, "answer", func() bool { h.mu.Lock(); defer h.mu.Unlock(); return len(h.answers) > 0 })
		h.mu.Lock()
		h.answers = nil
		h.mu.Unlock()
	}
	// Answered queries, ProbeAfter apart: never a probe.
	for range 3 {
		query()
		h.advance(tm.ProbeAfter)
		answer()
	}
	if st := h.stats(b); st.Probes != 0 {
		t.Errorf("%d probes of a backend that answers, want 0", st.Probes)
	}

	// Unanswered: nothing just before ProbeAfter, a heartbeat at it.
	query()
	h.advance(tm.ProbeAfter - time.Nanosecond)
	query()
	if st := h.state(b); st != backend.StateOK {
		t.Errorf("state %v before ProbeAfter, want ok", st)
	}
	h.advance(time.Nanosecond)
	query()
	s.Expect(backend.FrameClientHeartbeat)
	if st, due := h.state(b), h.due(b); st != backend.StateHeartbeat || due != tm.ProbeTimeout {
		t.Errorf("probe: state %v due %v, want heartbeat due in %v", st, due, tm.ProbeTimeout)
	}
	s.Write(backend.AppendServerHeartbeat(nil))
	waitFor(t, h.loop, "probe answered", func() bool { return b.State() == backend.StateOK })
	if st := h.stats(b); st.Probes != 1 {
		t.Errorf("%d probes, want 1", st.Probes)
	}
	h.check()

	// A regular heartbeat outstanding (due in HeartbeatTimeout) when the
	// queries go unanswered: its deadline is cut to ProbeTimeout.
	h.advance(tm.HeartbeatInterval)
	s.Expect(backend.FrameClientHeartbeat)
	query()
	h.advance(tm.ProbeAfter)
	query()
	if st, due := h.state(b), h.due(b); st != backend.StateHeartbeat || due != tm.ProbeTimeout {
		t.Errorf("hurried heartbeat: state %v due %v, want heartbeat due in %v", st, due, tm.ProbeTimeout)
	}
	// Further unanswered queries leave a deadline already that short alone:
	// not pushed back to ProbeTimeout from each query, not counted again.
	h.advance(tm.ProbeTimeout / 2)
	query()
	if st, due := h.state(b), h.due(b); st != backend.StateHeartbeat || due != tm.ProbeTimeout/2 {
		t.Errorf("query after the hurry: state %v due %v, want heartbeat still due in %v", st, due, tm.ProbeTimeout/2)
	}
	if st := h.stats(b); st.Probes != 2 {
		t.Errorf("%d probes after a query with the deadline already short, want 2", st.Probes)
	}
	h.advance(tm.ProbeTimeout/2 - time.Nanosecond)
	if st := h.state(b); st != backend.StateHeartbeat {
		t.Errorf("state %v before the probe deadline, want heartbeat", st)
	}
	h.advance(time.Nanosecond)
	s.ExpectClosed()
	if want, got := []string{"no heartbeat from backend@50", faulted + "@50"}, recordsOf(t, h, "5397", "no heartbeat from backend", faulted); !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
	if st := h.stats(b); st.Probes != 2 {
		t.Errorf("%d probes, want 2", st.Probes)
	}
	h.check()

	// The next session starts with a clean slate: the queries the faulted
	// one left unanswered do not probe it at its first query. Its own
	// clock starts at that query.
	s = reconnectsAfter(t, h, f, b, "after the probe fault", tm.ReconnectFirst)
	s.Hello()
	waitFor(t, h.loop, "backend OK again", b.OK)
	query()
	h.advance(tm.ProbeAfter - time.Nanosecond)
	query()
	if st, p := h.state(b), h.stats(b).Probes; st != backend.StateOK || p != 2 {
		t.Errorf("new session, queries unanswered for less than ProbeAfter: state %v, %d probes; want ok and still 2", st, p)
	}
	h.advance(time.Nanosecond)
	query()
	s.Expect(backend.FrameClientHeartbeat)
	if st, p := h.state(b), h.stats(b).Probes; st != backend.StateHeartbeat || p != 3 {
		t.Errorf("new session, queries unanswered for ProbeAfter: state %v, %d probes; want heartbeat and 3", st, p)
	}
	s.Write(backend.AppendServerHeartbeat(nil))
	waitFor(t, h.loop, "probe answered", func() bool { return b.State() == backend.StateOK })
	h.check()
}

// TestRemovedSocket: a backend whose socket file goes away with its session
// is marked removed and left alone; when the file returns, the next scan
// connects at once (the reconnect delay here is an hour, so only the scan
// can bring it back).
func TestRemovedSocket(t *testing.T) {
	tm := testTimings()
	tm.ReconnectFirst = time.Hour
	h := newHarness(t, tm)
	f, b, s := h.startOK("5350")

	f.Close() // unlinks the socket
	s.Conn.Close()
	h.logs.Wait(t, 1, "backend socket removed", "be_id", "5350", "be_path", f.Path)
	onLoop(t, h.loop, func() {
		if !b.Removed() || b.OK() || b.Reconnecting() {
			t.Errorf("removed %v ok %v reconnecting %v, want removed only", b.Removed(), b.OK(), b.Reconnecting())
		}
	})
	before := h.stats(b).ConnStart
	for range 3 { // several scans find nothing
		h.rescan()
	}
	if after := h.stats(b).ConnStart; after != before {
		t.Errorf("%d connects to a removed backend", after-before)
	}
	if n := len(h.logs.Find(t, "backend socket removed")); n != 1 {
		t.Errorf("%d \"backend socket removed\" records, want 1", n)
	}

	f2 := backendtest.Listen(t, h.dir, "5350")
	s2 := f2.Accept()
	s2.Hello()
	waitFor(t, h.loop, "returned backend OK", b.OK)
	h.logs.Wait(t, 1, "backend socket returned (connecting)", "be_id", "5350")
	h.check()
	onLoop(t, h.loop, func() {
		if b.Removed() || b.ID() != 5350 {
			t.Errorf("removed %v id %d, want the same backend back", b.Removed(), b.ID())
		}
		if b.Stats.ConnStart != before+1 {
			t.Errorf("ConnStart %d, want %d", b.Stats.ConnStart, before+1)
		}
		if len(h.set.Backends()) != 1 {
			t.Errorf("%d backends, want the one", len(h.set.Backends()))
		}
	})
}

// TestRemovedFoundByConnect: the file disappears while a reconnect is
// pending and no scan runs; the reconnect's failed connect marks it removed.
func TestRemovedFoundByConnect(t *testing.T) {
	tm := testTimings()
	tm.Scan = time.Hour
	tm.ReconnectFirst = 200 * time.Millisecond
	// On the hand-driven clock: the reconnect waits for the file to go.
	h := newClockHarness(t, tm)
	f := backendtest.Listen(t, h.dir, "5351")
	h.start()
	b := h.backend("5351")
	s := f.Accept()
	s.Expect(backend.FrameClientHello)
	s.Write(backend.AppendServerHeartbeat(nil)) // protocol fault; the file is still there
	h.logs.Wait(t, 1, "errant frame before hello", "be_id", "5351")
	f.Close()
	if n := len(h.logs.Find(t, "connect(3SOCKET) failed", "be_id", "5351")); n != 0 {
		t.Fatalf("%d connects before ReconnectFirst passed, want none", n)
	}
	h.advance(tm.ReconnectFirst)
	h.logs.Wait(t, 1, "backend socket removed", "be_id", "5351")
	if rs := h.logs.Find(t, "connect(3SOCKET) failed", "be_id", "5351"); len(rs) != 1 || rs[0].Str("errno") != strconv.Itoa(int(syscall.ENOENT)) || rs[0].Str("level") != "50" || rs[0].Str("socket_path") != f.Path {
		t.Errorf("connect records %v, want one error with ENOENT and socket_path", rs)
	}
	if n := len(h.logs.Find(t, "failed to connect", "be_id", "5351")); n != 0 {
		t.Errorf("%d \"failed to connect\" records for a removed socket, want 0", n)
	}
	h.check()
	onLoop(t, h.loop, func() {
		if !b.Removed() || b.Reconnecting() {
			t.Errorf("removed %v reconnecting %v, want removed and no timer", b.Removed(), b.Reconnecting())
		}
		if b.Stats.ConnStart != 2 {
			t.Errorf("ConnStart %d, want 2 (the failed reconnect counts)", b.Stats.ConnStart)
		}
	})
}

// TestRemovedFoundByScan: the file disappears while a reconnect is pending;
// the scan marks the backend removed without trying to connect.
func TestRemovedFoundByScan(t *testing.T) {
	tm := testTimings()
	tm.Scan = time.Hour
	tm.ReconnectFirst = time.Hour
	h := newHarness(t, tm)
	f := backendtest.Listen(t, h.dir, "5352")
	h.start()
	b := h.backend("5352")
	s := f.Accept()
	s.Expect(backend.FrameClientHello)
	s.Write(backend.AppendServerHeartbeat(nil))
	h.logs.Wait(t, 1, "errant frame before hello", "be_id", "5352")
	f.Close()
	h.rescan()
	onLoop(t, h.loop, func() {
		if !b.Removed() || b.Reconnecting() {
			t.Errorf("removed %v reconnecting %v, want removed and no timer", b.Removed(), b.Reconnecting())
		}
		if b.Stats.ConnStart != 1 {
			t.Errorf("ConnStart %d, want 1", b.Stats.ConnStart)
		}
	})
	if n := len(h.logs.Find(t, "backend socket removed", "be_id", "5352")); n != 1 {
		t.Errorf("%d \"backend socket removed\" records, want 1", n)
	}
	// A scan while the file is still gone changes nothing.
	h.rescan()
	if n := len(h.logs.Find(t, "backend socket removed", "be_id", "5352")); n != 1 {
		t.Errorf("%d \"backend socket removed\" records after a second scan, want 1", n)
	}
}

func TestForwardUDPAndCounters(t *testing.T) {
	tm := testTimings()
	tm.ReconnectFirst = 100 * time.Millisecond
	h := newHarness(t, tm)
	f, b, s := h.startOK("5360")

	type dgram struct {
		addr uint32
		port uint16
		msg  []byte
	}
	sent := []dgram{
		{0x0A4D4D05, 5353, []byte("first query")},
		{0xC0A80001, 65535, make([]byte, backend.MaxUDPLength)},
		{0x7F000001, 1, nil},
	}
	for i := range sent[1].msg {
		sent[1].msg[i] = byte(i)
	}
	onLoop(t, h.loop, func() {
		for _, d := range sent {
			if !b.ForwardUDP(d.addr, d.port, d.msg) {
				t.Errorf("ForwardUDP(%#x, %d) refused on an idle OK backend", d.addr, d.port)
			}
		}
	})
	for i, d := range sent {
		fr := s.Expect(backend.FrameInboundUDP)
		if fr.Addr != d.addr || fr.Port != d.port || !bytes.Equal(fr.Data, d.msg) {
			t.Errorf("frame %d: %#x:%d %d bytes, want %#x:%d %d bytes", i, fr.Addr, fr.Port, len(fr.Data), d.addr, d.port, len(d.msg))
		}
	}
	if st := h.stats(b); st != (backend.Stats{ConnStart: 1, UDP: 3}) {
		t.Errorf("stats %+v, want 1 session, 3 UDP", st)
	}

	// Fault: not OK, ForwardUDP refuses without counting anything.
	var firstSession uint64
	onLoop(t, h.loop, func() {
		firstSession = b.SessionNumber()
		b.Fault(firstSession, "test fault")
		b.Fault(firstSession, "test fault") // a second proxy timing out: the same fault
		if b.ForwardUDP(1, 1, []byte("x")) {
			t.Error("ForwardUDP accepted a packet for a faulted backend")
		}
		if b.Stats != (backend.Stats{ConnStart: 1, ConnError: 1, UDP: 3}) {
			t.Errorf("stats %+v after the fault, want 1 session, 1 error, 3 UDP", b.Stats)
		}
	})
	h.logs.Wait(t, 1, faulted, "be_id", "5360", "reason", "test fault")
	h.check()
	s.ExpectClosed()
	f.Accept().Hello()
	waitFor(t, h.loop, "backend OK again", b.OK)
	if st := h.stats(b); st != (backend.Stats{ConnStart: 2, ConnError: 1, UDP: 3}) {
		t.Errorf("stats %+v after reconnecting, want 2 sessions, 1 error, 3 UDP", st)
	}
	// A late fault about the first session must not touch the new one.
	onLoop(t, h.loop, func() {
		b.Fault(firstSession, "stale")
		if !b.OK() || b.SessionNumber() == firstSession {
			t.Errorf("a fault about an ended session hit the new one (ok %v, session %d)", b.OK(), b.SessionNumber())
		}
	})
	if n := len(h.logs.Find(t, faulted, "be_id", "5360")); n != 1 {
		t.Errorf("%d fault records, want 1 (repeated and stale faults ignored)", n)
	}
}

func TestAnswersReachTheSink(t *testing.T) {
	h := newHarness(t, testTimings())
	_, b, s := h.startOK("5370")

	big := bytes.Repeat([]byte{0xAB}, backend.MaxUDPLength) // the largest allowed
	want := []answer{
		{0x0A000001, 1, []byte("one"), 5370},
		{0x0A000002, 2, big, 5370},
		{0x0A000003, 3, []byte("three"), 5370},
		{0x0A000004, 65535, []byte{}, 5370},
	}
	var stream []byte
	for _, a := range want {
		stream = backend.AppendOutboundUDP(stream, a.addr, a.port, a.msg)
	}
	// First two frames in one write, the rest split at awkward places.
	cut1 := 16 + 3 + 16 + backend.MaxUDPLength
	s.Write(stream[:cut1])
	s.Write(stream[cut1 : cut1+7])
	time.Sleep(5 * time.Millisecond)
	s.Write(stream[cut1+7 : len(stream)-2])
	time.Sleep(5 * time.Millisecond)
	s.Write(stream[len(stream)-2:])
	waitFor(t, h.loop, "all answers", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.answers) >= len(want)
	})
	h.mu.Lock()
	got := h.answers
	h.mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("%d answers, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].addr != want[i].addr || got[i].port != want[i].port || !bytes.Equal(got[i].msg, want[i].msg) || got[i].from != want[i].from {
			t.Errorf("answer %d: %#x:%d %d bytes, want %#x:%d %d bytes", i, got[i].addr, got[i].port, len(got[i].msg), want[i].addr, want[i].port, len(want[i].msg))
		}
	}
	onLoop(t, h.loop, func() {
		if !b.OK() || b.Stats.ConnError != 0 {
			t.Errorf("ok %v errors %d after valid answers, want OK and none", b.OK(), b.Stats.ConnError)
		}
	})
}

// TestStuck: a backend that stops reading. The balancer forwards batches of
// backend.UDPBatch maximal datagrams, one batch per loop turn, as the UDP
// path does. Drops begin as soon as the kernel takes no more: at the first
// refusal at most one batch waits in the balancer's own queue, and every
// refusal is counted in Stuck, the backend staying ok. Every accepted frame
// then arrives intact and in order once the backend reads again.
func TestStuck(t *testing.T) {
	h := newHarness(t, testTimings())
	_, b, s := h.startOK("5380")

	msg := make([]byte, backend.MaxUDPLength)
	frameLen := len(backend.AppendInboundUDP(nil, 0, 0, msg))
	accepted, refused, queuedAtFirstDrop := 0, 0, -1
	for turn := 0; refused == 0; turn++ {
		if turn > 10000 {
			t.Fatal("ForwardUDP never refused a backend that does not read")
		}
		onLoop(t, h.loop, func() {
			for range backend.UDPBatch {
				binary.BigEndian.PutUint32(msg, uint32(accepted))
				if !b.ForwardUDP(0x7F000001, 5353, msg) {
					if refused == 0 {
						queuedAtFirstDrop = b.SessionConn().Queued()
					}
					refused++
					continue
				}
				accepted++
			}
		})
	}
	// More turns while it still does not read: all refused, all counted.
	for range 5 {
		onLoop(t, h.loop, func() {
			for range backend.UDPBatch {
				if b.ForwardUDP(0x7F000001, 5353, []byte("late")) {
					t.Error("ForwardUDP accepted a query for a stuck backend")
					return
				}
				refused++
			}
		})
	}
	t.Logf("accepted %d frames of %d bytes (%d bytes), %d queued in the balancer at the first drop; %d refused",
		accepted, frameLen, accepted*frameLen, queuedAtFirstDrop, refused)
	if batch := backend.UDPBatch * frameLen; queuedAtFirstDrop > batch {
		t.Errorf("%d bytes queued in the balancer when drops began, want at most one batch (%d)", queuedAtFirstDrop, batch)
	}
	if accepted*frameLen <= queuedAtFirstDrop {
		t.Errorf("accepted %d bytes, want the kernel to have taken some", accepted*frameLen)
	}
	onLoop(t, h.loop, func() {
		if b.Stats.UDP != uint64(accepted) || b.Stats.Stuck != uint64(refused) {
			t.Errorf("stats %+v, want UDP %d and Stuck %d", b.Stats, accepted, refused)
		}
		if !b.OK() {
			t.Error("a stuck backend was faulted")
		}
	})
	h.check()

	// Drain: every accepted frame arrives, in order, nothing more.
	for i := 0; i < accepted; i++ {
		fr := s.Expect(backend.FrameInboundUDP)
		if len(fr.Data) != backend.MaxUDPLength || binary.BigEndian.Uint32(fr.Data) != uint32(i) {
			t.Fatalf("frame %d: %d bytes numbered %d", i, len(fr.Data), binary.BigEndian.Uint32(fr.Data))
		}
	}
	waitFor(t, h.loop, "queue drained", func() bool { return b.SessionConn().Queued() == 0 && !b.SessionConn().Stuck() })
	onLoop(t, h.loop, func() {
		if !b.ForwardUDP(0x7F000001, 5353, []byte("after")) {
			t.Error("ForwardUDP refused after the backend caught up")
		}
	})
	if fr := s.Expect(backend.FrameInboundUDP); string(fr.Data) != "after" {
		t.Errorf("next frame carries %q, want \"after\"", fr.Data)
	}
}

// TestHeartbeatWhileStuck: a heartbeat falls due when UDP frames fill the
// session's queue. The control reserve keeps room for it: it is queued
// whole (a partial frame would corrupt the stream) behind the UDP frames.
func TestHeartbeatWhileStuck(t *testing.T) {
	// On the hand-driven clock: the heartbeat's deadline must not pass
	// while the fake backend reads the queue (slow under -race and load).
	h := newClockHarness(t, testTimings())
	_, b, s := h.startOK("5390")

	full := make([]byte, backend.MaxUDPLength)
	sent := 0
	onLoop(t, h.loop, func() { // one turn: nothing is flushed until it ends
		for b.ForwardUDP(0x7F000001, 53, full) {
			sent++
		}
		if free := b.SessionConn().Free(); free >= 16+len(full)+backend.ControlReserve || free < 4 {
			t.Errorf("%d bytes free after UDP was refused, want less than a frame but room for a heartbeat", free)
		}
		before := b.SessionConn().Queued()
		b.FireTimer() // the heartbeat falls due
		if !b.HeartbeatOutstanding() || b.SessionConn().Queued() != before+4 {
			t.Errorf("heartbeat outstanding %v, queued %d -> %d, want the 4-byte frame queued", b.HeartbeatOutstanding(), before, b.SessionConn().Queued())
		}
	})
	h.check()
	for i := 0; i < sent; i++ {
		s.Expect(backend.FrameInboundUDP)
	}
	s.Expect(backend.FrameClientHeartbeat)
	s.Write(backend.AppendServerHeartbeat(nil))
	waitFor(t, h.loop, "heartbeat answered", func() bool { return b.OK() && !b.HeartbeatOutstanding() })
	h.check()
}

// TestDescriptorsExhausted: a connect that fails for want of descriptors
// (EMFILE, ENFILE) is a failed attempt, retried with the back-off, never
// taken for a removed socket file.
func TestDescriptorsExhausted(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE} {
		t.Run(errno.Error(), func(t *testing.T) {
			tm := testTimings()
			tm.ReconnectFirst = 100 * time.Millisecond
			h := newHarness(t, tm)
			f := backendtest.Listen(t, h.dir, "5396")
			var exhausted atomic.Bool
			exhausted.Store(true)
			onLoop(t, h.loop, func() {
				h.set.SetDial(func(l *evport.Loop, sa unix.Sockaddr, hd evport.ConnHandler, cfg evport.ConnConfig) (*evport.Conn, error) {
					if exhausted.Load() {
						return nil, fmt.Errorf("socket: %w", errno)
					}
					return evport.Dial(l, sa, hd, cfg)
				})
			})
			h.start()
			rs := h.logs.Wait(t, 2, "socket(2) failed", "be_id", "5396")
			if r := rs[0]; r.Str("level") != "50" || r.Str("errno") != strconv.Itoa(int(errno)) {
				t.Errorf("record %v, want level 50 and errno %d", r, errno)
			}
			if rs := h.logs.Find(t, "failed to connect", "be_id", "5396"); len(rs) < 2 || rs[0].Str("level") != "50" {
				t.Errorf("\"failed to connect\" records %v, want errors", rs)
			}
			b := h.backend("5396")
			onLoop(t, h.loop, func() {
				if b.Removed() || !b.Reconnecting() {
					t.Errorf("removed %v reconnecting %v, want a reconnect pending", b.Removed(), b.Reconnecting())
				}
			})
			if n := len(h.logs.Find(t, "backend socket removed")); n != 0 {
				t.Errorf("%d \"backend socket removed\" records, want none", n)
			}
			h.check()
			exhausted.Store(false)
			f.Accept().Hello()
			waitFor(t, h.loop, "backend OK once descriptors are back", b.OK)
		})
	}
}

// TestStaleSocketRetries: a socket file with nobody listening (a backend
// that died) refuses connections; each refusal is a fault with the errno
// and the back-off, never a removal. When a new backend process takes the
// path over, the next reconnect finds it.
func TestStaleSocketRetries(t *testing.T) {
	tm := timescale.Scale(backend.DefaultTimings(), 1000) // reconnect 1 ms, 3 ms, 5 ms ...
	tm.Scan = time.Hour
	tm.ConnectTimeout = time.Hour
	tm.HeartbeatInterval = time.Hour
	h := newHarness(t, tm)
	path := filepath.Join(h.dir, "5395")
	dead, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	dead.SetUnlinkOnClose(false)
	dead.Close()

	h.start()
	rs := h.logs.Wait(t, 3, "reconnect triggered for backend", "be_id", "5395")
	for i, r := range rs[:3] {
		if want := float64(1 + 2*i); r.Num("delay_ms") != want {
			t.Errorf("reconnect %d: delay_ms %v, want %v", i, r.Num("delay_ms"), want)
		}
	}
	for _, msg := range []string{"connect(3SOCKET) failed", "failed to connect"} {
		for i, r := range h.logs.Find(t, msg, "be_id", "5395")[:3] {
			if r.Str("level") != "50" || r.Str("errno") != strconv.Itoa(int(syscall.ECONNREFUSED)) {
				t.Errorf("%q %d: level %s errno %s, want 50 and ECONNREFUSED", msg, i, r.Str("level"), r.Str("errno"))
			}
		}
	}
	b := h.backend("5395")
	onLoop(t, h.loop, func() {
		if b.Removed() || b.OK() || b.Stats.ConnError < 3 {
			t.Errorf("removed %v ok %v errors %d, want retrying with at least 3 errors", b.Removed(), b.OK(), b.Stats.ConnError)
		}
	})

	// A new process binds elsewhere and renames its socket into place, so
	// the path is never missing.
	f := backendtest.Listen(t, h.dir, "5395.new")
	if err := os.Rename(f.Path, path); err != nil {
		t.Fatal(err)
	}
	f.Accept().Hello()
	waitFor(t, h.loop, "backend OK", b.OK)
	if n := len(h.logs.Find(t, "backend socket removed")); n != 0 {
		t.Errorf("%d \"backend socket removed\" records for a refused connect, want 0", n)
	}
	h.check()
}

// A session that ends in the middle of a frame is found at once ("backend
// socket EOF", with the partial frame's size), not a healthy backend until
// the next heartbeat fails.
func TestSessionClosedMidFrame(t *testing.T) {
	tm := testTimings()
	tm.HeartbeatInterval = time.Hour // only the truncated frame may fault it
	h := newHarness(t, tm)
	f := backendtest.Listen(t, h.dir, "5320")
	h.start()
	s := f.Accept()
	s.Hello()
	b := h.backend("5320")
	waitFor(t, h.loop, "backend OK", b.OK)

	s.Write(backend.AppendServerHeartbeat(nil)[:2])
	if err := s.Conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	h.logs.Wait(t, 1, faulted, "be_id", "5320")
	if rs := h.logs.Find(t, "backend socket EOF", "be_id", "5320"); len(rs) != 1 || rs[0].Str("level") != "40" || rs[0].Str("partial_frame_bytes") != "2" {
		t.Errorf("EOF records %v, want one warning with partial_frame_bytes 2", rs)
	}
	if want, got := []string{"backend socket EOF@40", faulted + "@50"}, recordsOf(t, h, "5320", "backend socket EOF", faulted); !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
	h.check()
	onLoop(t, h.loop, func() {
		if b.OK() {
			t.Error("backend still OK after its session ended mid-frame")
		}
	})
}

// TestProbeWhileStuck, on a hand-driven clock: a hung backend under load
// stops reading, its session becomes stuck, and every later query is
// dropped as stuck without being forwarded. Those drops still count as
// queries going unanswered: the first query ProbeAfter after the first
// unanswered one probes the backend, so that a hung backend under load
// fails over as fast as one under light load (before, only the regular
// heartbeat, 5 to 20 s later, noticed it).
func TestProbeWhileStuck(t *testing.T) {
	tm := backend.DefaultTimings()
	h := newClockHarness(t, tm)
	_, b, _ := h.startOK("5391")

	// Fill the kernel's buffer and the session's queue; the clock stands.
	msg := make([]byte, backend.MaxUDPLength)
	stuck := false
	for turn := 0; !stuck; turn++ {
		if turn > 10000 {
			t.Fatal("the session never became stuck")
		}
		onLoop(t, h.loop, func() {
			for range backend.UDPBatch {
				if !b.ForwardUDP(0x7F000001, 5353, msg) && b.SessionConn().Stuck() {
					stuck = true
				}
			}
		})
	}
	h.advance(tm.ProbeAfter)
	onLoop(t, h.loop, func() {
		if b.ForwardUDP(0x7F000001, 5353, msg) {
			t.Error("ForwardUDP accepted a query for a stuck backend")
		}
		if b.Stats.Probes != 1 || b.State() != backend.StateHeartbeat {
			t.Errorf("after ProbeAfter of drops: %d probes, state %v; want 1 probe, state heartbeat", b.Stats.Probes, b.State())
		}
	})
	if due := h.due(b); due != tm.ProbeTimeout {
		t.Errorf("probe due in %v, want %v", due, tm.ProbeTimeout)
	}
	h.advance(tm.ProbeTimeout)
	waitFor(t, h.loop, "probe unanswered: faulted", b.Reconnecting)
	if want, got := []string{"no heartbeat from backend@50", faulted + "@50"}, recordsOf(t, h, "5391", "no heartbeat from backend", faulted); !slices.Equal(got, want) {
		t.Errorf("records %q, want %q", got, want)
	}
}

// TestInfoSaysStateSinceAndWhy, on a hand-driven clock: Info gives the
// state, since when (a heartbeat's round trip is no change, a fault is),
// the fault's cause while not ok, and each backend's own creation time.
func TestInfoSaysStateSinceAndWhy(t *testing.T) {
	tm := backend.DefaultTimings()
	h := newClockHarness(t, tm)
	info := func(b *backend.Backend) (i backend.Info) {
		onLoop(t, h.loop, func() { i = b.Info() })
		return i
	}
	var start time.Time
	onLoop(t, h.loop, func() { start = h.loop.Now() })
	_, b, s := h.startOK("5331")
	first := info(b)
	if first.State != backend.StateOK || first.Why != "" || !first.Created.Equal(start) || first.Since.Before(start) {
		t.Fatalf("ok backend: %+v; want state ok, no why, created at %v", first, start)
	}

	h.advance(tm.HeartbeatInterval)
	s.Expect(backend.FrameClientHeartbeat)
	if i := info(b); i.State != backend.StateHeartbeat || !i.Since.Equal(first.Since) {
		t.Errorf("heartbeat outstanding: state %v since %v; want heartbeat since %v (still ok)", i.State, i.Since, first.Since)
	}
	h.advance(tm.HeartbeatTimeout)
	s.ExpectClosed()
	var now time.Time
	onLoop(t, h.loop, func() { now = h.loop.Now() })
	if i := info(b); i.State != backend.StateReconnecting || i.Why != "no heartbeat" || !i.Since.Equal(now) || !i.Created.Equal(start) {
		t.Errorf("after the missed heartbeat: %+v; want reconnecting since %v, why \"no heartbeat\", created %v", i, now, start)
	}

	// Reconnecting and connecting again is one outage: since stays.
	h.advance(tm.ReconnectFirst)
	if i := info(b); i.State != backend.StateConnecting || !i.Since.Equal(now) || i.Why != "no heartbeat" {
		t.Errorf("reconnect attempt: state %v since %v why %q; want connecting since %v (the outage's start), why \"no heartbeat\"", i.State, i.Since, i.Why, now)
	}

	h.advance(time.Minute)
	backendtest.Listen(t, h.dir, "5332")
	h.rescan()
	later := h.backend("5332")
	if later == nil {
		t.Fatal("5332 not found by the scan")
	}
	onLoop(t, h.loop, func() { now = h.loop.Now() })
	if i := info(later); !i.Created.Equal(now) {
		t.Errorf("backend added later: created %v, want %v (its own, not the set's start %v)", i.Created, now, start)
	}
}
