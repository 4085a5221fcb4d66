/*
 * Tests of a backend's control session (backend.go; SPEC §3, §4) against
 * fake backends that the test drives with the frame codec: the handshake,
 * every protocol fault, the reconnect back-off and its reset, heartbeats,
 * the connect timeout, a removed and returning socket, forwarding UDP and
 * the answer sink, the stuck bound, and the counters.
 *
 * Intervals are SPEC's divided by a constant (Timings.Scale). Timing is
 * only ever checked from below (a reconnect must not come before its
 * delay), never as a performance bound; every wait has a generous limit.
 */

package backend

import (
	"bytes"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testTimings are SPEC's intervals divided by 50: scan 100 ms, connect
// timeout 600 ms, reconnect 20 ms growing by 40 ms up to 640 ms, heartbeat
// 100 ms with a 300 ms timeout. Heartbeats are pushed out of the way: most
// fake backends here do not answer them; the heartbeat test restores them.
func testTimings() Timings {
	tm := DefaultTimings().Scale(50)
	tm.HeartbeatInterval = time.Hour
	return tm
}

func TestHelloMakesBackendOK(t *testing.T) {
	h := newHarness(t, testTimings())
	f := listenFake(t, h.dir, "5301")
	h.start()
	s := f.accept()
	s.expect(FrameClientHello)
	b := h.backend("5301")
	if b == nil {
		t.Fatal("socket 5301 did not become a backend")
	}
	onLoop(t, h.loop, func() {
		if b.OK() {
			t.Error("backend is OK before SERVER_HELLO")
		}
		if b.ID() != 5301 || b.Path() != f.path {
			t.Errorf("backend is %d %q, want 5301 %q", b.ID(), b.Path(), f.path)
		}
	})

	// SERVER_HELLO split across two writes: half a frame changes nothing.
	hello := AppendServerHello(nil)
	s.write(hello[:2])
	time.Sleep(20 * time.Millisecond)
	onLoop(t, h.loop, func() {
		if b.OK() {
			t.Error("backend is OK after half a SERVER_HELLO")
		}
	})
	s.write(hello[2:])
	waitFor(t, h.loop, "backend OK", b.OK)

	id := "5301"
	if n := len(h.logs.Find(t, "new backend", "be_id", id, "be_path", f.path)); n != 1 {
		t.Errorf("%d \"new backend\" records for %s, want 1", n, id)
	}
	if n := len(h.logs.Find(t, "connecting to backend", "be_id", id, "be_path", f.path)); n != 1 {
		t.Errorf("%d \"connecting to backend\" records, want 1", n)
	}
	if n := len(h.logs.Find(t, "backend socket established", "be_id", id, "be_path", f.path)); n != 1 {
		t.Errorf("%d \"backend socket established\" records, want 1", n)
	}
	onLoop(t, h.loop, func() {
		if b.Stats != (Stats{ConnStart: 1}) {
			t.Errorf("stats %+v, want one session started and nothing else", b.Stats)
		}
		if b.ReconnectDelay() != 0 || b.Reconnecting() || b.Removed() || b.HeartbeatOutstanding() {
			t.Errorf("delay %v reconnecting %v removed %v hb %v, want all clear",
				b.ReconnectDelay(), b.Reconnecting(), b.Removed(), b.HeartbeatOutstanding())
		}
	})
}

func TestProtocolFaults(t *testing.T) {
	hello := AppendServerHello(nil)
	heartbeat := AppendServerHeartbeat(nil)
	answer := AppendOutboundUDP(nil, 0x7F000001, 53, []byte("answer"))
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	// A UDP header claiming 4 GiB, with no payload: refused at once.
	hugeHeader := cat(u32(uint32(FrameOutboundUDP)), u32(0x7F000001), u32(53), u32(0xFFFFFFFF))
	tests := []struct {
		name   string
		writes [][]byte // each a separate write after CLIENT_HELLO is read
		errHas string   // in the fault record's err field
	}{
		{"SERVER_HEARTBEAT before SERVER_HELLO", [][]byte{heartbeat}, "before SERVER_HELLO"},
		{"OUTBOUND_UDP before SERVER_HELLO", [][]byte{answer}, "before SERVER_HELLO"},
		{"INBOUND_TCP_OK before SERVER_HELLO", [][]byte{AppendInboundTCPOK(nil)}, "before SERVER_HELLO"},
		{"second SERVER_HELLO, same read", [][]byte{cat(hello, hello)}, "second SERVER_HELLO"},
		{"second SERVER_HELLO, later read", [][]byte{hello, hello}, "second SERVER_HELLO"},
		{"unsolicited SERVER_HEARTBEAT", [][]byte{cat(hello, heartbeat)}, "no heartbeat outstanding"},
		{"INBOUND_TCP_OK on the control session", [][]byte{cat(hello, AppendInboundTCPOK(nil), answer)}, "INBOUND_TCP_OK"},
		{"unknown type 7", [][]byte{cat(hello, u32(7), answer)}, "unknown frame type"},
		{"balancer-side type CLIENT_HELLO", [][]byte{hello, u32(uint32(FrameClientHello))}, "unknown frame type"},
		{"OUTBOUND_UDP of 1501 bytes", [][]byte{hello, AppendOutboundUDP(nil, 0x7F000001, 53, make([]byte, 1501))}, "1501"},
		{"OUTBOUND_UDP header claiming 4 GiB", [][]byte{hello, hugeHeader}, "longer than 1500"},
		{"OUTBOUND_UDP port above 65535", [][]byte{hello, cat(u32(uint32(FrameOutboundUDP)), u32(1), u32(65536), u32(0))}, "port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm := testTimings()
			h := newHarness(t, tm)
			f := listenFake(t, h.dir, "5310")
			h.start()
			s := f.accept()
			s.expect(FrameClientHello)
			b := h.backend("5310")

			start := time.Now()
			for _, w := range tc.writes {
				s.write(w)
				time.Sleep(5 * time.Millisecond) // separate reads
			}
			s.expectClosed()
			faults := h.logs.Wait(t, 1, "backend faulted (reset and reconnect)", "be_id", "5310")
			if len(faults) != 1 {
				t.Fatalf("%d fault records, want 1", len(faults))
			}
			if r := faults[0]; r.Str("reason") != "protocol error" || !strings.Contains(r.Str("err"), tc.errHas) || r.Str("level") != "40" {
				t.Errorf("fault record reason %q err %q level %s, want \"protocol error\", err containing %q, level 40",
					r.Str("reason"), r.Str("err"), r.Str("level"), tc.errHas)
			}
			onLoop(t, h.loop, func() {
				if b.OK() {
					t.Error("faulted backend is still OK")
				}
				if !b.Reconnecting() || b.ReconnectDelay() != tm.ReconnectFirst {
					t.Errorf("reconnecting %v after %v, want a reconnect after %v", b.Reconnecting(), b.ReconnectDelay(), tm.ReconnectFirst)
				}
				if b.Stats.ConnError != 1 {
					t.Errorf("ConnError %d, want 1", b.Stats.ConnError)
				}
			})
			h.mu.Lock()
			if len(h.answers) != 0 {
				t.Errorf("answers reached the sink from a faulted session: %+v", h.answers)
			}
			h.mu.Unlock()

			s2 := f.accept()
			if waited := time.Since(start); waited < tm.ReconnectFirst {
				t.Errorf("reconnected %v after the fault, before the %v delay", waited, tm.ReconnectFirst)
			}
			s2.hello()
			waitFor(t, h.loop, "backend OK again", b.OK)
			onLoop(t, h.loop, func() {
				if b.ReconnectDelay() != 0 {
					t.Errorf("reconnect delay %v after SERVER_HELLO, want it reset", b.ReconnectDelay())
				}
				if b.Stats.ConnStart != 2 || b.Stats.ConnError != 1 {
					t.Errorf("stats %+v, want 2 sessions started, 1 error", b.Stats)
				}
			})
		})
	}
}

