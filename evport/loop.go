/*
 * Loop: the balancer's one event loop. It owns a Port, the fds registered on
 * it, the timers and the queue of work posted from other goroutines, and it
 * runs every callback on a single goroutine locked to its OS thread. Nothing
 * the loop owns is locked: the only state other goroutines touch is the post
 * queue (a mutex, and the Port's wake-up).
 *
 * One turn of the loop:
 *
 *	1. read the clock (Now() returns this value until step 5 reads it
 *	   again; the clock is the system's unless NewWithClock gave another,
 *	   clock.go)
 *	2. run the timers that are due
 *	3. run the work posted by other goroutines, then the AtTurnEnd
 *	   functions that steps 2 and 3 asked for
 *	4. flush the connections that queued bytes during steps 2-5 (Conn)
 *	5. if yieldEvery has passed since the loop last did, pass through the
 *	   Go scheduler (yield.go); wait for readiness, no longer than until
 *	   the next timer; read the clock again and dispatch each fired fd to
 *	   its handler; when the last handler has returned, run the AtTurnEnd
 *	   functions they asked for
 *
 * Registration: NewFD ties an fd to a handler and gives the registration a
 * generation number, new for every NewFD. Arm associates the fd one-shot
 * with the Port, the user word carrying fd and generation; when it fires the
 * handler runs once with the events, and it stays quiet until re-armed.
 * Watch instead keeps the fd armed: the handler runs on every turn in which
 * it is ready. Epoll does that itself; on event ports, whose associations
 * end with their event, dispatch re-associates the fd after each handler
 * call unless the handler changed the interest itself, which associated it
 * already (FD.renewAfterEvent). Arm on a watched fd makes it one-shot again.
 * FD.armed is the one record of what the fd is associated for (the Port
 * bindings keep none). FD.Close dissociates and closes the fd exactly once.
 * An event is dispatched only if its fd's current registration has the
 * event's generation and is armed: an event for an fd closed earlier in the
 * same batch, or for a closed fd whose number a new registration reused, is
 * dropped. Handlers must still tolerate a spurious wake-up (they all use
 * non-blocking calls).
 *
 * Stop ends Run after the current turn. Run returns the first error of the
 * Port itself, or the error given to Fail by a handler that met a failure
 * the process cannot carry on from; other errors inside handlers are the
 * handlers' business.
 */

package evport

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// maxEventsPerWait bounds how many fired fds one Wait returns.
const maxEventsPerWait = 64

// Loop is a single-threaded event loop; see the file comment.
type Loop struct {
	clock   Clock
	port    *Port
	fds     []*FD // by fd number; nil: not registered
	gen     uint32
	events  []Event
	now     time.Time
	timers  timerHeap
	seq     uint64
	stopped bool

	lastYield time.Time // when the loop last passed through the Go scheduler
	yield     func()    // runtime.Gosched; a test counts the calls instead

	dirty []*Conn  // conns with queued bytes to flush at the end of the turn
	atEnd []func() // AtTurnEnd's functions, run once the turn's callbacks have run

	failed error // set by Fail: Run returns it

	postMu      sync.Mutex
	posted      []func()
	running     []func()
	hasPosted   atomic.Bool // len(posted) > 0, readable without the lock
	wakePending bool        // a Port.Wake is outstanding
	closed      bool        // Close was called: Post does nothing
}

// FD is an fd registered with a loop.
type FD struct {
	loop    *Loop
	fd      int
	gen     uint32 // this registration's generation, in the user word
	handler func(Events)
	armed   Events // what the Port is associated for; 0: not armed
	watch   bool   // armed by Watch: stays armed across events
	closed  bool
	conn    *Conn // the Conn this fd is, if any: a failed renewal ends it
}

// New creates a loop with its own Port, on the system clock.
func New() (*Loop, error) { return NewWithClock(systemClock{}) }

// NewWithClock creates a loop that reads the time from clock (nil: the
// system clock); see clock.go.
func NewWithClock(clock Clock) (*Loop, error) {
	if clock == nil {
		clock = systemClock{}
	}
	port, err := NewPort()
	if err != nil {
		return nil, err
	}
	l := &Loop{
		clock:  clock,
		port:   port,
		events: make([]Event, maxEventsPerWait),
		now:    clock.Now(),
		yield:  runtime.Gosched,
	}
	l.lastYield = l.now
	moved := l.clockMoved
	clock.Attach(func() { l.Post(moved) })
	return l, nil
}

