/*
 * Tests of the UDP path (udp.go): a client datagram reaches the
 * backend as INBOUND_UDP naming the client, the backend's OUTBOUND_UDP
 * answer reaches the client from the listening port, oversized datagrams
 * and datagrams without a backend are dropped and counted as they should
 * be, and a failed answer is logged without flooding.
 *
 * The allocation tests are the proof the design asks for ("no allocation
 * per datagram on the packet path"): with trace logging off, forwarding a
 * datagram to an established backend for a known remote, and sending an
 * answer back, allocate nothing. They stop the loop and drive it from the
 * test goroutine (see udp_helpers_test.go) so that testing.AllocsPerRun
 * measures the loop's own work, including the end-of-turn flush, and
 * nothing else is running in the process meanwhile.
 */

package proxy_test

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
	"testing"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/backend/backendtest"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/remote"
)

const localhost = 0x7F000001

func TestUDPForwardAndAnswer(t *testing.T) {
	h, s := newUDPHarness(t, "5301")
	addr, port := h.clientAddr()

	h.send([]byte("query-0"))
	f := s.Expect(backend.FrameInboundUDP)
	if f.Addr != addr || f.Port != port || string(f.Data) != "query-0" {
		t.Fatalf("backend got %#x:%d %q, want %#x:%d \"query-0\"", f.Addr, f.Port, f.Data, addr, port)
	}

	s.Write(backend.AppendOutboundUDP(nil, f.Addr, f.Port, []byte("answer-0")))
	msg, from := h.receive()
	if string(msg) != "answer-0" {
		t.Errorf("client got %q, want \"answer-0\"", msg)
	}
	if want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), h.udp.Port()); from != want {
		t.Errorf("answer came from %v, want the listening socket %v", from, want)
	}

	// More than one read batch, each datagram in order; the largest allowed
	// among them.
	const n = 40
	for i := 1; i <= n; i++ {
		q := []byte("query-" + strconv.Itoa(i))
		if i == n {
			q = bytes.Repeat([]byte{'x'}, backend.MaxUDPLength)
		}
		h.send(q)
	}
	for i := 1; i <= n; i++ {
		f := s.Expect(backend.FrameInboundUDP)
		want := "query-" + strconv.Itoa(i)
		if i == n {
			want = string(bytes.Repeat([]byte{'x'}, backend.MaxUDPLength))
		}
		if f.Addr != addr || f.Port != port || string(f.Data) != want {
			t.Fatalf("frame %d: %#x:%d %d bytes, want %#x:%d %d bytes", i, f.Addr, f.Port, len(f.Data), addr, port, len(want))
		}
	}
	if st, ok := h.remoteStats(addr); !ok || st.UDP != n+1 || st.UDPDrop != 0 {
		t.Errorf("remote stats %+v (found %v), want %d forwarded, none dropped", st, ok, n+1)
	}
	if st := h.backendStats(); st.UDP != n+1 || st.Stuck != 0 {
		t.Errorf("backend stats %+v, want %d UDP", st, n+1)
	}
}

func TestUDPOversizedDropped(t *testing.T) {
	h, s := newUDPHarness(t, "5301")
	addr, port := h.clientAddr()
	drop := "dropping oversized UDP packet"

	for i, size := range []int{backend.MaxUDPLength + 1, 60000} {
		h.send(make([]byte, size))
		rs := h.logs.Wait(t, i+1, drop)
		r := rs[i]
		if r.Str("len") != strconv.Itoa(size) || r.Str("remote_ip") != "127.0.0.1" || r.Str("remote_port") != strconv.Itoa(int(port)) || r.Str("level") != "40" {
			t.Errorf("record %v, want a warning naming 127.0.0.1:%d and len %d", r, port, size)
		}
	}
	// Counted nowhere as forwarded; not even a remote was made.
	onLoop(t, h.loop, func() {
		if h.table.Len() != 0 {
			t.Errorf("%d remotes after oversized datagrams, want none", h.table.Len())
		}
	})
	if st := h.backendStats(); st.UDP != 0 {
		t.Errorf("backend stats %+v after oversized datagrams, want no UDP", st)
	}

	// The next datagram is the backend's first frame: nothing went before it.
	h.send([]byte("small"))
	if f := s.Expect(backend.FrameInboundUDP); string(f.Data) != "small" {
		t.Errorf("backend's first frame carries %d bytes, want \"small\"", len(f.Data))
	}
	if st, ok := h.remoteStats(addr); !ok || st.UDP != 1 || st.UDPDrop != 0 {
		t.Errorf("remote stats %+v, want 1 forwarded, none dropped", st)
	}
	if n := len(h.logs.Find(t, drop)); n != 2 {
		t.Errorf("%d %q records, want 2", n, drop)
	}
}

