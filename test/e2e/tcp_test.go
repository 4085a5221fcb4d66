//go:build linux

/*
End-to-end tests of the TCP path: the real bbal in front of real
node-mname backends (test/peers/mname-backend.js), driven by DNS-over-TCP
clients on 127.0.0.x addresses.

What is covered:

  - queries: a single exchange with dns.Client; several queries written in
    one go on one connection and answered by ID (they reach the balancer
    before the backend's INBOUND_TCP_OK, so they also prove that early
    client bytes are held, not lost); an answer over 16 KiB; a client that
    half-closes right after its query gets its answer and then EOF (passed
    on by the balancer, not caused by node-mname's idle timeout); the
    backend sees the client's own address and port;
  - a backend that never answers INBOUND_TCP is faulted after the timeout
    and the client is disconnected;
  - back-pressure: a client that never reads while the backend streams
    answers far larger than the balancer's buffers and the kernel's
    socket buffers together. Measured from outside the balancer: once the
    pipeline is quiet, the balancer's send buffer to the client is full
    (the kernel takes no more) while bytes from the backend sit unread in
    the balancer's AF_UNIX receive queue (it stopped reading instead of
    buffering), its RSS has grown by far less than the answers still held
    back by the backend, and every answer arrives once the client reads;
  - 500 client connections open at once each complete a query, and the
    balancer's descriptors return to their starting count afterwards;
  - killing a backend under an open connection ends that connection
    cleanly, and the next connection is served by another backend.

The checks read the balancer's state from /proc (VmRSS, the fd table,
/proc/net/tcp queues) and from the kernel's sock_diag netlink interface
(AF_UNIX receive queues, TCP send buffer use), hence the Linux build
constraint.

Every wait has a deadline that only turns a hang into a failure; nothing
passes or fails on speed. The one bound on elapsed time is the half-close
check, where 5 s (node-mname's idle timeout) separates "passed on" from
"never passed on", against milliseconds when it works. Connections
are closed by a t.Cleanup registered after StartBalancer, so they are gone
before the balancer's SIGTERM (which would otherwise wait for them).
*/
package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// tcpIOTimeout bounds every client read or write; it only turns a hang
// into a failure.
const tcpIOTimeout = 20 * time.Second

// tcpMnameIdleTimeout is node-mname's default TCP idle timeout: it ends a
// connection with no traffic for this long.
const tcpMnameIdleTimeout = 5 * time.Second

// tcpOKTimeout is the INBOUND_TCP_OK timeout at TimeScale 1.
const tcpOKTimeout = 10 * time.Second

// tcpBigRecords is big.example's default record count in mname-backend.js.
const tcpBigRecords = 2000

// tcpBalancer starts bbal on dir and waits until n backends are up.
func tcpBalancer(t *testing.T, dir string, scale float64, n int) *Balancer {
	t.Helper()
	bal := StartBalancer(t, BalancerConfig{SocketDir: dir, TimeScale: scale})
	bal.WaitLogCount("backend socket established", nil, n, 20*time.Second)
	return bal
}

// tcpDial connects to the balancer from src (an address in 127.0.0.0/8,
// port chosen by the kernel). control, if not nil, runs on the socket
// before connect. The connection is closed at cleanup.
func tcpDial(t *testing.T, bal *Balancer, src string, control func(fd uintptr) error) *net.TCPConn {
	t.Helper()
	d := net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)},
		Timeout:   tcpIOTimeout,
	}
	if control != nil {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			var cerr error
			if err := rc.Control(func(fd uintptr) { cerr = control(fd) }); err != nil {
				return err
			}
			return cerr
		}
	}
	c, err := d.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(bal.Port))
	if err != nil {
		t.Fatalf("dial balancer from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

func tcpQuestion(name string, qtype uint16, id uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = id
	return m
}

// tcpAppendMsg appends m with its two-byte length prefix.
func tcpAppendMsg(t *testing.T, dst []byte, m *dns.Msg) []byte {
	t.Helper()
	wire, err := m.Pack()
	if err != nil {
		t.Fatalf("pack %v: %v", m.Question, err)
	}
	return append(dst, tcpFrame(wire)...)
}

// tcpFrame is the packed message wire with its two-byte length prefix, as
// DNS over TCP sends it.
func tcpFrame(wire []byte) []byte {
	return append(binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(wire)), uint16(len(wire))), wire...)
}

