//go:build linux

/*
Bounded steady load for the handover tests: a udpLoad sends
whoami TXT queries at a fixed rate from many loopback source addresses
(one socket per address, so each is one remote) and records every answer;
a tcpClients holds persistent DNS-over-TCP connections, idle (one exchange,
then waiting) or busy (one query after another), that reconnect and resend
when the balancer closes them before an answer, as RFC 7766 clients do.

After the load ends, a report says how many queries got no answer or more
than one, the longest gap (the span, in send time, from the last answered
query before a run of lost ones to the first answered after it), and for
each source the backends that answered it.
*/
package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// udpLoad is rate queries a second from sources addresses for a bounded time.
type udpLoad struct {
	socks   []*net.UDPConn
	rate    int
	perSrc  int // queries each source may send at most
	mu      sync.Mutex
	sentAt  [][]time.Time // per source, by query ID
	answers [][]int32     // per source, by query ID: answers received
	ids     []map[string]int
	done    chan struct{}
	wg      sync.WaitGroup
}

// startUDPLoad sends for d at rate queries/s from sources addresses
// 127.0.0.20 and up, to the balancer's port.
func startUDPLoad(t *testing.T, port, rate, sources int, d time.Duration) *udpLoad {
	t.Helper()
	total := int(float64(rate) * d.Seconds())
	l := &udpLoad{rate: rate, perSrc: total/sources + 1, done: make(chan struct{})}
	if l.perSrc > 65535 {
		t.Fatalf("load: %d queries per source do not fit the 16-bit ID", l.perSrc)
	}
	dst := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
	for i := 0; i < sources; i++ {
		src := &net.UDPAddr{IP: net.IPv4(127, 0, byte(1+(20+i)/250), byte(20+i%250))}
		c, err := net.DialUDP("udp4", src, dst)
		if err != nil {
			t.Fatalf("load source %v: %v", src, err)
		}
		t.Cleanup(func() { c.Close() })
		l.socks = append(l.socks, c)
		l.sentAt = append(l.sentAt, make([]time.Time, l.perSrc))
		l.answers = append(l.answers, make([]int32, l.perSrc))
		l.ids = append(l.ids, map[string]int{})
	}
	for i := range l.socks {
		l.wg.Add(1)
		go l.receive(i)
	}
	go l.send(total, d)
	return l
}

func (l *udpLoad) send(total int, d time.Duration) {
	defer close(l.done)
	q := new(dns.Msg)
	q.SetQuestion("whoami.example.", dns.TypeTXT)
	wire, _ := q.Pack()
	start := time.Now()
	sent := 0
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for sent < total {
		<-tick.C
		due := min(total, int(time.Since(start).Seconds()*float64(l.rate)))
		for ; sent < due; sent++ {
			src, id := sent%len(l.socks), sent/len(l.socks)
			binary.BigEndian.PutUint16(wire, uint16(id))
			l.mu.Lock()
			l.sentAt[src][id] = time.Now()
			l.mu.Unlock()
			_, _ = l.socks[src].Write(wire)
		}
	}
}

func (l *udpLoad) receive(src int) {
	defer l.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, err := l.socks[src].Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return
			}
			continue // ECONNREFUSED while nothing is bound: the query is lost, not the socket
		}
		var m dns.Msg
		if m.Unpack(buf[:n]) != nil {
			continue
		}
		l.mu.Lock()
		if int(m.Id) < l.perSrc {
			l.answers[src][m.Id]++
		}
		for _, rr := range m.Answer {
			if txt, ok := rr.(*dns.TXT); ok && len(txt.Txt) > 0 {
				if f := strings.Fields(txt.Txt[0]); len(f) > 0 {
					l.ids[src][f[0]]++
				}
			}
		}
		l.mu.Unlock()
	}
}

// allAnswered reports whether every query sent so far has an answer.
func (l *udpLoad) allAnswered() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for src := range l.socks {
		for id, at := range l.sentAt[src] {
			if !at.IsZero() && l.answers[src][id] == 0 {
				return false
			}
		}
	}
	return true
}

// loadReport is what a finished load saw.
type loadReport struct {
	Sent, Lost, Dup int
	Gap             time.Duration
	GapAt           time.Time // when the longest gap began
	Moved           int       // sources answered by more than one backend
}

func (r loadReport) String() string {
	gap := ""
	if r.Gap > 0 {
		gap = " from " + r.GapAt.UTC().Format("15:04:05.000")
	}
	return fmt.Sprintf("sent %d, lost %d, duplicated %d, longest gap %v%s, sources that changed backend %d",
		r.Sent, r.Lost, r.Dup, r.Gap.Round(time.Millisecond), gap, r.Moved)
}

// dupLinger is how long wait listens on once every query has an answer,
// for duplicates (which follow their first within milliseconds).
const dupLinger = 200 * time.Millisecond

