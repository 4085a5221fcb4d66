//go:build linux

/*
End-to-end tests of the TCP path's lifetimes and descriptor budget (issue
12): the real bbal in front of real node-mname backends.

  - partial messages: 2000 clients each send part of a message (one byte,
    a 65535 length prefix alone, a prefix and part of the message) and
    close. node-mname never closes a session holding a partial message,
    so before the half-close deadline every one of them leaked two
    descriptors in the balancer and one in node-mname for good. Both
    processes' descriptor counts (/proc/PID/fd) must return to their
    baselines, with a few log records, not one per connection;
  - slow clients: one that says nothing, one that trickles its query a
    byte at a time and one that goes quiet after an answer are closed at
    their deadlines (never before them), while a normal client on its own
    connection keeps being answered;
  - at the TCP cap (--tcp-max) and at a low descriptor limit (prlimit on
    the running bbal): a flood of connections is refused at once, UDP
    keeps being answered, a killed backend reconnects, and new TCP
    connections are served again once the flood stops;
  - with the soft limit below what the balancer already holds, accept
    itself fails (EMFILE): the warnings come at most a burst of 5 and then
    one a second, and TCP is served again once the limit is restored.

The deadlines run at a time scale so that the tests stay short. Every wait
has a deadline that only turns a hang into a failure; the lower bounds
(closed no earlier than its deadline) hold however slow the machine is.
*/
package e2e

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/joyent/mname-balancer/proxy"
)