func tcpWrite(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	c.SetWriteDeadline(time.Now().Add(tcpIOTimeout))
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write %d bytes to the balancer: %v", len(b), err)
	}
}

// tcpReadRaw reads one length-prefixed DNS message, not unpacked.
func tcpReadRaw(c net.Conn) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(tcpIOTimeout))
	var prefix [2]byte
	if _, err := io.ReadFull(c, prefix[:]); err != nil {
		return nil, fmt.Errorf("reading a length prefix: %w", err)
	}
	wire := make([]byte, binary.BigEndian.Uint16(prefix[:]))
	if _, err := io.ReadFull(c, wire); err != nil {
		return nil, fmt.Errorf("reading a %d-byte message: %w", len(wire), err)
	}
	return wire, nil
}

// tcpReadMsg reads and unpacks one DNS message.
func tcpReadMsg(t *testing.T, c net.Conn) (*dns.Msg, int) {
	t.Helper()
	wire, err := tcpReadRaw(c)
	if err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(wire); err != nil {
		t.Fatalf("unpacking a %d-byte answer: %v", len(wire), err)
	}
	return m, len(wire)
}

// tcpWhoami returns the id and client named by a whoami.example TXT answer.
func tcpWhoami(t *testing.T, m *dns.Msg) (id, client string) {
	t.Helper()
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("whoami: want one TXT answer, got %v", m)
	}
	txt, ok := m.Answer[0].(*dns.TXT)
	if !ok || len(txt.Txt) != 1 {
		t.Fatalf("whoami: want one TXT string, got %v", m.Answer[0])
	}
	fields := map[string]string{}
	for _, f := range strings.Fields(txt.Txt[0]) {
		k, v, _ := strings.Cut(f, "=")
		fields[k] = v
	}
	if fields["id"] == "" || fields["client"] == "" {
		t.Fatalf("whoami: malformed TXT %q", txt.Txt[0])
	}
	return fields["id"], fields["client"]
}

// tcpAskWhoami sends a whoami query on c and returns the answer's fields.
func tcpAskWhoami(t *testing.T, c net.Conn, id uint16) (backendID, client string) {
	t.Helper()
	tcpWrite(t, c, tcpAppendMsg(t, nil, tcpQuestion("whoami.example.", dns.TypeTXT, id)))
	m, _ := tcpReadMsg(t, c)
	if m.Id != id {
		t.Fatalf("whoami answer has ID %d, want %d", m.Id, id)
	}
	return tcpWhoami(t, m)
}

// tcpCheckBig checks a big.example answer: n distinct A records in
// 198.18.0.0/15.
func tcpCheckBig(t *testing.T, m *dns.Msg, n int) {
	t.Helper()
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != n {
		t.Fatalf("big.example: rcode %d with %d answers, want NOERROR with %d", m.Rcode, len(m.Answer), n)
	}
	seen := make(map[string]bool, n)
	for _, rr := range m.Answer {
		a, ok := rr.(*dns.A)
		if !ok || !strings.HasPrefix(a.A.String(), "198.1") || seen[a.A.String()] {
			t.Fatalf("big.example: unexpected or repeated record %v", rr)
		}
		seen[a.A.String()] = true
	}
}

