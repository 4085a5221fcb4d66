/*
End-to-end tests of the UDP path: real node-mname backends
(test/peers/mname-backend.js) behind the real bbal binary, queried over UDP
from several loopback source addresses (127.0.0.2 and up: Linux routes
all of 127.0.0.0/8 to lo; where only 127.0.0.1 is configured, such as
illumos's lo0, the client sockets fail to bind and the tests say so).

Each test owns one balancer, run with intervals divided by udpTimeScale
(scan every 0.5 s, heartbeat 0.5 s with a 1.5 s timeout, reconnect from
0.1 s), its own socket directory and its own backends, named 5301, 5302, ...
as Binder names them so that a backend's be_id in the log is its name and
the "id=" of its whoami answer. A udpClient is one UDP socket bound to one
127.0.0.x address; the remote table keys clients by address, so a socket
is a client and its whoami answer names the backend that served it and the
source address and port the backend was told.

What is asserted:
  - every query is answered, from the balancer's own address and port, and
    the backend saw the client's exact address and port;
  - a client sticks to its backend; new clients go round-robin in ID order;
  - a killed primary: the client moves to a backup, and back to the
    primary once it is reachable again;
  - a removed socket: the backend is marked removed, not retried, and
    reconnected on the first scan that finds the socket again;
  - a paused backend misses its heartbeat, is faulted, its client moves,
    and it comes back when resumed;
  - misbehaving backends are faulted alone while the good ones serve;
  - a datagram over 1500 bytes is dropped with a warning, 1500 is not.

Every log line passing `bunyan --strict` and exit 0 after SIGTERM are
checked by the harness at cleanup.

Polling is bounded by deadlines; nothing passes or fails on how fast it
happens. The one negative check (a removed backend is not retried) watches
for a few scan intervals and through forced rescans (SIGHUP), since "never"
can only be observed over a window.
*/
package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/internal/timescale"
)

// udpTimeScale divides every balancer interval in these tests.
const udpTimeScale = 10

// udpTimings are the balancer's backend intervals at udpTimeScale.
var udpTimings = timescale.Scale(backend.DefaultTimings(), udpTimeScale)

// udpAnswerTimeout is how long a query that must be answered may take; it
// only turns a lost answer into a failure.
const udpAnswerTimeout = 3 * time.Second

// udpRetryTimeout is the per-attempt wait when a query may legitimately go
// unanswered (its backend has just died) and is retried.
const udpRetryTimeout = 400 * time.Millisecond

// udpEventTimeout bounds waiting for a state change (fault, reconnect, the
// move to a backup); generous for the back-off that grows to 3.2 s.
const udpEventTimeout = 15 * time.Second

// udpCluster is one balancer and the peers in its socket directory.
type udpCluster struct {
	t     *testing.T
	dir   string
	bal   *Balancer
	peers map[string]*Peer
}

// startUDPCluster starts an mname backend per name, then the balancer, and
// waits until every backend's session is established.
func startUDPCluster(t *testing.T, names ...string) *udpCluster {
	t.Helper()
	return startUDPClusterWith(t, BalancerConfig{TimeScale: udpTimeScale}, names...)
}

// startUDPClusterWith is startUDPCluster with the balancer configured by
// cfg (its SocketDir is the cluster's).
func startUDPClusterWith(t *testing.T, cfg BalancerConfig, names ...string) *udpCluster {
	t.Helper()
	c := &udpCluster{t: t, dir: SocketDir(t), peers: make(map[string]*Peer)}
	for _, name := range names {
		c.peers[name] = StartMnameBackend(t, c.dir, name)
	}
	cfg.SocketDir = c.dir
	c.bal = StartBalancer(t, cfg)
	for _, name := range names {
		c.waitEstablished(name, 1)
	}
	return c
}

