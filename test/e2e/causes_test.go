//go:build linux

/*
One counter per cause, in every view (issue 18): each way the balancer
drops a datagram, refuses a connection, fails an accept, closes a
connection early or forgets a client is driven once against real
node-mname backends (or a bad peer where the cause is a backend's), and
the four views an operator has (balstat -v's COUNTERS BY CAUSE table,
balstat -p's bbal:0:balancer statistics, balstat -j's balancer totals
and /metrics' reason-labelled families) must each show that counter
moved by exactly what was driven and every other counter not at all.

Every cause in view.Causes is driven here but two: spilled, which
TestStalledBackendSpills drives (a stalled backend under load) and reads
in the snapshot only, and shutdown_grace, which only a connection kept
busy through the whole 5 s grace of a stop would drive (proxy's
TestTCPAbortCountsGrace counts it; the views show it as they show every
cause, which this test checks of the table).
send_error is a bad backend's answer to its client's address at port 0,
which sendto(2) refuses (EINVAL on Linux; proxy's udp_test.go drives the
count with failing sends on every OS). There is no not_ipv4 cause: the
listener is AF_INET, created or checked so when inherited, so accept(2)
yields only IPv4 peers; an accept that yielded anything else would count
as accept_error (proxy's TestTCPAcceptNotIPv4).
*/

package e2e

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/mdb/view"
)

// causeCounts is every cause's counter (view.Cause.Stat -> count) as each
// view shows it (view name -> counts).
type causeCounts map[string]map[string]uint64

// causeBalancer is a balancer with its metrics endpoint.
type causeBalancer struct {
	*Balancer
	metrics string
	exited  bool // the test stopped the process: no views to dump
}

func startCauseBalancer(t *testing.T, cfg BalancerConfig, backends int) *causeBalancer {
	t.Helper()
	balstatBinary(t)
	cfg.Metrics = "127.0.0.1:" + strconv.Itoa(FreePort(t))
	if cfg.LogLevel == "" {
		cfg.LogLevel = "info"
	}
	b := &causeBalancer{Balancer: StartBalancer(t, cfg), metrics: cfg.Metrics}
	if backends > 0 {
		b.WaitLogCount("backend socket established", nil, backends, 20*time.Second)
	}
	b.WaitLog("metrics endpoint listening", nil, 10*time.Second)
	t.Cleanup(func() {
		if !t.Failed() {
			b.dumpViews(t)
		}
	})
	return b
}

var (
	causeRow    = regexp.MustCompile(`^(\S+) +(\S+) +(\d+)$`)
	metricsLine = regexp.MustCompile(`^(bbal_\w+)\{reason="(\w+)"\} (\d+)$`)
)

// counts reads every cause's counter in the four views.
func (b *causeBalancer) counts(t *testing.T) causeCounts {
	t.Helper()
	byKindReason, byMetric := map[string]string{}, map[string]string{}
	for _, c := range view.Causes {
		byKindReason[c.Kind.Name+" "+c.Reason] = c.Stat
		byMetric[c.Kind.Metric+" "+c.Reason] = c.Stat
	}
	cc := causeCounts{"-v": {}, "-p": {}, "-j": {}, "/metrics": {}}

	out := balstat(t, b.Balancer, "-v")
	_, table, ok := strings.Cut(out, "COUNTERS BY CAUSE:\n\n")
	if !ok {
		t.Fatalf("balstat -v has no COUNTERS BY CAUSE table:\n%s", out)
	}
	for _, line := range strings.Split(table, "\n") {
		if m := causeRow.FindStringSubmatch(line); m != nil {
			if stat, ok := byKindReason[m[1]+" "+m[2]]; ok {
				cc["-v"][stat] = atou(t, m[3])
			}
		}
	}

	for _, line := range strings.Split(balstat(t, b.Balancer, "-p", "bbal:0:balancer"), "\n") {
		k, v, _ := strings.Cut(line, "\t")
		if stat, ok := strings.CutPrefix(k, "bbal:0:balancer:"); ok {
			cc["-p"][stat] = atoOr(v)
		}
	}

	var snap struct{ Balancer map[string]any }
	if err := json.Unmarshal([]byte(balstat(t, b.Balancer, "-j")), &snap); err != nil {
		t.Fatalf("balstat -j: %v", err)
	}
	for k, v := range snap.Balancer {
		if f, ok := v.(float64); ok {
			cc["-j"][k] = uint64(f)
		}
	}

	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + b.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if m := metricsLine.FindStringSubmatch(sc.Text()); m != nil {
			if stat, ok := byMetric[m[1]+" "+m[2]]; ok {
				cc["/metrics"][stat] = atou(t, m[3])
			}
		}
	}
	io.Copy(io.Discard, resp.Body)
	for name, counts := range cc {
		for _, c := range view.Causes {
			if _, ok := counts[c.Stat]; !ok {
				t.Fatalf("%s does not show %s (%s %s)", name, c.Stat, c.Kind.Metric, c.Reason)
			}
		}
	}
	return cc
}