// TestReconnectBackoff faults a backend over and over (the fake closes each
// session at once) and checks the delays 1, 3, 5, ... 31, 32, 32 s (scaled),
// then that a successful hello starts the sequence again.
func TestReconnectBackoff(t *testing.T) {
	tm := DefaultTimings().Scale(1000) // reconnect 1 ms + 2 ms up to 32 ms
	tm.Scan = time.Hour
	tm.ConnectTimeout = time.Hour
	tm.HeartbeatInterval = time.Hour
	h := newHarness(t, tm)
	f := listenFake(t, h.dir, "5320")
	h.start()
	b := h.backend("5320")

	var want []time.Duration
	for d := time.Second; d < 32*time.Second; d += 2 * time.Second {
		want = append(want, d/1000)
	}
	want = append(want, 32*time.Millisecond, 32*time.Millisecond)

	// fail closes the session s after its CLIENT_HELLO, checks the i-th
	// fault record and delay, and returns the next session, which must not
	// come before the delay.
	fail := func(s *fakeSession, i int, wantDelay time.Duration) *fakeSession {
		t.Helper()
		s.expect(FrameClientHello)
		closed := time.Now()
		s.c.Close()
		rs := h.logs.Wait(t, i+1, "backend faulted (reset and reconnect)", "be_id", "5320")
		r := rs[i]
		if r.Str("reason") != "backend closed the session" {
			t.Errorf("fault %d: reason %q", i, r.Str("reason"))
		}
		if got := r.Num("reconnect_delay_ms"); got != float64(wantDelay)/float64(time.Millisecond) {
			t.Errorf("fault %d: reconnect_delay_ms %v, want %v", i, got, wantDelay)
		}
		onLoop(t, h.loop, func() {
			if b.ReconnectDelay() != wantDelay {
				t.Errorf("fault %d: delay %v, want %v", i, b.ReconnectDelay(), wantDelay)
			}
		})
		next := f.accept()
		if waited := time.Since(closed); waited < wantDelay {
			t.Errorf("fault %d: reconnected after %v, before the %v delay", i, waited, wantDelay)
		}
		return next
	}
	s := f.accept()
	for i, d := range want {
		s = fail(s, i, d)
	}

	// A successful hello resets the delay; the next fault waits ReconnectFirst.
	s.hello()
	waitFor(t, h.loop, "backend OK", b.OK)
	onLoop(t, h.loop, func() {
		if b.ReconnectDelay() != 0 {
			t.Errorf("delay %v after SERVER_HELLO, want 0", b.ReconnectDelay())
		}
	})
	// The hello was consumed above; fail expects to read one, so send the
	// session a fresh start by failing it without reading.
	closed := time.Now()
	s.c.Close()
	rs := h.logs.Wait(t, len(want)+1, "backend faulted (reset and reconnect)", "be_id", "5320")
	if got := rs[len(want)].Num("reconnect_delay_ms"); got != float64(tm.ReconnectFirst)/float64(time.Millisecond) {
		t.Errorf("first fault after a hello: reconnect_delay_ms %v, want %v", got, tm.ReconnectFirst)
	}
	s = f.accept()
	if waited := time.Since(closed); waited < tm.ReconnectFirst {
		t.Errorf("reconnected after %v, before the %v delay", waited, tm.ReconnectFirst)
	}
	s = fail(s, len(want)+1, tm.ReconnectFirst+tm.ReconnectStep)
	_ = s

	st := h.stats(b)
	if faults := uint64(len(want) + 2); st.ConnError != faults || st.ConnStart != faults+1 {
		t.Errorf("stats %+v, want %d errors and %d sessions started", st, faults, faults+1)
	}
}

