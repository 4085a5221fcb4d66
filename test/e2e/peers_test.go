/*
End-to-end checks of the frame codec (backend/frame.go) and of the peer
harness (peers.go) against the real peers, with no balancer in between: the
test plays the balancer itself on an AF_UNIX connection.

Against node-mname 1.5.1 (test/peers/mname-backend.js): the control session
(hello, heartbeat, INBOUND_UDP answered by OUTBOUND_UDP addressed to the
client the frame named, several frames in one write), the rule that a
session must open with a hello, and the TCP session (INBOUND_TCP without a
hello, INBOUND_TCP_OK, then length-prefixed DNS both ways, including bytes
sent in the same write as the header, an answer over 16 KiB, and
half-close). Against test/peers/bad-backend.js: each mode misbehaves the way
it claims. And the harness itself: stale socket removal, Pause/Resume, Stop
and Kill.
*/
package e2e

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/joyent/mname-balancer/backend"
)

// peerIOTimeout bounds every read from a peer; it only turns a hang into a
// failure.
const peerIOTimeout = 10 * time.Second

// peerQuietPeriod is how long a peer must stay silent for a "never
// answers" check.
const peerQuietPeriod = 300 * time.Millisecond

// peerConn is the test's side of one AF_UNIX connection to a peer, with a
// stream buffer for parsing backend-to-balancer frames.
type peerConn struct {
	t   *testing.T
	c   *net.UnixConn
	buf []byte
}

func dialPeer(t *testing.T, path string) *peerConn {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatalf("dial %s: %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return &peerConn{t: t, c: c}
}

func (pc *peerConn) send(b []byte) {
	pc.t.Helper()
	if _, err := pc.c.Write(b); err != nil {
		pc.t.Fatalf("write to peer: %v", err)
	}
}

// fill reads more bytes into the stream buffer.
func (pc *peerConn) fill() error {
	if err := pc.c.SetReadDeadline(time.Now().Add(peerIOTimeout)); err != nil {
		return err
	}
	var tmp [4096]byte
	n, err := pc.c.Read(tmp[:])
	pc.buf = append(pc.buf, tmp[:n]...)
	return err
}

// nextFrame returns the next backend-to-balancer frame (Data copied), or
// the codec's protocol error, or the read error that cut the stream.
func (pc *peerConn) nextFrame() (backend.Frame, error) {
	for {
		f, n, err := backend.ParseServerFrame(pc.buf)
		if err != nil {
			return backend.Frame{}, err
		}
		if n > 0 {
			if f.Data != nil {
				f.Data = append([]byte{}, f.Data...)
			}
			pc.buf = pc.buf[n:]
			return f, nil
		}
		if err := pc.fill(); err != nil {
			return backend.Frame{}, err
		}
	}
}

func (pc *peerConn) expectFrame(want backend.FrameType) backend.Frame {
	pc.t.Helper()
	f, err := pc.nextFrame()
	if err != nil {
		pc.t.Fatalf("waiting for %v: %v", want, err)
	}
	if f.Type != want {
		pc.t.Fatalf("got %v frame, want %v", f.Type, want)
	}
	return f
}

// expectClosed requires the peer to close the connection, with no more
// bytes first.
func (pc *peerConn) expectClosed() {
	pc.t.Helper()
	for len(pc.buf) == 0 {
		err := pc.fill()
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			if len(pc.buf) == 0 {
				return
			}
			break
		}
		if err != nil {
			pc.t.Fatalf("waiting for the peer to close: %v", err)
		}
	}
	pc.t.Fatalf("peer sent % x instead of closing", pc.buf)
}

// expectSilence requires that nothing arrives for peerQuietPeriod and that
// the connection stays open meanwhile.
func (pc *peerConn) expectSilence() {
	pc.t.Helper()
	if err := pc.c.SetReadDeadline(time.Now().Add(peerQuietPeriod)); err != nil {
		pc.t.Fatal(err)
	}
	var tmp [64]byte
	n, err := pc.c.Read(tmp[:])
	if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		pc.t.Fatalf("expected silence on an open connection, got % x, %v", tmp[:n], err)
	}
}

