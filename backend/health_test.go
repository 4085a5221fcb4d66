package backend_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/backend/backendtest"
	"github.com/joyent/mname-balancer/evport"
)

const (
	msgEjected  = "backend answers no queries; ejected"
	msgReturned = "backend answers queries again; returned"
	msgCapped   = "backend answers no queries; not ejected: too many backends ejected already"
)

// healthTimings: the default probe, ejection and heartbeat intervals (on
// the hand-driven clock), nothing else that fires.
func healthTimings() backend.Timings {
	tm := backend.DefaultTimings()
	tm.Scan = time.Hour
	tm.ReconnectFirst = time.Hour
	return tm
}

// query forwards one client query to b and reads its frame from s.
func query(t *testing.T, h *harness, b *backend.Backend, s *backendtest.Session) {
	t.Helper()
	onLoop(t, h.loop, func() {
		if !b.ForwardUDP(0x7F000001, 5353, []byte("q")) {
			t.Error("ForwardUDP refused")
		}
	})
	if f := s.Expect(backend.FrameInboundUDP); f.Addr != 0x7F000001 {
		t.Fatalf("query frame from %#x, want the client's", f.Addr)
	}
}

// usable reads b.Usable and b.OK on the loop.
func usable(t *testing.T, h *harness, b *backend.Backend) (usable, ok bool) {
	onLoop(t, h.loop, func() { usable, ok = b.Usable(), b.OK() })
	return
}

// expectProbe reads the balancer's own probe query: from 0.0.0.0 port 0,
// a DNS query for bbal-probe.invalid.
func expectProbe(t *testing.T, s *backendtest.Session) {
	t.Helper()
	f := s.Expect(backend.FrameInboundUDP)
	if f.Addr != 0 || f.Port != 0 || !bytes.Contains(f.Data, []byte("\x0abbal-probe\x07invalid\x00")) {
		t.Fatalf("probe frame from %#x:%d with %q, want a query for bbal-probe.invalid from 0.0.0.0:0", f.Addr, f.Port, f.Data)
	}
}

// TestEjectOnUnansweredQueries, on the hand-driven clock: a backend whose
// heartbeats are answered but whose queries are not is ejected at the
// first query EjectAfter after the first unanswered one (not a nanosecond
// sooner), with the evidence at warn; Select skips it; while ejected it is
// sent a probe query every EjectProbe, and its answer (which reaches no
// client) returns it. A backend that answers, however late, is never
// ejected.
func TestEjectOnUnansweredQueries(t *testing.T) {
	tm := healthTimings()
	h := newClockHarness(t, tm)
	_, b, s := h.startOK("5301")
	b2, _ := fakeOK(t, h, "5302")

	// Slow but answering: one answer each EjectAfter-1ns keeps it in use.
	for range 4 {
		query(t, h, b, s)
		query(t, h, b, s)
		query(t, h, b, s)
		h.advance(tm.EjectAfter - time.Nanosecond)
		query(t, h, b, s)
		s.Expect(backend.FrameClientHeartbeat) // the heartbeat probe, at ProbeAfter
		s.Write(backend.AppendServerHeartbeat(nil))
		waitFor(t, h.loop, "heartbeat answered", func() bool { return b.State() == backend.StateOK })
		s.Write(backend.AppendOutboundUDP(nil, 0x7F000001, 5353, []byte("a")))
		waitFor(t, h.loop, "answer counted", func() bool { return b.Stats.Answers > 0 })
		onLoop(t, h.loop, func() { b.Stats.Answers = 0 })
	}
	h.mu.Lock()
	h.answers = nil
	h.mu.Unlock()
	if u, _ := usable(t, h, b); !u || h.stats(b).Ejections != 0 {
		t.Fatalf("a backend that answers within EjectAfter: usable %v, %d ejections; want usable, none", u, h.stats(b).Ejections)
	}

	// Unanswered from here; the heartbeat probe at ProbeAfter is answered.
	query(t, h, b, s)
	query(t, h, b, s)
	query(t, h, b, s)
	h.advance(tm.ProbeAfter)
	query(t, h, b, s)
	s.Expect(backend.FrameClientHeartbeat)
	s.Write(backend.AppendServerHeartbeat(nil))
	waitFor(t, h.loop, "heartbeat answered", func() bool { return b.State() == backend.StateOK })
	h.advance(tm.EjectAfter - tm.ProbeAfter - time.Nanosecond)
	query(t, h, b, s)
	if u, _ := usable(t, h, b); !u {
		t.Fatal("ejected before EjectAfter")
	}
	h.advance(time.Nanosecond)
	query(t, h, b, s)
	expectProbe(t, s)
	if u, ok := usable(t, h, b); u || !ok {
		t.Fatalf("after EjectAfter unanswered: usable %v ok %v; want ejected (not usable) and still ok", u, ok)
	}
	h.check()
	recs := h.logs.Find(t, msgEjected)
	if len(recs) != 1 || recs[0].Str("level") != "40" || recs[0].Num("queries_sent") != 6 ||
		recs[0].Num("unanswered_ms") != float64(tm.EjectAfter.Milliseconds()) || recs[0].Num("heartbeats_answered") != 1 ||
		recs[0].Str("unanswered_since") == "" || recs[0].Str("last_answer") == "" {
		t.Errorf("ejection records %v, want one at warn with queries_sent 6, unanswered_ms %d, heartbeats_answered 1, the times",
			recs, tm.EjectAfter.Milliseconds())
	}
	onLoop(t, h.loop, func() {
		for range 4 {
			if got := h.set.Select(); got != b2 {
				t.Errorf("Select picked %v, want only the usable 5302", got.ID())
			}
		}
	})

	// Probed every EjectProbe until it answers; the answer is the balancer's.
	h.advance(tm.EjectProbe - time.Nanosecond)
	h.advance(time.Nanosecond)
	expectProbe(t, s)
	if st := h.stats(b); st.ProbeQueries != 2 || st.Ejections != 1 {
		t.Errorf("%d probe queries, %d ejections; want 2 and 1", st.ProbeQueries, st.Ejections)
	}
	s.Write(backend.AppendOutboundUDP(nil, 0, 0, []byte("refused")))
	waitFor(t, h.loop, "returned after answering the probe", b.Usable)
	h.mu.Lock()
	if len(h.answers) != 0 {
		t.Errorf("the probe's answer reached the sink: %v", h.answers)
	}
	h.mu.Unlock()
	if recs := h.logs.Find(t, msgReturned); len(recs) != 1 || recs[0].Str("level") != "40" || recs[0].Num("ejected_ms") != float64(tm.EjectProbe.Milliseconds()) {
		t.Errorf("return records %v, want one at warn with ejected_ms %d", recs, tm.EjectProbe.Milliseconds())
	}
	h.check()
}

