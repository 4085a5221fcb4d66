/*
 * Tests of the control socket: what it serves, the file's mode, the path
 * check, the peer check (a client running as nobody is refused), and that
 * clients which say nothing, send an endless line or never read cost the
 * DNS path nothing.
 */

package mdb

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/evport/looptest"
	"github.com/joyent/mname-balancer/mdb/view"
)

func startControl(t *testing.T, b *testBalancer) *ControlServer {
	t.Helper()
	return startControlTimes(t, b, defaultControlTimes, peerUID, os.Geteuid())
}

// startControlTimeout serves the control socket with every per-client
// time set to timeout.
func startControlTimeout(t *testing.T, b *testBalancer, timeout time.Duration) *ControlServer {
	t.Helper()
	return startControlTimes(t, b, controlTimes{requestLine: timeout, exchange: timeout, full: timeout, write: timeout}, peerUID, os.Geteuid())
}

// startControlTimes serves the control socket with the given times, peer
// check and balancer's user.
func startControlTimes(t *testing.T, b *testBalancer, times controlTimes, peer func(*net.UnixConn) (int, error), self int) *ControlServer {
	t.Helper()
	dir := t.TempDir()
	s, err := listenControl(filepath.Join(dir, "control"), b.dir, b.in, quietLog(), times, peer, self)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestControlServesSnapshotsAndLevel(t *testing.T) {
	b := startBalancer(t, quietLog())
	s := startControl(t, b)
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %v, want a socket with 0600", fi.Mode())
	}
	from := clientAddr(0)
	query(t, "udp", from, b.udp.Port())
	snap, err := view.FetchSnapshot(s.Path(), true, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Remotes) != 1 || snap.Remotes[0].Addr != netip.MustParseAddr(from) || snap.Balancer.UDPAnswered != 1 {
		t.Errorf("snapshot %v, remotes %+v", snap, snap.Remotes)
	}
	sum, err := view.FetchSnapshot(s.Path(), false, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Remotes != nil || sum.Balancer.Remotes != 1 {
		t.Errorf("summary lists remotes %v or counts %d", sum.Remotes, sum.Balancer.Remotes)
	}
	if _, err := view.Request(s.Path(), "loglevel", 5*time.Second); err == nil || !strings.Contains(err.Error(), "no run-time log level") {
		t.Errorf("loglevel without a LogLevel: %v", err)
	}
	for _, bad := range []string{"", "snapshot please", "::walk", "summary x"} {
		_, err := view.Request(s.Path(), bad, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), requestHelp) {
			t.Errorf("request %q: %v, want the list of requests", bad, err)
		}
	}
}

func TestControlPathInsideBackendDirRefused(t *testing.T) {
	b := startBalancer(t, quietLog())
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(b.dir, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(b.dir, "control"), filepath.Join(link, "control"), filepath.Join(b.dir, "sub", "..", "control")} {
		if _, err := ListenControl(p, b.dir, b.in, quietLog()); err == nil || !strings.Contains(err.Error(), "inside the backend socket directory") {
			t.Errorf("ListenControl(%s): %v", p, err)
		}
	}
	if err := CheckControlPath(filepath.Join(filepath.Dir(b.dir), "control"), b.dir); err != nil {
		t.Errorf("a sibling of the directory refused: %v", err)
	}
}

func TestControlStaleSocketReplacedLiveOneNot(t *testing.T) {
	b := startBalancer(t, quietLog())
	s := startControl(t, b)
	if _, err := ListenControl(s.Path(), b.dir, b.in, quietLog()); err == nil || !strings.Contains(err.Error(), "another process is serving it") {
		t.Errorf("second server on a live socket: %v", err)
	}
	regular := filepath.Join(t.TempDir(), "file")
	os.WriteFile(regular, nil, 0o600)
	if _, err := ListenControl(regular, b.dir, b.in, quietLog()); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a regular file in the way: %v", err)
	}
}

// nobodyUID is the user the peer-check tests run their client as.
const nobodyUID = 65534

// TestControlHelperClient is not a test: it is the client that
// TestControlRefusesOtherUsers runs as nobody, in a copy of this binary.
func TestControlHelperClient(t *testing.T) {
	path := os.Getenv("MDB_TEST_CONTROL_CLIENT")
	if path == "" {
		t.Skip("helper process only")
	}
	r, err := view.Request(path, "summary", 5*time.Second)
	if err != nil {
		os.Stdout.WriteString("ERROR: " + err.Error() + "\n")
		os.Exit(3)
	}
	os.Stdout.WriteString("SERVED " + r.Snapshot.String() + "\n")
	os.Exit(0)
}

