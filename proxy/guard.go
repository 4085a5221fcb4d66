/*
 * What client input and backends may make the UDP path do, bounded
 * (issue 12):
 *
 * The reflection guard: a backend's OUTBOUND_UDP answer is sent only to a
 * client address in the remote table (remote.Table.Known, one map lookup,
 * no allocation). Anything else, an answer to an address that never asked,
 * would make the balancer a reflector for whoever controls a backend or
 * its socket; it is dropped, counted (UDPStats.DropNotClient) and logged
 * at a limited rate. A real client is always in the table while its
 * answer can come: it was looked up (and so marked seen) when its query
 * was forwarded, a full table never evicts a remote seen within
 * remote.Timings.EvictAfter (10 s), and expiry takes only remotes silent
 * for minutes. An answer the backend holds longer than that, in a table
 * full and churning at once, may be dropped; the client has given up on it
 * long before (DNS clients retry within a few seconds).
 *
 * A new client that a table full of active remotes cannot add is served
 * untracked (remote.Remote.Tracked false): each of its forwarded queries
 * is noted, by address, port and DNS ID, in a fixed array of
 * untrackedSlots (direct-mapped by a hash; a newer query overwrites what
 * was in its slot), and an answer to that address and port with that ID
 * within untrackedTTL passes the guard once, clearing the slot. A spoofer's queries can only
 * overwrite slots, never grow the record, and each allows one answer to
 * the address that sent it; a real client's slot is lost only if another
 * query lands on it before its answer comes (at 20,000 new sources a
 * second, about 1.2 times a second per slot, against answers within
 * milliseconds).
 *
 * Client-triggered records: the oversized-datagram warning and the
 * guard's drop record each go through a bunyan.RateLimiter, and so do a
 * failing receive (not expected of a bound socket, but it would repeat
 * every turn) and a failing send; the process's bunyan.Limits, which the
 * limiters join, writes the summaries of what they suppressed.
 */

package proxy

import (
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/bunyan"
)

// Messages of the rate-limited UDP records.
const (
	msgOversized  = "dropping oversized UDP packet" // udp_proxy.c, warn, len
	msgNotClient  = "dropping UDP answer to an address that sent no query"
	msgRecvFailed = "UDP receive failed"
	msgSendFailed = "outbound UDP packet error" // backend.c, error, on the backend's logger
)

// udpLimits holds the UDP path's rate-limited records.
type udpLimits struct {
	oversized, notClient, recvFailed, sendFailed *bunyan.RateLimiter
}

// init makes the limiters, in the group that writes their summaries.
func (l *udpLimits) init(log zerolog.Logger, limits *bunyan.Limits) {
	l.oversized = limits.New(log, zerolog.WarnLevel, msgOversized, bunyan.DefaultRate)
	l.notClient = limits.New(log, zerolog.WarnLevel, msgNotClient, bunyan.DefaultRate)
	l.recvFailed = limits.New(log, zerolog.WarnLevel, msgRecvFailed, bunyan.DefaultRate)
	l.sendFailed = limits.New(log, zerolog.ErrorLevel, msgSendFailed,
		bunyan.Rate{Every: sendErrorEvery, Burst: 1, SummaryEvery: sendErrorEvery})
}

// dropOversized counts and logs a client datagram over udpMaxSize.
func (u *UDP) dropOversized(addr uint32, port uint16, n int) {
	u.stats.DropOversize++
	if u.limits.oversized.Allow(u.loop.Now()) {
		bunyan.IPv4(u.log.Warn(), "remote_ip", addr).Uint16("remote_port", port).
			Int("len", n).Int("max", udpMaxSize).Msg(msgOversized)
	}
}

// answerAllowed is the reflection guard (file comment): whether an answer
// may go to addr; if not, it is counted and logged.
func (u *UDP) answerAllowed(addr uint32, port uint16, msg []byte) bool {
	if u.table.Known(addr) || u.untracked.take(addr, port, msg, u.loop.Now().UnixNano()) {
		return true
	}
	n := len(msg)
	u.stats.DropNotClient++
	if u.limits.notClient.Allow(u.loop.Now()) {
		bunyan.IPv4(u.log.Warn(), "remote_ip", addr).Uint16("remote_port", port).Int("len", n).Msg(msgNotClient)
	}
	return false
}

// The record of untracked clients' outstanding queries (file comment).
const (
	untrackedBits  = 14
	untrackedSlots = 1 << untrackedBits // 16 bytes each: 256 KiB
	untrackedTTL   = int64(5 * time.Second)
)

type untrackedQuery struct {
	addr uint32
	port uint16
	id   uint16 // the DNS message ID
	at   int64  // loop time of the query (Unix ns); 0: free
}

type untracked [untrackedSlots]untrackedQuery

// untrackedSlot is the query's slot (Fibonacci hashing: the top
// untrackedBits bits of the product).
func untrackedSlot(addr uint32, port, id uint16) uint32 {
	return ((addr ^ uint32(port)<<16 ^ uint32(id)) * 0x9E3779B1) >> (32 - untrackedBits)
}

// dnsID is a DNS message's ID (0 for a message too short to have one).
func dnsID(msg []byte) uint16 {
	if len(msg) < 2 {
		return 0
	}
	return uint16(msg[0])<<8 | uint16(msg[1])
}

// note records a query msg from addr:port forwarded at now.
func (u *untracked) note(addr uint32, port uint16, msg []byte, now int64) {
	id := dnsID(msg)
	u[untrackedSlot(addr, port, id)] = untrackedQuery{addr: addr, port: port, id: id, at: now}
}

// take reports whether the query answered by msg, to addr:port, is
// outstanding (noted within untrackedTTL), and clears it: one answer per
// query.
func (u *untracked) take(addr uint32, port uint16, msg []byte, now int64) bool {
	id := dnsID(msg)
	q := &u[untrackedSlot(addr, port, id)]
	if q.at == 0 || q.addr != addr || q.port != port || q.id != id || now-q.at >= untrackedTTL {
		return false
	}
	q.at = 0
	return true
}
