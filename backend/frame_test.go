/*
Tests for the frame codec (frame.go), written against its exported API only.

They pin down: the exact wire bytes (the package comment's 10.77.77.5 example and every
fixed frame), a round trip for every frame type in both directions, that
every proper prefix of a frame asks for more bytes, that a stream of several
frames parses the same whether it arrives whole, split at any one byte
boundary, or a byte at a time, every protocol violation with its sentinel
error (including an oversized length refused before its payload arrives), and
that encoders and parsers do not allocate.

The helpers at the top (codecParseStream, codecFeedChunks, codecAppendFrame)
are shared with frame_fuzz_test.go; they also check the parser's contract on
every call: n never exceeds the buffer, errors consume nothing, and a parsed
frame re-encodes to exactly the bytes it consumed.
*/
package backend_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/joyent/mname-balancer/backend"
)

// codecParser is ParseServerFrame or ParseClientFrame.
type codecParser func([]byte) (backend.Frame, int, error)

// codecAppendFrame re-encodes f with the Append function of its type.
func codecAppendFrame(tb testing.TB, dst []byte, f backend.Frame) []byte {
	tb.Helper()
	switch f.Type {
	case backend.FrameClientHello:
		return backend.AppendClientHello(dst)
	case backend.FrameInboundUDP:
		return backend.AppendInboundUDP(dst, f.Addr, f.Port, f.Data)
	case backend.FrameInboundTCP:
		return backend.AppendInboundTCP(dst, f.Addr, f.Port)
	case backend.FrameClientHeartbeat:
		return backend.AppendClientHeartbeat(dst)
	case backend.FrameServerHello:
		return backend.AppendServerHello(dst)
	case backend.FrameOutboundUDP:
		return backend.AppendOutboundUDP(dst, f.Addr, f.Port, f.Data)
	case backend.FrameInboundTCPOK:
		return backend.AppendInboundTCPOK(dst)
	case backend.FrameServerHeartbeat:
		return backend.AppendServerHeartbeat(dst)
	}
	tb.Fatalf("parser returned a frame of type %v", f.Type)
	return nil
}

// codecParseOne calls parse and checks the contract every result must keep.
func codecParseOne(tb testing.TB, parse codecParser, buf []byte) (backend.Frame, int, error) {
	tb.Helper()
	f, n, err := parse(buf)
	switch {
	case n < 0 || n > len(buf):
		tb.Fatalf("parse consumed %d of %d bytes", n, len(buf))
	case err != nil && n != 0:
		tb.Fatalf("parse failed (%v) but consumed %d bytes", err, n)
	case err != nil:
		if !errors.Is(err, backend.ErrUnknownFrameType) && !errors.Is(err, backend.ErrPortOutOfRange) &&
			!errors.Is(err, backend.ErrUDPTooLong) {
			tb.Fatalf("error %q wraps none of the sentinel errors", err)
		}
	case n > 0:
		if re := codecAppendFrame(tb, nil, f); !bytes.Equal(re, buf[:n]) {
			tb.Fatalf("frame %+v re-encodes to % x, consumed % x", f, re, buf[:n])
		}
	}
	return f, n, err
}

// codecResult is what parsing a whole stream yields: the frames (with Data
// copied out of the stream), the bytes left over waiting for more, and the
// protocol error that stopped the parse, if any.
type codecResult struct {
	Frames []backend.Frame
	Rest   []byte
	Err    error
}

func (r codecResult) errString() string {
	if r.Err == nil {
		return "<nil>"
	}
	return r.Err.Error()
}

// codecClone copies f.Data so the frame outlives the buffer it came from.
func codecClone(f backend.Frame) backend.Frame {
	if f.Data != nil {
		f.Data = append([]byte{}, f.Data...)
	}
	return f
}

// codecParseStream parses buf from the front until the parser needs more
// bytes or reports a violation, as a session reading one big chunk would.
func codecParseStream(tb testing.TB, parse codecParser, buf []byte) codecResult {
	tb.Helper()
	var r codecResult
	for {
		f, n, err := codecParseOne(tb, parse, buf)
		if err != nil {
			r.Err = err
			break
		}
		if n == 0 {
			break
		}
		r.Frames = append(r.Frames, codecClone(f))
		buf = buf[n:]
	}
	r.Rest = append([]byte{}, buf...)
	return r
}

