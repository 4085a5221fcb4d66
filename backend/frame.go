/*
Frame codec: the bytes that travel on the AF_UNIX stream between the balancer
and a node-mname backend, and nothing else (docs/contract.md says which
session rules go with them).

Every frame is a sequence of unsigned 32-bit little-endian integers that
starts with the frame type:

	balancer -> backend                  backend -> balancer
	1 CLIENT_HELLO                       1001 SERVER_HELLO
	2 INBOUND_UDP  addr port len data    1002 OUTBOUND_UDP  addr port len data
	3 INBOUND_TCP  addr port             1003 INBOUND_TCP_OK
	4 CLIENT_HEARTBEAT                   1004 SERVER_HEARTBEAT

An IPv4 address is the 32-bit number whose most significant byte is the first
octet (10.77.77.5 is 0x0A4D4D05, on the wire 05 4D 4D 0A); a port is a 32-bit
number that must fit in 16 bits; a UDP payload is at most MaxUDPLength bytes.

Encoders are append-style (AppendX(dst, ...) returns dst extended by one
frame) and do not allocate when dst has room. They do not validate: a caller
that must not send a datagram over MaxUDPLength checks before encoding, which
lets tests build deliberately oversized frames.

Parsers look at the front of a stream buffer and report one of three
outcomes, decided only by the bytes visible so far:

  - n == 0, err == nil: the frame is not complete yet; read more and retry
    with the same bytes at the front.
  - n > 0, err == nil: one frame of n bytes; the caller drops n bytes. A UDP
    frame's Data aliases buf (never copied), so it is valid only until the
    caller reuses that part of its buffer.
  - err != nil: the stream violates the protocol and cannot be resynchronised;
    the caller must end the session. err wraps one of the exported sentinel
    errors (ErrUnknownFrameType, ErrPortOutOfRange, ErrUDPTooLong).

Fields are checked in wire order as soon as each becomes visible, so a bad
type is refused after 4 bytes and an oversized length after the 16-byte
header, without waiting for the claimed payload (which could be 4 GiB). Because
every check looks only at bytes already present, a stream split at any point
yields the same frames and the same error as the stream parsed in one piece.

Each direction has its own parser: a frame type that belongs to the other
direction is as unknown as type 7. Session rules (hello first, one heartbeat
outstanding, INBOUND_TCP_OK only on TCP sessions) belong to the session code,
not here.
*/

package backend

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// FrameType is the leading u32 of every frame.
type FrameType uint32

// Frame types, balancer to backend (1-4) and backend to balancer (1001-1004).
const (
	FrameClientHello     FrameType = 1
	FrameInboundUDP      FrameType = 2
	FrameInboundTCP      FrameType = 3
	FrameClientHeartbeat FrameType = 4

	FrameServerHello     FrameType = 1001
	FrameOutboundUDP     FrameType = 1002
	FrameInboundTCPOK    FrameType = 1003
	FrameServerHeartbeat FrameType = 1004
)