// tcpExpectClosed reads once from c and wants the balancer to have ended
// the connection: EOF passes, and so does a reset unless wantEOF; data or
// the read deadline (a hang) fails.
func tcpExpectClosed(t *testing.T, c net.Conn, wantEOF bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(tcpIOTimeout))
	var buf [512]byte
	n, err := c.Read(buf[:])
	switch {
	case n > 0:
		t.Fatalf("want the connection closed, read %d more bytes: % x", n, buf[:n])
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatalf("the balancer did not close the connection within %v", tcpIOTimeout)
	case wantEOF && err != io.EOF:
		t.Fatalf("want a clean EOF, got %v", err)
	case err == nil:
		t.Fatal("read returned nothing and no error")
	}
}

// TestTCPQueries: the ordinary exchanges, against one balancer and one
// backend.
func TestTCPQueries(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	dir := SocketDir(t)
	StartMnameBackend(t, dir, "5301")
	bal := tcpBalancer(t, dir, 1, 1)
	server := "127.0.0.1:" + strconv.Itoa(bal.Port)

	t.Run("single query with dns.Client", func(t *testing.T) {
		client := &dns.Client{Net: "tcp", Timeout: tcpIOTimeout,
			Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}}
		q := tcpQuestion("whoami.example.", dns.TypeTXT, 4242)
		m, _, err := client.Exchange(q, server)
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		id, from := tcpWhoami(t, m)
		if id != "5301" || !strings.HasPrefix(from, "127.0.0.2:") {
			t.Fatalf("whoami: id=%s client=%s, want id=5301 client=127.0.0.2:*", id, from)
		}
	})

	t.Run("backend sees the client's own address and port", func(t *testing.T) {
		for _, src := range []string{"127.0.0.3", "127.0.0.4"} {
			c := tcpDial(t, bal, src, nil)
			_, from := tcpAskWhoami(t, c, 7)
			if want := c.LocalAddr().String(); from != want {
				t.Fatalf("backend saw client %s, want %s (the client's local address)", from, want)
			}
		}
	})

	t.Run("answer over 16 KiB", func(t *testing.T) {
		client := &dns.Client{Net: "tcp", Timeout: tcpIOTimeout,
			Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}}
		m, _, err := client.Exchange(tcpQuestion("big.example.", dns.TypeA, 99), server)
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		if size := m.Len(); size <= 16<<10 {
			t.Fatalf("big.example answer is %d bytes, want over 16 KiB", size)
		}
		tcpCheckBig(t, m, tcpBigRecords)
	})

	t.Run("pipelined queries on one connection", func(t *testing.T) {
		c := tcpDial(t, bal, "127.0.0.5", nil)
		const n = 12
		var wire []byte
		queries := map[uint16]*dns.Msg{}
		for i := range n {
			id := uint16(1000 + i)
			var q *dns.Msg
			switch i % 3 {
			case 0:
				q = tcpQuestion("whoami.example.", dns.TypeTXT, id)
			case 1:
				q = tcpQuestion(fmt.Sprintf("host%d.example.", i), dns.TypeA, id)
			default:
				q = tcpQuestion("big.example.", dns.TypeA, id)
			}
			queries[id] = q
			wire = tcpAppendMsg(t, wire, q)
		}
		tcpWrite(t, c, wire) // all of them, before reading anything
		for range n {
			m, _ := tcpReadMsg(t, c)
			q := queries[m.Id]
			if q == nil {
				t.Fatalf("answer with unknown or repeated ID %d", m.Id)
			}
			delete(queries, m.Id)
			if len(m.Question) != 1 || m.Question[0] != q.Question[0] {
				t.Fatalf("answer %d is for %v, want %v", m.Id, m.Question, q.Question)
			}
			switch name := q.Question[0].Name; {
			case name == "whoami.example.":
				if id, from := tcpWhoami(t, m); id != "5301" || from != c.LocalAddr().String() {
					t.Fatalf("whoami: id=%s client=%s, want id=5301 client=%s", id, from, c.LocalAddr())
				}
			case name == "big.example.":
				tcpCheckBig(t, m, tcpBigRecords)
			default:
				if len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
					t.Fatalf("%s A: %v", name, m)
				}
			}
		}
		if len(queries) != 0 {
			t.Fatalf("%d queries unanswered", len(queries))
		}
	})

	t.Run("half-close after the query", func(t *testing.T) {
		c := tcpDial(t, bal, "127.0.0.6", nil)
		start := time.Now()
		tcpWrite(t, c, tcpAppendMsg(t, nil, tcpQuestion("big.example.", dns.TypeA, 77)))
		if err := c.CloseWrite(); err != nil {
			t.Fatalf("CloseWrite: %v", err)
		}
		m, _ := tcpReadMsg(t, c)
		if m.Id != 77 {
			t.Fatalf("answer ID %d, want 77", m.Id)
		}
		tcpCheckBig(t, m, tcpBigRecords)
		tcpExpectClosed(t, c, true)
		// node-mname also ends a connection after 5 s without traffic; the
		// EOF must be the client's half-close passed on, not that.
		if took := time.Since(start); took >= tcpMnameIdleTimeout {
			t.Fatalf("EOF after %v: the half-close did not reach the backend, its idle timeout ended the stream", took)
		}
	})
}

