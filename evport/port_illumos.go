//go:build illumos

/*
 * The illumos binding of Port: event ports, called directly, with no cgo.
 * Each Port call is one libc call (man pages in section 3C), used as Go's
 * own runtime/netpoll_solaris.go uses it:
 *
 *	NewPort     port_create(3C)                    netpollinit
 *	Associate   port_associate(3C), PORT_SOURCE_FD netpollopen/netpollupdate
 *	Watch       the same: event ports are one-shot only, so the loop
 *	            re-associates a watched fd after each event (portOneShot)
 *	Dissociate  port_dissociate(3C), ENOENT (not   netpollclose
 *	            associated: fired or never armed)
 *	            ignored
 *	Wait        port_getn(3C), nget 1; ETIME may   netpoll
 *	            still deliver events; EINTR is none
 *	Wake        port_send(3C), PORT_SOURCE_USER    netpollBreak (port_alert)
 *	Close       close(2) of the port
 *
 * How the calls are made: the package imports the five libc functions
 * itself (//go:cgo_import_dynamic, as x/sys/unix does for its own wrappers
 * and the runtime for netpoll_solaris.go; the compiler permits this
 * directive outside cgo for exactly that use) and calls them through
 * x/sys/unix's unexported sysvicall6 and rawSysvicall6, reached by linkname
 * (datagram_illumos.go's recvfrom and sendto and hrtime_illumos.go's
 * gethrtime are called the same way). port_getn, which blocks, goes through
 * sysvicall6 (the runtime is told the thread is in a system call); the
 * others return at once and go through rawSysvicall6, as the runtime's
 * netpoll calls them, without the scheduler hand-off. Why not x/sys's port
 * wrappers, or its EventPort: x/sys has no port_send or port_alert; its
 * port_associate and port_getn type the user word as *byte, and a word that
 * holds an fd and a generation must not sit in a pointer-typed Go value the
 * garbage collector may inspect; and EventPort allocates a cookie per
 * association and an event array per Get, locks a mutex in every call and
 * panics on an event it has no cookie for (golang/go#54254). Here the user
 * word is a plain uintptr, the event array lives in the Port, and nothing
 * allocates or locks per wait or re-arm.
 *
 * Semantics relied on (port_associate(3C), port_getn(3C)): an association
 * of PORT_SOURCE_FD is one-shot, removed from the port when its event is
 * retrieved; associating an fd that is still associated replaces its event
 * set and user word (one call re-arms); events are checked at once, so
 * arming an fd that is ready fires without waiting for a new edge; close(2)
 * of an fd removes its association, but the loop dissociates first anyway.
 * The user word is the fd in its low 32 bits and the generation in the high
 * 32; the wake-up's word is ^0 (no fd has it). port_send queues one
 * PORT_SOURCE_USER event per call; the loop sends at most one at a time
 * (Loop.Post's wakePending), far below the port's event limit (EAGAIN).
 * POLLERR, POLLHUP and POLLNVAL are reported as Readable|Writable.
 */

package evport

