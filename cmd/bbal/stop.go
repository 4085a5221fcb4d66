/*
 * How a balancer process stops serving, dropping as little as it can (a
 * "lame duck"): on SIGTERM, and as the old process of a handover
 * (handover.go).
 *
 * On SIGTERM the TCP listener closes at once (a client that connects now
 * is refused and retries, against the next process), connections that owe
 * their client nothing close at once (RFC 7766 6.2.3), the others as soon
 * as they have answered what they were given, and UDP keeps being read
 * and answered all that time: a stop no longer opens a UDP gap as long as
 * the TCP drain. When no TCP connection is left (or shutdownGrace has
 * passed and the rest are closed), the UDP socket stops being read, the
 * answers to queries already forwarded are sent (up to answerLinger), and
 * only then does the UDP socket close.
 *
 * In a handover the successor already reads the same UDP socket and
 * accepts on the same TCP listener, so the old process stops reading and
 * accepting first, and the TCP drain and the UDP answers run together.
 */

package main

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/proxy"
	"github.com/joyent/mname-balancer/remote"
)

// shutdownGrace is how long open TCP connections may take to finish after
// SIGTERM or a handover (the drain time).
const shutdownGrace = 5 * time.Second

// answerLinger bounds how long a stopping process that no longer reads
// queries waits for the answers to those it has forwarded (the answer
// deadline: node-mname answers in milliseconds, and a backend that has not
// answered in a second is faulted by its probe soon after anyway).
const answerLinger = time.Second

// lingerPoll is how often the lingering process looks at what is still
// outstanding.
const lingerPoll = 10 * time.Millisecond

// stopping is the balancer's listening side winding down.
type stopping struct {
	loop  *evport.Loop
	log   zerolog.Logger
	udp   *proxy.UDP
	tcp   *proxy.TCP
	table *remote.Table
	set   *backend.Set

	answeredAt uint64 // udp's Answered when it stopped reading
	drained    int    // TCP connections that were open when the stop began
}

// lameDuck is the SIGTERM stop: TCP drains while UDP is still served, then
// UDP's last answers go out; done runs when all is closed.
func (s *stopping) lameDuck(done func()) {
	s.drained = s.tcp.Live()
	idle := s.tcp.LameDuck()
	s.log.Info().Int("tcp_connections", s.drained).Int("tcp_idle_closed", idle).Msg("shutting down")
	s.table.Stop()
	s.drainTCP(func() {
		s.stopReadingUDP()
		s.lingerUDP(func() {
			s.finish()
			done()
		})
	})
}

// handOver is the old process's side of a handover: the successor reads
// and accepts from now on; this process answers what it has been given
// and exits. done gets the answers sent and connections drained.
func (s *stopping) handOver(done func(answers uint64, drained int)) {
	s.stopReadingUDP()
	s.drained = s.tcp.Live()
	s.tcp.LameDuck()
	s.table.Stop()
	pending := 2
	both := func() {
		if pending--; pending == 0 {
			s.finish() // sends the answers still queued this turn: count them too
			done(s.udp.Stats().Answered-s.answeredAt, s.drained)
		}
	}
	s.drainTCP(both)
	s.lingerUDP(both)
}

// drainTCP calls next once no TCP connection is open, closing any still
// open after shutdownGrace.
func (s *stopping) drainTCP(next func()) {
	grace := s.loop.NewTimer(func() {
		s.log.Warn().Int("tcp_connections", s.tcp.Live()).Msg("closing TCP connections still open after the grace period")
		s.tcp.Abort()
	})
	grace.Reset(shutdownGrace)
	s.tcp.Drain(func() {
		grace.Stop()
		next()
	})
}

func (s *stopping) stopReadingUDP() {
	s.answeredAt = s.udp.Stats().Answered
	if err := s.udp.StopReading(); err != nil {
		bunyan.Errno(s.log.Warn(), err).Msg("could not stop reading the UDP socket")
	}
}

// lingerUDP calls next once every forwarded query has been answered, or
// after answerLinger.
func (s *stopping) lingerUDP(next func()) {
	deadline := s.loop.Now().Add(answerLinger)
	var poll *evport.Timer
	check := func() {
		if s.udp.Outstanding() > 0 && s.loop.Now().Before(deadline) {
			return
		}
		poll.Stop()
		next()
	}
	poll = s.loop.Every(lingerPoll, check)
}

// finish closes what is left: the UDP socket, the backend sessions.
func (s *stopping) finish() {
	s.udp.Close()
	s.set.Stop()
}