// TestTCPBackendWithoutTCPOK: the client's only backend accepts the TCP
// session but never sends INBOUND_TCP_OK.
func TestTCPBackendWithoutTCPOK(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	dir := SocketDir(t)
	StartBadBackend(t, filepath.Join(dir, "5301"), "no-tcp-ok")
	const scale = 10 // the 10 s timeout becomes 1 s
	bal := tcpBalancer(t, dir, scale, 1)

	c := tcpDial(t, bal, "127.0.0.7", nil)
	port := c.LocalAddr().(*net.TCPAddr).Port
	tcpWrite(t, c, tcpAppendMsg(t, nil, tcpQuestion("whoami.example.", dns.TypeTXT, 1)))
	tcpExpectClosed(t, c, false)

	// The C balancer's record, at error (tcp_proxy.c), with the proxy's
	// fields.
	const timedOut, faulted = "timed out connecting to backend", "backend faulted (reset and reconnect)"
	rec := bal.WaitLog(timedOut,
		map[string]any{"backend": 5301, "remote_ip": "127.0.0.7", "remote_port": port, "level": 50}, 5*time.Second)
	if ms, ok := rec["timeout_ms"]; ok && ms != float64(tcpOKTimeout/scale/time.Millisecond) {
		t.Errorf("timeout_ms %v, want %v (10 s / %d)", ms, tcpOKTimeout/scale/time.Millisecond, scale)
	}
	bal.WaitLog("TCP teardown", map[string]any{"backend": 5301, "remote_port": port, "level": 20}, 5*time.Second)
	bal.WaitLog("proxy connection finished", map[string]any{"backend": 5301, "remote_port": port, "level": 20}, 5*time.Second)
	// The backend is faulted because of the timeout: its first fault is
	// logged after the warning.
	bal.WaitLog(faulted, map[string]any{"be_id": 5301}, 5*time.Second)
	for _, r := range bal.Records() {
		if r.Msg() == timedOut && r.Num("remote_port") == float64(port) {
			break
		}
		if r.Msg() == faulted {
			t.Fatalf("backend faulted before the INBOUND_TCP_OK timeout: %v", r)
		}
	}
}