// start (re)starts the mname backend name on its old socket path.
func (c *udpCluster) start(name string) *Peer {
	c.t.Helper()
	c.peers[name] = StartMnameBackend(c.t, c.dir, name)
	return c.peers[name]
}

// waitEstablished waits for the nth "backend socket established" of name.
func (c *udpCluster) waitEstablished(name string, n int) {
	c.t.Helper()
	c.bal.WaitLogCount("backend socket established",
		map[string]any{"be_id": name, "be_path": filepath.Join(c.dir, name)}, n, udpEventTimeout)
}

// count is the number of records so far with message msg about backend name.
func (c *udpCluster) count(msg, name string) int {
	return len(c.bal.Find(msg, map[string]any{"be_id": name}))
}

// client opens a UDP socket on ip (127.0.0.x) aimed at the balancer.
func (c *udpCluster) client(ip string) *udpClient {
	c.t.Helper()
	return newUDPClient(c.t, c.bal, ip)
}

// udpClient is one UDP socket on one loopback address: one client host as
// the balancer sees it.
type udpClient struct {
	t      *testing.T
	conn   *net.UDPConn
	server *net.UDPAddr
	buf    []byte
	stray  []uint16 // IDs of answers that arrived after their query gave up
}

func newUDPClient(t *testing.T, bal *Balancer, ip string) *udpClient {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatalf("client socket on %s: %v", ip, err)
	}
	t.Cleanup(func() { conn.Close() })
	return &udpClient{
		t:      t,
		conn:   conn,
		server: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: bal.Port},
		buf:    make([]byte, 64<<10),
	}
}

// IP is the client's source address.
func (u *udpClient) IP() string { return u.conn.LocalAddr().(*net.UDPAddr).IP.String() }

// Addr is the client's source address and port, as "IP:PORT".
func (u *udpClient) Addr() string { return u.conn.LocalAddr().String() }

// send writes one datagram to the balancer.
func (u *udpClient) send(wire []byte) error {
	if _, err := u.conn.WriteToUDP(wire, u.server); err != nil {
		return fmt.Errorf("send from %s: %w", u.Addr(), err)
	}
	return nil
}

// receive waits up to timeout for the answer with the given ID, which must
// come from the balancer's address and port. Answers to earlier queries
// are remembered in stray and skipped.
func (u *udpClient) receive(id uint16, timeout time.Duration) (*dns.Msg, error) {
	if err := u.conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	for {
		n, from, err := u.conn.ReadFromUDP(u.buf)
		if err != nil {
			return nil, fmt.Errorf("client %s, query %d: %w", u.Addr(), id, err)
		}
		if !from.IP.Equal(u.server.IP) || from.Port != u.server.Port {
			return nil, fmt.Errorf("client %s: answer from %v, not from the balancer %v", u.Addr(), from, u.server)
		}
		m := new(dns.Msg)
		if err := m.Unpack(u.buf[:n]); err != nil {
			return nil, fmt.Errorf("client %s: unpacking a %d-byte answer: %w", u.Addr(), n, err)
		}
		if m.Id != id {
			u.stray = append(u.stray, m.Id)
			continue
		}
		return m, nil
	}
}

// whoami asks whoami.example TXT once and returns the answering backend's
// name; the answer must name this client's exact address and port.
func (u *udpClient) whoami(timeout time.Duration) (string, error) {
	q := new(dns.Msg)
	q.SetQuestion("whoami.example.", dns.TypeTXT)
	wire, err := q.Pack()
	if err != nil {
		return "", err
	}
	if err := u.send(wire); err != nil {
		return "", err
	}
	m, err := u.receive(q.Id, timeout)
	if err != nil {
		return "", err
	}
	return udpWhoamiID(m, u.Addr())
}

