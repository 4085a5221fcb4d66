//go:build illumos

/*
 * The illumos binding of Port: event ports, through x/sys/unix's EventPort,
 * with no cgo. Each Port call is one event-port call:
 *
 *	NewPort     port_create(3C)                  unix.NewEventPort
 *	Associate   port_associate(PORT_SOURCE_FD)   EventPort.AssociateFd
 *	Dissociate  port_dissociate(PORT_SOURCE_FD)  EventPort.DissociateFd
 *	Wait        port_getn(3C)                    EventPort.Get
 *	Close       close(2) of the port             EventPort.Close
 *
 * Event ports are one-shot by nature: a fired association is gone, which is
 * the model the loop is written for. EventPort refuses to associate an fd it
 * believes is still associated (the kernel would simply update the events),
 * so re-arming an armed fd dissociates it first. port_getn returns ETIME
 * when the timeout passes, possibly with some events: those are delivered.
 * The loop passes no cookie (nil) and finds its handler by fd, but
 * EventPort still allocates a cookie record per association and a
 * port_event array per Get, and takes a mutex in each call: a small cost
 * per wake-up, accepted for a binding this short. Calling port_associate
 * and port_getn directly (as datagram.go does recvfrom) would remove it.
 */

package evport

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Port is the OS readiness binding; see port.go.
type Port struct {
	ep  *unix.EventPort
	raw []unix.PortEvent
}

// NewPort creates an event port.
func NewPort() (*Port, error) {
	ep, err := unix.NewEventPort()
	if err != nil {
		return nil, fmt.Errorf("port_create: %w", err)
	}
	return &Port{ep: ep}, nil
}

// Associate arms fd for ev, once.
func (p *Port) Associate(fd int, ev Events) error {
	var events int
	if ev&Readable != 0 {
		events |= unix.POLLIN
	}
	if ev&Writable != 0 {
		events |= unix.POLLOUT
	}
	if p.ep.FdIsWatched(uintptr(fd)) {
		if err := p.Dissociate(fd); err != nil {
			return err
		}
	}
	if err := p.ep.AssociateFd(uintptr(fd), events, nil); err != nil {
		return fmt.Errorf("port_associate fd %d: %w", fd, err)
	}
	return nil
}

// Dissociate disarms fd if it is armed.
func (p *Port) Dissociate(fd int) error {
	if !p.ep.FdIsWatched(uintptr(fd)) {
		return nil
	}
	if err := p.ep.DissociateFd(uintptr(fd)); err != nil && err != unix.ENOENT {
		return fmt.Errorf("port_dissociate fd %d: %w", fd, err)
	}
	return nil
}

// Wait blocks up to timeout (negative: forever) and fills out with fired
// associations. An interrupted wait returns no events and no error.
func (p *Port) Wait(out []Event, timeout time.Duration) (int, error) {
	if cap(p.raw) < len(out) {
		p.raw = make([]unix.PortEvent, len(out))
	}
	raw := p.raw[:len(out)]
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(int64(waitMillis(timeout)) * int64(time.Millisecond))
		ts = &t
	}
	n, err := p.ep.Get(raw, 1, ts)
	if err == unix.EINTR {
		return 0, nil
	}
	if err != nil && err != unix.ETIME {
		return 0, fmt.Errorf("port_getn: %w", err)
	}
	for i := 0; i < n; i++ {
		var ev Events
		if raw[i].Events&unix.POLLIN != 0 {
			ev |= Readable
		}
		if raw[i].Events&unix.POLLOUT != 0 {
			ev |= Writable
		}
		if raw[i].Events&(unix.POLLERR|unix.POLLHUP) != 0 {
			ev |= Readable | Writable
		}
		out[i] = Event{FD: int(raw[i].Fd), Events: ev}
	}
	return n, nil
}

// Close releases the event port.
func (p *Port) Close() error {
	return p.ep.Close()
}
