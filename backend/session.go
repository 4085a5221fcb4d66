/*
 * The control session's callbacks: an unexported adapter between an
 * evport.Conn and its Backend (as the TCP proxy's endpoints are), so that
 * the callbacks are not part of Backend's API. Each callback first checks
 * that its Conn is still the backend's session: a closed session's late
 * events are ignored before they reach the state machine.
 *
 * Frames are parsed as they arrive; every violation is logged with the C
 * balancer's record (backend.c bbal_uds_data) and faults the backend.
 */

package backend

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
)

// sessionEvents is a Backend seen as the handler of its control session.
type sessionEvents Backend

var _ evport.ConnHandler = (*sessionEvents)(nil)

func (h *sessionEvents) backend(c *evport.Conn) *Backend {
	b := (*Backend)(h)
	if b.session != c {
		return nil
	}
	return b
}

// Connected: the connect finished; CLIENT_HELLO is already queued.
func (h *sessionEvents) Connected(c *evport.Conn) {
	if b := h.backend(c); b != nil {
		b.log.Info().Msg("backend socket connected")
	}
}

// Received parses the frames of the stream.
func (h *sessionEvents) Received(c *evport.Conn, data []byte) int {
	b := h.backend(c)
	used := 0
	for b != nil && b.session == c {
		rest := data[used:]
		if len(rest) >= typeLen && b.state == StateConnecting {
			if t := FrameType(binary.LittleEndian.Uint32(rest)); t != FrameServerHello {
				b.log.Error().Uint32("frame_type", uint32(t)).Msg("errant frame before hello")
				b.fault("errant frame before hello")
				return used
			}
		}
		f, n, err := ParseServerFrame(rest)
		if err != nil {
			b.protocolError(rest, err)
			return used
		}
		if n == 0 {
			break
		}
		used += n
		b.handleFrame(&f)
	}
	if b != nil && b.session == c && used < len(data) && c.AtEOF() {
		b.log.Warn().Int("partial_frame_bytes", len(data)-used).Msg("backend socket EOF")
		b.fault("EOF in the middle of a frame")
	}
	return used
}

// protocolError logs the C record for a frame the parser refused.
func (b *Backend) protocolError(buf []byte, err error) {
	t := binary.LittleEndian.Uint32(buf)
	switch {
	case errors.Is(err, ErrUDPTooLong):
		b.log.Warn().Uint32("len", binary.LittleEndian.Uint32(buf[offLen:])).Msg("backend sent oversized UDP packet")
		b.fault("oversized UDP packet")
	case errors.Is(err, ErrPortOutOfRange):
		// The C balancer truncates such a port; a Go-only record.
		bunyan.Errno(b.log.Error().Uint32("frame_type", t), err).Msg("backend sent invalid UDP port")
		b.fault("invalid UDP port")
	default:
		b.log.Error().Uint32("frame_type", t).Msg("invalid frame type")
		b.fault("invalid frame type")
	}
}

func (b *Backend) handleFrame(f *Frame) {
	b.log.Trace().Uint32("frame_type", uint32(f.Type)).Msg("inbound frame")
	switch f.Type {
	case FrameServerHello:
		if b.state != StateConnecting {
			b.log.Error().Msg("duplicate hello from backend")
			b.fault("duplicate hello")
			return
		}
		b.log.Info().Msg("backend socket established")
		b.enter(evHello)
	case FrameServerHeartbeat:
		if b.state != StateHeartbeat {
			b.log.Error().Msg("unexpected heartbeat response from backend")
			b.fault("unexpected heartbeat response")
			return
		}
		b.log.Trace().Msg("received heartbeat reply")
		b.probeSince = time.Time{}
		if !b.clock.since.IsZero() {
			b.clock.heartbeats++
		}
		b.enter(evHeartbeatBack)
	case FrameOutboundUDP:
		if e := b.log.Trace(); e.Enabled() {
			bunyan.IPv4(e, "dest_ip", f.Addr).Uint16("dest_port", f.Port).Int("data_len", len(f.Data)).Msg("outbound UDP packet")
		}
		b.answered()
		if f.Addr == probeAddr && f.Port == probePort {
			return // the answer to the balancer's own probe (health.go)
		}
		b.set.answer(b, f.Addr, f.Port, f.Data)
	default: // INBOUND_TCP_OK belongs on TCP sessions only
		b.log.Error().Uint32("frame_type", uint32(f.Type)).Msg("invalid frame type")
		b.fault("invalid frame type")
	}
}

// EOF: the backend closed its session.
func (h *sessionEvents) EOF(c *evport.Conn) {
	if b := h.backend(c); b != nil {
		b.log.Warn().Msg("backend socket EOF")
		b.fault("EOF")
	}
}

// Drained: nothing to do; a stuck session un-sticks by itself.
func (h *sessionEvents) Drained(c *evport.Conn) {}

// Closed: a session that we did not close ourselves failed (a socket error,
// or a connect that failed after Dial returned).
func (h *sessionEvents) Closed(c *evport.Conn, err error) {
	b := h.backend(c)
	if b == nil {
		return
	}
	cause := "closed"
	if err != nil {
		cause = err.Error()
	}
	bunyan.Errno(b.log.Error().Str("cause", cause), err).Msg("backend socket error")
	b.fault("socket error")
}
