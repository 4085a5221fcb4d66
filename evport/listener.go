/*
 * Listener: non-blocking accept on a listening stream socket, on the loop.
 *
 * The caller creates, configures and binds the socket (the TCP proxy sets
 * its own options); the Listener accepts up to acceptBatch connections per
 * readiness, hands each new fd (non-blocking, close-on-exec) and its peer
 * address to onAccept, and re-arms.
 *
 * Running out of descriptors (EMFILE, ENFILE) or kernel memory (ENOBUFS,
 * ENOMEM) leaves the pending connection in the backlog, so the socket stays
 * readable: re-arming at once would spin the loop. Instead the Listener
 * reports the error and pauses for AcceptBackoff before listening again.
 * Errors that concern only the one connection (ECONNABORTED, EPROTO, EINTR)
 * are skipped. Failing to re-arm fails the whole loop (Loop.Fail): a
 * listener that can no longer hear is not something to limp on with. The
 * Listener owns its fd from the call to NewListener on,
 * even when that fails (the fd is then closed); Close closes it.
 */

package evport

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// AcceptBackoff is how long a Listener pauses after running out of fds.
const AcceptBackoff = 100 * time.Millisecond

const acceptBatch = 32

// Listener accepts connections on the loop; see the file comment.
type Listener struct {
	fd       *FD
	onAccept func(fd int, peer unix.Sockaddr)
	onError  func(err error)
	resume   *Timer
	closed   bool
}

// NewListener starts accepting on fd, a bound and listening socket.
func NewListener(l *Loop, fd int, onAccept func(fd int, peer unix.Sockaddr), onError func(error)) (*Listener, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listener nonblock: %w", err)
	}
	ln := &Listener{onAccept: onAccept, onError: onError}
	ln.fd = l.NewFD(fd, ln.ready)
	ln.resume = l.NewTimer(ln.rearm)
	if err := ln.fd.Arm(Readable); err != nil {
		ln.fd.Close()
		return nil, err
	}
	return ln, nil
}

// Paused reports whether accepting is paused after a resource shortage.
func (ln *Listener) Paused() bool { return ln.resume.Scheduled() }

func (ln *Listener) ready(Events) {
	for i := 0; i < acceptBatch && !ln.closed; i++ {
		nfd, sa, err := unix.Accept4(ln.fd.Int(), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch err {
		case nil:
			ln.onAccept(nfd, sa)
			continue
		case unix.EAGAIN:
		case unix.ECONNABORTED, unix.EPROTO, unix.EINTR:
			continue
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			ln.onError(fmt.Errorf("accept: %w", err))
			if !ln.closed { // onError may have closed the Listener
				ln.resume.Reset(AcceptBackoff)
			}
			return
		default:
			ln.onError(fmt.Errorf("accept: %w", err))
		}
		break
	}
	ln.rearm()
}

// rearm listens again; if that fails the listener would be deaf for good,
// so the loop is failed (the process exits and its supervisor restarts it).
func (ln *Listener) rearm() {
	if ln.closed {
		return
	}
	if err := ln.fd.Arm(Readable); err != nil {
		ln.fd.loop.Fail(fmt.Errorf("listener: re-arm: %w", err))
	}
}

// Close stops accepting and closes the listening socket.
func (ln *Listener) Close() error {
	if ln.closed {
		return nil
	}
	ln.closed = true
	ln.resume.Stop()
	return ln.fd.Close()
}
