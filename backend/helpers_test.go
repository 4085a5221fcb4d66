/*
 * Test harness for the backend sessions and the Set: a real evport loop
 * running on its own goroutine, a socket directory under /tmp (short, so
 * that socket paths fit sun_path), fake backends that the test drives frame
 * by frame with the codec (backendtest), and a goroutine-safe log buffer
 * whose bunyan records the tests search. The harness checks every
 * backend's invariants (h.check) when a test ends, before and after Stop,
 * and the tests check them after their steps.
 *
 * The balancer's rule holds here too: Set and Backend state is touched only
 * on the loop. The test goroutine reaches it with onLoop (Post and wait) and
 * polls conditions with waitFor, which evaluates them on the loop. A fake
 * backend is plain blocking Go on the test goroutine: accept, read a frame,
 * write a frame, each with a deadline so that a broken balancer fails the
 * test instead of hanging it.
 */

package backend_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/backend/backendtest"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/bunyan/bunyantest"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/evport/looptest"
)

type logBuffer = bunyantest.Buffer

var (
	onLoop  = looptest.OnLoop
	waitFor = looptest.WaitFor
)

// harness is a Set over a fresh socket directory on a running loop.
type harness struct {
	t    *testing.T
	run  *looptest.Runner
	loop *evport.Loop
	logs *logBuffer
	dir  string
	set  *backend.Set

	mu      sync.Mutex
	answers []answer // OUTBOUND_UDP answers the sink received
}

type answer struct {
	addr uint32
	port uint16
	msg  []byte
	from uint32 // the sending backend's ID
}

// newHarness creates the Set (not started) with timings tm, on a loop that
// reads the system clock.
func newHarness(t *testing.T, tm backend.Timings) *harness {
	t.Helper()
	return newHarnessOn(t, looptest.Start(t), tm)
}

// newClockHarness is newHarness on a hand-driven clock: timers fire only
// when the test calls h.advance, so intervals are checked exactly.
func newClockHarness(t *testing.T, tm backend.Timings) *harness {
	t.Helper()
	return newHarnessOn(t, looptest.StartWithClock(t), tm)
}

// advance moves the hand-driven clock by d and runs the timers then due.
func (h *harness) advance(d time.Duration) { h.run.Advance(d) }

// due is how long until b's timer fires (-1: not scheduled).
func (h *harness) due(b *backend.Backend) time.Duration {
	var d time.Duration
	onLoop(h.t, h.loop, func() { d = b.TimerDue() })
	return d
}

// state reads b's state on the loop.
func (h *harness) state(b *backend.Backend) backend.State {
	var s backend.State
	onLoop(h.t, h.loop, func() { s = b.State() })
	return s
}

func newHarnessOn(t *testing.T, run *looptest.Runner, tm backend.Timings) *harness {
	t.Helper()
	h := &harness{t: t, run: run, dir: backendtest.SocketDir(t, "bt"), logs: &logBuffer{}}
	h.loop = run.Loop
	log := bunyan.New(h.logs, zerolog.DebugLevel)
	onLoop(t, h.loop, func() {
		h.set = backend.NewSet(h.loop, log, &bunyan.Limits{}, h.dir, tm)
		h.set.SetAnswerSink(func(from *backend.Backend, addr uint32, port uint16, msg []byte) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.answers = append(h.answers, answer{addr, port, append([]byte(nil), msg...), from.ID()})
		})
	})
	t.Cleanup(func() {
		h.check()
		onLoop(t, h.loop, h.set.Stop)
		h.check()
	})
	return h
}

func (h *harness) start() { onLoop(h.t, h.loop, h.set.Start) }

// startOK starts the Set with a fake backend listening as name, accepts
// its control session, says hello and waits until the backend is OK.
func (h *harness) startOK(name string) (*backendtest.Fake, *backend.Backend, *backendtest.Session) {
	h.t.Helper()
	f := backendtest.Listen(h.t, h.dir, name)
	h.start()
	b := h.backend(name)
	s := f.Accept()
	s.Hello()
	waitFor(h.t, h.loop, "backend OK", b.OK)
	return f, b, s
}

func (h *harness) rescan() { onLoop(h.t, h.loop, h.set.Rescan) }

// backend returns the backend for the socket named name (nil if unknown).
func (h *harness) backend(name string) *backend.Backend {
	var b *backend.Backend
	onLoop(h.t, h.loop, func() {
		for _, x := range h.set.Backends() {
			if x.Path() == filepath.Join(h.dir, name) {
				b = x
			}
		}
	})
	return b
}

// check fails the test when a backend's invariants do not hold.
func (h *harness) check() {
	h.t.Helper()
	onLoop(h.t, h.loop, func() {
		for _, b := range h.set.Backends() {
			if err := b.Invariant(); err != nil {
				h.t.Errorf("backend %d: invariant broken: %v", b.ID(), err)
			}
		}
	})
}

// stats reads a backend's counters on the loop.
func (h *harness) stats(b *backend.Backend) backend.Stats {
	var s backend.Stats
	onLoop(h.t, h.loop, func() { s = b.Stats })
	return s
}