// codecFeedChunks delivers the chunks one after another into an
// accumulating buffer and parses after each, as a session does with reads
// that split frames arbitrarily. It stops at the first violation; Rest then
// holds every unconsumed byte, as codecParseStream's does.
func codecFeedChunks(tb testing.TB, parse codecParser, chunks ...[]byte) codecResult {
	tb.Helper()
	var r codecResult
	var acc []byte
	for i, c := range chunks {
		acc = append(acc, c...)
		for {
			f, n, err := codecParseOne(tb, parse, acc)
			if err != nil {
				// Rest is every byte not consumed, delivered or not.
				r.Err = err
				r.Rest = bytes.Join(append([][]byte{acc}, chunks[i+1:]...), nil)
				return r
			}
			if n == 0 {
				break
			}
			r.Frames = append(r.Frames, codecClone(f))
			acc = acc[n:]
		}
	}
	r.Rest = append([]byte{}, acc...)
	return r
}

// codecSameResult fails unless two parses of one stream agree on frames,
// leftover bytes and error.
func codecSameResult(tb testing.TB, what string, want, got codecResult) {
	tb.Helper()
	if !reflect.DeepEqual(want.Frames, got.Frames) {
		tb.Fatalf("%s: frames differ:\nwant %+v\n got %+v", what, want.Frames, got.Frames)
	}
	if !bytes.Equal(want.Rest, got.Rest) {
		tb.Fatalf("%s: leftover bytes differ: want % x, got % x", what, want.Rest, got.Rest)
	}
	if want.errString() != got.errString() {
		tb.Fatalf("%s: errors differ: want %s, got %s", what, want.errString(), got.errString())
	}
}

// u32 is a little-endian helper for writing expected wire bytes by hand.
func u32(v uint32) []byte {
	return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
}

func cat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

const exampleAddr = 0x0A4D4D05 // 10.77.77.5

func TestFrameTypeString(t *testing.T) {
	for typ, want := range map[backend.FrameType]string{
		backend.FrameClientHello:     "CLIENT_HELLO",
		backend.FrameInboundUDP:      "INBOUND_UDP",
		backend.FrameInboundTCP:      "INBOUND_TCP",
		backend.FrameClientHeartbeat: "CLIENT_HEARTBEAT",
		backend.FrameServerHello:     "SERVER_HELLO",
		backend.FrameOutboundUDP:     "OUTBOUND_UDP",
		backend.FrameInboundTCPOK:    "INBOUND_TCP_OK",
		backend.FrameServerHeartbeat: "SERVER_HEARTBEAT",
		0:                            "FrameType(0)",
		1005:                         "FrameType(1005)",
	} {
		if got := typ.String(); got != want {
			t.Errorf("FrameType(%d).String() = %q, want %q", uint32(typ), got, want)
		}
	}
}

func TestFrameTypeNumbers(t *testing.T) {
	// The numbers are the protocol; a renumbering must fail loudly.
	for typ, want := range map[backend.FrameType]uint32{
		backend.FrameClientHello: 1, backend.FrameInboundUDP: 2,
		backend.FrameInboundTCP: 3, backend.FrameClientHeartbeat: 4,
		backend.FrameServerHello: 1001, backend.FrameOutboundUDP: 1002,
		backend.FrameInboundTCPOK: 1003, backend.FrameServerHeartbeat: 1004,
	} {
		if uint32(typ) != want {
			t.Errorf("%v = %d, want %d", typ, uint32(typ), want)
		}
	}
	if backend.MaxUDPLength != 1500 {
		t.Errorf("MaxUDPLength = %d, want 1500", backend.MaxUDPLength)
	}
	if backend.MaxFrameLength != 16+1500 {
		t.Errorf("MaxFrameLength = %d, want 1516", backend.MaxFrameLength)
	}
}

