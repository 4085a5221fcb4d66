/*
 * The start-up records for listening sockets that cannot be bound
 * (listen.go): the real main() in a child process (runBbal), with the port
 * it asks for taken by the test, must log the C balancer's fatal record
 * with address, port, errno and strerror, say the same in one line on
 * stderr, and exit 1.
 *
 *	TCP taken: "failed to create TCP listen socket", and no UDP socket
 *	           (TCP is set up first, so a second balancer on a busy port
 *	           never shares the first one's UDP traffic)
 *	UDP taken, TCP free: "failed to bind UDP listen socket", after
 *	           "listening for TCP packets"
 */

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/joyent/mname-balancer/bunyan/bunyantest"
	"github.com/joyent/mname-balancer/proxy"
	"github.com/joyent/mname-balancer/version"
)

// records holds the child's stdout, one JSON record a line.
func records(stdout string) *bunyantest.Buffer {
	b := new(bunyantest.Buffer)
	b.Write([]byte(stdout))
	return b
}

// checkListenFailure finds the one record with msg and checks its level
// and fields.
func checkListenFailure(t *testing.T, log *bunyantest.Buffer, msg string, port int) {
	t.Helper()
	found := log.Find(t, msg)
	if len(found) != 1 {
		t.Fatalf("%d records %q, want 1; log: %v", len(found), msg, log.Records(t))
	}
	r := found[0]
	want := map[string]any{
		"level":    json.Number("60"),
		"address":  "127.0.0.1",
		"port":     strconv.Itoa(port),
		"errno":    json.Number(strconv.Itoa(int(syscall.EADDRINUSE))),
		"strerror": syscall.EADDRINUSE.Error(),
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%q: %s = %v, want %v (record %v)", msg, k, r[k], v, r)
		}
	}
}

// checkStderr checks that stderr is one line saying msg, the address and
// the cause, with the hint for a port in use.
func checkStderr(t *testing.T, stderr, msg string, port int) {
	t.Helper()
	want := "bbal: " + msg + " 127.0.0.1:" + strconv.Itoa(port) + ": "
	if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") ||
		!strings.Contains(stderr, syscall.EADDRINUSE.Error()) || !strings.Contains(stderr, "perhaps another bbal") {
		t.Errorf("stderr %q, want one line starting %q with the cause and the hint", stderr, want)
	}
}

func TestTCPListenFailureRecord(t *testing.T) {
	port := holdPort(t)
	status, stdout, stderr := runBbal(t, nil, "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-s", t.TempDir(), "-l", "debug")
	if status != 1 {
		t.Errorf("exit status %d, want 1", status)
	}
	log := records(stdout)
	checkListenFailure(t, log, msgTCPListen, port)
	checkStderr(t, stderr, msgTCPListen, port)
	// Which build failed: the "starting up" record says.
	if up := log.Find(t, "starting up"); len(up) != 1 || up[0]["version"] != version.String() || up[0]["go_version"] != runtime.Version() {
		t.Errorf("starting up: %v, want version %q and go_version %q", up, version.String(), runtime.Version())
	}
	if len(log.Find(t, "opening UDP listen socket")) > 0 || len(log.Find(t, "listening for UDP packets")) > 0 {
		t.Errorf("went on to UDP after the TCP listener failed; log: %v", log.Records(t))
	}
}

func TestUDPBindFailureRecord(t *testing.T) {
	// Only UDP is taken, without SO_REUSEADDR (Go sets none on UDP), so
	// bbal's bind fails although it sets it.
	var port int
	for range 20 {
		udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = udp.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			udp.Close()
			continue
		}
		ln.Close() // TCP is free
		t.Cleanup(func() { udp.Close() })
		break
	}
	status, stdout, stderr := runBbal(t, nil, "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-s", t.TempDir(), "-l", "debug")
	if status != 1 {
		t.Errorf("exit status %d, want 1", status)
	}
	log := records(stdout)
	if len(log.Find(t, "listening for TCP packets")) == 0 || len(log.Find(t, "opening UDP listen socket")) == 0 {
		t.Errorf("TCP was not set up first; log: %v", log.Records(t))
	}
	checkListenFailure(t, log, msgUDPBind, port)
	checkStderr(t, stderr, msgUDPBind, port)
}

func TestUDPFailureMsgBySocketStep(t *testing.T) {
	for step, want := range map[proxy.SocketStep]string{
		proxy.StepSocket: msgUDPSocket, proxy.StepReuseAddr: msgUDPReuseAddr, proxy.StepBind: msgUDPBind,
	} {
		err := fmt.Errorf("UDP socket: %w", &proxy.SocketError{Step: step, Err: syscall.EMFILE})
		if got := udpFailureMsg(err); got != want {
			t.Errorf("step %v: %q, want %q", step, got, want)
		}
	}
	if got := udpFailureMsg(errors.New("arming the socket")); got != msgUDPBind {
		t.Errorf("a failure after the steps: %q, want %q", got, msgUDPBind)
	}
}

// The hint for a port under 1024 bound without the privilege (EACCES), as
// Binder's manifest grants it; nothing for a port above, or another error.
func TestListenHint(t *testing.T) {
	eacces := fmt.Errorf("TCP socket: %w", &proxy.SocketError{Step: proxy.StepBind, Err: syscall.EACCES})
	if h := listenHint(netip.MustParseAddrPort("0.0.0.0:53"), eacces); !strings.Contains(h, "port 53 is under 1024") ||
		!strings.Contains(h, "net_privaddr") || !strings.Contains(h, "root") {
		t.Errorf("EACCES on port 53: hint %q", h)
	}
	if h := listenHint(netip.MustParseAddrPort("0.0.0.0:5353"), eacces); h != "" {
		t.Errorf("EACCES on port 5353: hint %q, want none", h)
	}
	if h := listenHint(netip.MustParseAddrPort("0.0.0.0:53"), syscall.EMFILE); h != "" {
		t.Errorf("EMFILE: hint %q, want none", h)
	}
}