func TestHeartbeat(t *testing.T) {
	tm := DefaultTimings().Scale(50) // heartbeat 100 ms, timeout 300 ms
	h := newHarness(t, tm)
	f := listenFake(t, h.dir, "5330")
	h.start()
	b := h.backend("5330")
	s := f.accept()
	s.expect(FrameClientHello)
	sent := time.Now()
	s.write(AppendServerHello(nil))

	// Two rounds answered: each heartbeat comes no sooner than the interval
	// after the hello or the last reply, and the backend stays OK.
	for round := 0; round < 2; round++ {
		s.expect(FrameClientHeartbeat)
		if waited := time.Since(sent); waited < tm.HeartbeatInterval {
			t.Errorf("round %d: CLIENT_HEARTBEAT %v after the hello/reply, before the %v interval", round, waited, tm.HeartbeatInterval)
		}
		onLoop(t, h.loop, func() {
			if !b.OK() || !b.HeartbeatOutstanding() {
				t.Errorf("round %d: ok %v outstanding %v, want both", round, b.OK(), b.HeartbeatOutstanding())
			}
		})
		sent = time.Now()
		s.write(AppendServerHeartbeat(nil))
	}

	// The third goes unanswered: the backend faults, no sooner than the
	// interval plus the timeout after the last reply.
	s.expect(FrameClientHeartbeat)
	s.expectClosed()
	if waited := time.Since(sent); waited < tm.HeartbeatInterval+tm.HeartbeatTimeout {
		t.Errorf("faulted %v after the last reply, before interval+timeout %v", waited, tm.HeartbeatInterval+tm.HeartbeatTimeout)
	}
	h.logs.Wait(t, 1, "backend faulted (reset and reconnect)", "be_id", "5330", "reason", "heartbeat timeout")
	if rs := h.logs.Find(t, "no heartbeat from backend", "be_id", "5330", "be_path", f.path); len(rs) != 1 || rs[0].Str("level") != "40" {
		t.Errorf("\"no heartbeat from backend\" records %v, want one warning", rs)
	}
	onLoop(t, h.loop, func() {
		if b.OK() || b.HeartbeatOutstanding() {
			t.Errorf("after the timeout: ok %v outstanding %v, want neither", b.OK(), b.HeartbeatOutstanding())
		}
	})
	// And it reconnects.
	f.accept().hello()
	waitFor(t, h.loop, "backend OK again", b.OK)
}