// TestTCPNeverReadingClient: a client asks for far more than all buffers on
// the way can hold and never reads. The balancer must stop reading the
// backend rather than buffer the answers, and pass everything on once the
// client reads again.
func TestTCPNeverReadingClient(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	const records = 4000 // about 64 KiB per answer
	dir := SocketDir(t)
	StartMnameBackend(t, dir, "5301", "--big-records", strconv.Itoa(records))
	bal := tcpBalancer(t, dir, 1, 1)
	pid := bal.Pid()

	// One big exchange first: the answer's size, and a balancer that has
	// proxied a big answer once already (its RSS is past start-up growth).
	warm := tcpDial(t, bal, "127.0.0.8", nil)
	tcpWrite(t, warm, tcpAppendMsg(t, nil, tcpQuestion("big.example.", dns.TypeA, 1)))
	m, size := tcpReadMsg(t, warm)
	tcpCheckBig(t, m, records)
	warm.Close()
	rssBefore := procStatusKB(t, pid, "VmRSS") << 10

	// Enough answers to exceed the largest send buffer the kernel may give
	// the balancer's socket to the client (tcp_wmem's maximum) by twice the
	// RSS bound: a balancer that buffered what the kernel cannot take
	// would grow by more than the bound.
	const rssBound = 8 << 20
	n := (tcpSysctlMax(t, "/proc/sys/net/ipv4/tcp_wmem")+2*rssBound)/(size+2) + 1
	if n > 2000 {
		t.Fatalf("tcp_wmem's maximum is too large for this test (%d queries needed)", n)
	}
	total := n * (size + 2)

	// A small receive buffer, set before connect so the window stays small.
	c := tcpDial(t, bal, "127.0.0.9", func(fd uintptr) error {
		return unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
	})
	var wire []byte
	for i := range n {
		wire = tcpAppendMsg(t, wire, tcpQuestion("big.example.", dns.TypeA, uint16(i+1)))
	}
	tcpWrite(t, c, wire)
	// Half-close: node-mname destroys a connection that has been idle for
	// twice its 5 s timeout unless the client has ended its side, and this
	// one is meant to stall.
	if err := c.CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}

	client := c.LocalAddr().(*net.TCPAddr).AddrPort()
	listen := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(bal.Port))

	// Wait for the pipeline to go quiet: three samples in a row with the
	// same queues, bytes waiting in the balancer's send queue to the
	// client, and bytes from the backend waiting unread in the balancer's
	// AF_UNIX receive queue. A balancer that read on and buffered would
	// empty that queue.
	type sample struct {
		toClient    tcpSocket // the balancer's socket to the client
		atClient    tcpSocket // the client's socket
		fromBackend int       // largest receive queue of the balancer's AF_UNIX sockets
	}
	var last sample
	for same, deadline := 0, time.Now().Add(30*time.Second); same < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("the pipeline did not stall with bytes held back by the backend within 30 s; last: "+
				"balancer send queue to the client %d, client receive queue %d, unread from the backend %d",
				last.toClient.sendQueue, last.atClient.recvQueue, last.fromBackend)
		}
		time.Sleep(200 * time.Millisecond)
		var s sample
		var ok1, ok2 bool
		s.toClient, ok1 = procTCPSocket(t, listen, client)
		s.atClient, ok2 = procTCPSocket(t, client, listen)
		if !ok1 || !ok2 {
			t.Fatalf("the client connection %v is gone from /proc/net/tcp", client)
		}
		s.fromBackend = maxUnixRecvQueue(t, pid)
		if s == last && s.toClient.sendQueue > 0 && s.fromBackend >= 16<<10 {
			same++
		} else {
			same = 0
		}
		last = s
	}
	queued, sndbuf := tcpSendMemory(t, last.toClient.inode)
	growth := procStatusKB(t, pid, "VmRSS")<<10 - rssBefore
	held := total - last.toClient.sendQueue - last.atClient.recvQueue - last.fromBackend
	t.Logf("%d answers of %d bytes, %d in all; stalled with %d bytes in the balancer's send queue to the client "+
		"(%d of a %d-byte send buffer in use), %d in the client's receive queue, %d unread from the backend, "+
		"%d not in any of these; balancer RSS grew by %d KiB",
		n, size, total, last.toClient.sendQueue, queued, sndbuf, last.atClient.recvQueue, last.fromBackend,
		held, growth>>10)
	// The kernel would take no more: write(2) stops when the queue reaches
	// the send buffer, and the balancer is woken again once a third of it
	// is free.
	if queued*3 < sndbuf*2 {
		t.Errorf("the balancer's send buffer to the client is not full (%d of %d bytes in use) "+
			"while it leaves the backend's bytes unread", queued, sndbuf)
	}
	if growth >= rssBound {
		t.Errorf("balancer RSS grew by %d KiB while the client did not read; want under %d KiB",
			growth>>10, rssBound>>10)
	}
	if held < rssBound {
		t.Fatalf("test too weak: only %d bytes are not in kernel queues", held)
	}

	// Now read everything: back-pressure must release, in order, all of it.
	for i := range n {
		wire, err := tcpReadRaw(c)
		if err != nil {
			t.Fatalf("answer %d of %d: %v", i+1, n, err)
		}
		if len(wire) != size || binary.BigEndian.Uint16(wire) != uint16(i+1) ||
			binary.BigEndian.Uint16(wire[6:]) != records {
			t.Fatalf("answer %d of %d: %d bytes, ID %d, %d records; want %d bytes, ID %d, %d records",
				i+1, n, len(wire), binary.BigEndian.Uint16(wire), binary.BigEndian.Uint16(wire[6:]), size, i+1, records)
		}
	}
	tcpExpectClosed(t, c, true)
}