func TestUDPNoBackend(t *testing.T) {
	h, _ := newUDPHarness(t, "")
	addr, _ := h.clientAddr()
	h.send([]byte("query"))
	waitFor(t, h.loop, "the drop", func() bool {
		ok := false
		h.table.Each(func(r *remote.Remote) { ok = ok || (r.Addr == addr && r.Stats.UDPDrop == 1) })
		return ok
	})
	h.send([]byte("query again"))
	waitFor(t, h.loop, "the second drop", func() bool {
		ok := false
		h.table.Each(func(r *remote.Remote) { ok = ok || (r.Addr == addr && r.Stats.UDPDrop == 2) })
		return ok
	})
	if st, _ := h.remoteStats(addr); st.UDP != 0 {
		t.Errorf("remote stats %+v, want nothing forwarded", st)
	}
	if n := len(h.logs.Find(t, "no backends available")); n != 1 {
		t.Errorf("%d \"no backends available\" records, want 1", n)
	}
}

// An answer the socket will not send is C's "outbound UDP packet error", at
// error on the backend's logger (be_id), rate-limited: one record for the
// batch, counting what it dropped.
func TestUDPAnswerSendError(t *testing.T) {
	h, s := newUDPHarness(t, "5301")
	msg := "outbound UDP packet error"
	h.makeKnown(localhost)
	// Port 0 is not a destination: sendto fails (EINVAL on Linux). The
	// three answers of one backend read go out as one batch.
	var frames []byte
	for range 3 {
		frames = backend.AppendOutboundUDP(frames, localhost, 0, []byte("answer"))
	}
	s.Write(frames)
	waitFor(t, h.loop, "the send error", func() bool { return h.udp.Stats().DropSendError == 3 })
	rs := h.logs.Find(t, msg)
	if len(rs) != 1 || rs[0].Str("level") != "50" || rs[0].Str("be_id") != "5301" || rs[0].Str("dest_ip") != "127.0.0.1" ||
		rs[0].Str("dest_port") != "0" || rs[0].Str("data_len") != "6" || rs[0].Str("errno") == "" || rs[0].Str("dropped") != "3" {
		t.Errorf("records %v, want one at error for be_id 5301, dest 127.0.0.1:0, data_len 6, an errno and dropped 3", rs)
	}
	// A good answer still goes out.
	addr, port := h.clientAddr()
	onLoop(t, h.loop, func() { h.udp.SendAnswer(nil, addr, port, []byte("fine")) })
	if got, _ := h.receive(); string(got) != "fine" {
		t.Errorf("client got %q, want \"fine\"", got)
	}
}