func TestConnectTimeout(t *testing.T) {
	tm := testTimings() // connect timeout 600 ms
	h := newHarness(t, tm)
	f := listenFake(t, h.dir, "5340")
	started := time.Now()
	h.start()
	b := h.backend("5340")
	s := f.accept()
	s.expect(FrameClientHello) // and never answer
	s.expectClosed()
	if waited := time.Since(started); waited < tm.ConnectTimeout {
		t.Errorf("gave up after %v, before the %v connect timeout", waited, tm.ConnectTimeout)
	}
	h.logs.Wait(t, 1, "backend faulted (reset and reconnect)", "be_id", "5340", "reason", "timed out waiting for SERVER_HELLO")
	onLoop(t, h.loop, func() {
		if b.OK() || !b.Reconnecting() {
			t.Errorf("ok %v reconnecting %v, want a reconnect pending", b.OK(), b.Reconnecting())
		}
		if b.Stats.ConnError != 1 {
			t.Errorf("ConnError %d, want 1", b.Stats.ConnError)
		}
	})
	f.accept().hello()
	waitFor(t, h.loop, "backend OK after reconnecting", b.OK)
}

// TestRemovedSocket: a backend whose socket file goes away with its session
// is marked removed and left alone; when the file returns, the next scan
// connects at once (the reconnect delay here is an hour, so only the scan
// can bring it back).
func TestRemovedSocket(t *testing.T) {
	tm := testTimings()
	tm.ReconnectFirst = time.Hour
	h := newHarness(t, tm)
	f := listenFake(t, h.dir, "5350")
	h.start()
	b := h.backend("5350")
	s := f.accept()
	s.hello()
	waitFor(t, h.loop, "backend OK", b.OK)

	f.close() // unlinks the socket
	s.c.Close()
	h.logs.Wait(t, 1, "backend socket removed", "be_id", "5350", "be_path", f.path)
	onLoop(t, h.loop, func() {
		if !b.Removed() || b.OK() || b.Reconnecting() {
			t.Errorf("removed %v ok %v reconnecting %v, want removed only", b.Removed(), b.OK(), b.Reconnecting())
		}
	})
	before := h.stats(b).ConnStart
	time.Sleep(3 * tm.Scan) // several scans find nothing
	if after := h.stats(b).ConnStart; after != before {
		t.Errorf("%d connects to a removed backend", after-before)
	}
	if n := len(h.logs.Find(t, "backend socket removed")); n != 1 {
		t.Errorf("%d \"backend socket removed\" records, want 1", n)
	}

	f2 := listenFake(t, h.dir, "5350")
	s2 := f2.accept()
	s2.hello()
	waitFor(t, h.loop, "returned backend OK", b.OK)
	h.logs.Wait(t, 1, "backend socket returned", "be_id", "5350")
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
	h := newHarness(t, tm)
	f := listenFake(t, h.dir, "5351")
	h.start()
	b := h.backend("5351")
	s := f.accept()
	s.expect(FrameClientHello)
	s.write(AppendServerHeartbeat(nil)) // protocol fault; the file is still there
	h.logs.Wait(t, 1, "backend faulted (reset and reconnect)", "be_id", "5351")
	f.close()
	h.logs.Wait(t, 1, "backend socket removed", "be_id", "5351")
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
	f := listenFake(t, h.dir, "5352")
	h.start()
	b := h.backend("5352")
	s := f.accept()
	s.expect(FrameClientHello)
	s.write(AppendServerHeartbeat(nil))
	h.logs.Wait(t, 1, "backend faulted (reset and reconnect)", "be_id", "5352")
	f.close()
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
	f := listenFake(t, h.dir, "5360")
	h.start()
	b := h.backend("5360")
	s := f.accept()
	s.hello()
	waitFor(t, h.loop, "backend OK", b.OK)

	type dgram struct {
		addr uint32
		port uint16
		msg  []byte
	}
	sent := []dgram{
		{0x0A4D4D05, 5353, []byte("first query")},
		{0xC0A80001, 65535, make([]byte, MaxUDPLength)},
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
		fr := s.expect(FrameInboundUDP)
		if fr.Addr != d.addr || fr.Port != d.port || !bytes.Equal(fr.Data, d.msg) {
			t.Errorf("frame %d: %#x:%d %d bytes, want %#x:%d %d bytes", i, fr.Addr, fr.Port, len(fr.Data), d.addr, d.port, len(d.msg))
		}
	}
	if st := h.stats(b); st != (Stats{ConnStart: 1, UDP: 3}) {
		t.Errorf("stats %+v, want 1 session, 3 UDP", st)
	}

	// Fault: not OK, ForwardUDP refuses without counting anything.
	var firstSession uint64
	onLoop(t, h.loop, func() {
		firstSession = b.Session()
		b.Fault(firstSession, "test fault")
		b.Fault(firstSession, "test fault") // a second proxy timing out: the same fault
		if b.ForwardUDP(1, 1, []byte("x")) {
			t.Error("ForwardUDP accepted a packet for a faulted backend")
		}
		if b.Stats != (Stats{ConnStart: 1, ConnError: 1, UDP: 3}) {
			t.Errorf("stats %+v after the fault, want 1 session, 1 error, 3 UDP", b.Stats)
		}
	})
	h.logs.Wait(t, 1, "backend faulted (reset and reconnect)", "be_id", "5360", "reason", "test fault")
	s.expectClosed()
	f.accept().hello()
	waitFor(t, h.loop, "backend OK again", b.OK)
	if st := h.stats(b); st != (Stats{ConnStart: 2, ConnError: 1, UDP: 3}) {
		t.Errorf("stats %+v after reconnecting, want 2 sessions, 1 error, 3 UDP", st)
	}
	// A late fault about the first session must not touch the new one.
	onLoop(t, h.loop, func() {
		b.Fault(firstSession, "stale")
		if !b.OK() || b.Session() == firstSession {
			t.Errorf("a fault about an ended session hit the new one (ok %v, session %d)", b.OK(), b.Session())
		}
	})
	if n := len(h.logs.Find(t, "backend faulted (reset and reconnect)", "be_id", "5360")); n != 1 {
		t.Errorf("%d fault records, want 1 (repeated and stale faults ignored)", n)
	}
}

