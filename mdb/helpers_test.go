/*
 * Test support: an in-process balancer (a real loop, backend set, remote
 * table, UDP socket and TCP listener on 127.0.0.1) in front of three demo
 * backends, and a DNS client that binds to a chosen loopback address and
 * reports which backend answered. Clients are told apart by address where
 * the loopback has many (Linux routes all of 127/8 to lo) and by port on
 * illumos, whose lo0 holds only 127.0.0.1: there every client is one
 * remote, and the tests count remotes by the addresses they used.
 */

package mdb

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/backend/demo"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport/looptest"
	"github.com/joyent/mname-balancer/proxy"
	"github.com/joyent/mname-balancer/remote"
)

type testBalancer struct {
	run   *looptest.Runner
	set   *backend.Set
	table *remote.Table
	udp   *proxy.UDP
	tcp   *proxy.TCP
	in    *Inspector
	dir   string
	demos map[string]*demo.Server // the backends by ID
}

func startBalancer(t *testing.T, log zerolog.Logger) *testBalancer {
	t.Helper()
	return startBalancerOn(t, log, false)
}

// startBalancerWithClock is startBalancer on a hand-driven clock
// (b.run.Advance moves it), for tests of what depends on the time, such
// as the busiest remotes' 10 s windows. No heartbeats or probes: one
// Advance could jump past a heartbeat and its deadline before the demo
// backend's answer is read, and fault the backend.
func startBalancerWithClock(t *testing.T, log zerolog.Logger) *testBalancer {
	t.Helper()
	return startBalancerOn(t, log, true)
}

func startBalancerOn(t *testing.T, log zerolog.Logger, clock bool) *testBalancer {
	t.Helper()
	dir := t.TempDir()
	demos := map[string]*demo.Server{}
	for _, id := range []string{"5301", "5302", "5303"} {
		s, err := demo.Listen(filepath.Join(dir, id), id)
		if err != nil {
			t.Fatal(err)
		}
		demos[id] = s
		t.Cleanup(func() { s.Close() })
	}
	timings := backend.DefaultTimings()
	var run *looptest.Runner
	if clock {
		run = looptest.StartWithClock(t)
		timings.HeartbeatInterval = 1000 * time.Hour
		timings.ProbeAfter = 1000 * time.Hour
	} else {
		run = looptest.Start(t)
	}
	b := &testBalancer{run: run, dir: dir, demos: demos}
	looptest.OnLoop(t, run.Loop, func() {
		limits := &bunyan.Limits{}
		b.set = backend.NewSet(run.Loop, log, limits, dir, timings)
		b.table = remote.NewTable(run.Loop, log, limits, b.set, remote.DefaultTimings())
		// UDP on a port the kernel picks, then TCP on the same number,
		// which another process may hold: then try another port.
		var err error
		for try := 0; ; try++ {
			listen := netip.MustParseAddrPort("127.0.0.1:0")
			if b.udp, err = proxy.ListenUDP(run.Loop, log, limits, listen, b.table); err != nil {
				t.Error(err)
				return
			}
			b.set.SetAnswerSink(b.udp.SendAnswer)
			listen = netip.AddrPortFrom(listen.Addr(), b.udp.Port())
			if b.tcp, err = proxy.ListenTCP(run.Loop, log, limits, listen, b.table, proxy.DefaultTCPConfig(1024)); err == nil {
				break
			}
			b.udp.Close()
			if !errors.Is(err, unix.EADDRINUSE) || try == 20 {
				t.Error(err)
				return
			}
		}
		b.set.Start()
		b.table.Start()
		b.in = NewInspector(Sources{Loop: run.Loop, Set: b.set, Table: b.table, UDP: b.udp, TCP: b.tcp, Started: run.Loop.Now()})
	})
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() {
		looptest.OnLoop(t, run.Loop, func() {
			b.udp.Close()
			b.tcp.Close()
			b.tcp.Abort()
			b.table.Stop()
			b.set.Stop()
		})
	})
	looptest.WaitFor(t, run.Loop, "three backends ok", func() bool {
		n := 0
		for _, x := range b.set.Backends() {
			if x.OK() {
				n++
			}
		}
		return n == 3
	})
	return b
}

// clientAddr is the local address of test client i: a distinct 127/8
// address on Linux, 127.0.0.1 (with a port of its own) on illumos.
func clientAddr(i int) string {
	if runtime.GOOS == "illumos" {
		return "127.0.0.1"
	}
	return fmt.Sprintf("127.0.%d.%d", 10+i/250, 1+i%250)
}

func quietLog() zerolog.Logger { return bunyan.New(io.Discard, zerolog.InfoLevel) }

// query asks whoami. TXT over net ("udp" or "tcp") from the local address
// from (a clientAddr) and returns the answering backend's ID.
func query(t *testing.T, netw, from string, port uint16) string {
	t.Helper()
	id, err := queryErr(netw, from, port)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// queryErr is query for goroutines other than the test's.
func queryErr(netw, from string, port uint16) (string, error) {
	c := &dns.Client{Net: netw, Timeout: 5 * time.Second}
	if netw == "udp" {
		c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	} else {
		c.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	}
	m := new(dns.Msg)
	m.SetQuestion("whoami.", dns.TypeTXT)
	r, _, err := c.Exchange(m, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port).String())
	if err != nil {
		return "", fmt.Errorf("%s query from %s: %w", netw, from, err)
	}
	if len(r.Answer) != 1 {
		return "", fmt.Errorf("%s query from %s: answer %v", netw, from, r)
	}
	txt := strings.Join(r.Answer[0].(*dns.TXT).Txt, "")
	f := strings.Fields(txt)
	if len(f) != 2 || !strings.HasPrefix(f[0], "backend=") {
		return "", fmt.Errorf("unexpected answer %q", txt)
	}
	return strings.TrimPrefix(f[0], "backend="), nil
}