// String returns the protocol's name for t, e.g. "OUTBOUND_UDP", or
// "FrameType(n)" for a number the protocol does not define.
func (t FrameType) String() string {
	switch t {
	case FrameClientHello:
		return "CLIENT_HELLO"
	case FrameInboundUDP:
		return "INBOUND_UDP"
	case FrameInboundTCP:
		return "INBOUND_TCP"
	case FrameClientHeartbeat:
		return "CLIENT_HEARTBEAT"
	case FrameServerHello:
		return "SERVER_HELLO"
	case FrameOutboundUDP:
		return "OUTBOUND_UDP"
	case FrameInboundTCPOK:
		return "INBOUND_TCP_OK"
	case FrameServerHeartbeat:
		return "SERVER_HEARTBEAT"
	}
	return "FrameType(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// defined reports whether the protocol gives t a meaning in either direction.
func (t FrameType) defined() bool {
	return (t >= FrameClientHello && t <= FrameClientHeartbeat) ||
		(t >= FrameServerHello && t <= FrameServerHeartbeat)
}

// MaxUDPLength is the largest DNS message an INBOUND_UDP or OUTBOUND_UDP
// frame may carry.
const MaxUDPLength = 1500

// Frame sizes. A UDP frame is its header plus the payload.
const (
	typeLen       = 4
	tcpFrameLen   = 12 // type, addr, port
	udpHeaderLen  = 16 // type, addr, port, len
	offAddr       = 4
	offPort       = 8
	offLen        = 12
	maxPortOnWire = 0xFFFF
)

// MaxFrameLength is the size of the largest valid frame in either direction:
// a UDP frame carrying MaxUDPLength bytes. A read buffer of this size always
// has room for at least one whole frame.
const MaxFrameLength = udpHeaderLen + MaxUDPLength

// Sentinel errors for protocol violations; test with errors.Is.
var (
	// ErrUnknownFrameType means the type is not one the sender may send.
	ErrUnknownFrameType = errors.New("unknown frame type")
	// ErrPortOutOfRange means a port field holds a value above 65535.
	ErrPortOutOfRange = errors.New("port out of range")
	// ErrUDPTooLong means a UDP frame claims more than MaxUDPLength bytes.
	ErrUDPTooLong = errors.New("UDP frame longer than " + strconv.Itoa(MaxUDPLength) + " bytes")
)

// Frame is one parsed frame. Addr and Port are meaningful for the UDP and
// INBOUND_TCP types; Data only for the UDP types, where it aliases the
// parsed buffer.
type Frame struct {
	Type FrameType
	Addr uint32
	Port uint16
	Data []byte
}

// AppendClientHello appends a CLIENT_HELLO frame to dst.
func AppendClientHello(dst []byte) []byte { return appendType(dst, FrameClientHello) }

// AppendInboundUDP appends an INBOUND_UDP frame carrying msg from addr:port.
// It does not enforce MaxUDPLength.
func AppendInboundUDP(dst []byte, addr uint32, port uint16, msg []byte) []byte {
	return appendUDP(dst, FrameInboundUDP, addr, port, msg)
}

// AppendInboundTCP appends an INBOUND_TCP frame naming the client addr:port.
func AppendInboundTCP(dst []byte, addr uint32, port uint16) []byte {
	dst = appendType(dst, FrameInboundTCP)
	dst = binary.LittleEndian.AppendUint32(dst, addr)
	return binary.LittleEndian.AppendUint32(dst, uint32(port))
}

// AppendClientHeartbeat appends a CLIENT_HEARTBEAT frame to dst.
func AppendClientHeartbeat(dst []byte) []byte { return appendType(dst, FrameClientHeartbeat) }

// AppendServerHello appends a SERVER_HELLO frame (backend side) to dst.
func AppendServerHello(dst []byte) []byte { return appendType(dst, FrameServerHello) }

// AppendOutboundUDP appends an OUTBOUND_UDP frame (backend side) carrying msg
// to addr:port. It does not enforce MaxUDPLength.
func AppendOutboundUDP(dst []byte, addr uint32, port uint16, msg []byte) []byte {
	return appendUDP(dst, FrameOutboundUDP, addr, port, msg)
}

// AppendInboundTCPOK appends an INBOUND_TCP_OK frame (backend side) to dst.
func AppendInboundTCPOK(dst []byte) []byte { return appendType(dst, FrameInboundTCPOK) }

// AppendServerHeartbeat appends a SERVER_HEARTBEAT frame (backend side) to dst.
func AppendServerHeartbeat(dst []byte) []byte { return appendType(dst, FrameServerHeartbeat) }

func appendType(dst []byte, t FrameType) []byte {
	return binary.LittleEndian.AppendUint32(dst, uint32(t))
}

func appendUDP(dst []byte, t FrameType, addr uint32, port uint16, msg []byte) []byte {
	return append(appendUDPHeader(dst, t, addr, port, len(msg)), msg...)
}

// appendUDPHeader appends the 16-byte header of a UDP frame whose payload
// of n bytes the caller sends next.
func appendUDPHeader(dst []byte, t FrameType, addr uint32, port uint16, n int) []byte {
	dst = appendType(dst, t)
	dst = binary.LittleEndian.AppendUint32(dst, addr)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(port))
	return binary.LittleEndian.AppendUint32(dst, uint32(n))
}

