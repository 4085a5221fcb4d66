/*
 * The metrics endpoint's connections: at most max at a time, at most
 * perIP from one address. A connection that is not serving a request (an
 * idle keep-alive one, or a new one that has not yet sent its request) is
 * reclaimable: at the cap, a new connection takes the place of the
 * reclaimable one that has been so longest, which is closed, as nginx
 * reuses its keep-alive connections; an address at its limit makes room
 * the same way among its own connections. If nothing is reclaimable (every
 * connection is serving a request, each bounded by the server's
 * deadlines), the new connection is closed at once rather than kept
 * waiting. So idle or silent connections can neither keep a scraper out
 * nor, from one address, fill the endpoint.
 *
 * http.Server reports each connection's state (ConnState) with the
 * net.Conn the listener returned, which is how the limiter knows which
 * are serving a request.
 */

package mdb

import (
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// connLimiter is a net.Listener bounding its connections; see the file
// comment. Set its state method as the server's ConnState.
type connLimiter struct {
	net.Listener
	max, perIP int

	mu    sync.Mutex
	conns map[*limitedConn]struct{}
	byIP  map[netip.Addr]int
}

func newConnLimiter(ln net.Listener, max, perIP int) *connLimiter {
	return &connLimiter{Listener: ln, max: max, perIP: perIP,
		conns: make(map[*limitedConn]struct{}), byIP: make(map[netip.Addr]int)}
}

// limitedConn is a connection the limiter counts; the fields but Conn and
// ip are the limiter's, under its mutex.
type limitedConn struct {
	net.Conn
	l       *connLimiter
	ip      netip.Addr
	active  bool      // serving a request
	since   time.Time // when it last became reclaimable
	tracked bool      // counted in l.conns and l.byIP
}

func (c *limitedConn) Close() error {
	c.l.mu.Lock()
	c.l.forget(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// Accept returns the next connection admitted, closing the ones it makes
// room by and the ones it cannot admit.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		lc := &limitedConn{Conn: c, l: l, ip: ap.Addr().Unmap(), since: time.Now()}
		admitted, victims := l.admit(lc)
		for _, v := range victims {
			v.Conn.Close() // its server goroutine sees the error and ends
		}
		if admitted {
			return lc, nil
		}
		c.Close()
	}
}

// admit counts c if room can be made; it returns the connections closed
// to make it.
func (l *connLimiter) admit(c *limitedConn) (bool, []*limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var victims []*limitedConn
	if l.byIP[c.ip] >= l.perIP {
		v := l.oldestReclaimable(c.ip, true)
		if v == nil {
			return false, nil
		}
		l.forget(v)
		victims = append(victims, v)
	}
	if len(l.conns) >= l.max {
		v := l.oldestReclaimable(netip.Addr{}, false)
		if v == nil {
			return false, victims
		}
		l.forget(v)
		victims = append(victims, v)
	}
	c.tracked = true
	l.conns[c] = struct{}{}
	l.byIP[c.ip]++
	return true, victims
}

// oldestReclaimable is the connection (of ip, if sameIP) reclaimable for
// longest, or nil.
func (l *connLimiter) oldestReclaimable(ip netip.Addr, sameIP bool) *limitedConn {
	var oldest *limitedConn
	for c := range l.conns {
		if c.active || (sameIP && c.ip != ip) {
			continue
		}
		if oldest == nil || c.since.Before(oldest.since) {
			oldest = c
		}
	}
	return oldest
}

// forget stops counting c; under l.mu.
func (l *connLimiter) forget(c *limitedConn) {
	if !c.tracked {
		return
	}
	c.tracked = false
	delete(l.conns, c)
	if l.byIP[c.ip]--; l.byIP[c.ip] <= 0 {
		delete(l.byIP, c.ip)
	}
}

// state is the server's ConnState hook.
func (l *connLimiter) state(c net.Conn, s http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch s {
	case http.StateActive:
		lc.active = true
	case http.StateIdle:
		lc.active, lc.since = false, time.Now()
	case http.StateHijacked, http.StateClosed:
		l.forget(lc)
	}
}
