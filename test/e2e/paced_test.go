//go:build linux

/*
A paced DNS client for the degradation tests (issue 20): one UDP socket on
one loopback address sending whoami.example TXT queries at a steady rate
(or as fast as it can), with each answer counted against the 100 ms window
in which its query was sent and the backend that answered it (the "id=" of
the TXT string). Loss is then exact per window: what was sent in it and
never answered, however late the answer would have come.

The DNS ID is the query's sequence number modulo 2^16, and the send time
of each ID is kept, so an answer finds its window; at the rates used here
(at most some tens of thousands a second, answers within milliseconds)
no ID is reused while its answer can still come.
*/

package e2e

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// loadWindow is the width of a counting window.
const loadWindow = 100 * time.Millisecond

// loadWindows bounds a paced client's run (60 s).
const loadWindows = 600

// loadBackends are the backend names the clients tell apart: 5301 .. 5304.
const loadBackends = 4

type pacedClient struct {
	conn  *net.UDPConn
	start time.Time
	rate  int // queries a second; 0: as fast as one goroutine sends

	sentAt   [1 << 16]atomic.Int64 // by DNS ID: window of the send, plus one
	sent     [loadWindows]atomic.Int64
	answered [loadWindows]atomic.Int64
	by       [loadBackends][loadWindows]atomic.Int64 // answers by backend 530x and send window

	stopped atomic.Bool
	wg      sync.WaitGroup
}

// startPaced starts a client on ip sending rate queries a second to the
// balancer on port (0: as fast as it can), from start on.
func startPaced(t *testing.T, port int, ip string, rate int, start time.Time) *pacedClient {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatalf("client socket on %s: %v", ip, err)
	}
	conn.SetReadBuffer(4 << 20)
	c := &pacedClient{conn: conn, start: start, rate: rate}
	q := new(dns.Msg)
	q.SetQuestion("whoami.example.", dns.TypeTXT)
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	c.wg.Add(2)
	go c.send(wire, to)
	go c.receive()
	t.Cleanup(c.stop)
	return c
}

func (c *pacedClient) window(at time.Time) int {
	return min(max(int(at.Sub(c.start)/loadWindow), 0), loadWindows-1)
}

func (c *pacedClient) send(wire []byte, to *net.UDPAddr) {
	defer c.wg.Done()
	msg := append([]byte(nil), wire...)
	if d := time.Until(c.start); d > 0 {
		time.Sleep(d)
	}
	for seq := 0; !c.stopped.Load(); seq++ {
		now := time.Now()
		if c.rate > 0 {
			due := c.start.Add(time.Duration(seq) * time.Second / time.Duration(c.rate))
			if d := due.Sub(now); d > 0 {
				time.Sleep(d)
				now = time.Now()
			}
		}
		w := c.window(now)
		id := uint16(seq)
		binary.BigEndian.PutUint16(msg, id)
		c.sentAt[id].Store(int64(w) + 1)
		if _, err := c.conn.WriteToUDP(msg, to); err != nil {
			continue // a full socket buffer: counted as sent and lost
		}
		c.sent[w].Add(1)
	}
}

func (c *pacedClient) receive() {
	defer c.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, err := c.conn.Read(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue
		}
		w := c.sentAt[binary.BigEndian.Uint16(buf)].Swap(0) - 1
		if w < 0 {
			continue // a duplicate, or an ID already reused
		}
		c.answered[w].Add(1)
		if i := bytes.Index(buf[:n], []byte("id=53")); i >= 0 && i+6 < n {
			if b := int(buf[i+6] - '1'); b >= 0 && b < loadBackends && buf[i+5] == '0' {
				c.by[b][w].Add(1)
			}
		}
	}
}

// stop ends sending and receiving and closes the socket. The tests read
// their counts before (stop is their cleanup): waiting here for late
// answers, as it did (300 ms a client), changed no count anyone read.
func (c *pacedClient) stop() {
	if c.stopped.Swap(true) {
		return
	}
	c.conn.Close()
	c.wg.Wait()
}

// counts sums what was sent in [from, to) and how much of it was answered,
// in all and by backend (index 0 is 5301).
func (c *pacedClient) counts(from, to time.Time) (sent, answered int64, by [loadBackends]int64) {
	for w := c.window(from); w < c.window(to); w++ {
		sent += c.sent[w].Load()
		answered += c.answered[w].Load()
		for b := range by {
			by[b] += c.by[b][w].Load()
		}
	}
	return
}

// loadCounts sums counts over clients.
func loadCounts(clients []*pacedClient, from, to time.Time) (sent, answered int64, by [loadBackends]int64) {
	for _, c := range clients {
		s, a, b := c.counts(from, to)
		sent += s
		answered += a
		for i := range by {
			by[i] += b[i]
		}
	}
	return
}

// pct is a/b as a percentage (0 for b == 0).
func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// backendName is the name of backend index i (0: 5301).
func backendName(i int) string { return strconv.Itoa(5301 + i) }

// spoofFlood sends one query from each of n new source addresses, base,
// base+1, ..., at rate a second, through one socket naming each source
// with IP_PKTINFO (all of 127.0.0.0/8 is local on Linux), until all are
// sent or it is stopped. The answers go to the socket, which nobody reads.
type spoofFlood struct {
	t       testing.TB
	sent    atomic.Int64
	stopped atomic.Bool
	done    chan struct{} // closed when the flood ends; err is then set
	err     error
	report  sync.Once
}

func startSpoofFlood(t testing.TB, port int, base [4]byte, n, rate int) *spoofFlood {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	q := new(dns.Msg)
	q.SetQuestion("flood.example.", dns.TypeA)
	wire, _ := q.Pack()
	f := &spoofFlood{t: t, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer unix.Close(fd)
		to := &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
		first := binary.BigEndian.Uint32(base[:])
		start := time.Now()
		for i := 0; i < n && !f.stopped.Load(); i++ {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); d > 0 {
				time.Sleep(d)
			}
			var info unix.Inet4Pktinfo
			binary.BigEndian.PutUint32(info.Spec_dst[:], first+uint32(i))
			oob := unix.PktInfo4(&info)
			if err := unix.Sendmsg(fd, wire, oob, to, 0); err != nil && err != unix.EAGAIN && err != unix.ENOBUFS {
				f.err = fmt.Errorf("flood from %v: %w", info.Spec_dst, err)
				return
			}
			f.sent.Add(1)
		}
	}()
	t.Cleanup(f.stop)
	return f
}

// wait waits for the flood to end and fails the test if sending failed.
func (f *spoofFlood) wait() {
	<-f.done
	f.report.Do(func() {
		if f.err != nil {
			f.t.Error(f.err)
		}
	})
}

// stop ends the flood and waits for it.
func (f *spoofFlood) stop() {
	f.stopped.Store(true)
	f.wait()
}