// TestEjectionCap, on the hand-driven clock: of three ok backends at most
// one is ejected at once (MaxEjectPercent 50: one of three); the one the
// cap keeps keeps its traffic, counted and logged once, and is ejected
// once the first returns. A lone backend is never ejected.
func TestEjectionCap(t *testing.T) {
	tm := healthTimings()
	tm.ProbeAfter = time.Hour // heartbeats out of the way
	h := newClockHarness(t, tm)
	_, b1, s1 := h.startOK("5301")

	silent := func(b *backend.Backend, s *backendtest.Session) {
		t.Helper()
		for range 3 {
			query(t, h, b, s)
		}
		h.advance(tm.EjectAfter)
		query(t, h, b, s)
	}
	// Alone: the last usable backend keeps its traffic.
	silent(b1, s1)
	if u, _ := usable(t, h, b1); !u || h.stats(b1).EjectCapped != 1 {
		t.Fatalf("lone backend: usable %v, capped %d; want usable, capped once", u, h.stats(b1).EjectCapped)
	}
	s1.Write(backend.AppendOutboundUDP(nil, 0x7F000001, 5353, []byte("a")))
	waitFor(t, h.loop, "answered", func() bool { return b1.Stats.Answers == 1 })

	b2, s2 := fakeOK(t, h, "5302")
	fakeOK(t, h, "5303")
	silent(b1, s1)
	expectProbe(t, s1)
	silent(b2, s2)
	for range 5 {
		query(t, h, b2, s2)
	}
	if u1, _ := usable(t, h, b1); u1 {
		t.Error("5301 not ejected")
	}
	if u2, _ := usable(t, h, b2); !u2 {
		t.Error("5302 ejected with 5301 ejected already: over the cap")
	}
	if st := h.stats(b2); st.EjectCapped != 1 || st.Ejections != 0 {
		t.Errorf("5302: capped %d, ejections %d; want 1 and 0", st.EjectCapped, st.Ejections)
	}
	if n := len(h.logs.Find(t, msgCapped)); n != 2 { // the lone 5301's, and 5302's once
		t.Errorf("%d cap records, want 2", n)
	}
	// 5301 answers its probe: the cap makes room for 5302.
	s1.Write(backend.AppendOutboundUDP(nil, 0, 0, []byte("a")))
	waitFor(t, h.loop, "5301 returned", b1.Usable)
	query(t, h, b2, s2)
	expectProbe(t, s2)
	if u2, _ := usable(t, h, b2); u2 {
		t.Error("5302 still usable once the cap had room")
	}
	h.check()
}