// udpWhoamiID checks a whoami answer and returns its id=.
func udpWhoamiID(m *dns.Msg, client string) (string, error) {
	if !m.Response || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		return "", fmt.Errorf("want one TXT answer, got %v", m)
	}
	txt, ok := m.Answer[0].(*dns.TXT)
	if !ok || len(txt.Txt) != 1 {
		return "", fmt.Errorf("want one TXT string, got %v", m.Answer[0])
	}
	var id, seen string
	if _, err := fmt.Sscanf(txt.Txt[0], "id=%s client=%s", &id, &seen); err != nil {
		return "", fmt.Errorf("whoami answer %q: %w", txt.Txt[0], err)
	}
	if seen != client {
		return "", fmt.Errorf("backend %s saw the client as %s, want %s", id, seen, client)
	}
	return id, nil
}

// mustWhoami asks once and fails the test unless the answer comes, from
// the backend want when want is not "".
func (u *udpClient) mustWhoami(want string) string {
	u.t.Helper()
	id, err := u.whoami(udpAnswerTimeout)
	if err != nil {
		u.t.Fatalf("whoami: %v", err)
	}
	if want != "" && id != want {
		u.t.Fatalf("client %s answered by backend %s, want %s", u.Addr(), id, want)
	}
	return id
}

// whoamiEventually asks until a backend accepted by ok answers, with short
// attempts, and returns its name; fails the test at udpEventTimeout.
func (u *udpClient) whoamiEventually(what string, ok func(id string) bool) string {
	u.t.Helper()
	var last error
	deadline := time.Now().Add(udpEventTimeout)
	for time.Now().Before(deadline) {
		id, err := u.whoami(udpRetryTimeout)
		switch {
		case err == nil && ok(id):
			return id
		case err == nil:
			last = fmt.Errorf("answered by backend %s", id)
		case errors.Is(err, os.ErrDeadlineExceeded):
			last = err
		default:
			u.t.Fatalf("whoami: %v", err)
		}
	}
	u.t.Fatalf("client %s: %s did not happen within %v; last: %v", u.Addr(), what, udpEventTimeout, last)
	return ""
}

// udpNot returns a predicate accepting any backend but name.
func udpNot(name string) func(string) bool { return func(id string) bool { return id != name } }

// udpClientIP is the i-th test client address, 127.0.0.(i+2).
func udpClientIP(i int) string { return "127.0.0." + strconv.Itoa(i+2) }

// udpRemoteLog is the match for a remote's records.
func udpRemoteLog(ip string, backendName string) map[string]any {
	want := map[string]any{"remote_ip": ip}
	if backendName != "" {
		want["be_id"] = backendName
	}
	return want
}

// TestUDPStickyRoundRobin: every query is answered and the backend sees the
// true source; new clients are spread round-robin in ID order, one per
// backend, and each then sticks to its backend, whatever its source port.
func TestUDPStickyRoundRobin(t *testing.T) {
	SkipInShort(t)
	names := []string{"5301", "5302", "5303"}
	c := startUDPCluster(t, names...)

	// Four new clients: 5301, 5302, 5303 and round again to 5301.
	var clients []*udpClient
	for i := 0; i < 4; i++ {
		cl := c.client(udpClientIP(i))
		want := names[i%len(names)]
		cl.mustWhoami(want)
		c.bal.WaitLog("remote assigned to new primary backend", udpRemoteLog(cl.IP(), want), udpEventTimeout)
		clients = append(clients, cl)
	}
	// Each sticks to its backend.
	for round := 0; round < 5; round++ {
		for i, cl := range clients {
			cl.mustWhoami(names[i%len(names)])
		}
	}
	// The remote is the address: another port on 127.0.0.3 reaches 5302,
	// and the backend is told that port.
	other := c.client(udpClientIP(1))
	if other.Addr() == clients[1].Addr() {
		t.Fatalf("second socket got the same address %s", other.Addr())
	}
	other.mustWhoami("5302")

	for i, cl := range clients {
		if n := len(c.bal.Find("new remote peer", udpRemoteLog(cl.IP(), ""))); n != 1 {
			t.Errorf("client %d (%s): %d \"new remote peer\" records, want 1", i, cl.IP(), n)
		}
		if n := len(c.bal.Find("remote assigned to new primary backend", udpRemoteLog(cl.IP(), ""))); n != 1 {
			t.Errorf("client %d (%s): %d primary assignments, want 1", i, cl.IP(), n)
		}
	}
	if n := len(c.bal.Find("remote assigned to new backup backend", nil)); n != 0 {
		t.Errorf("%d backup assignments with every backend up, want 0", n)
	}
}