// TestWireBytes pins the exact encoding, including the package comment's example
// address 10.77.77.5, which travels as 05 4D 4D 0A.
func TestWireBytes(t *testing.T) {
	msg := []byte{0xDE, 0xAD, 0xBE}
	for _, tc := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"CLIENT_HELLO", backend.AppendClientHello(nil), []byte{1, 0, 0, 0}},
		{"CLIENT_HEARTBEAT", backend.AppendClientHeartbeat(nil), []byte{4, 0, 0, 0}},
		{"SERVER_HELLO", backend.AppendServerHello(nil), []byte{0xE9, 0x03, 0, 0}},
		{"INBOUND_TCP_OK", backend.AppendInboundTCPOK(nil), []byte{0xEB, 0x03, 0, 0}},
		{"SERVER_HEARTBEAT", backend.AppendServerHeartbeat(nil), []byte{0xEC, 0x03, 0, 0}},
		{
			"INBOUND_UDP 10.77.77.5:4242",
			backend.AppendInboundUDP(nil, exampleAddr, 4242, msg),
			[]byte{
				0x02, 0x00, 0x00, 0x00,
				0x05, 0x4D, 0x4D, 0x0A,
				0x92, 0x10, 0x00, 0x00,
				0x03, 0x00, 0x00, 0x00,
				0xDE, 0xAD, 0xBE,
			},
		},
		{
			"INBOUND_TCP 10.77.77.5:53",
			backend.AppendInboundTCP(nil, exampleAddr, 53),
			[]byte{
				0x03, 0x00, 0x00, 0x00,
				0x05, 0x4D, 0x4D, 0x0A,
				0x35, 0x00, 0x00, 0x00,
			},
		},
		{
			"OUTBOUND_UDP 10.77.77.5:65535",
			backend.AppendOutboundUDP(nil, exampleAddr, 65535, msg),
			[]byte{
				0xEA, 0x03, 0x00, 0x00,
				0x05, 0x4D, 0x4D, 0x0A,
				0xFF, 0xFF, 0x00, 0x00,
				0x03, 0x00, 0x00, 0x00,
				0xDE, 0xAD, 0xBE,
			},
		},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Errorf("%s:\n got % x\nwant % x", tc.name, tc.got, tc.want)
		}
	}
}

func TestAppendExtendsDst(t *testing.T) {
	prefix := []byte("prefix")
	dst := append([]byte{}, prefix...)
	dst = backend.AppendServerHello(dst)
	dst = backend.AppendOutboundUDP(dst, 1, 2, []byte("x"))
	want := cat(prefix, u32(1001), u32(1002), u32(1), u32(2), u32(1), []byte("x"))
	if !bytes.Equal(dst, want) {
		t.Fatalf("got % x\nwant % x", dst, want)
	}
}

// codecSample holds one frame of every type with its parser.
type codecSample struct {
	name  string
	parse codecParser
	frame backend.Frame
	wire  []byte
}

func codecSamples() []codecSample {
	full := bytes.Repeat([]byte{0xA5}, backend.MaxUDPLength)
	var out []codecSample
	add := func(name string, parse codecParser, f backend.Frame, wire []byte) {
		out = append(out, codecSample{name, parse, f, wire})
	}
	srv, cli := backend.ParseServerFrame, backend.ParseClientFrame
	add("SERVER_HELLO", srv, backend.Frame{Type: backend.FrameServerHello}, backend.AppendServerHello(nil))
	add("INBOUND_TCP_OK", srv, backend.Frame{Type: backend.FrameInboundTCPOK}, backend.AppendInboundTCPOK(nil))
	add("SERVER_HEARTBEAT", srv, backend.Frame{Type: backend.FrameServerHeartbeat}, backend.AppendServerHeartbeat(nil))
	for _, tc := range []struct {
		addr uint32
		port uint16
		data []byte
	}{
		{exampleAddr, 4242, []byte("an answer")},
		{0, 0, []byte{}},
		{0xFFFFFFFF, 65535, full},
		{0x7F000001, 53, []byte{0}},
	} {
		name := fmt.Sprintf("%08x:%d/%d", tc.addr, tc.port, len(tc.data))
		add("OUTBOUND_UDP "+name, srv,
			backend.Frame{Type: backend.FrameOutboundUDP, Addr: tc.addr, Port: tc.port, Data: tc.data},
			backend.AppendOutboundUDP(nil, tc.addr, tc.port, tc.data))
		add("INBOUND_UDP "+name, cli,
			backend.Frame{Type: backend.FrameInboundUDP, Addr: tc.addr, Port: tc.port, Data: tc.data},
			backend.AppendInboundUDP(nil, tc.addr, tc.port, tc.data))
		add("INBOUND_TCP "+name, cli,
			backend.Frame{Type: backend.FrameInboundTCP, Addr: tc.addr, Port: tc.port},
			backend.AppendInboundTCP(nil, tc.addr, tc.port))
	}
	add("CLIENT_HELLO", cli, backend.Frame{Type: backend.FrameClientHello}, backend.AppendClientHello(nil))
	add("CLIENT_HEARTBEAT", cli, backend.Frame{Type: backend.FrameClientHeartbeat}, backend.AppendClientHeartbeat(nil))
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, s := range codecSamples() {
		t.Run(s.name, func(t *testing.T) {
			// Followed by trailing bytes: the parser must take exactly one frame.
			buf := cat(s.wire, []byte{0xFF, 0xFF})
			f, n, err := codecParseOne(t, s.parse, buf)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if n != len(s.wire) {
				t.Fatalf("consumed %d bytes, want %d", n, len(s.wire))
			}
			if f.Type != s.frame.Type || f.Addr != s.frame.Addr || f.Port != s.frame.Port ||
				!bytes.Equal(f.Data, s.frame.Data) || (f.Data == nil) != (s.frame.Data == nil) {
				t.Fatalf("parsed %+v, want %+v", f, s.frame)
			}
		})
	}
}

