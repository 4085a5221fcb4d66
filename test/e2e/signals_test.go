/*
 * End-to-end tests of the process's life cycle (SPEC §2, issue 5): SIGHUP
 * rescans at once; SIGTERM closes the listeners, lets an open TCP
 * connection finish, logs "exiting" and exits 0; a second SIGTERM exits 1
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
// waiting for the 5 s scan (the test runs with SPEC's timings).
func TestSignalHUPRescans(t *testing.T) {
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

// SIGTERM: the listeners close at once, an open TCP connection may still
// finish its exchange, then the process logs "exiting" and exits 0.
func TestSignalTERMDrainsTCP(t *testing.T) {
	bal, conn := balancerWithOpenTCP(t)

	bal.Signal(syscall.SIGTERM)
	bal.WaitLog("shutting down", map[string]any{"tcp_connections": 1}, 5*time.Second)

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

	// The open connection still works during the grace period.
	exchangeTCP(t, conn, "whoami.example.")
	if err := bal.Wait(500 * time.Millisecond); err == nil {
		t.Fatal("balancer exited while a TCP connection was still open")
	}
	conn.Close()
	if err := bal.Wait(10 * time.Second); err != nil {
		t.Fatalf("balancer after SIGTERM: %v", err)
	}
	last := bal.Records()[len(bal.Records())-1]
	if last.Msg() != "exiting" {
		t.Errorf("last record is %q, want \"exiting\"", last.Msg())
	}
}

// A second SIGTERM during the grace period exits at once, with status 1.
func TestSignalSecondTERMExitsAtOnce(t *testing.T) {
	bal, _ := balancerWithOpenTCP(t)

	bal.Signal(syscall.SIGTERM)
	bal.WaitLog("shutting down", nil, 5*time.Second)
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
	if m.Id != q.Id || len(m.Answer) == 0 {
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
