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
	"strings"
	"syscall"
	"testing"
)

// records decodes the child's stdout, one JSON record a line.
func records(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("stdout line is not JSON: %q", line)
		}
		recs = append(recs, rec)
	}
	return recs
}

// checkListenFailure finds the one record with msg and checks its level
// and fields.
func checkListenFailure(t *testing.T, recs []map[string]any, msg string, port int) {
	t.Helper()
	var found []map[string]any
	for _, r := range recs {
		if r["msg"] == msg {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d records %q, want 1; log: %v", len(found), msg, recs)
	}
	r := found[0]
	want := map[string]any{
		"level":    float64(60),
		"address":  "127.0.0.1",
		"port":     strconv.Itoa(port),
		"errno":    float64(syscall.EADDRINUSE),
		"strerror": syscall.EADDRINUSE.Error(),
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%q: %s = %v, want %v (record %v)", msg, k, r[k], v, r)
		}
	}
}

func hasMsg(recs []map[string]any, msg string) bool {
	for _, r := range recs {
		if r["msg"] == msg {
			return true
		}
	}
	return false
}

func TestUDPBindFailureRecord(t *testing.T) {
	port := holdPort(t)
	status, stdout, _ := runBbal(t, nil, "-b", "127.0.0.1", "-p", strconv.Itoa(port), "-s", t.TempDir(), "-l", "debug")
	if status != 1 {
		t.Errorf("exit status %d, want 1", status)
	}
	recs := records(t, stdout)
	checkListenFailure(t, recs, msgUDPBind, port)
	if !hasMsg(recs, "opening UDP listen socket") {
		t.Errorf("no debug record \"opening UDP listen socket\"; log: %v", recs)
	}
	if hasMsg(recs, msgTCPListen) || hasMsg(recs, "listening for UDP packets") {
		t.Errorf("went on after the UDP bind failed; log: %v", recs)
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
	recs := records(t, stdout)
	if !hasMsg(recs, "listening for UDP packets") {
		t.Errorf("UDP was not bound first; log: %v", recs)
	}
	checkListenFailure(t, recs, msgTCPListen, port)
}