// wait waits for the load to end, then for late answers: until every query
// has one and dupLinger more, or linger at most; and reports.
func (l *udpLoad) wait(linger time.Duration) loadReport {
	<-l.done
	deadline := time.Now().Add(linger)
	for !l.allAnswered() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(min(dupLinger, time.Until(deadline)))
	for _, c := range l.socks {
		c.SetReadDeadline(time.Now())
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	type q struct {
		at time.Time
		ok bool
	}
	var all []q
	var r loadReport
	for src := range l.socks {
		for id, at := range l.sentAt[src] {
			if at.IsZero() {
				continue
			}
			n := l.answers[src][id]
			all = append(all, q{at, n > 0})
			r.Sent++
			if n == 0 {
				r.Lost++
			}
			if n > 1 {
				r.Dup++
			}
		}
		if len(l.ids[src]) > 1 {
			r.Moved++
		}
	}
	slices.SortFunc(all, func(x, y q) int { return x.at.Compare(y.at) })
	var lastOK time.Time
	inGap := false
	for _, x := range all {
		if !x.ok {
			inGap = true
			continue
		}
		if inGap && !lastOK.IsZero() && x.at.Sub(lastOK) > r.Gap {
			r.Gap, r.GapAt = x.at.Sub(lastOK), lastOK
		}
		inGap = false
		lastOK = x.at
	}
	if inGap && len(all) > 0 && all[len(all)-1].at.Sub(lastOK) > r.Gap { // lost to the end of the load
		r.Gap, r.GapAt = all[len(all)-1].at.Sub(lastOK), lastOK
	}
	return r
}

// tcpClients are n persistent DNS-over-TCP clients from 127.0.1.x.
type tcpClients struct {
	port     int
	busy     bool
	stop     chan struct{}
	wg       sync.WaitGroup
	answered atomic.Int64 // queries answered
	closed   atomic.Int64 // connections the balancer closed with no answer owed (clean retry)
	failures atomic.Int64 // a query that timed out or got a wrong answer
	mu       sync.Mutex
	errs     []string
}

// startTCPClients opens n connections; busy ones query back to back, idle
// ones make one exchange and wait.
func startTCPClients(t *testing.T, port, n int, busy bool) *tcpClients {
	t.Helper()
	c := &tcpClients{port: port, busy: busy, stop: make(chan struct{})}
	ready := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		c.wg.Add(1)
		go c.run(i, ready)
	}
	for i := 0; i < n; i++ {
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			t.Fatalf("TCP client %d made no first exchange", i)
		}
	}
	return c
}

func (c *tcpClients) fail(format string, args ...any) {
	c.failures.Add(1)
	c.mu.Lock()
	if len(c.errs) < 10 {
		c.errs = append(c.errs, fmt.Sprintf(format, args...))
	}
	c.mu.Unlock()
}

func (c *tcpClients) dial(i int) net.Conn {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(10+i))}, Timeout: time.Second}
	for {
		conn, err := d.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(c.port))
		if err == nil {
			return conn
		}
		select {
		case <-c.stop:
			return nil
		case <-time.After(20 * time.Millisecond): // refused between listeners: retry
		}
	}
}

// exchange sends one query with id and reads its answer; closed reports
// that the balancer closed the connection before answering (retry).
func (c *tcpClients) exchange(conn net.Conn, id uint16) (closed bool) {
	q := new(dns.Msg)
	q.SetQuestion("whoami.example.", dns.TypeTXT)
	q.Id = id
	wire, _ := q.Pack()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := conn.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(wire))), wire...)); err != nil {
		return true
	}
	var hdr [2]byte
	if n, err := readFull(conn, hdr[:]); err != nil {
		var ne net.Error
		if n == 0 && !(errors.As(err, &ne) && ne.Timeout()) {
			return true // EOF or reset before any byte of an answer
		}
		c.fail("query %d: reading answer: %v", id, err)
		return false
	}
	buf := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	if _, err := readFull(conn, buf); err != nil {
		c.fail("query %d: answer cut short: %v", id, err)
		return false
	}
	var m dns.Msg
	if err := m.Unpack(buf); err != nil || m.Id != id || len(m.Answer) == 0 {
		c.fail("query %d: bad answer (%v): %v", id, err, &m)
		return false
	}
	c.answered.Add(1)
	return false
}

func (c *tcpClients) run(i int, ready chan<- struct{}) {
	defer c.wg.Done()
	conn := c.dial(i)
	if conn == nil {
		return
	}
	defer func() { conn.Close() }()
	id := uint16(1)
	first := true
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		if c.exchange(conn, id) {
			c.closed.Add(1)
			conn.Close()
			if conn = c.dial(i); conn == nil {
				return
			}
			continue // the same query again, on the new connection
		}
		id++
		if first {
			first = false
			ready <- struct{}{}
		}
		if !c.busy {
			// Idle: wait for the balancer to close the connection (or
			// the end), then reconnect and make one more exchange.
			conn.SetReadDeadline(time.Time{})
			closed := make(chan struct{})
			go func(conn net.Conn) {
				var b [1]byte
				conn.Read(b[:])
				close(closed)
			}(conn)
			select {
			case <-c.stop:
				return
			case <-closed:
				c.closed.Add(1)
				conn.Close()
				if conn = c.dial(i); conn == nil {
					return
				}
			}
		}
	}
}

// end stops the clients and returns the failures seen.
func (c *tcpClients) end() []string {
	close(c.stop)
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}