// sendDNSOverTCP writes one length-prefixed DNS message.
func (pc *peerConn) sendDNSOverTCP(m *dns.Msg) {
	pc.t.Helper()
	pc.send(peerAppendDNSOverTCP(nil, m))
}

func peerAppendDNSOverTCP(dst []byte, m *dns.Msg) []byte {
	wire, err := m.Pack()
	if err != nil {
		panic(err)
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(wire)))
	return append(dst, wire...)
}

// readDNSOverTCP reads one length-prefixed DNS message from the raw stream
// (after INBOUND_TCP_OK, bytes are no longer framed).
func (pc *peerConn) readDNSOverTCP() (*dns.Msg, int) {
	pc.t.Helper()
	for len(pc.buf) < 2 || len(pc.buf) < 2+int(binary.BigEndian.Uint16(pc.buf)) {
		if err := pc.fill(); err != nil {
			pc.t.Fatalf("reading a DNS message over TCP (%d bytes so far): %v", len(pc.buf), err)
		}
	}
	size := int(binary.BigEndian.Uint16(pc.buf))
	m := new(dns.Msg)
	if err := m.Unpack(pc.buf[2 : 2+size]); err != nil {
		pc.t.Fatalf("unpacking a %d-byte DNS answer: %v", size, err)
	}
	pc.buf = pc.buf[2+size:]
	return m, size
}

func peerAddrU32(s string) uint32 {
	a := netip.MustParseAddr(s).As4()
	return binary.BigEndian.Uint32(a[:])
}

func peerDNSQuery(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

func peerPackDNS(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("pack %v: %v", m.Question, err)
	}
	return b
}

// peerUnpackAnswer checks that an OUTBOUND_UDP frame goes back to the client
// that asked and answers query q.
func peerUnpackAnswer(t *testing.T, f backend.Frame, client string, port uint16, q *dns.Msg) *dns.Msg {
	t.Helper()
	if f.Addr != peerAddrU32(client) || f.Port != port {
		t.Fatalf("answer addressed to %08x:%d, want %s (%08x):%d", f.Addr, f.Port, client, peerAddrU32(client), port)
	}
	m := new(dns.Msg)
	if err := m.Unpack(f.Data); err != nil {
		t.Fatalf("unpacking the answer: %v", err)
	}
	if m.Id != q.Id || !m.Response || len(m.Question) != 1 || m.Question[0].Name != q.Question[0].Name {
		t.Fatalf("answer %v does not match query %v", m, q)
	}
	return m
}

func peerTXT(t *testing.T, m *dns.Msg) string {
	t.Helper()
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("want one TXT answer, got %v", m)
	}
	txt, ok := m.Answer[0].(*dns.TXT)
	if !ok || len(txt.Txt) != 1 {
		t.Fatalf("want one TXT string, got %v", m.Answer[0])
	}
	return txt.Txt[0]
}

