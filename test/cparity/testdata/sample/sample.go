// Package sample is input for the emission-site scanner's own test
// (scanner_test.go); it is parsed, never built.
package sample

import (
	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/bunyan"
)

const msgDynamic = "chosen at run time"

type backend struct {
	log zerolog.Logger
}

type table struct {
	log      zerolog.Logger
	backends map[int]*backend
}

func newBackend(root zerolog.Logger, id uint32) *backend {
	return &backend{log: root.With().Uint32("be_id", id).Str("be_path", "p").Logger()}
}

func (b *backend) fault(err error, fatal bool) {
	e := b.log.Warn()
	if fatal {
		e = b.log.Error()
	}
	e = e.Str("reason", "r")
	bunyan.Errno(e, err).Msg("variable event")
}

func (t *table) sweep(addr uint32) {
	for _, b := range t.backends {
		bunyan.IPv4(b.log.Info(), "remote_ip", addr).Msg("through a range variable")
	}
	t.log.Debug().Int("n", len(t.backends)).Msg("table record")
}

func dynamic(log zerolog.Logger, msg string) {
	log.WithLevel(zerolog.FatalLevel).Str("address", "a").Msg(msg)
}

func (b *backend) connect(err error, exhausted bool) {
	msg := "connect(3SOCKET) failed"
	if exhausted {
		msg = "socket(2) failed"
	}
	bunyan.Errno(b.log.Error(), err).Msg(msg)
}

// Log is an accessor, as backend.Backend's.
func (b *backend) Log() *zerolog.Logger { return &b.log }

func forward(b *backend, n int) {
	if e := b.Log().Trace(); e.Enabled() {
		e.Int("len", n).Msg("through an accessor")
	}
}

func (t *table) scan(err error, open bool) {
	logErr := func(msg string, err error) {
		bunyan.Errno(t.log.Error().Str("socket_dir", "d"), err).Msg(msg)
	}
	if open {
		logErr("error opening socket directory", err)
		return
	}
	logErr("error reading socket directory", err)
}