func atou(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatalf("not a count: %q", s)
	}
	return n
}

// atoOr is s as a count, or 0 for a value that is none (crtime, class).
func atoOr(s string) uint64 {
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

// moved checks that between before and after exactly the causes in want
// moved, each by its count (atLeast: by that many or more), in every view.
func moved(t *testing.T, what string, before, after causeCounts, want map[string]uint64, atLeast ...string) {
	t.Helper()
	for name := range after {
		for _, c := range view.Causes {
			d := after[name][c.Stat] - before[name][c.Stat]
			w := want[c.Stat]
			lax := false
			for _, s := range atLeast {
				lax = lax || s == c.Stat
			}
			if d != w && !(lax && d >= w) {
				t.Errorf("%s: %s %s moved by %d, want %d", what, name, c.Stat, d, w)
			}
		}
	}
}

// causeUDP sends one datagram of n bytes (a whoami query padded) from ip,
// and returns the client.
func causeUDP(t *testing.T, b *causeBalancer, ip string, n int) *udpClient {
	t.Helper()
	cl := newUDPClient(t, b.Balancer, ip)
	q := udpPaddedWhoami(t, n)
	if err := cl.send(q.wire); err != nil {
		t.Fatal(err)
	}
	return cl
}

// step reads the views, runs drive, waits until the views show want (in
// -p) and checks every view moved exactly so.
func (b *causeBalancer) step(t *testing.T, what string, want map[string]uint64, drive func(), atLeast ...string) causeCounts {
	t.Helper()
	before := b.counts(t)
	drive()
	deadline := time.Now().Add(15 * time.Second)
	var after causeCounts
	for {
		after = b.counts(t)
		done := true
		for stat, n := range want {
			done = done && after["-p"][stat]-before["-p"][stat] >= n
		}
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let anything else the step caused land
	after = b.counts(t)
	moved(t, what, before, after, want, atLeast...)
	return after
}

// dumpViews appends balstat -v, balstat -p and /metrics to
// $BBAL_E2E_VIEWS/<test name>.txt, if set (for a report of what an
// operator sees after each cause).
func (b *causeBalancer) dumpViews(t *testing.T) {
	t.Helper()
	dir := os.Getenv("BBAL_E2E_VIEWS")
	if dir == "" || b.exited {
		return
	}
	var out strings.Builder
	out.WriteString("$ balstat -v\n" + balstat(t, b.Balancer, "-v"))
	out.WriteString("$ balstat -p\n" + balstat(t, b.Balancer, "-p"))
	resp, err := http.Get("http://" + b.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	out.WriteString("$ curl -s " + b.metrics + "/metrics\n" + string(body))
	name := strings.NewReplacer("/", "_", " ", "_", ",", "").Replace(t.Name())
	f, err := os.OpenFile(filepath.Join(dir, name+".txt"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(out.String()); err != nil {
		t.Fatal(err)
	}
}

func TestEveryCauseCountedInEveryView(t *testing.T) {
	SkipInShort(t)
	t.Parallel()

	t.Run("no backend, descriptors, accept", func(t *testing.T) {
		b := startCauseBalancer(t, BalancerConfig{SocketDir: SocketDir(t)}, 0)
		b.step(t, "UDP with no backend", map[string]uint64{"udp_drop_no_backend": 1}, func() {
			causeUDP(t, b, "127.0.1.2", 64)
		})
		b.step(t, "TCP with no backend", map[string]uint64{"tcp_refused_no_backend": 1}, func() {
			tcpExpectClosed(t, tcpDial(t, b.Balancer, "127.0.1.3", nil), false)
		})

		prlimit, err := exec.LookPath("prlimit")
		if err != nil {
			t.Fatalf("prlimit (util-linux) is needed: %v", err)
		}
		hard := procFDCount(t, b.Pid()) + 200
		setLimit := func(n int) {
			t.Helper()
			arg := "--nofile=" + strconv.Itoa(n) + ":" + strconv.Itoa(hard)
			if out, err := exec.Command(prlimit, "--pid", strconv.Itoa(b.Pid()), arg).CombinedOutput(); err != nil {
				t.Fatalf("prlimit %s: %v\n%s", arg, err, out)
			}
		}
		setLimit(hard)
		b.step(t, "TCP with too few descriptors left", map[string]uint64{"tcp_refused_fd_reserve": 1}, func() {
			setLimit(procFDCount(t, b.Pid()) + 4) // the reserve is a quarter of the limit: more than 4
			tcpExpectClosed(t, tcpDial(t, b.Balancer, "127.0.1.4", nil), false)
			setLimit(hard)
		})
		// Below what it uses, accept(2) itself fails; once the limit is
		// back the connection waiting in the backlog is accepted, and
		// refused for want of a backend.
		b.step(t, "accept(2) failing", map[string]uint64{"tcp_accept_errors": 1, "tcp_refused_no_backend": 1}, func() {
			setLimit(8)
			c := tcpDial(t, b.Balancer, "127.0.1.5", nil)
			b.WaitLog("incoming TCP accept failure", nil, 10*time.Second)
			setLimit(hard)
			tcpExpectClosed(t, c, false)
		}, "tcp_accept_errors")
	})

	t.Run("caps and oversize", func(t *testing.T) {
		dir := SocketDir(t)
		StartMnameBackend(t, dir, "5301")
		b := startCauseBalancer(t, BalancerConfig{SocketDir: dir,
			Args: []string{"--tcp-max", "2", "--tcp-max-per-client", "1", "--udp-client-rate", "10"}}, 1)
		b.step(t, "UDP oversized", map[string]uint64{"udp_drop_oversize": 1}, func() {
			causeUDP(t, b, "127.0.2.2", 1501)
		})
		// 30 queries at once: the burst of 10 and at most a few more pass.
		b.step(t, "UDP over the client's rate cap", map[string]uint64{"udp_drop_rate_capped": 15}, func() {
			cl := causeUDP(t, b, "127.0.2.9", 64)
			q := udpPaddedWhoami(t, 64)
			for range 29 {
				if err := cl.send(q.wire); err != nil {
					t.Fatal(err)
				}
			}
		}, "udp_drop_rate_capped")
		var held []net.Conn
		b.step(t, "TCP over the per-client cap", map[string]uint64{"tcp_refused_max_per_client": 1}, func() {
			c := tcpDial(t, b.Balancer, "127.0.2.3", nil)
			tcpAskWhoami(t, c, 1) // proxied
			held = append(held, c)
			tcpExpectClosed(t, tcpDial(t, b.Balancer, "127.0.2.3", nil), false)
		})
		b.step(t, "TCP over the cap", map[string]uint64{"tcp_refused_max_conns": 1}, func() {
			c := tcpDial(t, b.Balancer, "127.0.2.4", nil)
			tcpAskWhoami(t, c, 2)
			held = append(held, c)
			tcpExpectClosed(t, tcpDial(t, b.Balancer, "127.0.2.5", nil), false)
		})
	})

	t.Run("backend unreachable, socket error", func(t *testing.T) {
		dir := SocketDir(t)
		StartMnameBackend(t, dir, "5301")
		b := startCauseBalancer(t, BalancerConfig{SocketDir: dir}, 1)
		b.step(t, "TCP client reset", map[string]uint64{"tcp_closed_error": 1}, func() {
			c := tcpDial(t, b.Balancer, "127.0.3.2", nil)
			tcpAskWhoami(t, c, 1)
			c.SetLinger(0) // close sends RST: the balancer's read fails
			c.Close()
		})
		// The socket file goes while the control session lives on: the
		// backend is still ok, but a TCP connection cannot reach it.
		b.step(t, "TCP to a backend whose socket is gone", map[string]uint64{"tcp_refused_backend_connect": 1}, func() {
			if err := os.Remove(filepath.Join(dir, "5301")); err != nil {
				t.Fatal(err)
			}
			tcpExpectClosed(t, tcpDial(t, b.Balancer, "127.0.3.3", nil), false)
		})
	})

	t.Run("deadlines", func(t *testing.T) {
		dir := SocketDir(t)
		peer := StartMnameBackend(t, dir, "5301")
		b := startCauseBalancer(t, BalancerConfig{SocketDir: dir, TimeScale: 10}, 1)
		b.step(t, "TCP message not complete in time", map[string]uint64{"tcp_closed_message_timeout": 1}, func() {
			c := tcpDial(t, b.Balancer, "127.0.4.2", nil)
			tcpWrite(t, c, []byte{0}) // half a length
			tcpExpectClosed(t, c, false)
		})
		b.step(t, "TCP idle", map[string]uint64{"tcp_closed_idle_timeout": 1}, func() {
			c := tcpDial(t, b.Balancer, "127.0.4.3", nil)
			tcpAskWhoami(t, c, 1)
			tcpExpectClosed(t, c, false)
		})
		// The client shuts its side with a partial message while the
		// backend is stopped (SIGSTOP), so the backend cannot end its side
		// (node-mname does at once otherwise): the half-close deadline
		// (0.2 s) ends it, well before a missed heartbeat (1.5 s) would.
		b.step(t, "TCP half-closed, the backend not finishing", map[string]uint64{"tcp_closed_halfclose_timeout": 1}, func() {
			c := tcpDial(t, b.Balancer, "127.0.4.4", nil)
			tcpAskWhoami(t, c, 1)
			peer.Pause()
			tcpWrite(t, c, []byte{0, 40, 1})
			c.CloseWrite()
			tcpExpectClosed(t, c, false)
			peer.Resume()
		})
	})

	t.Run("bad backends", func(t *testing.T) {
		dir := SocketDir(t)
		StartBadBackend(t, filepath.Join(dir, "5301"), "no-tcp-ok")
		b := startCauseBalancer(t, BalancerConfig{SocketDir: dir, TimeScale: 10}, 1)
		// This backend ends its side at the balancer's EOF, before it
		// took the connection.
		b.step(t, "TCP whose backend ends the session before INBOUND_TCP_OK", map[string]uint64{"tcp_closed_backend_closed": 1}, func() {
			c := tcpDial(t, b.Balancer, "127.0.5.4", nil)
			c.CloseWrite()
			tcpExpectClosed(t, c, false)
		})
		b.step(t, "TCP with no INBOUND_TCP_OK", map[string]uint64{"tcp_closed_ok_timeout": 1}, func() {
			c := tcpDial(t, b.Balancer, "127.0.5.2", nil)
			tcpWrite(t, c, tcpAppendMsg(t, nil, tcpQuestion("whoami.example.", 16, 1)))
			tcpExpectClosed(t, c, false)
		})

		dirOK := SocketDir(t)
		StartBadBackend(t, filepath.Join(dirOK, "5301"), "bad-tcp-ok")
		ok := startCauseBalancer(t, BalancerConfig{SocketDir: dirOK}, 1)
		ok.step(t, "TCP whose backend answers INBOUND_TCP with another frame", map[string]uint64{"tcp_closed_bad_tcp_ok": 1}, func() {
			tcpExpectClosed(t, tcpDial(t, ok.Balancer, "127.0.5.5", nil), false)
		})
		ok.WaitLog("backend invalid TCP OK", map[string]any{"frame_type": 1004}, 5*time.Second)

		dirZero := SocketDir(t)
		StartBadBackend(t, filepath.Join(dirZero, "5301"), "port-zero")
		z := startCauseBalancer(t, BalancerConfig{SocketDir: dirZero}, 1)
		z.step(t, "an answer the UDP socket will not send (port 0)", map[string]uint64{"udp_drop_send_error": 1}, func() {
			causeUDP(t, z, "127.0.5.6", 64)
		})

		dir2 := SocketDir(t)
		victim, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 5, 250)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { victim.Close() })
		StartBadBackend(t, filepath.Join(dir2, "5301"), "reflect", "--victim", victim.LocalAddr().String())
		r := startCauseBalancer(t, BalancerConfig{SocketDir: dir2}, 1)
		r.step(t, "an answer to no client (reflection guard)", map[string]uint64{"udp_drop_not_client": 1}, func() {
			cl := causeUDP(t, r, "127.0.5.3", 64)
			cl.conn.SetReadDeadline(time.Now().Add(udpAnswerTimeout))
			if _, _, err := cl.conn.ReadFromUDP(cl.buf); err != nil {
				t.Fatalf("the client's own answer: %v", err)
			}
		})
	})

	t.Run("stuck backend", func(t *testing.T) {
		dir := SocketDir(t)
		StartBadBackend(t, filepath.Join(dir, "5301"), "no-read")
		// Real-time intervals: no heartbeat or probe within the flood.
		b := startCauseBalancer(t, BalancerConfig{SocketDir: dir}, 1)
		b.step(t, "UDP to a backend that stopped reading", map[string]uint64{"udp_drop_stuck": 1}, func() {
			cl := newUDPClient(t, b.Balancer, "127.0.7.2")
			q := udpPaddedWhoami(t, 1400)
			// Rounds of 1000 (1.4 MB, more than the session's socket
			// buffer) until one is dropped as stuck: on a loaded machine
			// the kernel may drop much of a round before the balancer
			// reads it.
			for round := 0; round < 5; round++ {
				for i := range 1000 {
					if err := cl.send(q.wire); err != nil {
						t.Fatal(err)
					}
					if i%100 == 99 {
						time.Sleep(time.Millisecond)
					}
				}
				if strings.HasSuffix(balstat(t, b.Balancer, "-p", "bbal:0:balancer:udp_drop_stuck"), "\t0\n") {
					continue
				}
				break
			}
		}, "udp_drop_stuck")
	})

	t.Run("remote table", func(t *testing.T) {
		dir := SocketDir(t)
		StartMnameBackend(t, dir, "5301")
		// Scaled by 10: eviction guard 1 s, expiry 30 s.
		b := startCauseBalancer(t, BalancerConfig{SocketDir: dir, TimeScale: 10, Remotes: 2}, 1)
		var fillers []*udpClient
		for _, ip := range []string{"127.0.6.2", "127.0.6.3"} {
			fillers = append(fillers, newUDPClient(t, b.Balancer, ip))
		}
		// The two remotes seen just now, so within the guard whatever
		// reading the views before took on a loaded machine.
		fill := func() {
			for _, f := range fillers {
				f.mustWhoami("5301")
			}
		}
		fill()
		// A table full of active remotes serves a new client untracked
		// (issue 20): answered, over UDP and TCP.
		b.step(t, "UDP from a new client, table full of active remotes", map[string]uint64{"udp_served_untracked": 1}, func() {
			fill()
			newUDPClient(t, b.Balancer, "127.0.6.4").mustWhoami("5301")
		})
		b.step(t, "TCP from a new client, table full of active remotes", map[string]uint64{"tcp_served_untracked": 1}, func() {
			fill()
			c := tcpDial(t, b.Balancer, "127.0.6.4", nil)
			if id, _ := tcpAskWhoami(t, c, 7); id != "5301" {
				t.Errorf("untracked TCP client answered by %q, want 5301", id)
			}
			c.Close()
		})
		b.step(t, "a new client once the oldest is past the guard", map[string]uint64{"remotes_evicted": 1}, func() {
			time.Sleep(1500 * time.Millisecond)
			newUDPClient(t, b.Balancer, "127.0.6.5").mustWhoami("5301")
		})

		dir2 := SocketDir(t)
		StartMnameBackend(t, dir2, "5301")
		// Scaled by 100: expiry 3 s, swept every 0.3 s.
		e := startCauseBalancer(t, BalancerConfig{SocketDir: dir2, TimeScale: 100}, 1)
		e.step(t, "a client silent past the expiry", map[string]uint64{"remotes_expired": 1}, func() {
			newUDPClient(t, e.Balancer, "127.0.6.6").mustWhoami("5301")
		})
	})

	// The control socket and /metrics are served until the process
	// exits (cmd/bbal's daemon closes them after the loop), and one busy
	// connection (one byte of a message sent) keeps the SIGTERM drain
	// going while the views are read: within the busy message's deadline
	// (5 s) and the drain's grace (5 s).
	t.Run("lame duck", func(t *testing.T) {
		dir := SocketDir(t)
		StartMnameBackend(t, dir, "5301")
		b := startCauseBalancer(t, BalancerConfig{SocketDir: dir}, 1)
		idle := tcpDial(t, b.Balancer, "127.0.8.2", nil)
		tcpAskWhoami(t, idle, 1)
		busy := tcpDial(t, b.Balancer, "127.0.8.3", nil)
		tcpAskWhoami(t, busy, 2)
		query := tcpAppendMsg(t, nil, tcpQuestion("whoami.example.", 16, 3))
		// Not step: its wait for the count would outlast the drain. The
		// count is taken with the "shutting down" record, in one turn of
		// the loop, so the views read after it show it.
		before := b.counts(t)
		tcpWrite(t, busy, query[:1])
		time.Sleep(100 * time.Millisecond) // let the balancer read it
		b.Signal(syscall.SIGTERM)
		b.WaitLog("shutting down", map[string]any{"tcp_connections": 2, "tcp_idle_closed": 1}, 5*time.Second)
		tcpExpectClosed(t, idle, false)
		moved(t, "an idle TCP connection at SIGTERM", before, b.counts(t), map[string]uint64{"tcp_closed_lame_duck": 1})
		if err := b.Wait(10 * time.Millisecond); err == nil {
			t.Fatal("the balancer exited while a TCP connection was busy: the views were not read during the drain")
		}
		// The busy connection gets its answer, then the lame duck closes
		// it too and the process exits.
		tcpWrite(t, busy, query[1:])
		readAnswerTCP(t, busy, 3)
		tcpExpectClosed(t, busy, false)
		if err := b.Wait(10 * time.Second); err != nil {
			t.Fatalf("balancer after SIGTERM: %v", err)
		}
		b.exited = true
		if r := b.Find("closing TCP connections still open after the grace period", nil); len(r) != 0 {
			t.Errorf("the busy connection was closed by the grace period, not once answered: %v", r)
		}
	})
}