// TestUDPFailoverToBackupAndBack: a client whose primary is killed is
// answered by a backup; once the primary listens again on the same path the
// client returns to it. Clients of the other backends never notice.
func TestUDPFailoverToBackupAndBack(t *testing.T) {
	SkipInShort(t)
	c := startUDPCluster(t, "5301", "5302", "5303")
	a, b, d := c.client(udpClientIP(0)), c.client(udpClientIP(1)), c.client(udpClientIP(2))
	a.mustWhoami("5301")
	b.mustWhoami("5302")
	d.mustWhoami("5303")

	// SIGKILL: the socket file stays behind, so the backend is faulted and
	// retried, not removed.
	c.peers["5301"].Kill()
	backup := a.whoamiEventually("failover from the killed 5301", udpNot("5301"))
	c.bal.WaitLog("remote assigned to new backup backend",
		map[string]any{"remote_ip": a.IP(), "be_id": backup, "primary_be_id": "5301"}, udpEventTimeout)
	if c.count("backend faulted (reset and reconnect)", "5301") == 0 {
		t.Errorf("5301 answered nothing but was never logged as faulted")
	}
	for i := 0; i < 3; i++ {
		a.mustWhoami(backup)
		b.mustWhoami("5302")
		d.mustWhoami("5303")
	}

	c.start("5301")
	c.waitEstablished("5301", 2)
	// The primary is ok again: the very next query goes back to it.
	a.mustWhoami("5301")
	c.bal.WaitLog("remote assigned to original primary backend", udpRemoteLog(a.IP(), "5301"), udpEventTimeout)
	a.mustWhoami("5301")
	b.mustWhoami("5302")
	d.mustWhoami("5303")

	if n := c.count("backend socket removed", "5301"); n != 0 {
		t.Errorf("killed 5301 (socket file left behind) was marked removed %d times", n)
	}
	if n := len(c.bal.Find("remote assigned to new primary backend", udpRemoteLog(a.IP(), ""))); n != 1 {
		t.Errorf("client %s got %d primary assignments, want 1 (the primary is kept through the failover)", a.IP(), n)
	}
}