// TestTCPManyConnections: 500 client connections open at once, each with
// one exchange; afterwards every descriptor the balancer opened for them
// is closed.
func TestTCPManyConnections(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	const conns = 500
	tcpRaiseFileLimit(t, 2*conns+200)
	dir := SocketDir(t)
	StartMnameBackend(t, dir, "5301")
	StartMnameBackend(t, dir, "5302")
	bal := tcpBalancer(t, dir, 1, 2)
	pid := bal.Pid()
	before := procFDCount(t, pid)

	sources := []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"}
	open := make([]*net.TCPConn, conns)
	for i := range open {
		open[i] = tcpDial(t, bal, sources[i%len(sources)], nil)
	}
	for i, c := range open {
		tcpWrite(t, c, tcpAppendMsg(t, nil, tcpQuestion("whoami.example.", dns.TypeTXT, uint16(i))))
	}
	served := map[string]int{}
	for i, c := range open {
		m, _ := tcpReadMsg(t, c)
		id, from := tcpWhoami(t, m)
		if m.Id != uint16(i) || from != c.LocalAddr().String() {
			t.Fatalf("connection %d: answer ID %d for client %s, want ID %d for %s", i, m.Id, from, i, c.LocalAddr())
		}
		served[id]++
	}
	t.Logf("answers by backend: %v", served)
	if len(served) != 2 {
		t.Errorf("all connections went to %v; the 4 remotes should spread over both backends", served)
	}
	// Every client and backend socket of the 500 proxies is open now.
	if peak := procFDCount(t, pid); peak < before+2*conns {
		t.Errorf("balancer has %d fds with %d proxies open, want at least %d + %d", peak, conns, before, 2*conns)
	}

	for _, c := range open {
		c.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		now := procFDCount(t, pid)
		if now <= before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("balancer still has %d fds 20 s after the clients closed, %d before they connected", now, before)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestTCPBackendKilled: the backend of an open connection dies; the client
// sees its connection end, and its next connection goes elsewhere.
func TestTCPBackendKilled(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	dir := SocketDir(t)
	peers := map[string]*Peer{
		"5301": StartMnameBackend(t, dir, "5301"),
		"5302": StartMnameBackend(t, dir, "5302"),
	}
	bal := tcpBalancer(t, dir, 1, 2)

	c := tcpDial(t, bal, "127.0.0.10", nil)
	first, _ := tcpAskWhoami(t, c, 1)
	peers[first].Kill()
	tcpExpectClosed(t, c, false)

	be, _ := strconv.Atoi(first)
	bal.WaitLog("backend faulted (reset and reconnect)", map[string]any{"be_id": be}, 10*time.Second)
	next := tcpDial(t, bal, "127.0.0.10", nil)
	second, from := tcpAskWhoami(t, next, 2)
	if second == first {
		t.Fatalf("the next connection went to backend %s again, which was killed", second)
	}
	if from != next.LocalAddr().String() {
		t.Fatalf("backend saw client %s, want %s", from, next.LocalAddr())
	}
}

// tcpRaiseFileLimit makes sure this process may open want descriptors
// (the balancer, a Go program, raises its own soft limit to the hard one).
func tcpRaiseFileLimit(t *testing.T, want int) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur >= uint64(want) {
		return
	}
	if lim.Max < uint64(want) {
		t.Fatalf("RLIMIT_NOFILE hard limit %d is below the %d descriptors this test needs", lim.Max, want)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
}

// procStatusKB reads a "kB" field of /proc/PID/status.
func procStatusKB(t *testing.T, pid int, field string) int {
	t.Helper()
	kb, err := procStatus(pid, field)
	if err != nil {
		t.Fatal(err)
	}
	return kb
}

// procStatus is procStatusKB for a goroutine other than the test's, which
// may not end the test: it returns the error instead.
func procStatus(pid int, field string) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading status of pid %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				return 0, fmt.Errorf("/proc/%d/status %s: %q", pid, field, line)
			}
			return kb, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// procFDCount is the number of open descriptors of pid.
func procFDCount(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("reading fds of pid %d: %v", pid, err)
	}
	return len(ents)
}