// Now is the loop's clock as last read: at the start of the turn, or after
// the wait whose events are being dispatched.
func (l *Loop) Now() time.Time { return l.now }

// NewFD registers fd with the loop; handler runs on the loop each time an
// armed association fires. The fd is not armed yet.
func (l *Loop) NewFD(fd int, handler func(Events)) *FD {
	l.gen++
	f := &FD{loop: l, fd: fd, gen: l.gen, handler: handler}
	if fd >= len(l.fds) {
		l.fds = append(l.fds, make([]*FD, fd+1-len(l.fds))...)
	}
	l.fds[fd] = f
	return f
}

// Int returns the file descriptor number.
func (f *FD) Int() int { return f.fd }

// Arm associates the fd for ev, once; arming with an empty set disarms it.
// An fd that Watch armed becomes one-shot again.
func (f *FD) Arm(ev Events) error {
	if f.closed {
		return fmt.Errorf("arm fd %d: closed", f.fd)
	}
	if ev == f.armed && !f.watch {
		return nil
	}
	f.watch = false
	if ev == 0 {
		f.armed = 0
		return f.loop.port.Dissociate(f.fd)
	}
	if err := f.loop.port.Associate(f.fd, f.gen, ev); err != nil {
		f.armed = 0
		return err
	}
	f.armed = ev
	return nil
}

// Watch arms the fd for ev until Arm(0) or Close: the handler runs on
// every turn in which the fd is ready and need not re-arm, so a handler
// that leaves the fd ready (a socket with datagrams still queued) runs
// again on the next turn, after the other work of this one. Where the
// binding is level-triggered (epoll) that costs no system call per event;
// on event ports, one-shot by nature, the loop re-associates the fd after
// each handler call (one port_associate, as a handler re-arming would).
// A handler that stops consuming must Arm(0), or it is called again at
// once.
func (f *FD) Watch(ev Events) error {
	if f.closed {
		return fmt.Errorf("watch fd %d: closed", f.fd)
	}
	if ev == 0 {
		return f.Arm(0)
	}
	if f.watch && ev == f.armed {
		return nil
	}
	if err := f.loop.port.Watch(f.fd, f.gen, ev); err != nil {
		f.armed, f.watch = 0, false
		return err
	}
	f.armed, f.watch = ev, true
	return nil
}

// Armed reports the events the fd currently waits for.
func (f *FD) Armed() Events { return f.armed }

// Close disarms and closes the fd, once. Later calls return nil.
func (f *FD) Close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	f.armed, f.watch = 0, false
	l := f.loop
	if l.fds[f.fd] == f {
		l.fds[f.fd] = nil
	}
	derr := l.port.Dissociate(f.fd)
	if err := unix.Close(f.fd); err != nil {
		return fmt.Errorf("close fd %d: %w", f.fd, err)
	}
	return derr
}

// Post runs fn on the loop at its next turn. Safe from any goroutine; this
// is how signal handlers and other goroutines reach balancer state. After
// Close, Post drops fn.
func (l *Loop) Post(fn func()) {
	l.postMu.Lock()
	defer l.postMu.Unlock()
	if l.closed {
		return // the Port is gone; its fd number may be reused
	}
	l.posted = append(l.posted, fn)
	l.hasPosted.Store(true)
	if !l.wakePending {
		// Under the lock, so that Close cannot close the Port in between.
		// One outstanding wake-up is enough: runPosted clears wakePending
		// under the lock when it takes the queue.
		if err := l.port.Wake(); err == nil {
			l.wakePending = true
		}
	}
}

// runPosted runs the work posted since the last turn, in posting order.
func (l *Loop) runPosted() {
	if !l.hasPosted.Load() {
		return
	}
	l.postMu.Lock()
	l.hasPosted.Store(false)
	l.running, l.posted = l.posted, l.running[:0]
	l.wakePending = false
	l.postMu.Unlock()
	for i, fn := range l.running {
		fn()
		l.running[i] = nil
	}
}

// Stop makes Run return at the end of the current turn. Loop goroutine only;
// from elsewhere, Post(l.Stop).
func (l *Loop) Stop() { l.stopped = true }