func TestMnameBackendControlSession(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	peer := StartMnameBackend(t, SocketDir(t), "5301")
	pc := dialPeer(t, peer.Path)

	pc.send(backend.AppendClientHello(nil))
	pc.expectFrame(backend.FrameServerHello)

	pc.send(backend.AppendClientHeartbeat(nil))
	pc.expectFrame(backend.FrameServerHeartbeat)

	t.Run("whoami over UDP names the framed client", func(t *testing.T) {
		q := peerDNSQuery("whoami.example.", dns.TypeTXT)
		pc.send(backend.AppendInboundUDP(nil, peerAddrU32("10.77.77.5"), 4242, peerPackDNS(t, q)))
		f := pc.expectFrame(backend.FrameOutboundUDP)
		got := peerTXT(t, peerUnpackAnswer(t, f, "10.77.77.5", 4242, q))
		if want := "id=5301 client=10.77.77.5:4242"; got != want {
			t.Fatalf("TXT %q, want %q", got, want)
		}
	})

	t.Run("several frames in one write", func(t *testing.T) {
		// Three queries from different clients and a heartbeat, sent as one
		// chunk; node-mname must split the stream and answer each.
		clients := []struct {
			ip   string
			port uint16
			q    *dns.Msg
		}{
			{"192.0.2.7", 1, peerDNSQuery("whoami.example.", dns.TypeTXT)},
			{"127.0.0.1", 65535, peerDNSQuery("host.example.", dns.TypeA)},
			{"255.255.255.254", 53, peerDNSQuery("other.test.", dns.TypeA)},
		}
		var chunk []byte
		for _, c := range clients {
			chunk = backend.AppendInboundUDP(chunk, peerAddrU32(c.ip), c.port, peerPackDNS(t, c.q))
		}
		chunk = backend.AppendClientHeartbeat(chunk)
		pc.send(chunk)

		answers := map[uint16]backend.Frame{}
		heartbeats := 0
		for len(answers) < len(clients) || heartbeats == 0 {
			f, err := pc.nextFrame()
			if err != nil {
				t.Fatalf("after %d answers: %v", len(answers), err)
			}
			switch f.Type {
			case backend.FrameOutboundUDP:
				answers[f.Port] = f
			case backend.FrameServerHeartbeat:
				heartbeats++
			default:
				t.Fatalf("unexpected %v", f.Type)
			}
		}
		if heartbeats != 1 {
			t.Fatalf("%d heartbeat replies to one heartbeat", heartbeats)
		}
		whoami := peerUnpackAnswer(t, answers[1], clients[0].ip, 1, clients[0].q)
		if got, want := peerTXT(t, whoami), "id=5301 client=192.0.2.7:1"; got != want {
			t.Fatalf("TXT %q, want %q", got, want)
		}
		a := peerUnpackAnswer(t, answers[65535], clients[1].ip, 65535, clients[1].q)
		if len(a.Answer) != 1 || a.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Fatalf("host.example A: %v", a)
		}
		refused := peerUnpackAnswer(t, answers[53], clients[2].ip, 53, clients[2].q)
		if refused.Rcode != dns.RcodeRefused || len(refused.Answer) != 0 {
			t.Fatalf("out-of-zone query: %v, want REFUSED", refused)
		}
	})

	t.Run("big answer over UDP is truncated", func(t *testing.T) {
		q := peerDNSQuery("big.example.", dns.TypeA)
		pc.send(backend.AppendInboundUDP(nil, peerAddrU32("10.0.0.1"), 5000, peerPackDNS(t, q)))
		m := peerUnpackAnswer(t, pc.expectFrame(backend.FrameOutboundUDP), "10.0.0.1", 5000, q)
		if !m.Truncated || len(m.Answer) != 0 {
			t.Fatalf("big.example over UDP: TC=%v with %d answers, want TC and none", m.Truncated, len(m.Answer))
		}
	})
}

func TestMnameBackendRequiresHelloFirst(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	peer := StartMnameBackend(t, SocketDir(t), "5302")

	// node-mname drops a control connection whose first frame is neither
	// CLIENT_HELLO nor INBOUND_TCP.
	for _, first := range [][]byte{
		backend.AppendClientHeartbeat(nil),
		backend.AppendInboundUDP(nil, peerAddrU32("10.77.77.5"), 4242, peerPackDNS(t, peerDNSQuery("whoami.example.", dns.TypeTXT))),
	} {
		pc := dialPeer(t, peer.Path)
		pc.send(first)
		pc.expectClosed()
	}

	// The peer survives: a proper session still works.
	pc := dialPeer(t, peer.Path)
	pc.send(backend.AppendClientHello(nil))
	pc.expectFrame(backend.FrameServerHello)
}

