/*
 * Test harness for the UDP path: a real evport loop, a backend Set over a
 * short socket directory under /tmp with at most one fake backend
 * (backendtest) that the test drives with the frame codec, a remote Table, the UDP proxy on
 * 127.0.0.1 (a kernel-chosen port) and a UDP client socket.
 *
 * The loop normally runs on its own goroutine and the test reaches balancer
 * state with onLoop (Post and wait) or waitFor (a condition polled on the
 * loop). The allocation tests stop it (looptest.Runner.Stop) and then call the
 * packet path and run loop turns from the test goroutine itself, which is
 * legal because the loop is single-threaded: while Run is not running on
 * another goroutine, the caller is the loop.
 */

package proxy_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/backend/backendtest"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/bunyan/bunyantest"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/evport/looptest"
	"github.com/joyent/mname-balancer/internal/ipv4"
	"github.com/joyent/mname-balancer/proxy"
	"github.com/joyent/mname-balancer/remote"
)

const waitLimit = looptest.WaitLimit

type logBuffer = bunyantest.Buffer

var (
	onLoop  = looptest.OnLoop
	waitFor = looptest.WaitFor
)

// udpHarness is the UDP proxy with its table and set, and a client.
type udpHarness struct {
	t      *testing.T
	run    *looptest.Runner
	loop   *evport.Loop
	logs   *logBuffer
	dir    string
	set    *backend.Set
	table  *remote.Table
	limits *bunyan.Limits // every rate-limited record; tests flush it by hand
	udp    *proxy.UDP
	client *net.UDPConn
	to     netip.AddrPort // the proxy's address
}

// newUDPHarness builds everything; with a backend name, a fake backend
// with that socket name is started, handshaken and returned.
func newUDPHarness(t *testing.T, backendName string) (*udpHarness, *backendtest.Session) {
	t.Helper()
	if backendName == "" {
		h, _ := newUDPHarnessOf(t)
		return h, nil
	}
	h, s := newUDPHarnessOf(t, backendName)
	return h, s[0]
}

// newUDPHarnessOf is newUDPHarness with a fake backend for each name, in
// order.
func newUDPHarnessOf(t *testing.T, backendNames ...string) (*udpHarness, []*backendtest.Session) {
	t.Helper()
	dir := backendtest.SocketDir(t, "pt")
	h := &udpHarness{t: t, dir: dir, logs: &logBuffer{}, limits: &bunyan.Limits{}}
	var fakes []*backendtest.Fake
	for _, name := range backendNames {
		fakes = append(fakes, backendtest.Listen(t, dir, name))
	}
	var err error
	h.run = looptest.Start(t)
	h.loop = h.run.Loop
	// Info level: the packet path's trace records are off, as in production.
	log := bunyan.New(h.logs, zerolog.InfoLevel)
	// No periodic work that could run during an allocation measurement.
	bt := backend.DefaultTimings()
	bt.Scan = time.Hour
	bt.HeartbeatInterval = time.Hour
	rt := remote.Timings{Expiry: time.Hour, Sweep: time.Hour, Rebalance: time.Hour, EvictAfter: time.Hour}
	onLoop(t, h.loop, func() {
		h.set = backend.NewSet(h.loop, log, h.limits, dir, bt)
		h.table = remote.NewTable(h.loop, log, h.limits, h.set, rt)
		h.udp, err = proxy.ListenUDP(h.loop, log, h.limits, netip.MustParseAddrPort("127.0.0.1:0"), h.table)
		if err == nil {
			h.set.SetAnswerSink(h.udp.SendAnswer)
			h.set.Start()
		}
	})
	if err != nil {
		t.Fatalf("ListenUDP: %v", err)
	}
	t.Cleanup(func() {
		if h.run.Running() {
			onLoop(t, h.loop, func() {
				h.udp.Close()
				h.set.Stop()
			})
		}
	})
	h.to = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), h.udp.Port())
	h.client, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.client.Close() })

	var sessions []*backendtest.Session
	for _, fake := range fakes {
		s := fake.Accept()
		s.Hello()
		sessions = append(sessions, s)
	}
	if len(fakes) > 0 {
		waitFor(t, h.loop, "backends OK", func() bool {
			bs := h.set.Backends()
			ok := len(bs) == len(fakes)
			for _, b := range bs {
				ok = ok && b.OK()
			}
			return ok
		})
	}
	return h, sessions
}

// clientAddr is the client socket's address as the balancer numbers it.
func (h *udpHarness) clientAddr() (uint32, uint16) {
	return balancerAddr(h.client.LocalAddr().(*net.UDPAddr).AddrPort())
}

// balancerAddr is an IPv4 address and port as the balancer numbers them
// (the address a big-endian uint32, as the remote table keys it).
func balancerAddr(ap netip.AddrPort) (uint32, uint16) {
	return ipv4.FromBytes(ap.Addr().As4()), ap.Port()
}

// makeKnown puts addr in the remote table, as a query from it would, so
// that the reflection guard lets answers to it through.
func (h *udpHarness) makeKnown(addr uint32) {
	h.t.Helper()
	onLoop(h.t, h.loop, func() { h.table.HeardFrom(addr) })
}

func (h *udpHarness) send(msg []byte) {
	h.t.Helper()
	if _, err := h.client.WriteToUDPAddrPort(msg, h.to); err != nil {
		h.t.Fatalf("client send: %v", err)
	}
}

// receive reads one datagram at the client.
func (h *udpHarness) receive() ([]byte, netip.AddrPort) {
	h.t.Helper()
	h.client.SetReadDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 65536)
	n, from, err := h.client.ReadFromUDPAddrPort(buf)
	if err != nil {
		h.t.Fatalf("client receive: %v", err)
	}
	return buf[:n], from
}

// remoteStats reads the client's remote record (ok false: none).
func (h *udpHarness) remoteStats(addr uint32) (st remote.Stats, ok bool) {
	onLoop(h.t, h.loop, func() {
		h.table.Each(func(r *remote.Remote) {
			if r.Addr == addr {
				st, ok = r.Stats, true
			}
		})
	})
	return st, ok
}

func (h *udpHarness) backendStats() backend.Stats {
	var st backend.Stats
	onLoop(h.t, h.loop, func() { st = h.set.Backends()[0].Stats })
	return st
}

// flushLimits writes, on the loop, the summaries due after the loop's time
// plus d: what the daemon's one flush timer does once d has passed.
func (h *udpHarness) flushLimits(d time.Duration) {
	h.t.Helper()
	onLoop(h.t, h.loop, func() { h.limits.Flush(h.loop.Now().Add(d)) })
}
