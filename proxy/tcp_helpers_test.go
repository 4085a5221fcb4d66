/*
 * Test harness for the TCP path: a real evport loop, a backend Set over a
 * short socket directory under /tmp with one fake backend (backendtest), a
 * remote Table and the TCP proxy on 127.0.0.1 (a kernel-chosen port). The
 * fake backend's first connection is its control session (handshaken
 * here); every later one is a proxied TCP session, handed to the test by
 * nextSession. The loop runs on a hand-driven clock
 * (looptest.StartWithClock): the proxies' deadlines pass when, and only
 * when, a test advances it, so the deadline tests check the exact instant;
 * I/O still happens in real time.
 */

package proxy_test

import (
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/backend/backendtest"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/evport/looptest"
	"github.com/joyent/mname-balancer/proxy"
	"github.com/joyent/mname-balancer/remote"
)

type tcpHarness struct {
	t      *testing.T
	run    *looptest.Runner // on a hand-driven clock: deadlines pass only on advance
	loop   *evport.Loop
	logs   *logBuffer
	set    *backend.Set
	table  *remote.Table
	limits *bunyan.Limits // every rate-limited record; tests flush it by hand
	tcp    *proxy.TCP
	fake   *backendtest.Fake // socket 5301: the control session, then one per proxied connection
}

// testTCPConfig is the default configuration with hour-long deadlines,
// for tests that change only what they test.
func testTCPConfig() proxy.TCPConfig {
	cfg := proxy.DefaultTCPConfig(1 << 16)
	cfg.MessageTimeout, cfg.IdleTimeout, cfg.HalfCloseTimeout = time.Hour, time.Hour, time.Hour
	return cfg
}

func newTCPHarness(t *testing.T, cfg proxy.TCPConfig) *tcpHarness {
	t.Helper()
	dir := backendtest.SocketDir(t, "pt")
	h := &tcpHarness{t: t, logs: &logBuffer{}, limits: &bunyan.Limits{}, fake: backendtest.Listen(t, dir, "5301")}
	run := looptest.StartWithClock(t)
	h.run, h.loop = run, run.Loop
	log := bunyan.New(h.logs, zerolog.DebugLevel)
	bt := backend.DefaultTimings()
	bt.Scan = time.Hour
	bt.HeartbeatInterval = time.Hour
	rt := remote.Timings{Expiry: time.Hour, Sweep: time.Hour, Rebalance: time.Hour}
	var err error
	onLoop(t, h.loop, func() {
		h.set = backend.NewSet(h.loop, log, h.limits, dir, bt)
		h.table = remote.NewTable(h.loop, log, h.limits, h.set, rt)
		h.tcp, err = proxy.ListenTCP(h.loop, log, h.limits, netip.MustParseAddrPort("127.0.0.1:0"), h.table, cfg)
		if err == nil {
			h.set.Start()
		}
	})
	if err != nil {
		t.Fatalf("ListenTCP: %v", err)
	}
	t.Cleanup(func() {
		if run.Running() {
			onLoop(t, h.loop, func() {
				h.tcp.Close()
				h.tcp.Abort()
				h.set.Stop()
			})
		}
	})
	h.fake.Accept().Hello() // the control session
	waitFor(t, h.loop, "backend OK", func() bool {
		bs := h.set.Backends()
		return len(bs) == 1 && bs[0].OK()
	})
	return h
}

// dial connects a client to the proxy.
func (h *tcpHarness) dial() *net.TCPConn {
	h.t.Helper()
	c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(int(h.tcp.Port())), waitLimit)
	if err != nil {
		h.t.Fatalf("dial: %v", err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// nextSession is the backend side of the next proxied connection, after
// its INBOUND_TCP frame; with ok it answers INBOUND_TCP_OK.
func (h *tcpHarness) nextSession(ok bool) *backendtest.Session {
	h.t.Helper()
	s := h.fake.Accept()
	s.Expect(backend.FrameInboundTCP)
	if ok {
		s.Write(backend.AppendInboundTCPOK(nil))
	}
	return s
}

// advance moves the loop's clock on by d and runs what falls due.
func (h *tcpHarness) advance(d time.Duration) {
	h.t.Helper()
	h.run.Advance(d)
}

// waitScanned waits until the loop has taken in n client bytes in all.
func (h *tcpHarness) waitScanned(n uint64) {
	h.t.Helper()
	waitFor(h.t, h.loop, "client bytes taken in", func() bool {
		scanned, _ := h.tcp.Progress()
		return scanned >= n
	})
}

// waitClientEOFs waits until the loop has seen n clients' EOF.
func (h *tcpHarness) waitClientEOFs(n int) {
	h.t.Helper()
	waitFor(h.t, h.loop, "client EOF seen", func() bool {
		_, eofs := h.tcp.Progress()
		return eofs >= n
	})
}
