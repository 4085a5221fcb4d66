//go:build linux

/*
The TCP proxy's step-by-step records, as tcp_proxy.c logs them (issue 9),
from the real bbal at -l trace with a real node-mname backend: one client
connection that asks whoami and closes its write side gives, on the
proxy's logger (backend, conn_id, remote_ip, remote_port), "connecting to
backend", "TCP frontend data", "forwarded bytes from front to back"
(count), "backend reports TCP OK", "TCP backend data", "forwarded bytes
from back to front" (count), "TCP stream EOF" for front and back (which),
all at trace (10), then "frontend connection closed" and "backend
connection closed" at debug (20).
*/

package e2e

import (
	"net"
	"strconv"
	"testing"
	"time"
)

func TestTCPTraceRecords(t *testing.T) {
	SkipInShort(t)
	dir := SocketDir(t)
	StartMnameBackend(t, dir, "5301")
	bal := StartBalancer(t, BalancerConfig{SocketDir: dir, LogLevel: "trace"})
	bal.WaitLog("backend socket established", map[string]any{"be_id": "5301"}, 20*time.Second)

	c := tcpDial(t, bal, "127.0.0.2", nil)
	if id, _ := tcpAskWhoami(t, c, 7); id != "5301" {
		t.Fatalf("whoami answered by %s, want 5301", id)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_, port, err := net.SplitHostPort(c.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn := bal.WaitLog("inbound TCP connection", map[string]any{"remote_ip": "127.0.0.2", "remote_port": port}, tcpIOTimeout)
	proxy := map[string]any{"backend": "5301", "be_id": "5301", "conn_id": strconv.Itoa(int(conn.Num("conn_id"))),
		"remote_ip": "127.0.0.2", "remote_port": port}
	with := func(extra map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range proxy {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	trace := map[string]any{"level": 10}
	for _, msg := range []string{"connecting to backend", "TCP frontend data", "backend reports TCP OK", "TCP backend data"} {
		bal.WaitLog(msg, with(trace), tcpIOTimeout)
	}
	for _, msg := range []string{"forwarded bytes from front to back", "forwarded bytes from back to front"} {
		if r := bal.WaitLog(msg, with(trace), tcpIOTimeout); r.Num("count") <= 0 {
			t.Errorf("%q: count %v, want the bytes forwarded", msg, r["count"])
		}
	}
	bal.WaitLog("TCP stream EOF", with(map[string]any{"level": 10, "which": "front"}), tcpIOTimeout)
	bal.WaitLog("TCP stream EOF", with(map[string]any{"level": 10, "which": "back"}), tcpIOTimeout)
	bal.WaitLog("frontend connection closed", with(map[string]any{"level": 20}), tcpIOTimeout)
	bal.WaitLog("backend connection closed", with(map[string]any{"level": 20}), tcpIOTimeout)
	bal.WaitLog("proxy connection finished", with(nil), tcpIOTimeout)
}