// TestUDPRemovedBackendNotRetried: a backend whose socket file is removed
// is marked removed, its clients start over elsewhere, and no connect is
// attempted until a scan finds the socket again, which reconnects at once.
// Two ways to lose a socket: 5302's peer unlinks it on SIGTERM as it
// closes its session; 5303's peer crashes (SIGKILL, the file stays and
// reconnects are refused) and the file is deleted afterwards.
func TestUDPRemovedBackendNotRetried(t *testing.T) {
	SkipInShort(t)
	c := startUDPCluster(t, "5301", "5302", "5303")
	a, b, d := c.client(udpClientIP(0)), c.client(udpClientIP(1)), c.client(udpClientIP(2))
	a.mustWhoami("5301")
	b.mustWhoami("5302")
	d.mustWhoami("5303")

	if err := c.peers["5302"].Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(c.dir, "5302")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stopped peer left its socket behind: %v", err)
	}
	c.peers["5303"].Kill()
	c.bal.WaitLog("backend faulted (reset and reconnect)", map[string]any{"be_id": "5303"}, udpEventTimeout)
	if err := os.Remove(filepath.Join(c.dir, "5303")); err != nil {
		t.Fatalf("removing the killed peer's socket: %v", err)
	}
	connects := map[string]int{}
	for _, name := range []string{"5302", "5303"} {
		c.bal.WaitLog("backend socket removed", map[string]any{"be_id": name}, udpEventTimeout)
		connects[name] = c.count("connecting to backend", name)
	}

	// Their clients' primaries are gone: they start over with a new
	// primary, the only backend left, and stick to it.
	for _, cl := range []*udpClient{b, d} {
		cl.mustWhoami("5301")
		c.bal.WaitLogCount("remote assigned to new primary backend", udpRemoteLog(cl.IP(), ""), 2, udpEventTimeout)
	}

	// Not retried: watch a few scan intervals, and force rescans too; a
	// query answered after each SIGHUP record shows that rescan has run.
	window := time.After(3 * udpTimings.Scan)
	for i := 1; i <= 2; i++ {
		c.bal.Signal(syscall.SIGHUP)
		c.bal.WaitLogCount("SIGHUP: rescanning backend socket directory", nil, i, udpEventTimeout)
		for _, cl := range []*udpClient{a, b, d} {
			cl.mustWhoami("5301")
		}
	}
	<-window
	for name, before := range connects {
		if n := c.count("connecting to backend", name); n != before {
			t.Errorf("removed backend %s was retried: %d \"connecting to backend\" records after removal", name, n-before)
		}
		if n := c.count("backend socket removed", name); n != 1 {
			t.Errorf("%s logged as removed %d times, want 1", name, n)
		}
	}
	if n := len(c.bal.Find("remote assigned to new backup backend", nil)); n != 0 {
		t.Errorf("%d backup assignments; a removed primary is replaced, not backed up", n)
	}

	// Back: the next scan connects each at once.
	c.start("5302")
	c.start("5303")
	c.waitEstablished("5302", 2)
	c.waitEstablished("5303", 2)
	// The moved clients keep their new primary; new clients take the
	// returned backends, next in round-robin after 5301.
	c.client(udpClientIP(3)).mustWhoami("5302")
	c.client(udpClientIP(4)).mustWhoami("5303")
	for _, cl := range []*udpClient{a, b, d} {
		cl.mustWhoami("5301")
	}
}

// TestUDPHeartbeatTimeout: a stopped (SIGSTOP) backend misses its heartbeat
// and is faulted; its client moves to another backend; resumed (SIGCONT),
// it is established again and the client returns.
func TestUDPHeartbeatTimeout(t *testing.T) {
	SkipInShort(t)
	c := startUDPCluster(t, "5301", "5302", "5303")
	a, b, d := c.client(udpClientIP(0)), c.client(udpClientIP(1)), c.client(udpClientIP(2))
	a.mustWhoami("5301")
	b.mustWhoami("5302")
	d.mustWhoami("5303")

	c.peers["5303"].Pause()
	missed := c.bal.WaitLog("no heartbeat from backend", map[string]any{"be_id": "5303"}, udpEventTimeout)
	if got := missed.Num("level"); got != 50 {
		t.Errorf("\"no heartbeat from backend\" at level %v, want 50 (error)", got)
	}
	fault := c.bal.WaitLog("backend faulted (reset and reconnect)", map[string]any{"be_id": "5303"}, udpEventTimeout)
	if got := fault.Str("reason"); got != "no heartbeat" {
		t.Errorf("5303's first fault: reason %q, want the missed heartbeat", got)
	}
	backup := d.whoamiEventually("failover from the paused 5303", udpNot("5303"))
	c.bal.WaitLog("remote assigned to new backup backend",
		map[string]any{"remote_ip": d.IP(), "be_id": backup, "primary_be_id": "5303"}, udpEventTimeout)
	a.mustWhoami("5301")
	b.mustWhoami("5302")
	d.mustWhoami(backup)

	c.peers["5303"].Resume()
	c.waitEstablished("5303", 2)
	d.mustWhoami("5303")
	c.bal.WaitLog("remote assigned to original primary backend", udpRemoteLog(d.IP(), "5303"), udpEventTimeout)
	a.mustWhoami("5301")
	b.mustWhoami("5302")

	for _, name := range []string{"5301", "5302"} {
		if n := c.count("backend faulted (reset and reconnect)", name); n != 0 {
			t.Errorf("healthy backend %s faulted %d times", name, n)
		}
	}
}

