/*
 * Tests of the demo backend as the balancer sees it: over its AF_UNIX
 * socket, with frames made by the codec, a control session (hello,
 * heartbeat, whoami as OUTBOUND_UDP) and a TCP session (INBOUND_TCP_OK,
 * then DNS over TCP).
 */

package demo

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/joyent/mname-balancer/backend"
)

func startDemo(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "demo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "5301")
	s, err := Listen(path, "5301")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return path
}

func readFrame(t *testing.T, c net.Conn, buf *[]byte) backend.Frame {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	chunk := make([]byte, 4096)
	for {
		f, n, err := backend.ParseServerFrame(*buf)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			f.Data = append([]byte(nil), f.Data...)
			*buf = (*buf)[n:]
			return f
		}
		k, err := c.Read(chunk)
		if err != nil {
			t.Fatalf("reading frame: %v", err)
		}
		*buf = append(*buf, chunk[:k]...)
	}
}

func whoamiQuery(t *testing.T) []byte {
	q := new(dns.Msg)
	q.SetQuestion("whoami.", dns.TypeTXT)
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return wire
}

func txtOf(t *testing.T, wire []byte) string {
	t.Helper()
	var m dns.Msg
	if err := m.Unpack(wire); err != nil {
		t.Fatal(err)
	}
	if len(m.Answer) != 1 {
		t.Fatalf("answer: %v", &m)
	}
	return strings.Join(m.Answer[0].(*dns.TXT).Txt, "")
}

// The control session: hello, heartbeat, and a whoami answered as
// OUTBOUND_UDP to the client the INBOUND_UDP named.
func TestControlSession(t *testing.T) {
	c, err := net.Dial("unix", startDemo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var buf []byte
	c.Write(backend.AppendClientHello(nil))
	if f := readFrame(t, c, &buf); f.Type != backend.FrameServerHello {
		t.Fatalf("got %v, want SERVER_HELLO", f.Type)
	}
	c.Write(backend.AppendClientHeartbeat(nil))
	if f := readFrame(t, c, &buf); f.Type != backend.FrameServerHeartbeat {
		t.Fatalf("got %v, want SERVER_HEARTBEAT", f.Type)
	}
	c.Write(backend.AppendInboundUDP(nil, 0x0A4D4D05, 4242, whoamiQuery(t)))
	f := readFrame(t, c, &buf)
	if f.Type != backend.FrameOutboundUDP || f.Addr != 0x0A4D4D05 || f.Port != 4242 {
		t.Fatalf("got %v to %08x:%d", f.Type, f.Addr, f.Port)
	}
	if got, want := txtOf(t, f.Data), "backend=5301 client=10.77.77.5:4242"; got != want {
		t.Errorf("TXT %q, want %q", got, want)
	}
}

// A TCP session: INBOUND_TCP, INBOUND_TCP_OK, then DNS over TCP, with the
// first query in the same write as the INBOUND_TCP frame.
func TestTCPSession(t *testing.T) {
	c, err := net.Dial("unix", startDemo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := whoamiQuery(t)
	out := backend.AppendInboundTCP(nil, 0x7F000002, 5353)
	out = binary.BigEndian.AppendUint16(out, uint16(len(q)))
	c.Write(append(out, q...))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	ok := make([]byte, 4)
	if _, err := io.ReadFull(c, ok); err != nil || binary.LittleEndian.Uint32(ok) != uint32(backend.FrameInboundTCPOK) {
		t.Fatalf("INBOUND_TCP_OK: %x %v", ok, err)
	}
	var lenbuf [2]byte
	if _, err := io.ReadFull(c, lenbuf[:]); err != nil {
		t.Fatal(err)
	}
	answer := make([]byte, binary.BigEndian.Uint16(lenbuf[:]))
	if _, err := io.ReadFull(c, answer); err != nil {
		t.Fatal(err)
	}
	if got, want := txtOf(t, answer), "backend=5301 client=127.0.0.2:5353"; got != want {
		t.Errorf("TXT %q, want %q", got, want)
	}
}