// The answers of one turn go out in one batch, whichever backends sent
// them: failing answers make one record that counts them all (a second
// flush's failure would fall inside the record's rate limit and leave
// dropped at 1), on the logger of the backend whose answer failed first,
// wherever it was in the batch.
func TestUDPAnswerBatchMixesBackends(t *testing.T) {
	type answer struct {
		from string // "": no backend
		ok   bool   // to the client, or to port 0 (fails)
		msg  string
	}
	for _, tc := range []struct {
		answers        []answer
		beID, dataLen  string
		dropped, count int
	}{
		{[]answer{{"", false, "no backend's"}, {"5301", false, "5301's"}}, "", "12", 2, 2},
		{[]answer{{"5301", false, "5301's"}, {"", false, "no backend's"}}, "5301", "6", 2, 2},
		{[]answer{{"", true, "fine"}, {"5301", false, "5301's"}}, "5301", "6", 1, 1},
	} {
		h, _ := newUDPHarness(t, "5301")
		h.makeKnown(localhost)
		addr, port := h.clientAddr()
		h.makeKnown(addr)
		onLoop(t, h.loop, func() {
			for _, a := range tc.answers {
				var b *backend.Backend
				if a.from != "" {
					b = h.set.Lookup(5301)
				}
				to, toPort := uint32(localhost), uint16(0)
				if a.ok {
					to, toPort = addr, port
				}
				h.udp.SendAnswer(b, to, toPort, []byte(a.msg))
			}
		})
		rs := h.logs.Find(t, "outbound UDP packet error")
		if len(rs) != 1 || rs[0].Str("be_id") != tc.beID || rs[0].Str("dropped") != strconv.Itoa(tc.dropped) || rs[0].Str("data_len") != tc.dataLen {
			t.Errorf("answers %v: records %v, want one with be_id %q, dropped %d, data_len %s", tc.answers, rs, tc.beID, tc.dropped, tc.dataLen)
		}
		if st := h.udp.Stats(); st.DropSendError != uint64(tc.count) {
			t.Errorf("answers %v: %d send errors counted, want %d", tc.answers, st.DropSendError, tc.count)
		}
	}
}

// Answers read from two backends in one wait leave together: both fail
// (port 0), and one record counts both (two flushes would make the second
// failure fall inside the record's rate limit, leaving dropped at 1).
func TestUDPAnswersOfOneWaitLeaveInOneBatch(t *testing.T) {
	h, ss := newUDPHarnessOf(t, "5301", "5302")
	h.makeKnown(localhost)
	// Both written while the loop is stopped (an AF_UNIX write is queued
	// at the peer when it returns), so its first wait returns both.
	h.run.Stop()
	for _, s := range ss {
		s.Write(backend.AppendOutboundUDP(nil, localhost, 0, []byte("answer")))
	}
	h.run.Start()
	waitFor(t, h.loop, "both send errors", func() bool { return h.udp.Stats().DropSendError == 2 })
	rs := h.logs.Find(t, "outbound UDP packet error")
	if len(rs) != 1 || rs[0].Str("dropped") != "2" {
		t.Errorf("records %v, want one counting both answers (dropped 2)", rs)
	}
}

// After Close (the shutdown grace period) a late answer is dropped without a
// send: the socket's fd number may already be reused by a backend session.
func TestUDPAnswerAfterCloseDropped(t *testing.T) {
	h, _ := newUDPHarness(t, "")
	addr, port := h.clientAddr()
	onLoop(t, h.loop, func() {
		h.udp.Close()
		h.udp.SendAnswer(nil, addr, port, []byte("late"))
	})
	if rs := h.logs.Find(t, "outbound UDP packet error"); len(rs) != 0 {
		t.Errorf("a send was attempted on the closed socket: %v", rs)
	}
}

// loopTurn returns a function that runs the stopped loop for one turn: a
// due timer stops Run after the turn's flush. (Not Post: under -race its
// wake-up write allocates, and Post is no part of the packet path.)
func loopTurn(t *testing.T, h *udpHarness) func() {
	loop := h.loop
	stopper := loop.NewTimer(loop.Stop)
	return func() {
		stopper.Reset(0)
		if err := loop.Run(); err != nil {
			t.Fatalf("loop turn: %v", err)
		}
	}
}