func TestMnameBackendTCPSession(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	peer := StartMnameBackend(t, SocketDir(t), "5303")

	t.Run("whoami after INBOUND_TCP_OK", func(t *testing.T) {
		pc := dialPeer(t, peer.Path)
		pc.send(backend.AppendInboundTCP(nil, peerAddrU32("10.77.77.9"), 5353)) // no hello
		pc.expectFrame(backend.FrameInboundTCPOK)
		if len(pc.buf) != 0 {
			t.Fatalf("% x after INBOUND_TCP_OK before any query", pc.buf)
		}
		q := peerDNSQuery("whoami.example.", dns.TypeTXT)
		pc.sendDNSOverTCP(q)
		m, _ := pc.readDNSOverTCP()
		if m.Id != q.Id {
			t.Fatalf("answer ID %d, query ID %d", m.Id, q.Id)
		}
		if got, want := peerTXT(t, m), "id=5303 client=10.77.77.9:5353"; got != want {
			t.Fatalf("TXT %q, want %q", got, want)
		}
	})

	t.Run("query in the same write as INBOUND_TCP", func(t *testing.T) {
		pc := dialPeer(t, peer.Path)
		q1 := peerDNSQuery("whoami.example.", dns.TypeTXT)
		q2 := peerDNSQuery("a.example.", dns.TypeA)
		chunk := backend.AppendInboundTCP(nil, peerAddrU32("203.0.113.200"), 1)
		chunk = peerAppendDNSOverTCP(chunk, q1)
		chunk = peerAppendDNSOverTCP(chunk, q2)
		pc.send(chunk)
		pc.expectFrame(backend.FrameInboundTCPOK)
		m1, _ := pc.readDNSOverTCP()
		m2, _ := pc.readDNSOverTCP()
		if m1.Id != q1.Id || m2.Id != q2.Id {
			t.Fatalf("answers %d, %d for queries %d, %d", m1.Id, m2.Id, q1.Id, q2.Id)
		}
		if got, want := peerTXT(t, m1), "id=5303 client=203.0.113.200:1"; got != want {
			t.Fatalf("TXT %q, want %q", got, want)
		}
		if len(m2.Answer) != 1 || m2.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
			t.Fatalf("a.example A: %v", m2)
		}
	})

	t.Run("big answer over 16 KiB then half-close", func(t *testing.T) {
		pc := dialPeer(t, peer.Path)
		pc.send(backend.AppendInboundTCP(nil, peerAddrU32("10.1.2.3"), 40000))
		pc.expectFrame(backend.FrameInboundTCPOK)
		q := peerDNSQuery("big.example.", dns.TypeA)
		pc.sendDNSOverTCP(q)
		// The client has nothing more to say: shut down our write side.
		// node-mname must still answer, then close its side.
		if err := pc.c.CloseWrite(); err != nil {
			t.Fatalf("CloseWrite: %v", err)
		}
		m, size := pc.readDNSOverTCP()
		if size <= 16<<10 {
			t.Fatalf("big.example answer is %d bytes, want over 16 KiB", size)
		}
		if m.Id != q.Id || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 2000 {
			t.Fatalf("big.example: id %d rcode %d with %d answers, want id %d, NOERROR, 2000",
				m.Id, m.Rcode, len(m.Answer), q.Id)
		}
		seen := map[string]bool{}
		for _, rr := range m.Answer {
			a, ok := rr.(*dns.A)
			if !ok || !strings.HasPrefix(a.A.String(), "198.1") || seen[a.A.String()] {
				t.Fatalf("unexpected or repeated record %v", rr)
			}
			seen[a.A.String()] = true
		}
		pc.expectClosed()
	})
}

func TestMnameBackendBigRecordsFlag(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	peer := StartMnameBackend(t, SocketDir(t), "small", "--big-records", "3")
	pc := dialPeer(t, peer.Path)
	pc.send(backend.AppendInboundTCP(nil, peerAddrU32("10.1.2.3"), 1))
	pc.expectFrame(backend.FrameInboundTCPOK)
	pc.sendDNSOverTCP(peerDNSQuery("big.example.", dns.TypeA))
	if m, _ := pc.readDNSOverTCP(); len(m.Answer) != 3 {
		t.Fatalf("--big-records 3: %d answers", len(m.Answer))
	}
}

func TestPeerLifecycle(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	dir := SocketDir(t)

	// A stale file where the socket goes is removed, not an obstacle.
	stale := filepath.Join(dir, "5304")
	if err := os.WriteFile(stale, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	peer := StartMnameBackend(t, dir, "5304")
	if fi, err := os.Stat(peer.Path); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("%s is not a socket after start: %v, %v", peer.Path, fi, err)
	}

	pc := dialPeer(t, peer.Path)
	pc.send(backend.AppendClientHello(nil))
	pc.expectFrame(backend.FrameServerHello)

	// Paused, the peer answers nothing; resumed, the pending heartbeat is
	// answered.
	peer.Pause()
	pc.send(backend.AppendClientHeartbeat(nil))
	pc.expectSilence()
	peer.Resume()
	pc.expectFrame(backend.FrameServerHeartbeat)

	// Stop closes the open session, exits 0 and removes the socket.
	if err := peer.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	pc.expectClosed()
	if _, err := os.Stat(peer.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket still present after Stop: %v", err)
	}

	// Kill leaves the socket file behind, refusing connections, as a crash
	// would.
	killed := StartMnameBackend(t, dir, "5305")
	killed.Kill()
	if !killed.Exited() {
		t.Fatal("Kill returned before the process ended")
	}
	if _, err := os.Stat(killed.Path); err != nil {
		t.Fatalf("socket gone after Kill: %v", err)
	}
	if c, err := net.Dial("unix", killed.Path); err == nil {
		c.Close()
		t.Fatal("dial succeeded after Kill")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after Kill: %v, want ECONNREFUSED", err)
	}
}