func runAsNobody(t *testing.T, socket string) (string, error) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test runs its client as nobody and needs root")
		}
		t.Skip("needs root to run a client as nobody")
	}
	dir, err := os.MkdirTemp("", "mdb-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, "mdb.test")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(exe, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestControlHelperClient$")
	cmd.Env = append(os.Environ(), "MDB_TEST_CONTROL_CLIENT="+socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID, Gid: nobodyUID}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestControlRefusesOtherUsers(t *testing.T) {
	b := startBalancer(t, quietLog())
	dir, err := os.MkdirTemp("", "mdb-control-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	s, err := ListenControl(filepath.Join(dir, "control"), b.dir, b.in, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// With the socket's own mode, nobody cannot even connect.
	out, err := runAsNobody(t, s.Path())
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("nobody with the socket at 0600: %v\n%s", err, out)
	}
	// With the mode opened up (a mistake), the peer check still refuses.
	os.Chmod(s.Path(), 0o666)
	out, err = runAsNobody(t, s.Path())
	if err == nil || !strings.Contains(out, "ERROR: permission denied: only root and the balancer's user are served") {
		t.Errorf("nobody with the socket at 0666: %v\n%s", err, out)
	}
	// root is served.
	if _, err := view.FetchSnapshot(s.Path(), false, 5*time.Second); err != nil {
		t.Errorf("root refused: %v", err)
	}
}

// The peer check as a rule: root and the balancer's own user are served,
// whoever the balancer runs as; anyone else, or a peer whose credentials
// could not be read, is refused. (TestControlRefusesOtherUsers checks the
// same through a real socket, as root serving root and nobody.)
func TestControlAdmitsRootAndItsOwnUser(t *testing.T) {
	const nobody, operator = 65534, 1000
	errCred := errors.New("getsockopt SO_PEERCRED: bad file descriptor")
	for _, c := range []struct {
		name     string
		uid      int
		err      error
		self     int
		admitted bool
	}{
		{"root, balancer running as nobody", 0, nil, nobody, true},
		{"nobody, balancer running as nobody", nobody, nil, nobody, true},
		{"another user, balancer running as nobody", operator, nil, nobody, false},
		{"root, balancer running as root", 0, nil, 0, true},
		{"nobody, balancer running as root", nobody, nil, 0, false},
		{"nobody, balancer running as operator", nobody, nil, operator, false},
		{"the balancer's user, balancer running as operator", operator, nil, operator, true},
		{"credentials unreadable (uid -1)", -1, errCred, nobody, false},
		{"credentials unreadable, uid as root's", 0, errCred, nobody, false},
		{"credentials unreadable, uid as the balancer's", nobody, errCred, nobody, false},
	} {
		if got := admitted(c.uid, c.err, c.self); got != c.admitted {
			t.Errorf("%s: admitted(%d, %v, %d) = %v, want %v", c.name, c.uid, c.err, c.self, got, c.admitted)
		}
	}
}

// Bad clients hold their connections open while DNS queries are asked and
// answered: none of them slows the loop, and each is cut off by the
// deadline (a short one here, given as a parameter).
func TestControlBadClientsDoNotDelayDNS(t *testing.T) {
	const hold = time.Second // each client's whole exchange
	b := startBalancer(t, quietLog())
	s := startControlTimeout(t, b, hold)

	silent, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	endless, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer endless.Close()
	endlessErr := make(chan error, 1)
	go func() {
		chunk := []byte(strings.Repeat("x", 4096))
		for {
			if _, err := endless.Write(chunk); err != nil {
				endlessErr <- err
				return
			}
		}
	}()

	// A slow reader asks for a snapshot of many remotes (3000 put in the
	// table, 10.0.0.0 up: more than the socket buffers hold) and reads
	// nothing.
	looptest.OnLoop(t, b.run.Loop, func() {
		for i := range uint32(3000) {
			b.table.HeardFrom(0x0a000000 + i)
		}
	})
	slow, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	slow.(*net.UnixConn).SetReadBuffer(1)
	io.WriteString(slow, "snapshot\n")

	// DNS keeps being answered meanwhile; each query is bounded by the
	// client's own 5 s timeout, far below the bad clients' hold times
	// summed over 20 queries.
	start := time.Now()
	for range 20 {
		query(t, "udp", clientAddr(0), b.udp.Port())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("20 queries took %v with bad control clients connected", d)
	}

	// The endless line got its answer (an error) or was cut off.
	buf := make([]byte, 512)
	endless.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _ := endless.Read(buf)
	if n > 0 && !strings.Contains(string(buf[:n]), "request line longer than 1024 bytes") {
		t.Errorf("endless line answered %q", buf[:n])
	}
	select {
	case <-endlessErr:
	case <-time.After(10 * time.Second):
		t.Error("the endless writer was never cut off")
	}
	// The silent client is closed at its deadline.
	silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err = silent.Read(buf)
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("silent client: read %q, %v; want EOF after the deadline", buf[:n], err)
	}
	// The slow reader got part of its snapshot at most: it was cut off.
	// Its answer is read only once the server has let go of every
	// client (reading earlier would let the server finish writing).
	deadline := time.Now().Add(hold + 10*time.Second)
	for len(s.all) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d control clients still served %v after their %v", len(s.all), hold+10*time.Second, hold)
		}
		time.Sleep(10 * time.Millisecond)
	}
	got, _ := io.ReadAll(slow)
	if json.Valid(got) {
		t.Errorf("the slow reader received its whole snapshot (%d bytes): it was not cut off", len(got))
	}
	// And the server still serves, full snapshots included.
	if _, err := view.FetchSnapshot(s.Path(), false, 5*time.Second); err != nil {
		t.Errorf("after the bad clients: %v", err)
	}
	if snap, err := view.FetchSnapshot(s.Path(), true, 15*time.Second); err != nil || len(snap.Remotes) != 3001 {
		t.Errorf("full snapshot after the bad clients: %v", err)
	}
}