func TestEveryPrefixNeedsMore(t *testing.T) {
	for _, s := range codecSamples() {
		for i := 0; i < len(s.wire); i++ {
			f, n, err := codecParseOne(t, s.parse, s.wire[:i])
			if n != 0 || err != nil || !reflect.DeepEqual(f, backend.Frame{}) {
				t.Fatalf("%s: prefix of %d/%d bytes gave %+v, %d, %v; want need-more",
					s.name, i, len(s.wire), f, n, err)
			}
		}
	}
}

func TestParsedDataAliasesInput(t *testing.T) {
	buf := backend.AppendOutboundUDP(nil, exampleAddr, 53, []byte("abcd"))
	buf = backend.AppendServerHeartbeat(buf)
	f, n, err := backend.ParseServerFrame(buf)
	if err != nil || n != 20 {
		t.Fatalf("parse: %d, %v", n, err)
	}
	buf[16] = 'X'
	if string(f.Data) != "Xbcd" {
		t.Fatalf("Data = %q: it was copied, not aliased", f.Data)
	}
	if cap(f.Data) != len(f.Data) {
		t.Fatalf("cap(Data) = %d, len %d: an append would overwrite the next frame", cap(f.Data), len(f.Data))
	}
}

// codecStreams returns, for each direction, a stream of several frames of
// every type that direction carries.
func codecStreams() map[string]struct {
	parse codecParser
	wire  []byte
} {
	var srv, cli []byte
	srv = backend.AppendServerHello(srv)
	srv = backend.AppendOutboundUDP(srv, exampleAddr, 4242, []byte("first answer"))
	srv = backend.AppendServerHeartbeat(srv)
	srv = backend.AppendOutboundUDP(srv, 0xC0000201, 53, nil)
	srv = backend.AppendInboundTCPOK(srv)
	srv = backend.AppendOutboundUDP(srv, 0x7F000001, 65535, bytes.Repeat([]byte{7}, 300))
	srv = backend.AppendServerHeartbeat(srv)

	cli = backend.AppendClientHello(cli)
	cli = backend.AppendInboundUDP(cli, exampleAddr, 4242, []byte("a query"))
	cli = backend.AppendClientHeartbeat(cli)
	cli = backend.AppendInboundTCP(cli, exampleAddr, 1)
	cli = backend.AppendInboundUDP(cli, 0x0A000001, 0, nil)
	cli = backend.AppendInboundUDP(cli, 0x0A000002, 65535, bytes.Repeat([]byte{9}, 300))
	cli = backend.AppendClientHeartbeat(cli)
	return map[string]struct {
		parse codecParser
		wire  []byte
	}{
		"server": {backend.ParseServerFrame, srv},
		"client": {backend.ParseClientFrame, cli},
	}
}