// dialFrom connects to the balancer from src without registering cleanup
// (the floods make thousands).
func dialFrom(bal *Balancer, src string) (*net.TCPConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: tcpIOTimeout}
	c, err := d.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(bal.Port))
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// waitFDs waits until pid has at most want descriptors and returns how long
// that took.
func waitFDs(t *testing.T, what string, pid, want int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		n := procFDCount(t, pid)
		if n <= want {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s still has %d descriptors %v later, want at most %d", what, n, limit, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTCPPartialMessagesDoNotLeak: 2000 clients send part of a message
// and close; every descriptor comes back, in the balancer and in
// node-mname.
func TestTCPPartialMessagesDoNotLeak(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	const conns = 2000
	const scale = 4 // half-close deadline 0.5 s
	dir := SocketDir(t)
	peer := StartMnameBackend(t, dir, "5301")
	bal := StartBalancer(t, BalancerConfig{SocketDir: dir, TimeScale: scale, LogLevel: "info"})
	bal.WaitLog("backend socket established", nil, 20*time.Second)
	balBase, peerBase := procFDCount(t, bal.Pid()), procFDCount(t, peer.Pid())
	linesBefore := len(bal.Records())

	partials := [][]byte{{0x00}, {0xff, 0xff}, {0x00, 0x20, 'a', 'b', 'c'}}
	start := time.Now()
	var peakBal, peakPeer int
	for i := range conns {
		c, err := dialFrom(bal, "127.0.1."+strconv.Itoa(1+i%16))
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		if _, err := c.Write(partials[i%len(partials)]); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		c.Close()
		if i%100 == 99 {
			peakBal = max(peakBal, procFDCount(t, bal.Pid()))
			peakPeer = max(peakPeer, procFDCount(t, peer.Pid()))
			time.Sleep(50 * time.Millisecond) // at most ~2000 a second
		}
	}
	made := time.Since(start)
	// Each connection is gone at most a message deadline after its accept
	// (the partial ones at the half-close deadline, sooner); 10 s more is
	// only for a loaded machine.
	limit := proxy.DefaultMessageTimeout/scale + 10*time.Second
	balBack := waitFDs(t, "the balancer", bal.Pid(), balBase, limit)
	// node-mname ends a session idle for 5 s and destroys it 5 s later
	// (its server.js): the rare session it does not end on the balancer's
	// EOF (seen once in a few runs) goes then.
	peerBack := waitFDs(t, "node-mname", peer.Pid(), peerBase, limit+10*time.Second)
	t.Logf("%d partial messages in %v; peak descriptors: balancer %d (baseline %d), node-mname %d (baseline %d); "+
		"back to baseline %v (balancer) and %v (node-mname) after the last",
		conns, made.Round(time.Millisecond), peakBal, balBase, peakPeer, peerBase,
		balBack.Round(time.Millisecond), (balBack + peerBack).Round(time.Millisecond))

	// Nothing is logged per connection at info: the partial message is
	// dropped at the client's EOF and the session ends normally, and what
	// does go wrong is logged at a limited rate.
	kinds := map[string]int{}
	for _, r := range bal.Records()[linesBefore:] {
		kinds[r.Msg()]++
	}
	t.Logf("log records during the test: %v", kinds)
	// One per client address for the new remotes; anything else (a
	// connect to node-mname refused while its backlog is full, say) at
	// most the rate limit's burst of 20 and 10 a second.
	secs := int(time.Since(start)/time.Second) + 1
	for msg, n := range kinds {
		limit := 20 + 10*secs
		if msg == "new remote peer" || msg == "remote assigned to new primary backend" {
			limit = 16
		}
		if n > limit {
			t.Errorf("%d %q records for %d connections in %d s, want at most %d", n, msg, conns, secs, limit)
		}
	}

	// A normal client is still served.
	c := tcpDial(t, bal, "127.0.1.100", nil)
	if id, _ := tcpAskWhoami(t, c, 7); id != "5301" {
		t.Errorf("answered by %q, want 5301", id)
	}
}

// closedAfter waits for the balancer to close c and returns how long after
// since that took; data from the balancer fails the test.
func closedAfter(t *testing.T, c net.Conn, since time.Time) time.Duration {
	t.Helper()
	tcpExpectClosed(t, c, false)
	return time.Since(since)
}

// TestTCPSlowClientsClosedAtDeadlines: silent, trickling and idle clients
// are closed at their deadlines while a normal client is answered
// throughout.
func TestTCPSlowClientsClosedAtDeadlines(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	const scale = 5 // message deadline 1 s, idle 2 s
	message, idle := proxy.DefaultMessageTimeout/scale, proxy.DefaultIdleTimeout/scale
	slack := 10 * time.Second // for a loaded machine; an upper bound only
	dir := SocketDir(t)
	StartMnameBackend(t, dir, "5301")
	bal := tcpBalancer(t, dir, scale, 1)

	// The normal client: a query every 100 ms on one connection.
	normal := tcpDial(t, bal, "127.0.2.1", nil)
	stop := make(chan struct{})
	var answered atomic.Int64
	normalDone := make(chan error, 1)
	go func() {
		for id := uint16(1); ; id++ {
			select {
			case <-stop:
				normalDone <- nil
				return
			case <-time.After(100 * time.Millisecond):
			}
			m := tcpQuestion("whoami.example.", dns.TypeTXT, id)
			wire, err := m.Pack()
			if err != nil {
				normalDone <- err
				return
			}
			normal.SetDeadline(time.Now().Add(tcpIOTimeout))
			if _, err := normal.Write(tcpFrame(wire)); err != nil {
				normalDone <- err
				return
			}
			a, err := tcpReadRaw(normal)
			if err != nil {
				normalDone <- err
				return
			}
			if len(a) < 2 || uint16(a[0])<<8|uint16(a[1]) != id {
				normalDone <- errors.New("answer with the wrong ID")
				return
			}
			answered.Add(1)
		}
	}()

	var wg sync.WaitGroup
	check := func(what string, got, deadline time.Duration) {
		t.Logf("%s closed after %v (deadline %v)", what, got.Round(time.Millisecond), deadline)
		if got < deadline-500*time.Millisecond || got > deadline+slack { // the lower bound allows for the answer's way to the client
			t.Errorf("%s closed after %v, want at its deadline %v", what, got, deadline)
		}
	}
	wg.Add(3)
	go func() { // says nothing: the first message's deadline
		defer wg.Done()
		start := time.Now()
		c := tcpDial(t, bal, "127.0.2.2", nil)
		check("silent client", closedAfter(t, c, start), message)
	}()
	go func() { // a query a byte every 100 ms (3 s or more): the same deadline
		defer wg.Done()
		wire, err := tcpQuestion("whoami.example.", dns.TypeTXT, 9).Pack()
		if err != nil {
			t.Error(err)
			return
		}
		wire = tcpFrame(wire)
		start := time.Now()
		c := tcpDial(t, bal, "127.0.2.3", nil)
		for _, b := range wire[:len(wire)-1] {
			if _, err := c.Write([]byte{b}); err != nil {
				break // closed: the read below says how
			}
			time.Sleep(100 * time.Millisecond)
			if time.Since(start) > message+slack {
				break
			}
		}
		check("trickling client", closedAfter(t, c, start), message)
	}()
	go func() { // one exchange, then quiet: the idle deadline
		defer wg.Done()
		c := tcpDial(t, bal, "127.0.2.4", nil)
		c.SetDeadline(time.Now().Add(tcpIOTimeout))
		wire, _ := tcpQuestion("whoami.example.", dns.TypeTXT, 10).Pack()
		if _, err := c.Write(tcpFrame(wire)); err != nil {
			t.Error(err)
			return
		}
		if _, err := tcpReadRaw(c); err != nil {
			t.Error(err)
			return
		}
		check("idle client", closedAfter(t, c, time.Now()), idle)
	}()
	wg.Wait()
	close(stop)
	if err := <-normalDone; err != nil {
		t.Fatalf("the normal client: %v after %d answers", err, answered.Load())
	}
	if n := answered.Load(); n < 10 {
		t.Errorf("the normal client got %d answers, want one every 100 ms or so", n)
	}
	tcpAskWhoami(t, normal, 1000) // and it is still open
	bal.WaitLogCount("TCP connection timed out", map[string]any{"timeout": "message"}, 2, 5*time.Second)
	bal.WaitLog("TCP connection timed out", map[string]any{"timeout": "idle"}, 5*time.Second)
}

// flood dials the balancer from src in a few goroutines until stop is
// closed: a connection closed at once counts as refused, one left open for
// 100 ms is kept (it holds a place under the cap until its first-message
// deadline or the end of the flood). Eight workers make about 80 held
// connections a second, far more than the caps the tests set.
type flood struct {
	refused, held atomic.Int64
	mu            sync.Mutex
	open          []net.Conn
	stop          chan struct{}
	wg            sync.WaitGroup
}

func startFlood(t *testing.T, bal *Balancer, src string) *flood {
	f := &flood{stop: make(chan struct{})}
	for w := range 8 {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			buf := make([]byte, 1)
			for {
				select {
				case <-f.stop:
					return
				default:
				}
				c, err := dialFrom(bal, src+strconv.Itoa(w+1))
				if err != nil {
					time.Sleep(10 * time.Millisecond) // the backlog is full
					continue
				}
				c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				if _, err := c.Read(buf); errors.Is(err, os.ErrDeadlineExceeded) {
					f.held.Add(1)
					f.mu.Lock()
					f.open = append(f.open, c)
					f.mu.Unlock()
					continue
				}
				f.refused.Add(1)
				c.Close()
			}
		}()
	}
	t.Cleanup(f.end)
	return f
}

// end stops the flood and closes what it holds.
func (f *flood) end() {
	select {
	case <-f.stop:
		return
	default:
	}
	close(f.stop)
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.open {
		c.Close()
	}
	f.open = nil
}

// waitRefused waits until the flood has been refused n times.
func (f *flood) waitRefused(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for f.refused.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d flood connections refused (%d held) in 30 s, want %d", f.refused.Load(), f.held.Load(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// underFlood checks what must keep working while TCP is refused: UDP is
// answered, and a killed backend (restarted) reconnects.
func underFlood(t *testing.T, bal *Balancer, dir string, peers map[string]*Peer, f *flood) {
	t.Helper()
	for i := range 4 {
		newUDPClient(t, bal, "127.0.4."+strconv.Itoa(i+1)).mustWhoami("")
	}
	peers["5302"].Kill()
	bal.WaitLog("backend faulted (reset and reconnect)", map[string]any{"be_id": 5302}, 10*time.Second)
	peers["5302"] = StartMnameBackend(t, dir, "5302")
	bal.WaitLogCount("backend socket established", map[string]any{"be_id": 5302}, 2, 30*time.Second)
	for i := range 4 {
		newUDPClient(t, bal, "127.0.4."+strconv.Itoa(i+10)).mustWhoami("")
	}
	if f.refused.Load() == 0 {
		t.Fatal("the flood was never refused")
	}
}

// servedAgain: new TCP connections are served (soon) once a flood has
// ended.
func servedAgain(t *testing.T, bal *Balancer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := dialFrom(bal, "127.0.5.1")
		if err == nil {
			wire, _ := tcpQuestion("whoami.example.", dns.TypeTXT, 77).Pack()
			c.SetDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Write(tcpFrame(wire))
			if err == nil {
				_, err = tcpReadRaw(c)
			}
			c.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("TCP not served 20 s after the flood ended: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkRefusalRecords: refusals are logged, within the rate limit.
func checkRefusalRecords(t *testing.T, bal *Balancer, f *flood, elapsed time.Duration, reason string) {
	t.Helper()
	recs := bal.Find("refusing TCP connection", map[string]any{"reason": reason})
	limit := 20 + 10*int(elapsed/time.Second+1)
	t.Logf("%d flood connections refused, %d held; %d refusal records (\"%s\")", f.refused.Load(), f.held.Load(), len(recs), reason)
	if len(recs) == 0 || len(recs) > limit {
		t.Errorf("%d refusal records for %d refusals in %v, want between 1 and %d", len(recs), f.refused.Load(), elapsed, limit)
	}
	if int(f.refused.Load()) > limit {
		bal.WaitLog("log records suppressed", map[string]any{"suppressed_msg": "refusing TCP connection"}, 5*time.Second)
	}
}

// TestTCPAtCap: with --tcp-max 40, a flood is refused at once while UDP
// and the backend sessions carry on.
func TestTCPAtCap(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	dir := SocketDir(t)
	peers := map[string]*Peer{
		"5301": StartMnameBackend(t, dir, "5301"),
		"5302": StartMnameBackend(t, dir, "5302"),
	}
	bal := StartBalancer(t, BalancerConfig{SocketDir: dir, LogLevel: "info", Args: []string{"--tcp-max", "40"}})
	bal.WaitLogCount("backend socket established", nil, 2, 20*time.Second)
	start := time.Now()
	f := startFlood(t, bal, "127.0.6.")
	f.waitRefused(t, 200)
	underFlood(t, bal, dir, peers, f)
	elapsed := time.Since(start)
	checkRefusalRecords(t, bal, f, elapsed, "too many TCP connections")
	f.end()
	servedAgain(t, bal)
}

// TestTCPAtDescriptorLimit: the balancer's open-file limit is lowered
// under it (prlimit) to a few dozen descriptors above what it uses; a
// flood is refused before it eats the reserve, so UDP, a backend's
// reconnection and, after the flood, new TCP all still work.
func TestTCPAtDescriptorLimit(t *testing.T) {
	SkipInShort(t)
	t.Parallel()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit (util-linux) is needed: %v", err)
	}
	dir := SocketDir(t)
	peers := map[string]*Peer{
		"5301": StartMnameBackend(t, dir, "5301"),
		"5302": StartMnameBackend(t, dir, "5302"),
	}
	bal := StartBalancer(t, BalancerConfig{SocketDir: dir, LogLevel: "info"})
	bal.WaitLogCount("backend socket established", nil, 2, 20*time.Second)
	limit := procFDCount(t, bal.Pid()) + 120
	// The hard limit can be lowered but not raised again (that takes
	// CAP_SYS_RESOURCE): it stays at limit, the soft one moves.
	setLimit := func(n int) {
		t.Helper()
		arg := "--nofile=" + strconv.Itoa(n) + ":" + strconv.Itoa(limit)
		if out, err := exec.Command(prlimit, "--pid", strconv.Itoa(bal.Pid()), arg).CombinedOutput(); err != nil {
			t.Fatalf("prlimit %s: %v\n%s", arg, err, out)
		}
	}
	setLimit(limit)

	start := time.Now()
	f := startFlood(t, bal, "127.0.7.")
	f.waitRefused(t, 200)
	if n := procFDCount(t, bal.Pid()); n >= limit {
		t.Errorf("the balancer has %d descriptors, at its limit %d: the reserve was not kept", n, limit)
	}
	underFlood(t, bal, dir, peers, f)
	elapsed := time.Since(start)
	checkRefusalRecords(t, bal, f, elapsed, "descriptors reserved for backend sessions")

	// Below what it already uses, accept itself fails (EMFILE): the
	// listener pauses and retries, and the warning is rate-limited.
	f.end()
	setLimit(8)
	emfileStart := time.Now()
	var pending []net.Conn
	for i := range 50 {
		if c, err := dialFrom(bal, "127.0.9."+strconv.Itoa(i%8+1)); err == nil {
			pending = append(pending, c) // in the backlog: accept fails
		}
	}
	time.Sleep(3 * time.Second)
	failures := len(bal.Find("incoming TCP accept failure", nil))
	t.Logf("%d \"incoming TCP accept failure\" records in %v at the limit", failures, time.Since(emfileStart).Round(time.Millisecond))
	if failures == 0 || failures > 5+int(time.Since(emfileStart)/time.Second+1) {
		t.Errorf("%d accept failure records in %v, want some, at most a burst of 5 and one a second", failures, time.Since(emfileStart))
	}
	setLimit(limit)
	for _, c := range pending {
		c.Close()
	}
	servedAgain(t, bal)
}