func TestAnswersReachTheSink(t *testing.T) {
	h := newHarness(t, testTimings())
	f := listenFake(t, h.dir, "5370")
	h.start()
	b := h.backend("5370")
	s := f.accept()
	s.hello()
	waitFor(t, h.loop, "backend OK", b.OK)

	big := bytes.Repeat([]byte{0xAB}, MaxUDPLength) // the largest allowed
	want := []answer{
		{0x0A000001, 1, []byte("one")},
		{0x0A000002, 2, big},
		{0x0A000003, 3, []byte("three")},
		{0x0A000004, 65535, []byte{}},
	}
	var stream []byte
	for _, a := range want {
		stream = AppendOutboundUDP(stream, a.addr, a.port, a.msg)
	}
	// First two frames in one write, the rest split at awkward places.
	cut1 := 16 + 3 + 16 + MaxUDPLength
	s.write(stream[:cut1])
	s.write(stream[cut1 : cut1+7])
	time.Sleep(5 * time.Millisecond)
	s.write(stream[cut1+7 : len(stream)-2])
	time.Sleep(5 * time.Millisecond)
	s.write(stream[len(stream)-2:])
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
		if got[i].addr != want[i].addr || got[i].port != want[i].port || !bytes.Equal(got[i].msg, want[i].msg) {
			t.Errorf("answer %d: %#x:%d %d bytes, want %#x:%d %d bytes", i, got[i].addr, got[i].port, len(got[i].msg), want[i].addr, want[i].port, len(want[i].msg))
		}
	}
	onLoop(t, h.loop, func() {
		if !b.OK() || b.Stats.ConnError != 0 {
			t.Errorf("ok %v errors %d after valid answers, want OK and none", b.OK(), b.Stats.ConnError)
		}
	})
}