// TestLateHeartbeatWhileAnswering, on the hand-driven clock: a heartbeat
// whose reply is late while answers to queries keep coming (the reply is
// queued behind a backlog) does not fault the backend: it is waited for
// again, ProbeTimeout at a time; a wait without any answer faults it.
func TestLateHeartbeatWhileAnswering(t *testing.T) {
	tm := healthTimings()
	tm.ProbeAfter = time.Hour
	h := newClockHarness(t, tm)
	_, b, s := h.startOK("5301")
	h.advance(tm.HeartbeatInterval)
	s.Expect(backend.FrameClientHeartbeat)
	for range 3 {
		h.advance(tm.HeartbeatTimeout - time.Millisecond)
		query(t, h, b, s)
		n := h.stats(b).Answers
		s.Write(backend.AppendOutboundUDP(nil, 0x7F000001, 5353, []byte("a")))
		waitFor(t, h.loop, "answer", func() bool { return b.Stats.Answers > n })
		h.advance(time.Millisecond)
		if st, due := h.state(b), h.due(b); st != backend.StateHeartbeat || due != tm.ProbeTimeout {
			t.Fatalf("reply late, answers coming: state %v, due %v; want heartbeat, waited for another %v", st, due, tm.ProbeTimeout)
		}
		tm.HeartbeatTimeout = tm.ProbeTimeout // the waits from now on
	}
	h.advance(tm.ProbeTimeout)
	waitFor(t, h.loop, "faulted after a wait without answers", b.Reconnecting)
	if n := len(h.logs.Find(t, "no heartbeat from backend")); n != 1 {
		t.Errorf("%d \"no heartbeat\" records, want 1", n)
	}
}

// TestSpilledQueriesCountAsUnanswered, on the hand-driven clock: queries
// spilled from a backend whose session is full (NoteSpilled) are counted
// in Spilled and run its unanswered clock as forwarded ones do, so a
// backend that is full because it answers nothing is ejected all the same.
func TestSpilledQueriesCountAsUnanswered(t *testing.T) {
	tm := healthTimings()
	tm.ProbeAfter = time.Hour // only the ejection's clock is of interest
	h := newClockHarness(t, tm)
	_, b, s := h.startOK("5301")
	fakeOK(t, h, "5302") // ejection never takes the last usable backend
	spill := func() { onLoop(t, h.loop, b.NoteSpilled) }
	spill()
	spill()
	spill()
	h.advance(tm.EjectAfter - time.Nanosecond)
	spill()
	if u, _ := usable(t, h, b); !u {
		t.Fatal("ejected before EjectAfter")
	}
	h.advance(time.Nanosecond)
	spill()
	if u, ok := usable(t, h, b); u || !ok {
		t.Fatalf("after EjectAfter of spilled queries: usable %v ok %v; want ejected and still ok", u, ok)
	}
	expectProbe(t, s)
	if st := h.stats(b); st.Spilled != 5 || st.UDP != 0 || st.Ejections != 1 {
		t.Errorf("stats %+v, want 5 spilled, none forwarded, 1 ejection", st)
	}
	h.check()
}

// TestFaultWhileEjectedIsNotStable, on the hand-driven clock: flap
// damping counts a session that faults while ejected as unstable, however
// long it was ok (its reconnect delay keeps growing, 1 s then 3 s), while
// a session ok for StableAfter and not ejected starts the sequence again
// (1 s).
func TestFaultWhileEjectedIsNotStable(t *testing.T) {
	tm := backend.DefaultTimings()
	tm.Scan, tm.HeartbeatInterval, tm.ProbeAfter = time.Hour, time.Hour, time.Hour
	h := newClockHarness(t, tm)
	f, b, s := h.startOK("5301")
	fakeOK(t, h, "5302") // ejection never takes the last usable backend
	fault := func() {
		s.Write(backend.AppendServerHello(nil)) // a duplicate hello
		waitFor(t, h.loop, "fault", b.Reconnecting)
	}
	hello := func() {
		s.Hello()
		waitFor(t, h.loop, "backend OK", b.OK)
	}
	fault() // a flap: the first delay
	s = reconnectsAfter(t, h, f, b, "after a flap", tm.ReconnectFirst)
	hello()
	h.advance(tm.StableAfter)
	query(t, h, b, s)
	query(t, h, b, s)
	query(t, h, b, s)
	h.advance(tm.EjectAfter)
	query(t, h, b, s)
	expectProbe(t, s)
	onLoop(t, h.loop, func() {
		if ejected, _ := b.Ejected(); !ejected || b.Stable() {
			t.Errorf("ok for StableAfter+EjectAfter with queries unanswered: ejected %v, stable %v; want ejected, not stable", ejected, b.Stable())
		}
		// The operator's timer list names the ejection's probe timer.
		labels := map[*evport.Timer]string{}
		h.set.NameTimers(func(t *evport.Timer, arg string) { labels[t] = arg })
		named := false
		for _, ti := range h.loop.AppendTimers(nil) {
			if labels[ti.Timer] == "" {
				t.Errorf("scheduled timer %s has no label", ti.Func)
			}
			named = named || labels[ti.Timer] == "backend 5301 (ejection probe)"
		}
		if !named {
			t.Errorf("no timer labelled as 5301's ejection probe among %v", labels)
		}
	})
	fault()
	s = reconnectsAfter(t, h, f, b, "after a fault while ejected", tm.ReconnectFirst+tm.ReconnectStep)
	hello()
	h.advance(tm.StableAfter)
	fault()
	reconnectsAfter(t, h, f, b, "after a stable session's fault", tm.ReconnectFirst)
}
