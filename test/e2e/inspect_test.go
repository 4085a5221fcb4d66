//go:build linux

/*
End-to-end tests of inspection (issue 10): a known mix of UDP and TCP
queries from several client addresses goes through the real bbal to real
node-mname backends, and then every view agrees with what was sent and with
which backend answered each client: balstat's tables, its -p counters, the
-e pipelines, -j, and the Prometheus endpoint. Also: the run-time log level
through balstat -l; a user other than root and the balancer's (nobody, via
a child process with other credentials) is refused; control clients that
say nothing, send an endless line or never read do not hold up DNS.
*/
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/joyent/mname-balancer/mdb/view"
)

var balstatBuild binaryBuild

// balstatBinary builds ./cmd/balstat once per test binary, in a directory
// every user may read (the nobody test runs it too).
func balstatBinary(t *testing.T) string {
	t.Helper()
	return balstatBuild.build(t, "./cmd/balstat")
}

// balstat runs balstat against bal's control socket and returns stdout.
func balstat(t *testing.T, bal *Balancer, args ...string) string {
	t.Helper()
	cmd := exec.Command(balstatBinary(t), append([]string{"-c", bal.Control}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("balstat %q: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// inspectCluster is three mname backends behind one balancer with the
// metrics endpoint on, after a known mix of queries.
type inspectCluster struct {
	bal     *Balancer
	metrics string
	dir     string
	udp     map[string]int    // client IP -> UDP queries answered
	tcp     map[string]int    // client IP -> TCP connections (one query each)
	by      map[string]string // client IP -> the backend that answered it
	open    net.Conn          // a TCP connection left open (127.0.0.9)
}

func startInspectCluster(t *testing.T) *inspectCluster {
	t.Helper()
	balstatBinary(t) // built first: the views are then read without delay
	c := &inspectCluster{dir: SocketDir(t), udp: map[string]int{}, tcp: map[string]int{}, by: map[string]string{}}
	for _, name := range []string{"5301", "5302", "5303"} {
		StartMnameBackend(t, c.dir, name)
	}
	c.metrics = "127.0.0.1:" + strconv.Itoa(FreePort(t))
	c.bal = StartBalancer(t, BalancerConfig{SocketDir: c.dir, Metrics: c.metrics})
	c.bal.WaitLogCount("backend socket established", nil, 3, 20*time.Second)
	c.bal.WaitLog("control socket listening", map[string]any{"path": c.bal.Control}, 10*time.Second)
	c.bal.WaitLog("metrics endpoint listening", nil, 10*time.Second)

	answered := func(ip, id string) {
		if prev, ok := c.by[ip]; ok && prev != id {
			t.Fatalf("client %s answered by %s and by %s", ip, prev, id)
		}
		c.by[ip] = id
	}
	for ip, n := range map[string]int{"127.0.0.2": 3, "127.0.0.3": 1, "127.0.0.4": 5, "127.0.0.5": 2} {
		cl := newUDPClient(t, c.bal, ip)
		for i := 0; i < n; i++ {
			id, err := cl.whoami(udpAnswerTimeout)
			if err != nil {
				t.Fatal(err)
			}
			answered(ip, id)
			c.udp[ip]++
		}
	}
	for ip, n := range map[string]int{"127.0.0.3": 1, "127.0.0.6": 2} {
		for i := 0; i < n; i++ {
			conn := tcpDial(t, c.bal, ip, nil)
			id, _ := tcpAskWhoami(t, conn, uint16(100+i))
			answered(ip, id)
			c.tcp[ip]++
			conn.Close()
		}
	}
	c.open = tcpDial(t, c.bal, "127.0.0.9", nil)
	id, _ := tcpAskWhoami(t, c.open, 7)
	answered("127.0.0.9", id)
	c.tcp["127.0.0.9"]++
	return c
}

func (c *inspectCluster) totalUDP() (n int) {
	for _, v := range c.udp {
		n += v
	}
	return n
}

func (c *inspectCluster) totalTCP() (n int) {
	for _, v := range c.tcp {
		n += v
	}
	return n
}

// perBackend sums a per-client count by the backend that answered.
func (c *inspectCluster) perBackend(counts map[string]int) map[string]int {
	out := map[string]int{}
	for ip, n := range counts {
		out[c.by[ip]] += n
	}
	return out
}

// waitClosedTCP waits until the balancer has finished every TCP connection
// but the open one, so that the counters are settled.
func (c *inspectCluster) waitSettled(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		s, err := view.FetchSnapshot(c.bal.Control, false, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if s.Balancer.TCPOpen == 1 && s.Balancer.UDPAnswered == uint64(c.totalUDP()) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("balancer not settled: %+v", s.Balancer)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestInspectViewsAgreeWithTraffic(t *testing.T) {
	SkipInShort(t)
	c := startInspectCluster(t)
	c.waitSettled(t)
	clients := len(c.by)
	remotesOf := map[string]int{}
	for _, id := range c.by {
		remotesOf[id]++
	}

	t.Run("tables", func(t *testing.T) {
		out := balstat(t, c.bal)
		backends, remotes, ok := strings.Cut(out, "\nREMOTE PEERS:\n\n")
		if !ok || !strings.HasPrefix(backends, "BACKENDS:\n\n      OBJECT  BACKEND  OK? #REMOTES SOCKET PATH\n") ||
			!strings.HasPrefix(remotes, "      OBJECT  BACKEND    REMOTE IP\n") || !strings.HasSuffix(out, "\n\n") {
			t.Fatalf("not Binder's tables:\n%s", out)
		}
		row := regexp.MustCompile(`^ {0,11}[0-9a-f]{1,12} +(\d+) +([01]) +(\d+) (.+)$`)
		n := 0
		for _, line := range strings.Split(strings.TrimSpace(backends), "\n")[3:] {
			m := row.FindStringSubmatch(line)
			if m == nil || len(line) < 12+1+8+1+4+1+8+1 {
				t.Errorf("backend row %q", line)
				continue
			}
			n++
			if m[2] != "1" || m[3] != strconv.Itoa(remotesOf[m[1]]) || m[4] != filepath.Join(c.dir, m[1]) {
				t.Errorf("backend row %q: want ok, %d remotes, path %s", line, remotesOf[m[1]], filepath.Join(c.dir, m[1]))
			}
		}
		if n != 3 {
			t.Errorf("%d backend rows, want 3", n)
		}
		rrow := regexp.MustCompile(`^ {0,11}[0-9a-f]{1,12} +(\d+) +([0-9.]+)$`)
		seen := map[string]bool{}
		for _, line := range strings.Split(strings.TrimRight(remotes, "\n"), "\n")[1:] {
			m := rrow.FindStringSubmatch(line)
			if m == nil {
				t.Errorf("remote row %q", line)
				continue
			}
			seen[m[2]] = true
			if c.by[m[2]] != m[1] {
				t.Errorf("remote %s listed with backend %s, but %s answered it", m[2], m[1], c.by[m[2]])
			}
		}
		if len(seen) != clients {
			t.Errorf("%d remotes listed, want %d", len(seen), clients)
		}
	})

	t.Run("kstat", func(t *testing.T) {
		out := balstat(t, c.bal, "-p")
		stats := map[string]string{}
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			k, v, ok := strings.Cut(line, "\t")
			if !ok || strings.Count(k, ":") != 3 {
				t.Fatalf("not kstat -p: %q", line)
			}
			stats[k] = v
		}
		for k, want := range map[string]int{
			"bbal:0:balancer:udp_received": c.totalUDP(), "bbal:0:balancer:udp_forwarded": c.totalUDP(),
			"bbal:0:balancer:udp_answered": c.totalUDP(), "bbal:0:balancer:tcp_accepted": c.totalTCP(),
			"bbal:0:balancer:tcp_open": 1, "bbal:0:balancer:remotes": clients, "bbal:0:balancer:backends_ok": 3,
			"bbal:0:balancer:udp_drop_no_backend": 0, "bbal:0:balancer:tcp_refused": 0,
		} {
			if stats[k] != strconv.Itoa(want) {
				t.Errorf("%s = %q, want %d", k, stats[k], want)
			}
		}
		udp, tcp := c.perBackend(c.udp), c.perBackend(c.tcp)
		for _, id := range []string{"5301", "5302", "5303"} {
			p := "bbal:" + id + ":backend:"
			if stats[p+"udp"] != strconv.Itoa(udp[id]) || stats[p+"tcp"] != strconv.Itoa(tcp[id]) ||
				stats[p+"remotes"] != strconv.Itoa(remotesOf[id]) || stats[p+"ok"] != "1" || stats[p+"class"] != "net" {
				t.Errorf("backend %s: udp %s tcp %s remotes %s ok %s; want %d %d %d 1", id,
					stats[p+"udp"], stats[p+"tcp"], stats[p+"remotes"], stats[p+"ok"], udp[id], tcp[id], remotesOf[id])
			}
		}
		if !regexp.MustCompile(`^\d+\.\d{9}$`).MatchString(stats["bbal:0:balancer:snaptime"]) {
			t.Errorf("snaptime %q is not seconds with nine decimals", stats["bbal:0:balancer:snaptime"])
		}
		one := balstat(t, c.bal, "-p", "bbal:5302::udp")
		if one != "bbal:5302:backend:udp\t"+strconv.Itoa(udp["5302"])+"\n" {
			t.Errorf("-p bbal:5302::udp printed %q", one)
		}
		twice := balstat(t, c.bal, "-p", "bbal:0:balancer:udp_received", "1", "2")
		if !regexp.MustCompile(`^bbal:0:balancer:udp_received\t\d+\n\nbbal:0:balancer:udp_received\t\d+\n$`).MatchString(twice) {
			t.Errorf("-p ... 1 2 printed %q; want two rounds with a blank line between, as kstat", twice)
		}
		none := exec.Command(balstatBinary(t), "-c", c.bal.Control, "-p", "bbal:0:balancer:nosuchstat")
		if out, err := none.Output(); none.ProcessState == nil || none.ProcessState.ExitCode() != 1 || len(out) != 0 {
			t.Errorf("-p with a pattern matching nothing: %v, stdout %q; want exit 1 and nothing printed, as kstat", err, out)
		}
	})

	t.Run("pipelines", func(t *testing.T) {
		out := balstat(t, c.bal, "-e", `g_remotes::walk avl | ::printf "%12p %12I -> %d\n" remote_t . rem_addr.S_un.S_addr rem_backend`)
		for ip, id := range c.by {
			if !regexp.MustCompile(`(?m)^ *[0-9a-f]+ +` + regexp.QuoteMeta(ip) + ` -> ` + id + `$`).MatchString(out) {
				t.Errorf("no line for %s -> %s in\n%s", ip, id, out)
			}
		}
		out = balstat(t, c.bal, "-e", "g_backends::walk avl | ::print backend_t")
		udp := c.perBackend(c.udp)
		for _, id := range []string{"5301", "5302", "5303"} {
			n, _ := strconv.Atoi(id)
			block := fmt.Sprintf("    be_id = %#x\n    be_path = %q\n    be_ok = 0x1 (B_TRUE)\n", n, filepath.Join(c.dir, id))
			if !strings.Contains(out, block) {
				t.Errorf("::print backend_t lacks\n%s\nin\n%s", block, out)
			}
			stat := "    be_stat_udp = 0\n"
			if udp[id] > 0 {
				stat = fmt.Sprintf("    be_stat_udp = %#x\n", udp[id])
			}
			if !strings.Contains(out, stat) {
				t.Errorf("::print backend_t lacks %q for %s", stat, id)
			}
		}
		out = balstat(t, c.bal, "-e", "g_timeouts::walk avl | ::print timeout_t")
		// Each ok backend has its heartbeat scheduled, named after the
		// backend; the remote table's rebalance runs periodically.
		for _, id := range []string{"5301", "5302", "5303"} {
			re := regexp.MustCompile(`    to_func = backend\.\(\*Backend\)\.\w+\n    to_arg = "backend ` + id + `"\n    to_active = 0x1 \(B_TRUE\)\n`)
			if !re.MatchString(out) {
				t.Errorf("::print timeout_t has no timer of backend %s in\n%s", id, out)
			}
		}
		if !strings.Contains(out, "    to_func = remote.(*Table).Rebalance\n") {
			t.Errorf("::print timeout_t lacks the rebalance in\n%s", out)
		}
		cmd := exec.Command(balstatBinary(t), "-c", c.bal.Control, "-e", "::walk thread")
		msg, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(msg), "g_timeouts::walk avl (timeout_t)") {
			t.Errorf("unsupported pipeline: %v\n%s", err, msg)
		}
	})

	t.Run("json", func(t *testing.T) {
		var s view.Snapshot
		if err := json.Unmarshal([]byte(balstat(t, c.bal, "-j")), &s); err != nil {
			t.Fatal(err)
		}
		if len(s.Remotes) != clients {
			t.Errorf("%d remotes, want %d", len(s.Remotes), clients)
		}
		for _, r := range s.Remotes {
			a := r.Addr.String()
			if strconv.Itoa(int(r.Backend)) != c.by[a] || r.StatUDP != uint64(c.udp[a]) || r.StatTCP != uint64(c.tcp[a]) {
				t.Errorf("remote %+v: want backend %s, udp %d, tcp %d", r, c.by[a], c.udp[a], c.tcp[a])
			}
		}
		if len(s.Proxies) != 1 {
			t.Fatalf("tcp_proxies %+v, want the one open connection", s.Proxies)
		}
		// The one query asked on it, with its length prefix, went to the
		// backend; the answer came back. (The backend may since have
		// ended its side: then the proxy is closing, waiting for ours.)
		query := len(tcpAppendMsg(t, nil, tcpQuestion("whoami.example.", dns.TypeTXT, 7)))
		p := s.Proxies[0]
		if p.Addr != netip.MustParseAddr("127.0.0.9") || strconv.Itoa(int(p.Backend)) != c.by["127.0.0.9"] ||
			(p.State != "established" && p.State != "closing") ||
			p.ToBackend != uint64(query) || p.ToClient <= 2 || p.AgeNS <= 0 {
			t.Errorf("open proxy %+v: want 127.0.0.9 on backend %s, %d bytes to the backend", p, c.by["127.0.0.9"], query)
		}
	})

	t.Run("metrics", func(t *testing.T) {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://" + c.metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		values := map[string]string{}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			if line := sc.Text(); !strings.HasPrefix(line, "#") {
				k, v, _ := strings.Cut(line, " ")
				values[k] = v
			}
		}
		udp := c.perBackend(c.udp)
		want := map[string]int{
			"bbal_udp_received_total": c.totalUDP(), "bbal_udp_answered_total": c.totalUDP(),
			"bbal_tcp_accepted_total": c.totalTCP(), "bbal_tcp_open": 1, "bbal_remotes": clients,
		}
		for _, id := range []string{"5301", "5302", "5303"} {
			want[`bbal_backend_udp_forwarded_total{backend="`+id+`"}`] = udp[id]
			want[`bbal_backend_remotes{backend="`+id+`"}`] = remotesOf[id]
		}
		for k, n := range want {
			if values[k] != strconv.Itoa(n) {
				t.Errorf("%s = %q, want %d", k, values[k], n)
			}
		}
	})
}

func TestInspectLogLevelAtRunTime(t *testing.T) {
	SkipInShort(t)
	dir := SocketDir(t)
	StartMnameBackend(t, dir, "5301")
	bal := StartBalancer(t, BalancerConfig{SocketDir: dir, LogLevel: "info"})
	bal.WaitLog("backend socket established", nil, 20*time.Second)
	if out := balstat(t, bal, "-l"); out != "log level info (configured info)\n" {
		t.Errorf("balstat -l: %q", out)
	}
	out := balstat(t, bal, "-l", "debug", "2")
	if !strings.HasPrefix(out, "log level debug (configured info; until ") {
		t.Errorf("balstat -l debug 2: %q", out)
	}
	rec := bal.WaitLog("log level changed", map[string]any{"level_name": "debug", "previous": "info"}, 10*time.Second)
	if rec.Num("duration_s") != 2 || rec.Num("level") != 30 {
		t.Errorf("change record %v", rec)
	}
	// At debug, a new client's session records appear (debug records the
	// balancer writes for a TCP connection).
	conn := tcpDial(t, bal, "127.0.0.2", nil)
	tcpAskWhoami(t, conn, 1)
	conn.Close()
	bal.WaitLog("inbound TCP connection", map[string]any{"remote_ip": "127.0.0.2"}, 10*time.Second)
	bal.WaitLog("log level restored to the configured level", map[string]any{"level_name": "info", "by": "timer"}, 15*time.Second)
	if out := balstat(t, bal, "-l", "error"); out != "log level error (configured info)\n" {
		t.Errorf("balstat -l error: %q", out)
	}
	if out := balstat(t, bal, "-l", "reset"); out != "log level info (configured info)\n" {
		t.Errorf("balstat -l reset: %q", out)
	}
	cmd := exec.Command(balstatBinary(t), "-c", bal.Control, "-l", "verbose")
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), `unknown log level "verbose"`) {
		t.Errorf("balstat -l verbose: %v %s", err, msg)
	}
}

