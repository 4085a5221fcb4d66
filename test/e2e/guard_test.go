//go:build linux

/*
End-to-end tests of what hostile input may make the balancer do (issue
12), against real peers:

  - TestUDPReflectionGuard: a backend (bad-backend.js --mode reflect)
    sends a copy of every answer to an address that never asked: nothing
    arrives there, every real answer arrives, and the drops are logged at
    a limited rate.
  - TestUDPFloodOfClientAddresses: thousands of distinct source addresses
    (all of 127.0.0.0/8 is local) at a bounded rate against a small cap
    (-r): the table never exceeds the cap, the per-client records stay
    within their rate limits, RSS stays bounded, and a normal client is
    answered throughout. The 1M-address version belongs to make soak.

Absence is never waited for: the victim's first datagram must be the
answer to its own later query, which a reflected copy would have preceded.
*/
package e2e

import (
	"fmt"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/mdb/view"
)

const msgNotClient = "dropping UDP answer to an address that sent no query"

func TestUDPReflectionGuard(t *testing.T) {
	SkipInShort(t)
	dir := SocketDir(t)
	victimConn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 250)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { victimConn.Close() })
	StartBadBackend(t, filepath.Join(dir, "5301"), "reflect", "--victim", victimConn.LocalAddr().String())
	c := &udpCluster{t: t, dir: dir, bal: StartBalancer(t, BalancerConfig{SocketDir: dir, TimeScale: udpTimeScale})}
	c.waitEstablished("5301", 1)

	// Real clients: every answer arrives.
	const perClient = 40
	start := time.Now()
	for i := 0; i < 3; i++ {
		cl := c.client(udpClientIP(i))
		for j := 0; j < perClient; j++ {
			q := new(dns.Msg)
			q.SetQuestion(fmt.Sprintf("q%d.example.", j), dns.TypeA)
			wire, err := q.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if err := cl.send(wire); err != nil {
				t.Fatal(err)
			}
			m, err := cl.receive(q.Id, udpAnswerTimeout)
			if err != nil {
				t.Fatalf("client %s, query %d: %v", cl.Addr(), j, err)
			}
			if !m.Response || len(m.Question) != 1 || m.Question[0].Name != q.Question[0].Name {
				t.Fatalf("client %s got %v for %s", cl.Addr(), m, q.Question[0].Name)
			}
		}
	}
	elapsed := time.Since(start)

	// Now the victim asks for itself: its first datagram must be its own
	// answer (the reflected copies of the 120 other answers came earlier,
	// if any went out).
	victim := &udpClient{t: t, conn: victimConn, server: &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: c.bal.Port},
		buf: make([]byte, 64<<10)}
	q := new(dns.Msg)
	q.SetQuestion("victim.example.", dns.TypeA)
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if err := victim.send(wire); err != nil {
		t.Fatal(err)
	}
	if _, err := victim.receive(q.Id, udpAnswerTimeout); err != nil {
		t.Fatal(err)
	}
	if len(victim.stray) != 0 {
		t.Errorf("the address that never asked received %d answers before its own", len(victim.stray))
	}

	// Drops are logged at warn, within the rate limit, and summarised.
	rs := c.bal.Find(msgNotClient, map[string]any{"remote_ip": "127.0.0.250"})
	limit := bunyan.DefaultRate.Burst + int(elapsed/bunyan.DefaultRate.Every) + 1
	if len(rs) == 0 || len(rs) > limit {
		t.Errorf("%d %q records for %d drops in %v, want 1..%d", len(rs), msgNotClient, 3*perClient, elapsed, limit)
	}
	for _, r := range rs {
		if r.Num("level") != 40 {
			t.Errorf("record %v, want level 40", r)
			break
		}
	}
	deadline := time.Now().Add(udpEventTimeout)
	for {
		suppressed := 0
		for _, r := range c.bal.Find("log records suppressed", map[string]any{"suppressed_msg": msgNotClient}) {
			suppressed += int(r.Num("suppressed"))
		}
		if suppressed+len(rs) == 3*perClient {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d logged + %d suppressed drops, want %d", len(rs), suppressed, 3*perClient)
		}
		time.Sleep(50 * time.Millisecond)
	}
	snap, err := view.FetchSnapshot(c.bal.Control, false, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Balancer.UDPAnswered != 3*perClient+2 { // the victim's own answer came twice
		t.Errorf("udp_answered %d, want %d", snap.Balancer.UDPAnswered, 3*perClient+2)
	}
}

