/*
Tests of guard.go: the reflection guard drops answers to an address not
in the remote table (counted, logged at a limited rate) and lets the same
address's answers through once it is a client; an answer to a client
whose query was forwarded arrives even after a full table refused a
newer client; oversized datagrams are logged at a limited rate with a
summary counting the rest.

Absence is never waited for: a dropped answer would have arrived before
the later one the test does wait for (loopback keeps the order of
datagrams between two sockets).
*/

package proxy_test

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/bunyan"
)

// listenOn opens a UDP socket on ip (127.x.y.z) and returns it with its
// address as the balancer numbers it.
func listenOn(t *testing.T, ip string) (*net.UDPConn, uint32, uint16) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	addr, port := balancerAddr(c.LocalAddr().(*net.UDPAddr).AddrPort())
	return c, addr, port
}

// secondLoopback returns ip, an address in 127.0.0.0/8 other than
// 127.0.0.1, for a test that needs a second client address: Linux routes
// all of 127/8 to lo, but illumos configures only 127.0.0.1 on lo0, so
// there the test skips, saying why.
func secondLoopback(t *testing.T, ip string) string {
	t.Helper()
	if runtime.GOOS == "illumos" {
		t.Skipf("needs a second client address (%s): illumos's lo0 has only 127.0.0.1", ip)
	}
	return ip
}

// readOne reads one datagram from c (failing the test after waitLimit).
func readOne(t *testing.T, c *net.UDPConn) string {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(waitLimit))
	n, _, err := c.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("receive on %v: %v", c.LocalAddr(), err)
	}
	return string(buf[:n])
}

func TestUDPAnswerToUnknownAddressDropped(t *testing.T) {
	h, _ := newUDPHarness(t, "")
	victim, vaddr, vport := listenOn(t, "127.0.0.1") // the client's address, another port: it sent nothing
	msg := "dropping UDP answer to an address that sent no query"
	onLoop(t, h.loop, func() {
		for range 30 {
			h.udp.SendAnswer(nil, vaddr, vport, []byte("reflected"))
		}
		if st := h.udp.Stats(); st.DropNotClient != 30 || st.Answered != 0 {
			t.Errorf("stats %+v, want 30 dropped by the guard, none answered", st)
		}
	})
	// Once the address is a client its answers go out; the first datagram
	// the victim sees must be this one.
	h.makeKnown(vaddr)
	onLoop(t, h.loop, func() { h.udp.SendAnswer(nil, vaddr, vport, []byte("asked for")) })
	if got := readOne(t, victim); got != "asked for" {
		t.Errorf("the address got %q first, want \"asked for\" (a reflected answer went out)", got)
	}
	rs := h.logs.Find(t, msg)
	if len(rs) != bunyan.DefaultRate.Burst {
		t.Errorf("%d %q records for 30 drops at once, want the burst of %d", len(rs), msg, bunyan.DefaultRate.Burst)
	}
	if len(rs) > 0 && (rs[0].Str("remote_ip") != "127.0.0.1" || rs[0].Num("remote_port") != float64(vport) || rs[0].Str("level") != "40") {
		t.Errorf("record %v, want warn with remote_ip 127.0.0.1 and remote_port %d", rs[0], vport)
	}
	// The process's one flush, a second later (by hand: no waiting).
	h.flushLimits(time.Second)
	sum := h.logs.Find(t, "log records suppressed", "suppressed_msg", msg)
	if len(sum) != 1 || int(sum[0].Num("suppressed")) != 30-bunyan.DefaultRate.Burst {
		t.Errorf("summaries %v, want one of %d suppressed", sum, 30-bunyan.DefaultRate.Burst)
	}
}

