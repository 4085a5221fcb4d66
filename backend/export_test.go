/*
 * Test-only access to the package's insides, for the external tests
 * (package backend_test, which may import backendtest).
 */

package backend

import (
	"time"

	"github.com/joyent/mname-balancer/evport"
	"golang.org/x/sys/unix"
)

// Invariant checks the backend's invariants (nil: they hold).
func (b *Backend) Invariant() error { return b.invariant() }

// SessionConn is the control session's Conn (nil without one).
func (b *Backend) SessionConn() *evport.Conn { return b.session }

// TimerDue is how long until the backend's timer fires (-1: not scheduled).
func (b *Backend) TimerDue() time.Duration {
	if !b.timer.Scheduled() {
		return -1
	}
	return b.timer.When().Sub(b.set.loop.Now())
}

// FireTimer runs the backend's timer callback now, as if it had expired.
func (b *Backend) FireTimer() { b.timerFired() }

// SetDial replaces the Set's dial function.
func (s *Set) SetDial(dial func(*evport.Loop, unix.Sockaddr, evport.ConnHandler, evport.ConnConfig) (*evport.Conn, error)) {
	s.dial = dial
}

// Sizes the tests check against.
const (
	ControlReserve = controlReserve
	MaxSocketPath  = maxSocketPath
)