// TestUDPForwardDoesNotAllocate: UDP.Forward for a known remote whose
// backend session is established, followed by the loop turn that flushes
// the frame to the backend, allocates nothing.
func TestUDPForwardDoesNotAllocate(t *testing.T) {
	h, s := newUDPHarness(t, "5301")
	addr, port := h.clientAddr()
	h.send([]byte("hello")) // makes the remote and picks its primary
	s.Expect(backend.FrameInboundUDP)

	h.run.Stop()
	turn := loopTurn(t, h)
	msg := make([]byte, 64)
	forwarded := 0
	forward := func() {
		binary.BigEndian.PutUint32(msg, uint32(forwarded))
		forwarded++
		h.udp.Forward(msg, addr, port)
		turn()
	}
	for range 10 {
		forward() // warm up: buffers reach their working size
	}
	if n := testing.AllocsPerRun(100, forward); n != 0 {
		t.Errorf("forwarding a datagram and flushing it allocates %v times, want 0", n)
	}
	h.run.Start()

	// Every datagram reached the backend, in order, and was counted.
	expectNumberedFrames(t, s, forwarded, addr, port, len(msg))
	if st, _ := h.remoteStats(addr); st.UDP != uint64(forwarded+1) {
		t.Errorf("remote counted %d forwarded, want %d", st.UDP, forwarded+1)
	}
}

// TestUDPSendAnswerDoesNotAllocate: sending a backend's answer to the
// client, queued by SendAnswer and sent by the loop once the turn's
// handlers have run, allocates nothing.
func TestUDPSendAnswerDoesNotAllocate(t *testing.T) {
	h, _ := newUDPHarness(t, "5301")
	addr, port := h.clientAddr()
	h.makeKnown(addr)
	answer := []byte("an answer")
	h.run.Stop()
	turn := loopTurn(t, h)
	send := func() {
		// Queued here, sent in the loop turn that follows.
		before := h.udp.Stats().Answered
		h.udp.SendAnswer(nil, addr, port, answer)
		turn()
		if h.udp.Stats().Answered != before+1 {
			t.Fatalf("the answer was not sent in the turn")
		}
	}
	n := testing.AllocsPerRun(100, send)
	h.run.Start()
	if n != 0 {
		t.Errorf("sending an answer allocates %v times, want 0", n)
	}
	got, from := h.receive()
	if string(got) != string(answer) || from.Port() != h.udp.Port() {
		t.Errorf("client got %q from %v, want %q from port %d", got, from, answer, h.udp.Port())
	}
}

// loopTurns returns a function that runs the stopped loop through one
// turn that waits for readiness (with a zero timeout) and dispatches it,
// then a second turn that flushes and stops: the whole of what the running
// loop does for a datagram, from the socket's wake-up to the flush.
func loopTurns(t *testing.T, h *udpHarness) func() {
	loop := h.loop
	stopper := loop.NewTimer(loop.Stop)
	waiter := loop.NewTimer(func() { stopper.Reset(0) })
	return func() {
		waiter.Reset(0)
		if err := loop.Run(); err != nil {
			t.Fatalf("loop turns: %v", err)
		}
	}
}

// TestUDPSocketToBackendDoesNotAllocate: the whole inbound path, from a
// datagram waiting on the listening socket (read by the loop's readiness
// handler, a batch ending in EAGAIN) to its frame flushed to the backend,
// allocates nothing. The client's send (net.UDPConn.WriteToUDPAddrPort)
// allocates nothing either, so the count is the balancer's.
func TestUDPSocketToBackendDoesNotAllocate(t *testing.T) {
	h, s := newUDPHarness(t, "5301")
	addr, port := h.clientAddr()
	h.send([]byte("hello"))
	s.Expect(backend.FrameInboundUDP)

	h.run.Stop()
	turns := loopTurns(t, h)
	msg := make([]byte, 64)
	sent := 0
	inbound := func() {
		binary.BigEndian.PutUint32(msg, uint32(sent))
		sent++
		if _, err := h.client.WriteToUDPAddrPort(msg, h.to); err != nil {
			t.Fatalf("client send: %v", err)
		}
		turns()
	}
	for range 10 {
		inbound()
	}
	n := testing.AllocsPerRun(100, inbound)
	h.run.Start()
	if n != 0 {
		t.Errorf("receiving a datagram and forwarding it to its backend allocates %v times, want 0", n)
	}
	expectNumberedFrames(t, s, sent, addr, port, len(msg))
}