func TestUDPFloodOfClientAddresses(t *testing.T) {
	SkipInShort(t)
	const (
		maxRemotes = 500
		addresses  = 6000
		rate       = 2000 // new addresses a second
	)
	c := startUDPClusterWith(t, BalancerConfig{TimeScale: udpTimeScale, Remotes: maxRemotes, LogLevel: "info"}, "5301", "5302")
	normal := c.client(udpClientIP(0))
	want := normal.mustWhoami("")
	rssBefore := procStatusKB(t, c.bal.Pid(), "VmRSS")
	linesBefore := len(c.bal.Records())

	// The flood: one query from each address 127.1.x.y, at a bounded rate.
	var sent atomic.Int64
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		q := new(dns.Msg)
		q.SetQuestion("flood.example.", dns.TypeA)
		wire, _ := q.Pack()
		to := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: c.bal.Port}
		for i := 0; i < addresses; i++ {
			if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
				time.Sleep(d)
			}
			conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 1, byte(i>>8), byte(i))})
			if err != nil {
				done <- err
				return
			}
			_, err = conn.WriteToUDP(wire, to)
			conn.Close()
			if err != nil {
				done <- err
				return
			}
			sent.Add(1)
		}
		done <- nil
	}()

	// Meanwhile the normal client is answered, by its backend, every time,
	// and the table never exceeds the cap.
	maxSeen := uint64(0)
	for flooding := true; flooding; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("flood: %v", err)
			}
			flooding = false
		default:
		}
		normal.mustWhoami(want)
		snap, err := view.FetchSnapshot(c.bal.Control, false, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		maxSeen = max(maxSeen, snap.Balancer.Remotes)
		if snap.Balancer.Remotes > maxRemotes {
			t.Fatalf("%d remotes, above the cap %d", snap.Balancer.Remotes, maxRemotes)
		}
		time.Sleep(50 * time.Millisecond)
	}
	elapsed := time.Since(start)
	if maxSeen < maxRemotes/2 {
		t.Errorf("at most %d remotes seen during a flood of %d addresses: the flood did not reach the table", maxSeen, addresses)
	}

	// Per-client records: each kind within its rate limit over the flood.
	flood := c.bal.Records()[linesBefore:]
	perKind := map[string]int{}
	for _, r := range flood {
		perKind[r.Msg()]++
	}
	limit := bunyan.DefaultRate.Burst + int(elapsed/bunyan.DefaultRate.Every) + 1
	for _, msg := range []string{"new remote peer", "remote assigned to new primary backend",
		"remote table full: evicting least recently seen remote",
		"remote table full of active remotes: serving new client untracked"} {
		if perKind[msg] > limit {
			t.Errorf("%d %q records in %v, over the rate limit (%d)", perKind[msg], msg, elapsed, limit)
		}
	}
	if perKind["new remote peer"] == 0 || perKind["log records suppressed"] == 0 {
		t.Errorf("records during the flood %v: want some new remote peers and summaries of the rest", perKind)
	}
	if len(flood) > addresses/4 {
		t.Errorf("%d log records for %d new addresses, want far fewer", len(flood), addresses)
	}
	rssAfter := procStatusKB(t, c.bal.Pid(), "VmRSS")
	// The race detector's shadow memory makes RSS noisy; a table without
	// a cap would not show here either at this size (make soak measures
	// 1M addresses). This bounds gross growth only.
	if grew := rssAfter - rssBefore; grew > 64<<10 {
		t.Errorf("RSS grew by %d KiB during the flood, want < 64 MiB", grew)
	}
	t.Logf("%d addresses in %v: max %d remotes, RSS %d -> %d KiB, %d records (%v)",
		sent.Load(), elapsed, maxSeen, rssBefore, rssAfter, len(flood), perKind)
	normal.mustWhoami(want)
}
