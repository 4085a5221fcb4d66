/*
 * Tests of the TCP path (tcp.go, socket.go) against a fake backend: the
 * accepted socket's keep-alive options, and the C balancer's records for
 * a proxy's life.
 */

package proxy_test

import (
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/proxy"
	"github.com/rs/zerolog"
)

// TestTCPKeepalive reads the keep-alive options back from the socket the
// proxy accepted: on, first probe after 1 s, one a second, 15 probes
// (the C balancer's cserver.c).
func TestTCPKeepalive(t *testing.T) {
	h := newTCPHarness(t, testTCPConfig())
	h.dial()
	h.nextSession(true)
	var fds []int
	waitFor(t, h.loop, "one proxy open", func() bool {
		fds = h.tcp.ClientFDs()
		return len(fds) == 1
	})
	fd := fds[0] // open until the test's cleanup: nothing else closes it
	for _, o := range []struct {
		name       string
		level, opt int
		want       int
	}{
		{"SO_KEEPALIVE", unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 1},
		{"TCP_KEEPINTVL", unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 1},
		{"TCP_KEEPCNT", unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 15},
	} {
		got, err := unix.GetsockoptInt(fd, o.level, o.opt)
		if err != nil {
			t.Fatalf("getsockopt %s: %v", o.name, err)
		}
		if (o.want == 1 && o.opt == unix.SO_KEEPALIVE && got == 0) || (o.opt != unix.SO_KEEPALIVE && got != o.want) {
			t.Errorf("%s = %d, want %d", o.name, got, o.want)
		}
	}
	h.logs.Wait(t, 1, "inbound TCP connection", "conn_id", "1", "remote_ip", "127.0.0.1")
	h.logs.Wait(t, 1, "connected to backend", "backend", "5301", "conn_id", "1")
}

// TestTCPInvalidOK: a backend that answers INBOUND_TCP with another frame
// gets the C balancer's warning with the frame type, and the client is
// closed.
func TestTCPInvalidOK(t *testing.T) {
	h := newTCPHarness(t, testTCPConfig())
	c := h.dial()
	s := h.nextSession(false)
	s.Write(backend.AppendServerHeartbeat(nil))
	r := h.logs.Wait(t, 1, "backend invalid TCP OK", "frame_type", "1004", "backend", "5301")[0]
	if r.Str("level") != "40" {
		t.Errorf("level %s, want 40 (warn)", r.Str("level"))
	}
	expectClientClosed(t, c)
	h.logs.Wait(t, 1, "TCP teardown")
	h.logs.Wait(t, 1, "proxy connection finished")
}

// TestTCPAcceptNotIPv4: a peer that is not IPv4 (which the AF_INET
// listener's accept(2) never yields) is counted as an accept error, not
// as a connection, its descriptor closed and the accept failure logged.
func TestTCPAcceptNotIPv4(t *testing.T) {
	h := newTCPHarness(t, testTCPConfig())
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	if err := unix.SetNonblock(fds[1], true); err != nil { // open: EAGAIN, not a hang
		t.Fatal(err)
	}
	var st proxy.TCPStats
	onLoop(t, h.loop, func() {
		h.tcp.Accept(fds[0], &unix.SockaddrInet6{Port: 53})
		st = h.tcp.Stats()
	})
	if st.AcceptErrors != 1 || st.Accepted != 0 || st.Refused != 0 || st.Open != 0 {
		t.Errorf("stats %+v, want one accept error and no connection", st)
	}
	var b [1]byte
	if n, err := unix.Read(fds[1], b[:]); n != 0 || err != nil {
		t.Errorf("the peer read %d, %v; want end of file (the descriptor closed)", n, err)
	}
	h.logs.Wait(t, 1, "incoming TCP accept failure")
}

// TestTCPErrorRecord: a client that resets its connection gives the C
// balancer's "TCP error" at error, naming the side and the errno.
func TestTCPErrorRecord(t *testing.T) {
	h := newTCPHarness(t, testTCPConfig())
	c := h.dial()
	h.nextSession(true)
	waitFor(t, h.loop, "one proxy open", func() bool { return h.tcp.Live() == 1 })
	c.SetLinger(0)
	c.Close() // RST
	r := h.logs.Wait(t, 1, "TCP error", "which", "front")[0]
	if r.Str("level") != "50" || r.Str("errno") != strconv.Itoa(int(unix.ECONNRESET)) || r.Str("cause") == "" {
		t.Errorf("TCP error record %v, want level 50, errno ECONNRESET and a cause", r)
	}
	waitFor(t, h.loop, "no proxy open", func() bool { return h.tcp.Live() == 0 })
}

// expectClientClosed reads until the balancer closes the connection.
func expectClientClosed(t *testing.T, c *net.TCPConn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 512)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("the balancer did not close the client connection")
		}
		return
	}
}

// TestTCPConfigErrorsNameTheField: a configuration out of range is refused
// before anything is bound, with the field and its value in the error.
func TestTCPConfigErrorsNameTheField(t *testing.T) {
	for _, tc := range []struct {
		change func(*proxy.TCPConfig)
		want   string
	}{
		{func(c *proxy.TCPConfig) { c.OKTimeout = 0 }, "TCPConfig.OKTimeout 0s: must be positive"},
		{func(c *proxy.TCPConfig) { c.HalfCloseTimeout = -time.Second }, "TCPConfig.HalfCloseTimeout -1s: must be positive"},
		{func(c *proxy.TCPConfig) { c.MaxConns = 0 }, "TCPConfig.MaxConns 0: must be at least 1"},
		{func(c *proxy.TCPConfig) { c.MaxPerClient = -2 }, "TCPConfig.MaxPerClient -2: must be at least 1"},
		{func(c *proxy.TCPConfig) { c.FDReserve = -1 }, "TCPConfig.FDReserve -1: must not be negative"},
	} {
		cfg := proxy.DefaultTCPConfig(1024)
		tc.change(&cfg)
		_, err := proxy.ListenTCP(nil, zerolog.Nop(), &bunyan.Limits{}, netip.MustParseAddrPort("127.0.0.1:0"), nil, cfg)
		if err == nil || err.Error() != tc.want {
			t.Errorf("ListenTCP error %v, want %q", err, tc.want)
		}
	}
}