func TestStreamSplitAtEveryBoundary(t *testing.T) {
	for name, s := range codecStreams() {
		t.Run(name, func(t *testing.T) {
			whole := codecParseStream(t, s.parse, s.wire)
			if whole.Err != nil || len(whole.Rest) != 0 || len(whole.Frames) != 7 {
				t.Fatalf("whole stream: %d frames, %d bytes left, err %v; want 7, 0, nil",
					len(whole.Frames), len(whole.Rest), whole.Err)
			}
			for i := 0; i <= len(s.wire); i++ {
				got := codecFeedChunks(t, s.parse, s.wire[:i], s.wire[i:])
				codecSameResult(t, fmt.Sprintf("split at %d", i), whole, got)
			}
			var bytewise [][]byte
			for i := range s.wire {
				bytewise = append(bytewise, s.wire[i:i+1])
			}
			codecSameResult(t, "one byte at a time", whole, codecFeedChunks(t, s.parse, bytewise...))

			// A truncated stream keeps its partial frame as leftover.
			cut := s.wire[:len(s.wire)-5] // the final heartbeat and the last payload byte
			r := codecParseStream(t, s.parse, cut)
			if r.Err != nil || len(r.Frames) != 5 || len(r.Rest) != 16+300-1 {
				t.Fatalf("truncated stream: %d frames, %d left, err %v; want 5, 315, nil",
					len(r.Frames), len(r.Rest), r.Err)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	srv, cli := backend.ParseServerFrame, backend.ParseClientFrame
	header := func(typ, addr, port, length uint32) []byte {
		return cat(u32(typ), u32(addr), u32(port), u32(length))
	}
	for _, tc := range []struct {
		name  string
		parse codecParser
		wire  []byte
		want  error
		text  string // must appear in the message
		// needed is the number of leading bytes from which on the error
		// must be reported; shorter prefixes must ask for more bytes.
		needed int
	}{
		{"server type 0", srv, u32(0), backend.ErrUnknownFrameType, "frame type 0", 4},
		{"server type 1000", srv, u32(1000), backend.ErrUnknownFrameType, "frame type 1000", 4},
		{"server type 1005", srv, u32(1005), backend.ErrUnknownFrameType, "frame type 1005", 4},
		{"server type max", srv, u32(0xFFFFFFFF), backend.ErrUnknownFrameType, "4294967295", 4},
		{"CLIENT_HELLO from backend", srv, u32(1), backend.ErrUnknownFrameType, "CLIENT_HELLO", 4},
		{"INBOUND_UDP from backend", srv, header(2, 1, 2, 3), backend.ErrUnknownFrameType, "INBOUND_UDP", 4},
		{"INBOUND_TCP from backend", srv, u32(3), backend.ErrUnknownFrameType, "INBOUND_TCP", 4},
		{"CLIENT_HEARTBEAT from backend", srv, u32(4), backend.ErrUnknownFrameType, "CLIENT_HEARTBEAT", 4},
		{"client type 0", cli, u32(0), backend.ErrUnknownFrameType, "frame type 0", 4},
		{"client type 5", cli, u32(5), backend.ErrUnknownFrameType, "frame type 5", 4},
		{"SERVER_HELLO from balancer", cli, u32(1001), backend.ErrUnknownFrameType, "SERVER_HELLO", 4},
		{"OUTBOUND_UDP from balancer", cli, header(1002, 1, 2, 3), backend.ErrUnknownFrameType, "OUTBOUND_UDP", 4},
		{"INBOUND_TCP_OK from balancer", cli, u32(1003), backend.ErrUnknownFrameType, "INBOUND_TCP_OK", 4},
		{"SERVER_HEARTBEAT from balancer", cli, u32(1004), backend.ErrUnknownFrameType, "SERVER_HEARTBEAT", 4},

		{"OUTBOUND_UDP 1501 bytes", srv, header(1002, exampleAddr, 53, 1501), backend.ErrUDPTooLong, "1501", 16},
		{"OUTBOUND_UDP 4 GiB", srv, header(1002, exampleAddr, 53, 0xFFFFFFFF), backend.ErrUDPTooLong, "4294967295", 16},
		{"INBOUND_UDP 1501 bytes", cli, header(2, exampleAddr, 53, 1501), backend.ErrUDPTooLong, "1501", 16},
		{"INBOUND_UDP 4 GiB", cli, header(2, exampleAddr, 53, 0xFFFFFFFF), backend.ErrUDPTooLong, "INBOUND_UDP", 16},

		{"OUTBOUND_UDP port 65536", srv, header(1002, exampleAddr, 65536, 3), backend.ErrPortOutOfRange, "65536", 12},
		{"OUTBOUND_UDP port max", srv, header(1002, exampleAddr, 0xFFFFFFFF, 3), backend.ErrPortOutOfRange, "OUTBOUND_UDP", 12},
		{"INBOUND_UDP port 65536", cli, header(2, exampleAddr, 65536, 3), backend.ErrPortOutOfRange, "65536", 12},
		{"INBOUND_TCP port 65536", cli, cat(u32(3), u32(exampleAddr), u32(65536)), backend.ErrPortOutOfRange, "INBOUND_TCP", 12},
		// Both fields bad: the port comes first on the wire, so it is reported.
		{"port before length", srv, header(1002, 0, 1<<20, 1<<20), backend.ErrPortOutOfRange, "port", 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := 0; i < tc.needed; i++ {
				if _, n, err := codecParseOne(t, tc.parse, tc.wire[:i]); n != 0 || err != nil {
					t.Fatalf("%d-byte prefix: n=%d err=%v, want need-more", i, n, err)
				}
			}
			// The error must come from the visible header alone, without
			// waiting for the payload the frame claims.
			for _, buf := range [][]byte{tc.wire[:tc.needed], tc.wire} {
				f, n, err := codecParseOne(t, tc.parse, buf)
				if !errors.Is(err, tc.want) {
					t.Fatalf("%d bytes: err = %v, want %v", len(buf), err, tc.want)
				}
				if n != 0 || !reflect.DeepEqual(f, backend.Frame{}) {
					t.Fatalf("%d bytes: got %+v, n=%d alongside the error", len(buf), f, n)
				}
				if !strings.Contains(err.Error(), tc.text) {
					t.Fatalf("error %q does not mention %q", err, tc.text)
				}
			}
			// A heartbeat of the parser's own direction, then the bad frame.
			good := backend.AppendServerHeartbeat(nil)
			if _, _, err := tc.parse(good); err != nil {
				good = backend.AppendClientHeartbeat(nil)
			}
			r := codecParseStream(t, tc.parse, cat(good, tc.wire))
			if len(r.Frames) != 1 || !errors.Is(r.Err, tc.want) {
				t.Fatalf("after a good frame: %d frames, err %v", len(r.Frames), r.Err)
			}
		})
	}
}

func TestLimitsAccepted(t *testing.T) {
	// The largest legal values sit right next to the rejected ones above.
	max := bytes.Repeat([]byte{1}, backend.MaxUDPLength)
	for _, tc := range []struct {
		parse codecParser
		wire  []byte
	}{
		{backend.ParseServerFrame, backend.AppendOutboundUDP(nil, 0xFFFFFFFF, 65535, max)},
		{backend.ParseClientFrame, backend.AppendInboundUDP(nil, 0xFFFFFFFF, 65535, max)},
		{backend.ParseClientFrame, backend.AppendInboundTCP(nil, 0xFFFFFFFF, 65535)},
	} {
		f, n, err := codecParseOne(t, tc.parse, tc.wire)
		if err != nil || n != len(tc.wire) || f.Port != 65535 || f.Addr != 0xFFFFFFFF {
			t.Fatalf("%v: n=%d err=%v frame %+v", f.Type, n, err, f)
		}
	}
}

func TestZeroAllocations(t *testing.T) {
	msg := bytes.Repeat([]byte{3}, 512)
	buf := make([]byte, 0, 4096)
	appendAll := func() {
		b := buf[:0]
		b = backend.AppendClientHello(b)
		b = backend.AppendInboundUDP(b, exampleAddr, 4242, msg)
		b = backend.AppendInboundTCP(b, exampleAddr, 4242)
		b = backend.AppendClientHeartbeat(b)
		b = backend.AppendServerHello(b)
		b = backend.AppendOutboundUDP(b, exampleAddr, 4242, msg)
		b = backend.AppendInboundTCPOK(b)
		b = backend.AppendServerHeartbeat(b)
		buf = b
	}
	if a := testing.AllocsPerRun(100, appendAll); a != 0 {
		t.Errorf("Append* into a big-enough buffer: %v allocations per run, want 0", a)
	}
	appendAll()

	srv := backend.AppendServerHello(nil)
	srv = backend.AppendOutboundUDP(srv, exampleAddr, 4242, msg)
	srv = backend.AppendServerHeartbeat(srv)
	cli := backend.AppendClientHello(nil)
	cli = backend.AppendInboundUDP(cli, exampleAddr, 4242, msg)
	cli = backend.AppendInboundTCP(cli, exampleAddr, 4242)
	var sink int
	parseAll := func(parse codecParser, b []byte) {
		for len(b) > 0 {
			f, n, err := parse(b)
			if err != nil || n == 0 {
				panic("stream did not parse")
			}
			sink += len(f.Data)
			b = b[n:]
		}
	}
	if a := testing.AllocsPerRun(100, func() { parseAll(backend.ParseServerFrame, srv) }); a != 0 {
		t.Errorf("ParseServerFrame: %v allocations per run, want 0", a)
	}
	if a := testing.AllocsPerRun(100, func() { parseAll(backend.ParseClientFrame, cli) }); a != 0 {
		t.Errorf("ParseClientFrame: %v allocations per run, want 0", a)
	}
	if sink == 0 {
		t.Fatal("parsed no data")
	}
}
