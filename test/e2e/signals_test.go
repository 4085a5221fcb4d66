/*
 * End-to-end tests of the process's life cycle (issue 5): SIGHUP
 * rescans at once; SIGTERM closes the TCP listener and idle connections at
 * once, lets a busy TCP connection finish its message while UDP is still
 * answered, logs "exiting" and exits 0; a second SIGTERM exits 1
 * at once; a usage error is one line on stderr and exit 1.
 */

package e2e

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// SIGHUP makes the balancer read the socket directory at once, without
// waiting for the 5 s scan (the test runs with the default timings).
func TestSignalHUPRescans(t *testing.T) {
	SkipInShort(t)
	dir := SocketDir(t)
	StartMnameBackend(t, dir, "5301")
	bal := StartBalancer(t, BalancerConfig{SocketDir: dir})
	bal.WaitLog("backend socket established", map[string]any{"be_id": 5301}, 10*time.Second)

	StartMnameBackend(t, dir, "5302")
	bal.Signal(syscall.SIGHUP)
	start := time.Now()
	bal.WaitLog("backend socket established", map[string]any{"be_id": 5302}, 10*time.Second)
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("new backend established %v after SIGHUP; a rescan should be immediate", took)
	}
}

// SIGTERM is a lame-duck stop: the TCP listener closes at once, a busy
// connection (a message in progress) may still finish its message and gets
// its answer, UDP is answered throughout that drain, and once the busy
// connection has its answer the balancer closes it, logs "exiting" and
// exits 0.
func TestSignalTERMDrainsTCP(t *testing.T) {
	SkipInShort(t)
	bal, conn := balancerWithOpenTCP(t)
	udp := newUDPClient(t, bal, "127.0.0.1")
	udp.mustWhoami("5301")

	// One byte of the next message's length: the connection is busy.
	q := new(dns.Msg)
	q.SetQuestion("whoami.example.", dns.TypeTXT)
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	framed := binary.BigEndian.AppendUint16(nil, uint16(len(wire)))
	framed = append(framed, wire...)
	if _, err := conn.Write(framed[:1]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the balancer read it

	bal.Signal(syscall.SIGTERM)
	bal.WaitLog("shutting down", map[string]any{"tcp_connections": 1, "tcp_idle_closed": 0}, 5*time.Second)

	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp4", "127.0.0.1:"+strconv.Itoa(bal.Port), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("TCP listener still accepting after SIGTERM")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// UDP is answered throughout the drain, and the process stays.
	for i := 0; i < 10; i++ {
		udp.mustWhoami("5301")
		time.Sleep(50 * time.Millisecond)
	}
	if err := bal.Wait(10 * time.Millisecond); err == nil {
		t.Fatal("balancer exited while a TCP connection was busy")
	}

	// The busy connection finishes its message and gets its answer; then
	// the balancer closes it and exits.
	if _, err := conn.Write(framed[1:]); err != nil {
		t.Fatal(err)
	}
	readAnswerTCP(t, conn, q.Id)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if n, err := conn.Read(b[:]); n != 0 || err == nil {
		t.Fatalf("after its answer the drained connection read %d bytes, %v; want it closed", n, err)
	}
	if err := bal.Wait(10 * time.Second); err != nil {
		t.Fatalf("balancer after SIGTERM: %v", err)
	}
	last := bal.Records()[len(bal.Records())-1]
	if last.Msg() != "exiting" {
		t.Errorf("last record is %q, want \"exiting\"", last.Msg())
	}
	// Closed because it owed nothing more, not by the grace period.
	if r := bal.Find("closing TCP connections still open after the grace period", nil); len(r) != 0 {
		t.Errorf("the busy connection was closed by the grace period, not once answered: %v", r)
	}
}

// SIGTERM closes an idle TCP connection (one that owes its client nothing)
// at once, so the process does not wait for it (RFC 7766 6.2.3).
func TestSignalTERMClosesIdleTCP(t *testing.T) {
	SkipInShort(t)
	bal, conn := balancerWithOpenTCP(t)
	start := time.Now()
	bal.Signal(syscall.SIGTERM)
	bal.WaitLog("shutting down", map[string]any{"tcp_connections": 1, "tcp_idle_closed": 1}, 5*time.Second)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if n, err := conn.Read(b[:]); n != 0 || err == nil {
		t.Fatalf("idle connection read %d bytes, %v after SIGTERM; want it closed", n, err)
	}
	if err := bal.Wait(5 * time.Second); err != nil {
		t.Fatalf("balancer after SIGTERM: %v", err)
	}
	// The drain took no grace period: well under shutdownGrace (5 s).
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("exit took %v after SIGTERM with only an idle connection open", took)
	}
}