func TestBadBackendModes(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	dir := SocketDir(t)
	tcpFrame := backend.AppendInboundTCP(nil, peerAddrU32("10.77.77.5"), 4242)
	udpFrame := backend.AppendInboundUDP(nil, peerAddrU32("10.77.77.5"), 4242,
		peerPackDNS(t, peerDNSQuery("whoami.example.", dns.TypeTXT)))

	hello := func(pc *peerConn) {
		pc.t.Helper()
		pc.send(backend.AppendClientHello(nil))
		pc.expectFrame(backend.FrameServerHello)
	}

	t.Run("garbage", func(t *testing.T) {
		peer := StartBadBackend(t, filepath.Join(dir, "garbage"), "garbage")
		pc := dialPeer(t, peer.Path)
		pc.send(backend.AppendClientHello(nil))
		if _, err := pc.nextFrame(); !errors.Is(err, backend.ErrUnknownFrameType) {
			t.Fatalf("answer to hello: %v, want %v", err, backend.ErrUnknownFrameType)
		}
	})

	t.Run("double-hello", func(t *testing.T) {
		peer := StartBadBackend(t, filepath.Join(dir, "double"), "double-hello")
		pc := dialPeer(t, peer.Path)
		hello(pc)
		pc.expectFrame(backend.FrameServerHello)
		pc.send(backend.AppendClientHeartbeat(nil))
		pc.expectFrame(backend.FrameServerHeartbeat)
	})

	t.Run("oversized", func(t *testing.T) {
		peer := StartBadBackend(t, filepath.Join(dir, "oversized"), "oversized")
		pc := dialPeer(t, peer.Path)
		hello(pc)
		pc.send(backend.AppendClientHeartbeat(nil))
		pc.expectFrame(backend.FrameServerHeartbeat)
		pc.send(udpFrame)
		// Only the 16-byte header is ever sent; the codec must refuse it
		// without waiting for the 1501 bytes it claims.
		if _, err := pc.nextFrame(); !errors.Is(err, backend.ErrUDPTooLong) {
			t.Fatalf("answer to INBOUND_UDP: %v, want %v", err, backend.ErrUDPTooLong)
		}
		if len(pc.buf) != 16 || binary.LittleEndian.Uint32(pc.buf[12:]) != 1501 ||
			binary.LittleEndian.Uint32(pc.buf[4:]) != peerAddrU32("10.77.77.5") {
			t.Fatalf("header % x, want OUTBOUND_UDP to 10.77.77.5 claiming 1501 bytes", pc.buf)
		}
	})

	t.Run("no-tcp-ok", func(t *testing.T) {
		peer := StartBadBackend(t, filepath.Join(dir, "notcpok"), "no-tcp-ok")
		control := dialPeer(t, peer.Path)
		hello(control)
		control.send(backend.AppendClientHeartbeat(nil))
		control.expectFrame(backend.FrameServerHeartbeat)

		tcp := dialPeer(t, peer.Path)
		tcp.send(tcpFrame)
		tcp.expectSilence()

		// The control session is unaffected.
		control.send(backend.AppendClientHeartbeat(nil))
		control.expectFrame(backend.FrameServerHeartbeat)
	})

	t.Run("silent", func(t *testing.T) {
		peer := StartBadBackend(t, filepath.Join(dir, "silent"), "silent")
		pc := dialPeer(t, peer.Path)
		pc.send(backend.AppendClientHello(nil))
		pc.expectSilence()
	})
}