// TestStuck: a backend that stops reading takes UDP frames until the
// kernel's buffer and the balancer's 256 KiB queue are both full; from then
// on ForwardUDP refuses and counts Stuck, the backend stays OK, and every
// frame that was accepted arrives intact and in order once it reads again.
func TestStuck(t *testing.T) {
	h := newHarness(t, testTimings())
	f := listenFake(t, h.dir, "5380")
	h.start()
	b := h.backend("5380")
	s := f.accept()
	s.hello()
	waitFor(t, h.loop, "backend OK", b.OK)

	msg := make([]byte, MaxUDPLength)
	frameLen := len(AppendInboundUDP(nil, 0, 0, msg))
	accepted, refused := 0, 0
	for turn := 0; ; turn++ {
		if turn > 10000 {
			t.Fatal("ForwardUDP never refused a backend that does not read")
		}
		refusedAtOnce := false
		onLoop(t, h.loop, func() {
			for i := 0; ; i++ {
				binary.BigEndian.PutUint32(msg, uint32(accepted))
				if !b.ForwardUDP(0x7F000001, 5353, msg) {
					refused++
					refusedAtOnce = i == 0
					return
				}
				accepted++
			}
		})
		// Only when a whole turn's flush moved nothing is the kernel full too.
		if refusedAtOnce {
			break
		}
	}
	onLoop(t, h.loop, func() {
		if b.Stats.UDP != uint64(accepted) || b.Stats.Stuck != uint64(refused) {
			t.Errorf("stats %+v, want UDP %d and Stuck %d", b.Stats, accepted, refused)
		}
		if q := b.session.Queued(); q > controlSendBuffer || q+frameLen <= controlSendBuffer {
			t.Errorf("%d bytes queued, want the queue full (bound %d, frames of %d)", q, controlSendBuffer, frameLen)
		}
		if !b.OK() {
			t.Error("a stuck backend was faulted")
		}
	})
	if accepted*frameLen <= controlSendBuffer {
		t.Errorf("accepted %d bytes, want more than the queue: the kernel should have taken some", accepted*frameLen)
	}

	// Drain: every accepted frame arrives, in order, nothing more.
	for i := 0; i < accepted; i++ {
		fr := s.expect(FrameInboundUDP)
		if len(fr.Data) != MaxUDPLength || binary.BigEndian.Uint32(fr.Data) != uint32(i) {
			t.Fatalf("frame %d: %d bytes numbered %d", i, len(fr.Data), binary.BigEndian.Uint32(fr.Data))
		}
	}
	waitFor(t, h.loop, "queue drained", func() bool { return b.session.Queued() == 0 })
	onLoop(t, h.loop, func() {
		if !b.ForwardUDP(0x7F000001, 5353, []byte("after")) {
			t.Error("ForwardUDP refused after the backend caught up")
		}
	})
	if fr := s.expect(FrameInboundUDP); string(fr.Data) != "after" {
		t.Errorf("next frame carries %q, want \"after\"", fr.Data)
	}
}