// ParseServerFrame parses one backend-to-balancer frame (SERVER_HELLO,
// OUTBOUND_UDP, INBOUND_TCP_OK, SERVER_HEARTBEAT) at the front of buf.
// n == 0 with a nil error means more bytes are needed; a non-nil error is a
// protocol violation wrapping one of the package's sentinel errors.
func ParseServerFrame(buf []byte) (f Frame, n int, err error) {
	if len(buf) < typeLen {
		return Frame{}, 0, nil
	}
	t := FrameType(binary.LittleEndian.Uint32(buf))
	switch t {
	case FrameServerHello, FrameInboundTCPOK, FrameServerHeartbeat:
		return Frame{Type: t}, typeLen, nil
	case FrameOutboundUDP:
		return parseUDP(buf, t)
	}
	return Frame{}, 0, unknownType(t, "backend")
}

// ParseClientFrame parses one balancer-to-backend frame (CLIENT_HELLO,
// INBOUND_UDP, INBOUND_TCP, CLIENT_HEARTBEAT) at the front of buf, with the
// same contract as ParseServerFrame. The balancer never receives these; the
// demo backend and the tests do.
func ParseClientFrame(buf []byte) (f Frame, n int, err error) {
	if len(buf) < typeLen {
		return Frame{}, 0, nil
	}
	t := FrameType(binary.LittleEndian.Uint32(buf))
	switch t {
	case FrameClientHello, FrameClientHeartbeat:
		return Frame{Type: t}, typeLen, nil
	case FrameInboundUDP:
		return parseUDP(buf, t)
	case FrameInboundTCP:
		port, ok, err := parsePort(buf, t)
		if !ok || err != nil {
			return Frame{}, 0, err
		}
		addr := binary.LittleEndian.Uint32(buf[offAddr:])
		return Frame{Type: t, Addr: addr, Port: port}, tcpFrameLen, nil
	}
	return Frame{}, 0, unknownType(t, "balancer")
}

// parseUDP parses the common layout of INBOUND_UDP and OUTBOUND_UDP, whose
// type t has already been read.
func parseUDP(buf []byte, t FrameType) (Frame, int, error) {
	port, ok, err := parsePort(buf, t)
	if !ok || err != nil {
		return Frame{}, 0, err
	}
	if len(buf) < udpHeaderLen {
		return Frame{}, 0, nil
	}
	length := binary.LittleEndian.Uint32(buf[offLen:])
	if length > MaxUDPLength {
		return Frame{}, 0, fmt.Errorf("%v frame claims %d bytes: %w", t, length, ErrUDPTooLong)
	}
	end := udpHeaderLen + int(length)
	if len(buf) < end {
		return Frame{}, 0, nil
	}
	addr := binary.LittleEndian.Uint32(buf[offAddr:])
	// The three-index slice keeps an append to Data from overwriting the
	// next frame in buf.
	return Frame{Type: t, Addr: addr, Port: port, Data: buf[udpHeaderLen:end:end]}, end, nil
}

// parsePort reads the port field of a frame of type t. ok is false while the
// field is not yet complete.
func parsePort(buf []byte, t FrameType) (port uint16, ok bool, err error) {
	if len(buf) < offPort+4 {
		return 0, false, nil
	}
	p := binary.LittleEndian.Uint32(buf[offPort:])
	if p > maxPortOnWire {
		return 0, false, fmt.Errorf("%v frame port %d: %w", t, p, ErrPortOutOfRange)
	}
	return uint16(p), true, nil
}

// unknownType describes a type the sender may not send: either one the
// protocol does not define, or one that travels the other way.
func unknownType(t FrameType, sender string) error {
	if t.defined() {
		return fmt.Errorf("frame type %d (%v) is never sent by the %s: %w", uint32(t), t, sender, ErrUnknownFrameType)
	}
	return fmt.Errorf("frame type %d from the %s: %w", uint32(t), sender, ErrUnknownFrameType)
}