// TestInspectRefusesOtherUsers runs balstat as nobody: refused by the
// socket's mode, and, with the mode opened up by mistake, by the peer
// check; root still is served.
func TestInspectRefusesOtherUsers(t *testing.T) {
	SkipInShort(t)
	needRoot(t, "runs balstat as nobody")
	dir := SocketDir(t)
	StartMnameBackend(t, dir, "5301")
	ctlDir, err := os.MkdirTemp("", "bbal-ctl-open-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(ctlDir)
	bal := StartBalancer(t, BalancerConfig{SocketDir: dir, Control: filepath.Join(ctlDir, "control")})
	bal.WaitLog("control socket listening", nil, 10*time.Second)
	asNobody := func() (string, error) {
		cmd := exec.Command(balstatBinary(t), "-c", bal.Control)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	os.Chmod(ctlDir, 0o755)
	out, err := asNobody()
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("nobody, socket 0600: %v\n%s", err, out)
	}
	os.Chmod(bal.Control, 0o666)
	out, err = asNobody()
	if err == nil || !strings.Contains(out, "only root and the balancer's user are served") {
		t.Errorf("nobody, socket 0666: %v\n%s", err, out)
	}
	bal.WaitLog("control socket client refused", map[string]any{"uid": float64(65534)}, 10*time.Second)
	balstat(t, bal) // root
}

// TestInspectBadControlClientsDoNotDelayDNS holds a silent control client,
// one sending an endless line and one that never reads its (large)
// snapshot, and checks that UDP and TCP queries are answered meanwhile.
func TestInspectBadControlClientsDoNotDelayDNS(t *testing.T) {
	SkipInShort(t)
	c := startUDPCluster(t, "5301", "5302")
	var clients []*udpClient
	for i := 0; i < 60; i++ {
		cl := c.client("127.0.1." + strconv.Itoa(i+1))
		if _, err := cl.whoami(udpAnswerTimeout); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
	}
	dial := func() net.Conn {
		conn, err := net.Dial("unix", c.bal.Control)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	dial() // silent
	endless := dial()
	go func() {
		chunk := bytes.Repeat([]byte("x"), 8192)
		for {
			if _, err := endless.Write(chunk); err != nil {
				return
			}
		}
	}()
	slow := dial()
	slow.(*net.UnixConn).SetReadBuffer(1)
	io.WriteString(slow, "snapshot\n")

	for round := 0; round < 3; round++ {
		for _, cl := range clients[:10] {
			if _, err := cl.whoami(udpAnswerTimeout); err != nil {
				t.Fatalf("with bad control clients attached: %v", err)
			}
		}
		conn := tcpDial(t, c.bal, "127.0.0.2", nil)
		tcpAskWhoami(t, conn, uint16(round+1))
		conn.Close()
	}
	// The control socket still serves a well-behaved client.
	if _, err := view.FetchSnapshot(c.bal.Control, true, 15*time.Second); err != nil {
		t.Errorf("after the bad clients: %v", err)
	}
}