func TestUDPAnswerReachesClientInFullTable(t *testing.T) {
	h, s := newUDPHarness(t, "5301")
	onLoop(t, h.loop, func() { h.table.SetMaxRemotes(1) })
	addr, port := h.clientAddr()
	h.send([]byte("query"))
	q := s.Expect(backend.FrameInboundUDP)

	// A second client while the first's query is outstanding: the table
	// is full of a remote seen just now, so the newcomer is served
	// untracked and the first client stays.
	other, oaddr, oport := listenOn(t, secondLoopback(t, "127.0.0.78"))
	if _, err := other.WriteToUDPAddrPort([]byte("query 2"), h.to); err != nil {
		t.Fatal(err)
	}
	q2 := s.Expect(backend.FrameInboundUDP)
	var known bool
	onLoop(t, h.loop, func() { known = h.table.Known(oaddr) })
	if q2.Addr != oaddr || q2.Port != oport || known {
		t.Errorf("untracked query from %#x:%d (known %v), want %#x:%d, not in the table", q2.Addr, q2.Port, known, oaddr, oport)
	}

	// The backend answers the newcomer twice (one answer per query
	// passes: the answer carries the query's DNS ID, its first two
	// bytes "qu"), with another ID, to another port of its address and
	// to an address that never asked once each, and the first client.
	s.Write(backend.AppendOutboundUDP(nil, oaddr, oport, []byte("qu answer 2")))
	s.Write(backend.AppendOutboundUDP(nil, oaddr, oport, []byte("qu answer 2 again")))
	s.Write(backend.AppendOutboundUDP(nil, oaddr, oport, []byte("qX another ID")))
	s.Write(backend.AppendOutboundUDP(nil, oaddr, oport+1, []byte("qu other port")))
	s.Write(backend.AppendOutboundUDP(nil, 0x7F00004F, oport, []byte("qu never asked")))
	s.Write(backend.AppendOutboundUDP(nil, q.Addr, q.Port, []byte("answer")))
	if got, _ := h.receive(); got == nil || string(got) != "answer" {
		t.Errorf("client got %q, want its answer", got)
	}
	if got := readOne(t, other); got != "qu answer 2" {
		t.Errorf("untracked client got %q first, want its answer", got)
	}
	if q.Addr != addr || q.Port != port {
		t.Errorf("query from %#x:%d, want %#x:%d", q.Addr, q.Port, addr, port)
	}
	onLoop(t, h.loop, func() {
		if st := h.udp.Stats(); st.DropNotClient != 4 || st.Answered != 2 || st.ServedUntracked != 1 || st.DropNoBackend != 0 {
			t.Errorf("stats %+v, want 2 answered, 4 dropped by the guard, 1 served untracked", st)
		}
		if st := h.table.Stats(); st.Untracked != 1 {
			t.Errorf("table stats %+v, want 1 untracked", st)
		}
	})
}

func TestUDPOversizedRateLimited(t *testing.T) {
	h, _ := newUDPHarness(t, "")
	msg := "dropping oversized UDP packet"
	big := make([]byte, backend.MaxUDPLength+1)
	const n = 200
	start := time.Now()
	// In batches that the socket's receive buffer surely holds.
	for sent := 0; sent < n; {
		for range 20 {
			h.send(big)
			sent++
		}
		waitFor(t, h.loop, "a batch of oversized datagrams", func() bool { return h.udp.Stats().DropOversize == uint64(sent) })
	}
	elapsed := time.Since(start)
	rs := h.logs.Find(t, msg)
	// The burst, plus 10 a second while they kept coming.
	if max := bunyan.DefaultRate.Burst + int(elapsed.Seconds()*10) + 1; len(rs) < bunyan.DefaultRate.Burst || len(rs) > max {
		t.Errorf("%d %q records for %d datagrams in %v, want %d..%d", len(rs), msg, n, elapsed, bunyan.DefaultRate.Burst, max)
	}
	if len(rs) > 0 && (rs[0].Str("level") != "40" || rs[0].Str("len") != "1501" || rs[0].Str("remote_ip") != "127.0.0.1") {
		t.Errorf("record %v, want warn, len 1501, remote_ip 127.0.0.1", rs[0])
	}
	// The summaries (one a second, and the process's flush a second after
	// the last, by hand) account for every datagram not logged.
	h.flushLimits(time.Second)
	got := 0
	for _, r := range h.logs.Find(t, "log records suppressed", "suppressed_msg", msg) {
		got += int(r.Num("suppressed"))
	}
	if want := n - len(rs); got != want {
		t.Errorf("summaries count %d suppressed, want %d", got, want)
	}
}
