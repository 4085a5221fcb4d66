/*
The UDP path's trace records, as udp_proxy.c logs them (issue 9), from the
real bbal at -l trace with a real node-mname backend: a whoami query gives
"received UDP packet from remote" (remote_ip, remote_port, len),
"forwarding UDP packet to backend" on the backend's logger (be_id,
be_path), the answer's "inbound frame" (frame_type, backend.c) and, once the socket is drained, "ran out of UDP packets"
(packet_count); with the only backend killed, a new client's query gives
"could not find backend for remote" (remote_ip). All at trace (10).
*/

package e2e

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"

	"github.com/joyent/mname-balancer/backend"
)

func TestUDPTraceRecords(t *testing.T) {
	SkipInShort(t)
	dir := SocketDir(t)
	peer := StartMnameBackend(t, dir, "5301")
	bal := StartBalancer(t, BalancerConfig{SocketDir: dir, TimeScale: udpTimeScale, LogLevel: "trace"})
	bal.WaitLog("backend socket established", map[string]any{"be_id": "5301"}, udpEventTimeout)

	cl := newUDPClient(t, bal, udpClientIP(0))
	cl.mustWhoami("5301")
	_, portText, err := net.SplitHostPort(cl.Addr())
	if err != nil {
		t.Fatal(err)
	}
	client := map[string]any{"level": 10, "remote_ip": cl.IP(), "remote_port": portText}
	rec := bal.WaitLog("received UDP packet from remote", client, udpEventTimeout)
	if rec.Num("len") <= 0 {
		t.Errorf("received record without a length: %v", rec)
	}
	fwd := map[string]any{"be_id": "5301", "be_path": filepath.Join(dir, "5301")}
	for k, v := range client {
		fwd[k] = v
	}
	bal.WaitLog("forwarding UDP packet to backend", fwd, udpEventTimeout)
	// The answer's frame, as backend.c logs every frame from a backend.
	bal.WaitLog("inbound frame", map[string]any{"level": 10, "be_id": "5301", "frame_type": uint32(backend.FrameOutboundUDP)}, udpEventTimeout)
	drained := bal.WaitLog("ran out of UDP packets", map[string]any{"level": 10}, udpEventTimeout)
	if _, ok := drained["packet_count"]; !ok {
		t.Errorf("ran out of UDP packets without packet_count: %v", drained)
	}

	peer.Kill()
	bal.WaitLog("backend socket EOF", map[string]any{"be_id": "5301"}, udpEventTimeout)
	lone := newUDPClient(t, bal, udpClientIP(1))
	q := new(dns.Msg)
	q.SetQuestion("whoami.", dns.TypeTXT)
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if err := lone.send(wire); err != nil {
		t.Fatal(err)
	}
	bal.WaitLog("could not find backend for remote", map[string]any{"level": 10, "remote_ip": lone.IP()}, udpEventTimeout)
}
