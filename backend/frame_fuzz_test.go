/*
Fuzz targets for the frame parsers (frame.go).

Each target takes an arbitrary byte stream and a split point. It parses the
stream to the end in one piece and again delivered as two reads split at the
fuzzed point, and requires both to agree on the frames, the leftover bytes
and the error. On every parser call the shared helper (codecParseOne in
frame_test.go) checks that n never exceeds the buffer, that an error consumes
nothing and wraps a sentinel, and that a parsed frame re-encodes to exactly
the bytes it consumed.

Run them with

	go test -fuzz=FuzzParseServerFrame -fuzztime=60s ./backend/
	go test -fuzz=FuzzParseClientFrame -fuzztime=60s ./backend/

Crashers the fuzzer finds are kept under testdata/fuzz/<target>/ and replay
as ordinary test cases on every `go test`.
*/
package backend_test

import (
	"testing"

	"github.com/joyent/mname-balancer/backend"
)

// codecFuzzSeeds returns interesting streams for one direction: each valid
// frame alone, a mixed stream, frames cut short, the limits, and every kind
// of violation, some of them after a valid frame.
func codecFuzzSeeds(server bool) [][]byte {
	msg := []byte("\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00")
	max := make([]byte, backend.MaxUDPLength)
	var hello, heartbeat, udp, udpMax, udpEmpty []byte
	other := [][]byte{}
	if server {
		hello = backend.AppendServerHello(nil)
		heartbeat = backend.AppendServerHeartbeat(nil)
		udp = backend.AppendOutboundUDP(nil, exampleAddr, 4242, msg)
		udpMax = backend.AppendOutboundUDP(nil, 0xFFFFFFFF, 65535, max)
		udpEmpty = backend.AppendOutboundUDP(nil, 0, 0, nil)
		other = append(other, backend.AppendInboundTCPOK(nil), u32(1), u32(2), u32(3), u32(4))
	} else {
		hello = backend.AppendClientHello(nil)
		heartbeat = backend.AppendClientHeartbeat(nil)
		udp = backend.AppendInboundUDP(nil, exampleAddr, 4242, msg)
		udpMax = backend.AppendInboundUDP(nil, 0xFFFFFFFF, 65535, max)
		udpEmpty = backend.AppendInboundUDP(nil, 0, 0, nil)
		other = append(other, backend.AppendInboundTCP(nil, exampleAddr, 4242),
			backend.AppendInboundTCP(nil, 0, 65535), u32(1001), u32(1002), u32(1003), u32(1004))
	}
	udpType := udp[:4]
	seeds := [][]byte{
		{},
		{1},
		hello,
		heartbeat,
		udp,
		udpMax,
		udpEmpty,
		cat(hello, udp, heartbeat, udpEmpty, heartbeat),
		cat(hello, udp[:len(udp)-1]),
		udp[:15],
		cat(udpType, u32(exampleAddr), u32(53), u32(backend.MaxUDPLength+1)),
		cat(udpType, u32(exampleAddr), u32(53), u32(0xFFFFFFFF)),
		cat(udpType, u32(exampleAddr), u32(65536), u32(3), []byte{1, 2, 3}),
		cat(hello, udpType, u32(exampleAddr), u32(0xFFFFFFFF)),
		cat(heartbeat, u32(0)),
		cat(heartbeat, u32(5)),
		cat(heartbeat, u32(1005)),
		u32(0xFFFFFFFF),
	}
	for _, o := range other {
		seeds = append(seeds, o, cat(hello, o, heartbeat))
	}
	if !server {
		seeds = append(seeds, cat(u32(3), u32(exampleAddr), u32(1<<16)))
	}
	return seeds
}

func codecFuzz(f *testing.F, parse codecParser, server bool) {
	for _, s := range codecFuzzSeeds(server) {
		for _, split := range []uint{0, 3, 4, 13, uint(len(s))} {
			f.Add(s, split)
		}
	}
	f.Fuzz(func(t *testing.T, stream []byte, split uint) {
		at := int(split % uint(len(stream)+1))
		whole := codecParseStream(t, parse, stream)
		got := codecFeedChunks(t, parse, stream[:at], stream[at:])
		codecSameResult(t, "whole vs split", whole, got)
	})
}

func FuzzParseServerFrame(f *testing.F) {
	codecFuzz(f, backend.ParseServerFrame, true)
}

func FuzzParseClientFrame(f *testing.F) {
	codecFuzz(f, backend.ParseClientFrame, false)
}
