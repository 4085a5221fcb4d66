//go:build linux

/*
 * The Linux binding of Port: epoll, every registration EPOLLONESHOT so that an
 * fd fires once and must be re-armed, exactly like an event-port association.
 *
 * epoll distinguishes adding a registration from modifying one, so the Port
 * remembers which fds the epoll set holds (registered). A one-shot
 * registration that has fired stays in the set, disabled; re-arming it is
 * EPOLL_CTL_MOD. Dissociate removes it (EPOLL_CTL_DEL) and must precede
 * close(2), or a later fd with the same number would be MODded instead of
 * ADDed. The event buffer is kept so that Wait allocates nothing.
 */

package evport

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Port is the OS readiness binding; see port.go.
type Port struct {
	epfd       int
	registered map[int]bool
	raw        []unix.EpollEvent
}

// NewPort creates an epoll instance.
func NewPort() (*Port, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	return &Port{epfd: fd, registered: make(map[int]bool)}, nil
}

// Associate arms fd for ev, once.
func (p *Port) Associate(fd int, ev Events) error {
	e := unix.EpollEvent{Events: unix.EPOLLONESHOT, Fd: int32(fd)}
	if ev&Readable != 0 {
		e.Events |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if ev&Writable != 0 {
		e.Events |= unix.EPOLLOUT
	}
	op := unix.EPOLL_CTL_ADD
	if p.registered[fd] {
		op = unix.EPOLL_CTL_MOD
	}
	if err := unix.EpollCtl(p.epfd, op, fd, &e); err != nil {
		return fmt.Errorf("epoll_ctl fd %d: %w", fd, err)
	}
	p.registered[fd] = true
	return nil
}

// Dissociate removes fd from the set, armed or not.
func (p *Port) Dissociate(fd int) error {
	if !p.registered[fd] {
		return nil
	}
	delete(p.registered, fd)
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return fmt.Errorf("epoll_ctl del fd %d: %w", fd, err)
	}
	return nil
}

// Wait blocks up to timeout (negative: forever) and fills out with fired
// associations. An interrupted wait returns no events and no error.
func (p *Port) Wait(out []Event, timeout time.Duration) (int, error) {
	if cap(p.raw) < len(out) {
		p.raw = make([]unix.EpollEvent, len(out))
	}
	raw := p.raw[:len(out)]
	n, err := unix.EpollWait(p.epfd, raw, waitMillis(timeout))
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("epoll_wait: %w", err)
	}
	for i := 0; i < n; i++ {
		var ev Events
		if raw[i].Events&(unix.EPOLLIN|unix.EPOLLRDHUP) != 0 {
			ev |= Readable
		}
		if raw[i].Events&unix.EPOLLOUT != 0 {
			ev |= Writable
		}
		if raw[i].Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			ev |= Readable | Writable
		}
		out[i] = Event{FD: int(raw[i].Fd), Events: ev}
	}
	return n, nil
}

// Close releases the epoll instance.
func (p *Port) Close() error {
	return unix.Close(p.epfd)
}