// TestUDPMisbehavingBackendsFaultedAlone: backends that break the protocol
// (garbage instead of a hello, a second hello, an OUTBOUND_UDP over 1500
// bytes) are faulted, again and again, while the good backends' clients
// are answered every time and new clients find a good backend.
func TestUDPMisbehavingBackendsFaultedAlone(t *testing.T) {
	SkipInShort(t)
	dir := SocketDir(t)
	good := []string{"5301", "5302"}
	bad := map[string]string{"5311": "garbage", "5312": "double-hello", "5313": "oversized"}
	for _, name := range good {
		StartMnameBackend(t, dir, name)
	}
	for name, mode := range bad {
		StartBadBackend(t, filepath.Join(dir, name), mode)
	}
	c := &udpCluster{t: t, dir: dir, bal: StartBalancer(t, BalancerConfig{SocketDir: dir, TimeScale: udpTimeScale})}
	for _, name := range good {
		c.waitEstablished(name, 1)
	}
	// Two faults each: each is reconnected and faulted again. The garbage
	// backend is never ok, so only its cause is logged (as in C).
	c.bal.WaitLogCount("errant frame before hello", map[string]any{"be_id": "5311"}, 2, udpEventTimeout)
	c.bal.WaitLogCount("backend faulted (reset and reconnect)", map[string]any{"be_id": "5312"}, 2, udpEventTimeout)
	c.waitEstablished("5313", 1)

	// The good backends are the lowest IDs: the first two clients get them.
	steady := []*udpClient{c.client(udpClientIP(0)), c.client(udpClientIP(1))}
	steady[0].mustWhoami("5301")
	steady[1].mustWhoami("5302")

	// New clients, round-robin, until one has reached the oversized
	// backend: 5313 swallows the query and answers with a bad header,
	// which faults it. Such a client may go unanswered (5313 says hello
	// again at once and stays its primary), but any answer must come from
	// a good backend; the steady clients are answered throughout.
	oversizedFault := map[string]any{"be_id": "5313", "reason": "oversized UDP packet"}
	deadline := time.Now().Add(udpEventTimeout)
	for i := 2; len(c.bal.Find("backend faulted (reset and reconnect)", oversizedFault)) == 0; i++ {
		if time.Now().After(deadline) || i > 200 {
			t.Fatalf("no client reached the oversized backend 5313 (%d clients tried)", i-2)
		}
		probe := c.client(udpClientIP(i))
		id, err := probe.whoami(udpRetryTimeout)
		switch {
		case err == nil && id != "5301" && id != "5302":
			t.Fatalf("client %s answered by %s, not a good backend", probe.Addr(), id)
		case err != nil && !errors.Is(err, os.ErrDeadlineExceeded):
			t.Fatalf("whoami: %v", err)
		}
		steady[0].mustWhoami("5301")
		steady[1].mustWhoami("5302")
	}
	n5311 := c.count("errant frame before hello", "5311")
	c.bal.WaitLogCount("errant frame before hello", map[string]any{"be_id": "5311"}, n5311+1, udpEventTimeout)
	for round := 0; round < 3; round++ {
		steady[0].mustWhoami("5301")
		steady[1].mustWhoami("5302")
	}

	for _, name := range good {
		if n := c.count("backend faulted (reset and reconnect)", name); n != 0 {
			t.Errorf("good backend %s faulted %d times", name, n)
		}
		if n := c.count("backend socket established", name); n != 1 {
			t.Errorf("good backend %s established %d times, want 1", name, n)
		}
	}
	if n := c.count("backend socket established", "5311"); n != 0 {
		t.Errorf("garbage backend 5311 established %d times, want 0", n)
	}
	if n := c.count("backend faulted (reset and reconnect)", "5311"); n != 0 {
		t.Errorf("garbage backend 5311, never ok, logged as faulted %d times, want 0", n)
	}
	reasons := map[string]string{"5312": "duplicate hello", "5313": "oversized UDP packet"}
	for name, mode := range bad {
		for _, r := range c.bal.Find("backend faulted (reset and reconnect)", map[string]any{"be_id": name}) {
			if reason := r.Str("reason"); reason != reasons[name] {
				t.Errorf("%s backend %s faulted with reason %q, want %q", mode, name, reason, reasons[name])
			}
		}
	}
}

