/*
 * Timings of the backend subsystem. The defaults are SPEC's and are what
 * the daemon runs with; tests may shorten them (cmd/bbal accepts a
 * development-only override, never a changed default).
 */

package backend

import "time"

// Timings are the intervals that govern backend sessions.
type Timings struct {
	Scan              time.Duration // re-read the socket directory
	ConnectTimeout    time.Duration // connect to SERVER_HELLO
	HeartbeatInterval time.Duration // hello or last reply to next CLIENT_HEARTBEAT
	HeartbeatTimeout  time.Duration // CLIENT_HEARTBEAT to SERVER_HEARTBEAT
	ReconnectFirst    time.Duration // delay after the first fault
	ReconnectStep     time.Duration // added per further fault
	ReconnectMax      time.Duration // the delay's ceiling
	NoBackendsLog     time.Duration // minimum gap between "no backends available" records
}

// DefaultTimings are SPEC §4's.
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
	}
}

// Scale divides every interval by f (f > 1 shortens them); a test aid.
func (t Timings) Scale(f float64) Timings {
	d := func(x time.Duration) time.Duration { return time.Duration(float64(x) / f) }
	return Timings{
		Scan:              d(t.Scan),
		ConnectTimeout:    d(t.ConnectTimeout),
		HeartbeatInterval: d(t.HeartbeatInterval),
		HeartbeatTimeout:  d(t.HeartbeatTimeout),
		ReconnectFirst:    d(t.ReconnectFirst),
		ReconnectStep:     d(t.ReconnectStep),
		ReconnectMax:      d(t.ReconnectMax),
		NoBackendsLog:     d(t.NoBackendsLog),
	}
}