// TestBackendAnswerToClientDoesNotAllocate: the whole outbound path, from
// an OUTBOUND_UDP frame arriving on the backend session (read and parsed
// by the session's Conn and Backend) to the datagram sent to the client,
// allocates nothing.
func TestBackendAnswerToClientDoesNotAllocate(t *testing.T) {
	h, s := newUDPHarness(t, "5301")
	addr, port := h.clientAddr()
	h.makeKnown(addr)

	h.run.Stop()
	turns := loopTurns(t, h)
	answer := make([]byte, 64)
	var frame []byte
	sent := 0
	outbound := func() {
		binary.BigEndian.PutUint32(answer, uint32(sent))
		sent++
		frame = backend.AppendOutboundUDP(frame[:0], addr, port, answer)
		if _, err := s.Conn.Write(frame); err != nil {
			t.Fatalf("backend write: %v", err)
		}
		turns()
	}
	for range 10 {
		outbound()
	}
	n := testing.AllocsPerRun(100, outbound)
	h.run.Start()
	if n != 0 {
		t.Errorf("receiving an answer from a backend and sending it to the client allocates %v times, want 0", n)
	}
	got, from := h.receive()
	if len(got) != len(answer) || binary.BigEndian.Uint32(got) != 0 || from.Port() != h.udp.Port() {
		t.Errorf("client got %d bytes numbered %d from %v, want the first answer from port %d", len(got), binary.BigEndian.Uint32(got), from, h.udp.Port())
	}
}

// TestUDPBurstLongerThanABatch: a burst of several batches' worth of
// datagrams, all waiting before the loop reads any, is forwarded whole and
// in order. The socket stays armed between batches (Watch): nothing more
// arrives after the burst, so a socket left disarmed after its first
// batch would strand the rest.
func TestUDPBurstLongerThanABatch(t *testing.T) {
	h, s := newUDPHarness(t, "5301")
	addr, port := h.clientAddr()
	h.send([]byte("hello")) // makes the remote and picks its primary
	s.Expect(backend.FrameInboundUDP)

	const burst = 3*evport.DatagramBatch + 5
	onLoop(t, h.loop, func() {
		// Sent from the loop, so all are queued on the socket before it
		// next reads.
		msg := make([]byte, 8)
		for i := 0; i < burst; i++ {
			binary.BigEndian.PutUint32(msg, uint32(i))
			if _, err := h.client.WriteToUDPAddrPort(msg, h.to); err != nil {
				t.Errorf("client send: %v", err)
			}
		}
	})
	expectNumberedFrames(t, s, burst, addr, port, 8)
}

// TestUDPAnswersLongerThanABatch: a callback that queues more answers than
// one batch holds sends the full batch at once and goes on queueing, so
// every answer arrives, in order, and each is counted.
func TestUDPAnswersLongerThanABatch(t *testing.T) {
	h, _ := newUDPHarness(t, "")
	addr, port := h.clientAddr()
	h.makeKnown(addr)
	const n = evport.DatagramBatch + 1
	var answered uint64
	onLoop(t, h.loop, func() {
		before := h.udp.Stats().Answered
		msg := make([]byte, 4)
		for i := 0; i < n; i++ {
			binary.BigEndian.PutUint32(msg, uint32(i))
			h.udp.SendAnswer(nil, addr, port, msg)
		}
		h.loop.AtTurnEnd(func() { answered = h.udp.Stats().Answered - before })
	})
	for i := 0; i < n; i++ {
		msg, _ := h.receive()
		if got := binary.BigEndian.Uint32(msg); got != uint32(i) {
			t.Fatalf("answer %d arrived numbered %d", i, got)
		}
	}
	if answered != n {
		t.Errorf("%d answers counted, want %d", answered, n)
	}
}

// TestUDPCloseSendsQueuedAnswers: answers queued earlier in the callback
// that closes the proxy still go out.
func TestUDPCloseSendsQueuedAnswers(t *testing.T) {
	h, _ := newUDPHarness(t, "")
	addr, port := h.clientAddr()
	h.makeKnown(addr)
	onLoop(t, h.loop, func() {
		h.udp.SendAnswer(nil, addr, port, []byte("queued"))
		h.udp.Close()
	})
	if msg, _ := h.receive(); string(msg) != "queued" {
		t.Errorf("received %q, want the queued answer", msg)
	}
}

