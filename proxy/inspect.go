/*
 * Read-only views of the proxies for the operator's tools (package mdb):
 * the balancer-wide UDP and TCP counters and the open TCP proxies. The
 * counters are plain integers bumped on the loop where each event happens
 * (nothing else is done on the packet path); these accessors copy them and
 * must be called on the loop (Post first).
 */

package proxy

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/joyent/mname-balancer/evport"
)

// UDPStats count the UDP path's datagrams since start.
type UDPStats struct {
	Received        uint64 // client datagrams read
	Forwarded       uint64 // queued to a backend
	Answered        uint64 // backend answers sent to clients
	DropOversize    uint64 // client datagrams over 1500 bytes
	DropNoBackend   uint64 // no backend was usable (ok and not ejected)
	DropRateCapped  uint64 // the client was over its query rate cap (--udp-client-rate)
	DropStuck       uint64 // the backend's session could not take it, nor any other's
	ServedUntracked uint64 // forwarded for clients a full remote table could not add (guard.go)
	Spilled         uint64 // forwarded to another backend because the client's was full (counted in Forwarded too)
	DropSendError   uint64 // answers the UDP socket would not send
	DropNotClient   uint64 // answers to an address not in the remote table, nor to an untracked client's outstanding query (reflection guard)
}

// Stats copies the UDP counters.
func (u *UDP) Stats() UDPStats { return u.stats }

// TCP.Stats and TCPStats are in tcp.go, next to the events they count.

// ProxyInfo is a copy of one open TCP proxy.
type ProxyInfo struct {
	Object    uintptr   // the proxy's address: a stable handle
	ID        uint64    // conn_id in the log records
	Addr      uint32    // client address, host order
	Port      uint16    // client port
	Backend   uint32    // backend ID
	State     string    // "handshake" (awaiting INBOUND_TCP_OK), "established" or "closing"
	ToBackend uint64    // bytes forwarded client -> backend
	ToClient  uint64    // bytes forwarded backend -> client
	Started   time.Time // accepted at
}

// AppendProxies appends a copy of every open TCP proxy, in no particular
// order.
func (t *TCP) AppendProxies(dst []ProxyInfo) []ProxyInfo {
	for p := range t.live {
		state := "handshake"
		switch {
		case p.clientEOF || p.serverEOF:
			state = "closing"
		case p.established:
			state = "established"
		}
		dst = append(dst, ProxyInfo{
			Object: uintptr(unsafe.Pointer(p)), ID: p.id, Addr: p.addr, Port: p.port, Backend: p.backend.ID(), State: state,
			ToBackend: p.toBackend, ToClient: p.toClient, Started: p.started,
		})
	}
	return dst
}

// NameTimers calls name for each timer the open proxies own, with what it
// is about (mdb's to_arg).
func (t *TCP) NameTimers(name func(t *evport.Timer, arg string)) {
	for p := range t.live {
		if p.okTimer != nil {
			name(p.okTimer, "TCP connection "+strconv.FormatUint(p.id, 10))
		}
		if p.deadline != nil {
			name(p.deadline, "TCP connection "+strconv.FormatUint(p.id, 10)+" deadline")
		}
	}
}