import (
	"fmt"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

//go:cgo_import_dynamic libc_port_create port_create "libc.so"
//go:cgo_import_dynamic libc_port_associate port_associate "libc.so"
//go:cgo_import_dynamic libc_port_dissociate port_dissociate "libc.so"
//go:cgo_import_dynamic libc_port_getn port_getn "libc.so"
//go:cgo_import_dynamic libc_port_send port_send "libc.so"

//go:linkname procPortCreate libc_port_create
//go:linkname procPortAssociate libc_port_associate
//go:linkname procPortDissociate libc_port_dissociate
//go:linkname procPortGetn libc_port_getn
//go:linkname procPortSend libc_port_send

// The addresses of the libc functions, filled in by the dynamic linker.
var (
	procPortCreate,
	procPortAssociate,
	procPortDissociate,
	procPortGetn,
	procPortSend uintptr
)

//go:linkname sysvicall6 golang.org/x/sys/unix.sysvicall6
func sysvicall6(trap, nargs, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno)

//go:linkname rawSysvicall6 golang.org/x/sys/unix.rawSysvicall6
func rawSysvicall6(trap, nargs, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno)

// portEvent is port_event_t (sys/port.h) with the user word as an integer.
type portEvent struct {
	events int32   // portev_events
	source uint16  // portev_source
	_      uint16  // portev_pad
	object uintptr // portev_object: the fd, for PORT_SOURCE_FD
	user   uintptr // portev_user
}

const wakeUser = ^uintptr(0)

// Port is the OS readiness binding; see port.go.
type Port struct {
	fd   int
	raw  [maxEventsPerWait]portEvent
	nget uint32        // port_getn's in/out count, a field so nothing escapes per call
	ts   unix.Timespec // port_getn's timeout, likewise
}

// Each call below is written out as rawSysvicall6 or sysvicall6 (bodyless
// declarations of assembly functions) with every pointer converted to
// uintptr in that call expression itself, as unsafe.Pointer's rule (4)
// asks: only there does the compiler keep the object alive and in place
// for the length of the call. A Go helper taking the uintptrs would not.

// result reads a libc int result: -1 is failure, with errno set (libc's int
// is the low 32 bits of the register; the runtime zeroes errno before the
// call and reads it after).
func result(r uintptr, errno syscall.Errno) (int, error) {
	if int32(r) == -1 {
		if errno == 0 {
			return -1, unix.EIO // libc failed without an errno: never expected
		}
		return -1, errno
	}
	return int(int32(r)), nil
}

// NewPort creates an event port (close-on-exec).
func NewPort() (*Port, error) {
	r, _, errno := rawSysvicall6(uintptr(unsafe.Pointer(&procPortCreate)), 0, 0, 0, 0, 0, 0, 0)
	fd, err := result(r, errno)
	if err != nil {
		return nil, fmt.Errorf("port_create: %w", err)
	}
	unix.CloseOnExec(fd)
	return &Port{fd: fd}, nil
}

// portOneShot: true, an association always ends with its event; the loop
// renews a watched fd's after each handler call.
const portOneShot = true

// Watch is Associate: see portOneShot.
func (p *Port) Watch(fd int, gen uint32, ev Events) error { return p.Associate(fd, gen, ev) }

// Associate arms fd for ev, once, tagging its event with gen.
func (p *Port) Associate(fd int, gen uint32, ev Events) error {
	var events uintptr
	if ev&Readable != 0 {
		events |= unix.POLLIN
	}
	if ev&Writable != 0 {
		events |= unix.POLLOUT
	}
	user := uintptr(gen)<<32 | uintptr(uint32(fd))
	r, _, errno := rawSysvicall6(uintptr(unsafe.Pointer(&procPortAssociate)), 5,
		uintptr(p.fd), unix.PORT_SOURCE_FD, uintptr(fd), events, user, 0)
	_, err := result(r, errno)
	if err != nil {
		return fmt.Errorf("port_associate fd %d: %w", fd, err)
	}
	return nil
}

// Dissociate disarms fd if it is armed; it must precede close(2).
func (p *Port) Dissociate(fd int) error {
	r, _, errno := rawSysvicall6(uintptr(unsafe.Pointer(&procPortDissociate)), 3,
		uintptr(p.fd), unix.PORT_SOURCE_FD, uintptr(fd), 0, 0, 0)
	_, err := result(r, errno)
	if err != nil && err != unix.ENOENT {
		return fmt.Errorf("port_dissociate fd %d: %w", fd, err)
	}
	return nil
}

// Wait blocks up to timeout (negative: forever) or until Wake, and fills
// out with fired associations. An interrupted wait returns no events and
// no error.
func (p *Port) Wait(out []Event, timeout time.Duration) (int, error) {
	var tsp *unix.Timespec // nil: block until an event
	if timeout >= 0 {
		p.ts = unix.NsecToTimespec(int64(waitMillis(timeout)) * int64(time.Millisecond))
		tsp = &p.ts
	}
	max := min(len(out), len(p.raw))
	if max == 0 {
		return 0, nil // port_getn with max 0 would only count pending events
	}
	p.nget = 1 // in: wait for at least one event; out: how many were returned
	r, _, errno := sysvicall6(uintptr(unsafe.Pointer(&procPortGetn)), 5, uintptr(p.fd),
		uintptr(unsafe.Pointer(&p.raw[0])), uintptr(max), uintptr(unsafe.Pointer(&p.nget)),
		uintptr(unsafe.Pointer(tsp)), 0)
	_, err := result(r, errno)
	switch err {
	case nil:
	case unix.ETIME: // timed out, possibly with events: deliver them
	case unix.EINTR: // a signal: the loop recomputes its timeout
		return 0, nil
	default:
		return 0, fmt.Errorf("port_getn: %w", err)
	}
	n := min(int(p.nget), max)
	got := 0
	for i := 0; i < n; i++ {
		e := &p.raw[i]
		if e.source != unix.PORT_SOURCE_FD {
			continue // our wake-up (PORT_SOURCE_USER, wakeUser); nothing else is associated
		}
		var ev Events
		if e.events&unix.POLLIN != 0 {
			ev |= Readable
		}
		if e.events&unix.POLLOUT != 0 {
			ev |= Writable
		}
		if e.events&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
			ev |= Readable | Writable
		}
		out[got] = Event{FD: int(uint32(e.user)), Gen: uint32(e.user >> 32), Events: ev}
		got++
	}
	return got, nil
}

// Wake makes a Wait in progress, or the next one, return. Safe from any
// goroutine; each call queues one event, so callers coalesce (Loop.Post).
func (p *Port) Wake() error {
	r, _, errno := rawSysvicall6(uintptr(unsafe.Pointer(&procPortSend)), 3, uintptr(p.fd), 0, wakeUser, 0, 0, 0)
	if _, err := result(r, errno); err != nil {
		return fmt.Errorf("port_send: %w", err)
	}
	return nil
}

// Close releases the event port.
func (p *Port) Close() error {
	return unix.Close(p.fd)
}