// expectNumberedFrames reads n INBOUND_UDP frames from s: from addr:port,
// size bytes each, numbered 0 to n-1 in their first four bytes, in order.
func expectNumberedFrames(t *testing.T, s *backendtest.Session, n int, addr uint32, port uint16, size int) {
	t.Helper()
	for i := 0; i < n; i++ {
		f := s.Expect(backend.FrameInboundUDP)
		if f.Addr != addr || f.Port != port || len(f.Data) != size || binary.BigEndian.Uint32(f.Data) != uint32(i) {
			t.Fatalf("frame %d: %#x:%d %d bytes numbered %d", i, f.Addr, f.Port, len(f.Data), binary.BigEndian.Uint32(f.Data))
		}
	}
}

// TestUntrackedClientDoesNotAllocate: a client a full table serves
// untracked (its query forwarded by a hash, noted for the reflection
// guard) and its answer (passing the guard once), each with the loop turn
// that flushes it, allocate nothing.
func TestUntrackedClientDoesNotAllocate(t *testing.T) {
	h, s := newUDPHarness(t, "5301")
	addr, port := h.clientAddr()
	onLoop(t, h.loop, func() { h.table.SetMaxRemotes(1) })
	h.makeKnown(0x0A000001) // the table is full of a remote seen now
	h.run.Stop()
	turn := loopTurn(t, h)
	msg := make([]byte, 64)
	n := 0
	both := func() {
		binary.BigEndian.PutUint16(msg, uint16(n))
		n++
		h.udp.Forward(msg, addr, port)
		turn()
		h.udp.SendAnswer(nil, addr, port, msg)
		turn()
	}
	for range 10 {
		both()
	}
	if a := testing.AllocsPerRun(100, both); a != 0 {
		t.Errorf("an untracked client's query and answer allocate %v times, want 0", a)
	}
	h.run.Start()
	onLoop(t, h.loop, func() {
		if st := h.udp.Stats(); st.ServedUntracked != uint64(n) || st.Answered != uint64(n) || st.DropNotClient != 0 {
			t.Errorf("stats %+v, want %d served untracked and answered, none dropped", st, n)
		}
	})
	for i := 0; i < n; i++ {
		if f := s.Expect(backend.FrameInboundUDP); f.Addr != addr || f.Port != port || binary.BigEndian.Uint16(f.Data) != uint16(i) {
			t.Fatalf("frame %d: %#x:%d ID %d", i, f.Addr, f.Port, binary.BigEndian.Uint16(f.Data))
		}
	}
}

// TestUDPRateCappedDropAllocatesNothing: a client over its rate cap has
// its datagrams dropped, counted against it and in DropRateCapped, never
// forwarded; the drop and its loop turn allocate nothing.
func TestUDPRateCappedDropAllocatesNothing(t *testing.T) {
	h, s := newUDPHarness(t, "5301")
	addr, port := h.clientAddr()
	onLoop(t, h.loop, func() { h.table.SetRateCap(1, 1) }) // one a second: the clock will not reach the next
	h.send([]byte("admitted"))
	if f := s.Expect(backend.FrameInboundUDP); string(f.Data) != "admitted" {
		t.Fatalf("backend got %q, want the first query", f.Data)
	}
	h.run.Stop()
	turn := loopTurn(t, h)
	msg := make([]byte, 64)
	dropped := 0
	drop := func() {
		h.udp.Forward(msg, addr, port)
		dropped++
		turn()
	}
	for range 10 {
		drop()
	}
	if a := testing.AllocsPerRun(100, drop); a != 0 {
		t.Errorf("a rate-capped drop allocates %v times, want 0", a)
	}
	h.run.Start()
	onLoop(t, h.loop, func() {
		if st := h.udp.Stats(); st.DropRateCapped != uint64(dropped) || st.Forwarded != 1 {
			t.Errorf("stats %+v, want %d rate-capped and 1 forwarded", st, dropped)
		}
	})
	if st, _ := h.remoteStats(addr); st.UDPDrop != uint64(dropped) || st.UDP != 1 {
		t.Errorf("remote stats %+v, want %d dropped and 1 forwarded", st, dropped)
	}
}
