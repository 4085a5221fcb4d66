/*
 * Port: the operating system's readiness notification, reduced to the calls
 * the loop needs.
 *
 * The balancer was born on illumos event ports, whose defining property is
 * that an association is one-shot: port_associate(3C) arms a file
 * descriptor, the first event that fires disarms it again, and the consumer
 * re-associates when it wants to hear more. Every layer above this file is
 * written for that model. The illumos binding (port_illumos.go) calls the
 * event-port functions of libc directly; the Linux binding (port_linux.go)
 * gets the same behaviour from epoll with EPOLLONESHOT, so that everything
 * above Port runs and is tested on Linux unchanged. Both files have the
 * same shape, and each maps its calls to their man pages.
 *
 *	Associate(fd, gen, ev)  arm fd for ev (Readable, Writable or both), its
 *	                        event to carry gen; arming an fd that is already
 *	                        armed replaces its interest set (one call)
 *	Watch(fd, gen, ev)      arm fd to stay armed across events where the
 *	                        binding can (epoll, level-triggered); where it
 *	                        cannot (event ports, portOneShot) it is
 *	                        Associate and the loop renews it after each event
 *	Dissociate(fd)          disarm; required before the fd is closed
 *	Wait(out, timeout)      block for events, at most len(out) of them; each
 *	                        returned fd armed by Associate is disarmed
 *	                        again (one-shot)
 *	Wake()                  make a Wait return early; any goroutine
 *	Close()                 release the port itself
 *
 * The user word of an association (event ports' portev_user, epoll's data)
 * carries the fd and the generation the loop gave its registration, the
 * runtime's tagged-pointer idea (runtime/netpoll_solaris.go): an event read
 * after its fd was closed and the number reused says which registration it
 * was for, and the loop drops it. Neither binding keeps any state per fd,
 * allocates, or locks in Associate or Wait. A Wait interrupted by a signal
 * (EINTR, the one place it is handled) returns no events and no error; the
 * wake-up's own event is consumed inside Wait and never returned.
 *
 * Error and hang-up conditions are always reported, whatever was asked for,
 * as Readable|Writable: whoever is waiting wakes, makes the system call and
 * learns the error from it. A Port is owned by one goroutine (the loop's);
 * none of its methods but Wake is safe for concurrent use.
 */

package evport

import "time"

// Events is a set of readiness conditions.
type Events uint32

const (
	// Readable: data (or end-of-file, or an error) can be read.
	Readable Events = 1 << iota
	// Writable: there is room to write (or a connect finished, or an error).
	Writable
)

// Event is one fired association.
type Event struct {
	FD     int
	Gen    uint32 // the generation given to Associate
	Events Events
}

// maxWait caps one wait, as the runtime's netpoll caps its port_getn
// timeout: a timer days away needs no exact single sleep, and epoll's int
// of milliseconds must not overflow.
const maxWait = 1e6 * time.Second

// waitMillis converts a loop timeout into the millisecond count epoll and
// the event-port timespec want: negative means forever, and a positive
// duration is rounded up so that a timer due in half a millisecond does not
// turn into a busy poll.
func waitMillis(d time.Duration) int {
	if d < 0 {
		return -1
	}
	d = min(d, maxWait)
	return int((d + time.Millisecond - 1) / time.Millisecond)
}
