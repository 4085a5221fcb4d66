//go:build linux

/*
 * Descriptor accounting (Linux, through /proc/self/fd): a scenario that
 * creates and closes a loop, listeners, many Conns on both sides of AF_UNIX
 * and TCP connections, and failed dials of both kinds (an immediate ENOENT
 * and a later ECONNREFUSED) must leave exactly the descriptors it found.
 */

package evport

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestNoDescriptorLeaks(t *testing.T) {
	// Let the runtime open whatever it opens lazily (its own poller, say)
	// before counting.
	openFDs(t)
	before := len(openFDs(t))

	peak := fdLeakScenario(t)

	after := len(openFDs(t))
	if peak < before+40 {
		t.Fatalf("scenario peaked at %d descriptors from %d: it did not open what it should", peak, before)
	}
	if after != before {
		t.Fatalf("%d descriptors open before the scenario, %d after", before, after)
	}
}

// fdLeakScenario runs the scenario and returns the peak descriptor count.
func fdLeakScenario(t *testing.T) int {
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := l.Close(); err != nil {
			t.Errorf("Loop.Close: %v", err)
		}
	}()
	ufd, path := listenUnix(t)
	tfd, port := listenTCP(t)
	refusing, refusedPort := boundTCP(t)
	defer unix.Close(refusing)

	var conns []*Conn
	echo := func(name string) *connRecorder {
		r := newRecorder(t, name)
		r.onReceived = func(c *Conn, data []byte) int { return c.Write(data) }
		r.onEOF = func(c *Conn) { c.CloseWrite() }
		return r
	}
	onAccept := func(fd int, _ unix.Sockaddr) {
		c, err := NewConn(l, fd, echo("server"), ConnConfig{})
		if err != nil {
			t.Errorf("NewConn: %v", err)
			return
		}
		conns = append(conns, c)
	}
	onError := func(err error) { t.Errorf("listener: %v", err) }
	uln, err := NewListener(l, ufd, onAccept, onError)
	if err != nil {
		t.Fatal(err)
	}
	tln, err := NewListener(l, tfd, onAccept, onError)
	if err != nil {
		t.Fatal(err)
	}

	const each = 20
	var clients []*connRecorder
	dial := func(sa unix.Sockaddr) {
		r := newRecorder(t, "client")
		c, err := Dial(l, sa, r, ConnConfig{})
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		c.Write([]byte("echo me"))
		c.CloseWrite()
		clients = append(clients, r)
		conns = append(conns, c)
	}
	for i := 0; i < each; i++ {
		dial(&unix.SockaddrUnix{Name: path})
		dial(loopback4(port))
	}
	refused := 0
	for i := 0; i < 5; i++ {
		if _, err := Dial(l, &unix.SockaddrUnix{Name: path + ".missing"}, newRecorder(t, "missing"), ConnConfig{}); err == nil {
			t.Fatal("Dial to a missing path succeeded")
		}
		r := newRecorder(t, "refused")
		r.onClosed = func(*Conn, error) { refused++ }
		if _, err := Dial(l, loopback4(refusedPort), r, ConnConfig{}); err != nil {
			refused++
		}
	}
	fa, fb := socketpair(t)
	pa, err := NewConn(l, fa, echo("pair a"), ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	pb, err := NewConn(l, fb, echo("pair b"), ConnConfig{})
	if err != nil {
		t.Fatal(err)
	}
	conns = append(conns, pa, pb)

	peak := 0
	runUntil(t, l, 10*time.Second, "echoes and refusals", func() bool {
		peak = max(peak, len(openFDs(t)))
		for _, r := range clients {
			if r.eof == 0 {
				return false
			}
		}
		return refused == 5
	})
	for _, r := range clients {
		if string(r.data) != "echo me" {
			t.Fatalf("client got %q", r.data)
		}
	}
	// Close everything, some twice, from inside the loop.
	l.Post(func() {
		for _, c := range conns {
			c.Close()
		}
		uln.Close()
		tln.Close()
		pa.Close()
	})
	runFor(t, l, 10*time.Millisecond)
	registered := 0
	for _, f := range l.fds {
		if f != nil {
			registered++
		}
	}
	if registered != 0 {
		t.Fatalf("loop still holds %d registrations after everything closed", registered)
	}
	return peak
}
