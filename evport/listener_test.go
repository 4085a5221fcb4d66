/*
 * Tests of Listener: many pending connections accepted (more than one
 * accept batch), over AF_UNIX and TCP loopback, each handed over with its
 * peer address and usable as a Conn; Close stops accepting. The resource
 * shortage path (EMFILE) is tested in listener_linux_test.go.
 */

package evport

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestListenerAcceptsMany(t *testing.T) {
	for _, kind := range []string{"unix", "tcp"} {
		t.Run(kind, func(t *testing.T) {
			l := newTestLoop(t)
			var lfd int
			var sa unix.Sockaddr
			if kind == "unix" {
				var path string
				lfd, path = listenUnix(t)
				sa = &unix.SockaddrUnix{Name: path}
			} else {
				var port int
				lfd, port = listenTCP(t)
				sa = loopback4(port)
			}
			const n = 3*acceptBatch + 5
			var accepted []*Conn
			var got []string
			badPeers := 0
			takeID := func(c *Conn, data []byte) int {
				if len(data) < 4 {
					return 0
				}
				got = append(got, string(data[:4]))
				return 4
			}
			ln, err := NewListener(l, lfd, func(fd int, peer unix.Sockaddr) {
				if p, ok := peer.(*unix.SockaddrInet4); kind == "tcp" && (!ok || p.Addr != [4]byte{127, 0, 0, 1} || p.Port == 0) {
					badPeers++
				}
				server := newRecorder(t, "server")
				server.onReceived = takeID
				c, err := NewConn(l, fd, server, ConnConfig{})
				if err != nil {
					t.Errorf("NewConn: %v", err)
					return
				}
				accepted = append(accepted, c)
			}, func(err error) { t.Errorf("listener error: %v", err) })
			if err != nil {
				t.Fatal(err)
			}
			if ln.Paused() {
				t.Fatal("new listener paused")
			}
			readies := 0
			ready := ln.fd.handler
			ln.fd.handler = func(ev Events) { readies++; ready(ev) }
			// Dial them all before the loop runs: the backlog holds more
			// than one accept batch.
			var dialed []*Conn
			var want []string
			connected := 0
			for i := 0; i < n; i++ {
				client := newRecorder(t, "client")
				client.onConnected = func(*Conn) { connected++ }
				c, err := Dial(l, sa, client, ConnConfig{})
				if err != nil {
					t.Fatalf("Dial %d: %v", i, err)
				}
				id := fmt.Sprintf("%04d", i)
				c.Write([]byte(id))
				want = append(want, id)
				dialed = append(dialed, c)
			}
			runUntil(t, l, 10*time.Second, "all accepted", func() bool { return len(got) == n })
			if len(accepted) != n || connected != n {
				t.Fatalf("accepted %d, connected %d, want %d", len(accepted), connected, n)
			}
			// All were waiting at once: each wake-up takes a batch.
			if readies > n/2 {
				t.Fatalf("%d wake-ups to accept %d connections", readies, n)
			}
			t.Logf("%d wake-ups to accept %d connections", readies, n)
			if badPeers != 0 {
				t.Fatalf("%d accepted connections with a wrong peer address", badPeers)
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("ids received %v, want %v", got, want)
			}
			if err := ln.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := ln.Close(); err != nil {
				t.Fatalf("second Close: %v", err)
			}
			// Closed: the address refuses (unix) or nothing is accepted.
			late := newRecorder(t, "late")
			if _, err := Dial(l, sa, late, ConnConfig{}); err == nil {
				runUntil(t, l, 5*time.Second, "refusal", func() bool { return late.closed == 1 })
				if late.connected != 0 {
					t.Fatal("Dial to a closed listener connected")
				}
			}
			runFor(t, l, 10*time.Millisecond)
			if len(accepted) != n {
				t.Fatalf("accepted after Close")
			}
			for _, c := range append(dialed, accepted...) {
				c.Close()
			}
		})
	}
}