// TestHeartbeatNeverPartial: a heartbeat falls due when the send queue has
// room for only part of a CLIENT_HEARTBEAT. Queuing those bytes would
// split a frame and corrupt the stream for good; the backend must instead
// be faulted as stuck, as it is when the queue has no room at all.
func TestHeartbeatNeverPartial(t *testing.T) {
	h := newHarness(t, testTimings())
	f := listenFake(t, h.dir, "5390")
	h.start()
	b := h.backend("5390")
	s := f.accept()
	s.hello()
	waitFor(t, h.loop, "backend OK", b.OK)

	full := make([]byte, MaxUDPLength)
	onLoop(t, h.loop, func() { // (on the loop: t.Error and return, never t.Fatal)
		// One turn: nothing is flushed until it ends, so Free is exact.
		for b.session.Free() >= len(full)+16 {
			if !b.ForwardUDP(0x7F000001, 53, full) {
				t.Error("ForwardUDP refused with room in the queue")
				return
			}
		}
		if !b.ForwardUDP(0x7F000001, 53, make([]byte, b.session.Free()-2-16)) {
			t.Error("ForwardUDP refused a frame that fits")
			return
		}
		if free := b.session.Free(); free != 2 {
			t.Errorf("%d bytes free, want 2", free)
			return
		}
		b.heartbeatDue()
		if b.OK() {
			t.Errorf("backend still OK with a heartbeat it could not send (queued %d)", b.session.Queued())
		}
	})
	h.logs.Wait(t, 1, "backend faulted (reset and reconnect)", "be_id", "5390", "reason", "session stuck; heartbeat not sent")
	// The fault closed the session in the same turn, dropping what was
	// queued: the backend sees the end of the stream and not a byte of a
	// split frame.
	s.expectClosed()
}

// TestStaleSocketRetries: a socket file with nobody listening (a backend
// that died) refuses connections; each refusal is a fault with the errno
// and the back-off, never a removal. When a new backend process takes the
// path over, the next reconnect finds it.
func TestStaleSocketRetries(t *testing.T) {
	tm := DefaultTimings().Scale(1000) // reconnect 1 ms, 3 ms, 5 ms ...
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
	rs := h.logs.Wait(t, 3, "backend faulted (reset and reconnect)", "be_id", "5395")
	for i, r := range rs[:3] {
		if r.Str("reason") != "connect failed" || r.Str("errno") != strconv.Itoa(int(syscall.ECONNREFUSED)) {
			t.Errorf("fault %d: reason %q errno %s, want \"connect failed\" and ECONNREFUSED", i, r.Str("reason"), r.Str("errno"))
		}
		if want := float64(1 + 2*i); r.Num("reconnect_delay_ms") != want {
			t.Errorf("fault %d: reconnect_delay_ms %v, want %v", i, r.Num("reconnect_delay_ms"), want)
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
	f := listenFake(t, h.dir, "5395.new")
	if err := os.Rename(f.path, path); err != nil {
		t.Fatal(err)
	}
	f.accept().hello()
	waitFor(t, h.loop, "backend OK", b.OK)
	onLoop(t, h.loop, func() {
		if b.ReconnectDelay() != 0 || b.Removed() {
			t.Errorf("delay %v removed %v after the hello, want 0 and false", b.ReconnectDelay(), b.Removed())
		}
	})
}

// A session that ends in the middle of a frame is a protocol error found at
// once, not a healthy backend until the next heartbeat fails.
func TestSessionClosedMidFrame(t *testing.T) {
	tm := testTimings()
	tm.HeartbeatInterval = time.Hour // only the truncated frame may fault it
	h := newHarness(t, tm)
	f := listenFake(t, h.dir, "5320")
	h.start()
	s := f.accept()
	s.hello()
	b := h.backend("5320")
	waitFor(t, h.loop, "backend OK", b.OK)

	s.write(AppendServerHeartbeat(nil)[:2])
	if err := s.c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	faults := h.logs.Wait(t, 1, "backend faulted (reset and reconnect)", "be_id", "5320")
	if r := faults[0]; r.Str("reason") != "protocol error" || !strings.Contains(r.Str("err"), "middle of a frame") {
		t.Errorf("fault reason %q err %q, want a protocol error about a frame cut short", r.Str("reason"), r.Str("err"))
	}
	onLoop(t, h.loop, func() {
		if b.OK() {
			t.Error("backend still OK after its session ended mid-frame")
		}
	})
}
