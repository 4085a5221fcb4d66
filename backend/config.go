/*
 * Timings of the backend subsystem. The defaults are the C balancer's
 * (bbal.h, backend.c) and are what the daemon runs with, plus the fast
 * failover probe and flap damping of issue 12; tests may shorten them.
 */

package backend

import "time"

// Timings are the intervals that govern backend sessions. The tests'
// time scale (internal/timescale) leaves the probe's two alone: they
// measure how soon a live process answers, which no test can speed up,
// and shortened they would fault backends that are merely busy on a
// loaded test machine.
type Timings struct {
	Scan              time.Duration // re-read the socket directory
	ConnectTimeout    time.Duration // connect to SERVER_HELLO
	HeartbeatInterval time.Duration // hello or last reply to next CLIENT_HEARTBEAT
	HeartbeatTimeout  time.Duration // CLIENT_HEARTBEAT to SERVER_HEARTBEAT
	ReconnectFirst    time.Duration // delay after the first fault
	ReconnectStep     time.Duration // added per further fault ...
	ReconnectMax      time.Duration // ... while the delay is below this (so it tops out at Max+Step-ish: 33 s)
	NoBackendsLog     time.Duration // minimum gap between "no backends available" records
	ProbeAfter        time.Duration `timescale:"fixed"` // queries unanswered this long: probe with a heartbeat
	ProbeTimeout      time.Duration `timescale:"fixed"` // the probe's deadline
	StableAfter       time.Duration // ok this long after the hello: stable
	EjectAfter        time.Duration `timescale:"fixed"` // queries sent and none answered this long: eject (health.go)
	EjectProbe        time.Duration `timescale:"fixed"` // while ejected, a probe query this often
}

// DefaultTimings are the C balancer's (bbal.h:73-74, backend.c:48-49),
// issue 12's probe and stability intervals, and issue 20's ejection.
func DefaultTimings() Timings {
	return Timings{
		Scan:              5 * time.Second,
		ConnectTimeout:    30 * time.Second,
		HeartbeatInterval: 5 * time.Second,
		HeartbeatTimeout:  15 * time.Second,
		ReconnectFirst:    1 * time.Second,
		ReconnectStep:     2 * time.Second,
		ReconnectMax:      32 * time.Second,
		NoBackendsLog:     5 * time.Second,
		ProbeAfter:        time.Second,
		ProbeTimeout:      time.Second,
		StableAfter:       5 * time.Second,
		EjectAfter:        1500 * time.Millisecond,
		EjectProbe:        500 * time.Millisecond,
	}
}

// nextDelay is the reconnect delay after one that was d (backend.c
// bbal_backend_reconnect): ReconnectFirst after none, then growing by
// ReconnectStep while below ReconnectMax.
func (t *Timings) nextDelay(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return t.ReconnectFirst
	case d < t.ReconnectMax:
		return d + t.ReconnectStep
	}
	return d
}