// procSocketInodes is the set of socket inodes pid has open.
func procSocketInodes(t *testing.T, pid int) map[uint32]bool {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("reading fds of pid %d: %v", pid, err)
	}
	inodes := map[uint32]bool{}
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if s, ok := strings.CutPrefix(link, "socket:["); ok {
			if ino, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 32); err == nil {
				inodes[uint32(ino)] = true
			}
		}
	}
	return inodes
}

// tcpSocket is one TCP socket as /proc/net/tcp shows it.
type tcpSocket struct {
	sendQueue int // bytes written and not yet acknowledged
	recvQueue int // bytes received and not yet read
	inode     uint32
}

// procTCPSocket finds the TCP socket local->remote in /proc/net/tcp.
func procTCPSocket(t *testing.T, local, remote netip.AddrPort) (tcpSocket, bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatalf("reading /proc/net/tcp: %v", err)
	}
	want := [2]string{procNetAddr(local), procNetAddr(remote)}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		// sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode
		f := strings.Fields(line)
		if len(f) < 10 || f[1] != want[0] || f[2] != want[1] {
			continue
		}
		txs, rxs, _ := strings.Cut(f[4], ":")
		tx, err1 := strconv.ParseUint(txs, 16, 32)
		rx, err2 := strconv.ParseUint(rxs, 16, 32)
		ino, err3 := strconv.ParseUint(f[9], 10, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("/proc/net/tcp: cannot parse %q", line)
		}
		return tcpSocket{sendQueue: int(tx), recvQueue: int(rx), inode: uint32(ino)}, true
	}
	return tcpSocket{}, false
}

// procNetAddr formats ap the way /proc/net/tcp does: the address as a
// native-endian 32-bit hex number, then the port.
func procNetAddr(ap netip.AddrPort) string {
	a := ap.Addr().As4()
	return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(a[:]), ap.Port())
}

// tcpSysctlMax reads the third (maximum) number of a tcp_[rw]mem sysctl.
func tcpSysctlMax(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		t.Fatalf("%s: %q", path, b)
	}
	v, err := strconv.Atoi(f[2])
	if err != nil {
		t.Fatalf("%s: %q", path, b)
	}
	return v
}

// sock_diag constants of linux/unix_diag.h and linux/inet_diag.h that
// x/sys/unix lacks.
const (
	udiagShowRQLen    = 0x10 // UDIAG_SHOW_RQLEN
	unixDiagRQLen     = 4    // UNIX_DIAG_RQLEN
	inetDiagSKMemInfo = 7    // INET_DIAG_SKMEMINFO
)