// Fail stops the loop like Stop and makes Run return err: for a failure
// the process cannot carry on from, such as a listening socket that can no
// longer be re-armed. The first error wins. Loop goroutine only.
func (l *Loop) Fail(err error) {
	if l.failed == nil {
		l.failed = err
	}
	l.stopped = true
}

// Run runs the loop until Stop. It locks the calling goroutine to its thread.
func (l *Loop) Run() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l.stopped = false
	for {
		l.now = l.clock.Now()
		l.runTimers()
		l.runPosted()
		l.runTurnEnd()
		l.flushDirty()
		if l.stopped {
			return l.failed
		}
		l.maybeYield() // the turn's output is out: nothing waits on it
		n, err := l.port.Wait(l.events, l.nextTimeout())
		if err != nil {
			return err
		}
		l.now = l.clock.Now()
		for i := 0; i < n; i++ {
			l.dispatch(l.events[i])
		}
		l.runTurnEnd()
	}
}

// AtTurnEnd runs fn on the loop once the callbacks of this part of the turn
// have all run: after the last fd handler of the events one wait returned,
// or, asked for by a timer or posted work, after the last of those; in
// either case before the loop writes out its Conns and waits again. It is
// for output that many callbacks of one turn gather and that should leave
// together, once, as soon as they are done: the UDP answers parsed from
// every backend read of a turn go out in one batch (proxy). Each call runs
// fn once, in the order asked; callers that gather keep their own
// "scheduled" flag.
func (l *Loop) AtTurnEnd(fn func()) {
	l.atEnd = append(l.atEnd, fn)
}

// runTurnEnd runs the AtTurnEnd functions, including any they add.
func (l *Loop) runTurnEnd() {
	for i := 0; i < len(l.atEnd); i++ {
		fn := l.atEnd[i]
		l.atEnd[i] = nil
		fn()
	}
	l.atEnd = l.atEnd[:0]
}

func (l *Loop) dispatch(ev Event) {
	if ev.FD < 0 || ev.FD >= len(l.fds) {
		return
	}
	f := l.fds[ev.FD]
	if f == nil || f.gen != ev.Gen || f.armed == 0 {
		return // closed, reused by a newer registration, or disarmed
	}
	fired := ev.Events & f.armed
	if fired == 0 {
		fired = f.armed // an error condition on an fd armed for one direction only
	}
	if !f.watch {
		f.armed = 0
		f.handler(fired)
		return
	}
	before := f.armed
	f.handler(fired)
	if f.renewAfterEvent(portOneShot, before) {
		f.renewWatch()
	}
}

// renewWatch associates the watched fd f again after its event (event
// ports). If that fails, a Conn's fd ends its Conn, which tells its handler
// why (port_associate fails with EAGAIN once the port holds
// process.port-max-events associations, 65,536 by default: one connection
// too many must not stop the balancer); any other fd (a listener, a UDP
// socket) is one the process cannot carry on without, and the loop fails.
func (f *FD) renewWatch() {
	err := f.loop.port.Watch(f.fd, f.gen, f.armed)
	if err == nil {
		return
	}
	f.armed, f.watch = 0, false
	err = fmt.Errorf("re-arm after an event: %w", err)
	if f.conn != nil {
		f.conn.fail(err)
		return
	}
	f.loop.Fail(err)
}

// renewAfterEvent reports whether dispatch must associate the watched fd
// f again after its handler ran, on a binding whose associations end with
// their event (oneShot): yes while f is watched and open, unless the
// handler changed what f waits for, as that Watch associated it already
// (one system call, not two). armedBefore is f.armed before the handler.
func (f *FD) renewAfterEvent(oneShot bool, armedBefore Events) bool {
	return oneShot && f.watch && !f.closed && f.armed == armedBefore
}

// nextTimeout is how long the loop may sleep: until the earliest timer, not
// at all if posted work or unflushed bytes are waiting, or forever.
func (l *Loop) nextTimeout() time.Duration {
	if l.hasPosted.Load() || len(l.dirty) > 0 || len(l.atEnd) > 0 {
		return 0
	}
	if len(l.timers) == 0 {
		return -1
	}
	return l.clock.Until(l.timers[0].when)
}

// Close releases the loop's own resource, the Port, once. Registered fds
// belong to their owners and are not closed here.
func (l *Loop) Close() error {
	l.postMu.Lock()
	defer l.postMu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	return l.port.Close()
}
