/*
 * The start-up records for listening sockets that cannot be bound
 * (listen.go): the real main() in a child process (runBbal), with the port
 * it asks for taken by the test, must log the C balancer's fatal record
 * with address, port, errno and strerror, and exit 1.
 *
 *	UDP taken: "failed to bind UDP listen socket" (nothing about TCP: the
 *	           C program binds UDP first and stops there)
 *	TCP taken, UDP free: "failed to create TCP listen socket", after
 *	           "listening for UDP packets"
 */

package main

import (
	"encoding/json"
	"net"
	"strconv"
	"syscall"
	"testing"

	"github.com/joyent/mname-balancer/bunyan/bunyantest"
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

func TestUDPBindFailureRecord(t *testing.T) {
	port := holdPort(t)
	status, stdout, _ := runBbal(t, nil, "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-s", t.TempDir(), "-l", "debug")
	if status != 1 {
		t.Errorf("exit status %d, want 1", status)
	}
	log := records(stdout)
	checkListenFailure(t, log, msgUDPBind, port)
	if len(log.Find(t, "opening UDP listen socket")) == 0 {
		t.Errorf("no debug record \"opening UDP listen socket\"; log: %v", log.Records(t))
	}
	if len(log.Find(t, msgTCPListen)) > 0 || len(log.Find(t, "listening for UDP packets")) > 0 {
		t.Errorf("went on after the UDP bind failed; log: %v", log.Records(t))
	}
}

func TestTCPListenFailureRecord(t *testing.T) {
	// Only TCP is taken: a listener (Go sets SO_REUSEADDR on it, and Linux
	// still refuses a second bind to a listening port).
	var port int
	for range 20 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		udp, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			ln.Close()
			continue
		}
		udp.Close() // UDP is free
		t.Cleanup(func() { ln.Close() })
		break
	}
	status, stdout, _ := runBbal(t, nil, "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-s", t.TempDir())
	if status != 1 {
		t.Errorf("exit status %d, want 1", status)
	}
	log := records(stdout)
	if len(log.Find(t, "listening for UDP packets")) == 0 {
		t.Errorf("UDP was not bound first; log: %v", log.Records(t))
	}
	checkListenFailure(t, log, msgTCPListen, port)
}
