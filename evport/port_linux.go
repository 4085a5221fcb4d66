//go:build linux

/*
 * The Linux binding of Port: epoll, every Associate registration
 * EPOLLONESHOT so that an fd fires once and must be re-armed, exactly like
 * an event-port association (a Watch registration is level-triggered and
 * stays armed), and an eventfd for the wake-up. Each Port call is one or
 * two system calls (man pages in section 2):
 *
 *	NewPort     epoll_create1(EPOLL_CLOEXEC), eventfd(EFD_NONBLOCK), and
 *	            epoll_ctl(ADD) of the eventfd, level-triggered
 *	Associate   epoll_ctl(MOD); the first time, ENOENT, then epoll_ctl(ADD)
 *	Watch       the same without EPOLLONESHOT: level-triggered, stays armed
 *	Dissociate  epoll_ctl(DEL), ENOENT (never added) ignored
 *	Wait        epoll_wait; EINTR is no events; the eventfd's event is read(2)
 *	            away and not reported
 *	Wake        write(2) of 1 to the eventfd (any goroutine)
 *	Close       close(2) of both
 *
 * epoll's 64-bit data word is the user word: the fd in its low half and the
 * generation in its high half (x/sys names the halves Fd and Pad), the
 * eventfd's word being -1. A one-shot registration that has fired stays in
 * the set, disabled, so re-arming it is the one EPOLL_CTL_MOD; only an fd
 * never armed (or dissociated) needs the ADD. The binding keeps no state of
 * its own about fds: "armed" lives in the loop's FD alone. Error and hang-up
 * (EPOLLERR, EPOLLHUP) are reported as Readable|Writable.
 */

package evport

import (
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Port is the OS readiness binding; see port.go.
type Port struct {
	epfd   int
	wakefd int
	raw    [maxEventsPerWait]unix.EpollEvent
}

// wakeData marks the eventfd's registration (no fd is negative).
const wakeData = -1

// NewPort creates an epoll instance and its wake-up eventfd.
func NewPort() (*Port, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeData, Pad: wakeData}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(wakefd)
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl add eventfd: %w", err)
	}
	return &Port{epfd: epfd, wakefd: wakefd}, nil
}

// portOneShot: false, epoll can keep an fd armed (Watch) by itself.
const portOneShot = false

// Associate arms fd for ev, once, tagging its events with gen.
func (p *Port) Associate(fd int, gen uint32, ev Events) error {
	return p.ctl(fd, unix.EPOLLONESHOT, gen, ev)
}

// Watch arms fd for ev until Dissociate (level-triggered: each Wait
// reports it while it is ready), tagging its events with gen.
func (p *Port) Watch(fd int, gen uint32, ev Events) error {
	return p.ctl(fd, 0, gen, ev)
}

func (p *Port) ctl(fd int, mode uint32, gen uint32, ev Events) error {
	e := unix.EpollEvent{Events: mode, Fd: int32(fd), Pad: int32(gen)}
	if ev&Readable != 0 {
		e.Events |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if ev&Writable != 0 {
		e.Events |= unix.EPOLLOUT
	}
	err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_MOD, fd, &e)
	if err == unix.ENOENT {
		err = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &e)
	}
	if err != nil {
		return fmt.Errorf("epoll_ctl fd %d: %w", fd, err)
	}
	return nil
}

// Dissociate removes fd from the set, armed or not; it must precede
// close(2).
func (p *Port) Dissociate(fd int) error {
	err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	if err != nil && err != unix.ENOENT {
		return fmt.Errorf("epoll_ctl del fd %d: %w", fd, err)
	}
	return nil
}

// Wait blocks up to timeout (negative: forever) or until Wake, and fills
// out with fired associations. An interrupted wait returns no events and
// no error.
func (p *Port) Wait(out []Event, timeout time.Duration) (int, error) {
	raw := p.raw[:min(len(out), len(p.raw))]
	n, err := unix.EpollWait(p.epfd, raw, waitMillis(timeout))
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("epoll_wait: %w", err)
	}
	got := 0
	for i := 0; i < n; i++ {
		e := &raw[i]
		if e.Fd == wakeData {
			p.drainWake()
			continue
		}
		var ev Events
		if e.Events&(unix.EPOLLIN|unix.EPOLLRDHUP) != 0 {
			ev |= Readable
		}
		if e.Events&unix.EPOLLOUT != 0 {
			ev |= Writable
		}
		if e.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			ev |= Readable | Writable
		}
		out[got] = Event{FD: int(e.Fd), Gen: uint32(e.Pad), Events: ev}
		got++
	}
	return got, nil
}

// drainWake resets the eventfd's counter so that it stops firing.
func (p *Port) drainWake() {
	var buf [8]byte
	_, _ = unix.Read(p.wakefd, buf[:]) // EAGAIN: already drained
}

// Wake makes a Wait in progress, or the next one, return. Safe from any
// goroutine; wake-ups before a Wait returns coalesce into one.
func (p *Port) Wake() error {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, err := unix.Write(p.wakefd, one[:])
	if err != nil && err != unix.EAGAIN { // EAGAIN: the counter is full, a wake-up is pending
		return fmt.Errorf("eventfd write: %w", err)
	}
	return nil
}

// Close releases the epoll instance and the eventfd.
func (p *Port) Close() error {
	err := unix.Close(p.wakefd)
	if cerr := unix.Close(p.epfd); err == nil {
		err = cerr
	}
	return err
}
