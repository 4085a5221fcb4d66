/*
Allocation tests: the packet path logs at trace, so a disabled record, with
or without the IPv4 helper, must not allocate; and an enabled record with
IPv4 should not either (zerolog pools its events and formats into them).
These count allocations, never time.
*/

package bunyan_test

import (
	"io"
	"testing"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/rs/zerolog"
)

func TestDisabledTraceDoesNotAllocate(t *testing.T) {
	log := bunyan.New(io.Discard, zerolog.InfoLevel)
	child := log.With().Uint32("be_id", 5301).Logger()
	var addr uint32 = 0x0A4D4D05
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"Str.Uint32.Msg", func() {
			log.Trace().Str("dir", "in").Uint32("len", 512).Msg("inbound UDP")
		}},
		{"IPv4", func() {
			bunyan.IPv4(log.Trace(), "remote_ip", addr).Uint32("remote_port", 5353).Msg("inbound UDP")
		}},
		{"child IPv4", func() {
			bunyan.IPv4(child.Trace(), "remote_ip", addr).Msg("outbound UDP")
		}},
		{"Debug", func() {
			log.Debug().Str("k", "v").Msg("not at info")
		}},
	} {
		if n := testing.AllocsPerRun(1000, tc.f); n != 0 {
			t.Errorf("%s on a disabled level: %v allocations per record, want 0", tc.name, n)
		}
	}
}

func TestEnabledRecordDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("under -race sync.Pool drops values on purpose, so zerolog's pooled events are re-allocated")
	}
	log := bunyan.New(io.Discard, zerolog.InfoLevel)
	child := log.With().Uint32("be_id", 5301).Str("be_path", "/var/run/binder/sockets/5301").Logger()
	var addr uint32 = 0x0A4D4D05
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"IPv4", func() {
			bunyan.IPv4(log.Info(), "remote_ip", addr).Uint32("remote_port", 5353).Msg("new remote peer")
		}},
		{"child IPv4", func() {
			bunyan.IPv4(child.Info(), "remote_ip", addr).Msg("remote assigned to new primary backend")
		}},
		{"empty msg", func() {
			log.Warn().Uint32("len", 1600).Send()
		}},
	} {
		if n := testing.AllocsPerRun(1000, tc.f); n != 0 {
			t.Errorf("%s on an enabled level: %v allocations per record, want 0", tc.name, n)
		}
	}
}