// TestUDPOversizedDatagramDropped: a datagram over 1500 bytes is dropped
// with a warning and creates no remote; one of exactly 1500 bytes is
// forwarded and answered; the balancer keeps serving.
func TestUDPOversizedDatagramDropped(t *testing.T) {
	SkipInShort(t)
	c := startUDPCluster(t, "5301")
	cl := c.client(udpClientIP(7))

	big := udpPaddedWhoami(t, backend.MaxUDPLength+1)
	if err := cl.send(big.wire); err != nil {
		t.Fatal(err)
	}
	port := cl.conn.LocalAddr().(*net.UDPAddr).Port
	drop := c.bal.WaitLog("dropping oversized UDP packet",
		map[string]any{"remote_ip": cl.IP(), "remote_port": port}, udpEventTimeout)
	if drop.Num("len") != float64(len(big.wire)) {
		t.Errorf("drop logged len %v, want %d", drop["len"], len(big.wire))
	}
	if lvl := drop.Num("level"); lvl != 40 {
		t.Errorf("drop logged at level %v, want 40 (warn)", lvl)
	}
	if n := len(c.bal.Find("new remote peer", udpRemoteLog(cl.IP(), ""))); n != 0 {
		t.Errorf("an oversized datagram created a remote (%d records)", n)
	}

	// Exactly 1500 bytes is allowed through.
	edge := udpPaddedWhoami(t, backend.MaxUDPLength)
	if err := cl.send(edge.wire); err != nil {
		t.Fatal(err)
	}
	m, err := cl.receive(edge.id, udpAnswerTimeout)
	if err != nil {
		t.Fatalf("1500-byte query: %v", err)
	}
	if _, err := udpWhoamiID(m, cl.Addr()); err != nil {
		t.Fatalf("1500-byte query: %v", err)
	}
	cl.mustWhoami("5301")
	c.client(udpClientIP(8)).mustWhoami("5301")
	for _, id := range cl.stray {
		if id == big.id {
			t.Errorf("the oversized query was answered")
		}
	}
	if n := len(c.bal.Find("dropping oversized UDP packet", nil)); n != 1 {
		t.Errorf("%d oversized drops logged, want 1", n)
	}
}

// udpQuery is a packed query and its ID.
type udpQuery struct {
	id   uint16
	wire []byte
}

// udpPaddedWhoami packs a whoami.example TXT query padded with an EDNS0
// padding option to exactly size bytes.
func udpPaddedWhoami(t *testing.T, size int) udpQuery {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion("whoami.example.", dns.TypeTXT)
	q.SetEdns0(4096, false)
	pad := &dns.EDNS0_PADDING{}
	opt := q.IsEdns0()
	opt.Option = append(opt.Option, pad)
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	pad.Padding = make([]byte, size-len(wire))
	if wire, err = q.Pack(); err != nil {
		t.Fatal(err)
	}
	if len(wire) != size {
		t.Fatalf("padded query is %d bytes, want %d", len(wire), size)
	}
	return udpQuery{id: q.Id, wire: wire}
}