// maxUnixRecvQueue is the largest receive queue, in bytes, among the
// AF_UNIX stream sockets pid has open.
func maxUnixRecvQueue(t *testing.T, pid int) int {
	t.Helper()
	// struct unix_diag_req: family, protocol, pad, states, ino, show, cookie.
	req := make([]byte, 24)
	req[0] = unix.AF_UNIX
	binary.NativeEndian.PutUint32(req[4:], 0xffffffff)
	binary.NativeEndian.PutUint32(req[12:], udiagShowRQLen)
	queues := map[uint32]uint32{}
	err := sockDiagDump(req, 16, func(head []byte, attr uint16, val []byte) {
		if attr == unixDiagRQLen && len(val) >= 4 {
			queues[binary.NativeEndian.Uint32(head[4:])] = binary.NativeEndian.Uint32(val)
		}
	})
	if err != nil {
		t.Fatalf("sock_diag AF_UNIX: %v", err)
	}
	most := 0
	for ino := range procSocketInodes(t, pid) {
		most = max(most, int(queues[ino]))
	}
	return most
}

// tcpSendMemory returns the bytes queued for sending on the TCP socket with
// the given inode (sk_wmem_queued) and its send buffer size (sk_sndbuf).
func tcpSendMemory(t *testing.T, inode uint32) (queued, sndbuf int) {
	t.Helper()
	// struct inet_diag_req_v2: family, protocol, ext, pad, states, then a
	// zero struct inet_diag_sockid (48 bytes): every socket.
	req := make([]byte, 56)
	req[0], req[1], req[2] = unix.AF_INET, unix.IPPROTO_TCP, 1<<(inetDiagSKMemInfo-1)
	binary.NativeEndian.PutUint32(req[4:], 0xffffffff)
	found := false
	err := sockDiagDump(req, 72, func(head []byte, attr uint16, val []byte) {
		// struct inet_diag_msg: the inode is at offset 68.
		if attr != inetDiagSKMemInfo || binary.NativeEndian.Uint32(head[68:]) != inode ||
			len(val) < 4*unix.SK_MEMINFO_VARS {
			return
		}
		queued = int(binary.NativeEndian.Uint32(val[4*unix.SK_MEMINFO_WMEM_QUEUED:]))
		sndbuf = int(binary.NativeEndian.Uint32(val[4*unix.SK_MEMINFO_SNDBUF:]))
		found = true
	})
	if err != nil {
		t.Fatalf("sock_diag AF_INET: %v", err)
	}
	if !found {
		t.Fatalf("sock_diag: no TCP socket with inode %d", inode)
	}
	return queued, sndbuf
}

// sockDiagDump sends one sock_diag dump request (req is the family's
// request structure) and calls each for every attribute of every answer,
// with the answer's fixed-size header (headLen bytes) alongside.
func sockDiagDump(req []byte, headLen int, each func(head []byte, attr uint16, val []byte)) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer unix.Close(fd)

	ne := binary.NativeEndian
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(req))
	ne.PutUint32(msg[0:], uint32(unix.SizeofNlMsghdr+len(req)))
	ne.PutUint16(msg[4:], unix.SOCK_DIAG_BY_FAMILY)
	ne.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	ne.PutUint32(msg[8:], 1) // sequence number
	msg = append(msg, req...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("netlink send: %w", err)
	}

	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return fmt.Errorf("netlink receive: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("netlink parse: %w", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if errno := int32(ne.Uint32(m.Data)); errno != 0 {
						return fmt.Errorf("netlink: %w", unix.Errno(-errno))
					}
				}
				continue
			}
			if len(m.Data) < headLen {
				continue
			}
			head := m.Data[:headLen]
			for attrs := m.Data[headLen:]; len(attrs) >= 4; {
				alen, atype := int(ne.Uint16(attrs)), ne.Uint16(attrs[2:])
				if alen < 4 || alen > len(attrs) {
					break
				}
				each(head, atype, attrs[4:alen])
				attrs = attrs[min(len(attrs), (alen+3)&^3):]
			}
		}
	}
}