// A second SIGTERM during the grace period exits at once, with status 1.
// The open connection is busy (one byte of a message sent), so the first
// SIGTERM waits for it rather than closing it as idle.
func TestSignalSecondTERMExitsAtOnce(t *testing.T) {
	SkipInShort(t)
	bal, conn := balancerWithOpenTCP(t)
	if _, err := conn.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the balancer read it

	bal.Signal(syscall.SIGTERM)
	bal.WaitLog("shutting down", map[string]any{"tcp_idle_closed": 0}, 5*time.Second)
	start := time.Now()
	bal.Signal(syscall.SIGTERM)
	err := bal.Wait(3 * time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("second SIGTERM: got %v, want exit status 1", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("second SIGTERM took %v to end the process", took)
	}
	bal.WaitLog("second signal; exiting at once", nil, time.Second)
}

// A usage error is one line on stderr, exit status 1, nothing on stdout.
func TestUsageErrorExits1(t *testing.T) {
	SkipInShort(t)
	bin := BalancerBinary(t)
	cmd := exec.Command(bin, "-p", "53", "-l", "verbose", "-s", filepath.Join(t.TempDir()))
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var outLines, errLines []string
	for sc := bufio.NewScanner(stdout); sc.Scan(); {
		outLines = append(outLines, sc.Text())
	}
	for sc := bufio.NewScanner(stderr); sc.Scan(); {
		errLines = append(errLines, sc.Text())
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("bad level: got %v, want exit status 1", err)
	}
	if len(outLines) != 0 {
		t.Errorf("stdout not empty: %q", outLines)
	}
	if len(errLines) != 1 {
		t.Fatalf("stderr: %q", errLines)
	}
}

// balancerWithOpenTCP starts one node-mname backend and bbal, and returns
// a client TCP connection that has completed one exchange, so its proxy is
// established (it is closed at cleanup).
func balancerWithOpenTCP(t *testing.T) (*Balancer, net.Conn) {
	t.Helper()
	dir := SocketDir(t)
	StartMnameBackend(t, dir, "5301")
	bal := StartBalancer(t, BalancerConfig{SocketDir: dir})
	bal.WaitLog("backend socket established", nil, 10*time.Second)
	conn, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(bal.Port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	exchangeTCP(t, conn, "whoami.example.")
	return bal, conn
}

// exchangeTCP sends one A query over an open DNS-over-TCP connection and
// checks the answer.
func exchangeTCP(t *testing.T, conn net.Conn, name string) {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeTXT)
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(binary.BigEndian.AppendUint16(nil, uint16(len(wire)))); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(wire); err != nil {
		t.Fatal(err)
	}
	readAnswerTCP(t, conn, q.Id)
}

// readAnswerTCP reads one DNS-over-TCP answer with the given ID (and at
// least one answer record).
func readAnswerTCP(t *testing.T, conn net.Conn, id uint16) {
	t.Helper()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var lenbuf [2]byte
	if _, err := readFull(conn, lenbuf[:]); err != nil {
		t.Fatalf("reading answer length: %v", err)
	}
	buf := make([]byte, binary.BigEndian.Uint16(lenbuf[:]))
	if _, err := readFull(conn, buf); err != nil {
		t.Fatalf("reading answer: %v", err)
	}
	var m dns.Msg
	if err := m.Unpack(buf); err != nil {
		t.Fatal(err)
	}
	if m.Id != id || len(m.Answer) == 0 {
		t.Fatalf("bad answer: %v", &m)
	}
}

func readFull(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := c.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