func TestControlBoundsConcurrentClients(t *testing.T) {
	b := startBalancer(t, quietLog())
	s := startControl(t, b)
	var held []net.Conn
	for i := 0; i < maxControlClients; i++ {
		c, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := view.Request(s.Path(), "summary", 5*time.Second)
		if err != nil && strings.Contains(err.Error(), "busy: 8 clients") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ninth client: %v, want busy", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range held {
		c.Close()
	}
	held = nil
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, err := view.FetchSnapshot(s.Path(), false, 5*time.Second); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("after the held clients left: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReadLineBounds(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"snapshot\n", "snapshot", ""},
		{"snapshot\r\nmore", "snapshot", ""},
		{"summary", "summary", ""},
		{"", "", "no request"},
		{strings.Repeat("a", 1024) + "\n", strings.Repeat("a", 1024), ""},
		{strings.Repeat("a", 1025) + "\n", "", "longer than 1024"},
		{strings.Repeat("a", 5000), "", "longer than 1024"},
	} {
		got, err := readLine(strings.NewReader(c.in), 1024)
		if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
			t.Errorf("readLine(%.20q...) = %q, %v; want %q, %q", c.in, got, err, c.want, c.err)
		}
	}
}

// Silent clients are cut off at the request line's deadline (1 s), so
// eight of them keep the operator out for about that long, not for the
// whole exchange's 10 s.
func TestControlSilentClientsCutOffAtRequestLine(t *testing.T) {
	b := startBalancer(t, quietLog())
	s := startControl(t, b)
	start := time.Now()
	for i := 0; i < maxControlClients; i++ {
		c, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	for {
		_, err := view.FetchSnapshot(s.Path(), false, 5*time.Second)
		if err == nil {
			break
		}
		if !strings.Contains(err.Error(), "busy") || time.Since(start) > 5*time.Second {
			t.Fatalf("after %v: %v", time.Since(start), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(start); d < defaultControlTimes.requestLine || d > defaultControlTimes.requestLine+time.Second {
		t.Errorf("served %v after eight silent clients came, want just after the request line's %v", d, defaultControlTimes.requestLine)
	}
}

// A slot is kept for root: the balancer's own user (here uid 1000, the
// peer check told so) can hold all the others, and root is still served.
func TestControlKeepsASlotForRoot(t *testing.T) {
	b := startBalancer(t, quietLog())
	const self = 1000
	uids := make(chan int, 2*maxControlClients)
	times := defaultControlTimes
	times.requestLine = time.Minute // the held clients stay
	s := startControlTimes(t, b, times, func(*net.UnixConn) (int, error) { return <-uids, nil }, self)
	dial := func(uid int) net.Conn {
		uids <- uid
		c, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	for i := 0; i < maxControlClients-1; i++ {
		dial(self)
	}
	// One more of the balancer's user is refused as busy...
	c := dial(self)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var r view.Response
	if err := json.NewDecoder(c).Decode(&r); err != nil || r.Error != "busy: 7 clients already being served (of 8, one kept for root)" {
		t.Errorf("the eighth client not root: %+v, %v; want busy", r, err)
	}
	// ...and root is served in the slot kept for it.
	c = dial(0)
	io.WriteString(c, "summary\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	r = view.Response{}
	if err := json.NewDecoder(c).Decode(&r); err != nil || r.Snapshot == nil {
		t.Errorf("root beside seven held clients: %+v, %v", r, err)
	}
}
