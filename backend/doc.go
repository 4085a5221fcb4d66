// Package backend is the balancer's side of its backends: the node-mname
// processes behind the socket files of one directory, each reached over a
// standing AF_UNIX control session that carries every UDP query
// (INBOUND_UDP), every answer (OUTBOUND_UDP) and the heartbeats. It is the
// C balancer's backend.c; the frame codec (frame.go) is the wire format.
//
// # Model
//
// A Set holds every Backend ever found in the socket directory (a scan at
// start, every Timings.Scan and on Rescan), selects usable ones round-robin and
// hands each OUTBOUND_UDP answer to the sink the daemon installs. Backends
// are never forgotten: a socket file that disappears marks its backend
// removed, and a scan that finds it again reconnects at once. Everything
// here runs on the event loop, without locks.
//
// # States
//
// A Backend's state is one State value, changed only by the transition table
// in state.go, each state with at most one timer:
//
//	new           found by a scan, about to connect
//	connecting    session dialled, CLIENT_HELLO queued; SERVER_HELLO is
//	              awaited for Timings.ConnectTimeout
//	ok            SERVER_HELLO seen: traffic flows; a CLIENT_HEARTBEAT goes
//	              out Timings.HeartbeatInterval after the hello or the last
//	              reply
//	heartbeat     ok, with a CLIENT_HEARTBEAT outstanding: its reply must
//	              come within Timings.HeartbeatTimeout (ProbeTimeout for a
//	              probe), or at least an answer to a query: a backend
//	              whose reply is queued behind a backlog of queries it is
//	              still answering is waited for again (ProbeTimeout at a
//	              time), not faulted
//	reconnecting  faulted: no session; the reconnect timer runs
//	removed       the socket file is gone: no session, no timer, until a
//	              scan finds it again
//	stopped       the Set was stopped (shutdown)
//
// Ejection (below) is not a State but a flag beside it, changed only by
// health.go's eject, restore and endEjection (which enter calls on
// leaving ok): it applies to ok and heartbeat alike, since the heartbeats
// go on while ejected.
//
// A fault is anything that ends a session: a protocol violation (a first
// frame other than SERVER_HELLO, a second SERVER_HELLO, a SERVER_HEARTBEAT
// with none outstanding, INBOUND_TCP_OK or an unknown type, an OUTBOUND_UDP
// over 1500 bytes, a session ending mid-frame), a missed heartbeat, the
// connect timeout, end-of-file, a socket error, a failed connect, or the TCP
// proxy's Fault. Each logs its cause as the C balancer does, then "backend
// faulted (reset and reconnect)" at error if the backend was ok.
//
// Reconnect delays follow the C balancer: a new (or returned) backend
// connects at once, then waits ReconnectFirst (1 s), growing by
// ReconnectStep (2 s) per fault while below ReconnectMax (32 s), so 1, 3,
// 5, ..., 31, 33, 33 s. Flap damping: only a session that stayed ok for
// Timings.StableAfter, and is not ejected, starts the sequence again when
// it faults; one that faults sooner after its hello, or while ejected,
// keeps backing off like a dead backend. Stable reports that notion, and
// the remote table's rebalancing counts only stable backends.
//
// Fast failover: a backend's unanswered-query clock starts at the first
// query forwarded (or spilled, or dropped as stuck) since its last answer,
// or since its session began. The first query at or after
// Timings.ProbeAfter on that
// clock probes it (there is no timer: without further queries nothing
// happens) with a CLIENT_HEARTBEAT (allowed whenever none is outstanding)
// that must be answered within Timings.ProbeTimeout; a heartbeat already
// outstanding has its deadline shortened to the same, if it was later. An
// answer, or a heartbeat's reply, restarts the probe's clock. A hung backend
// that keeps receiving queries is thus faulted, and its clients moved to
// their backups, within about ProbeAfter+ProbeTimeout.
//
// Health on real answers (health.go): the same clock, stopped by answers
// only (node-mname answers heartbeats in its frame parser even when its DNS
// handler is silent), ejects a backend whose queries have all gone
// unanswered for Timings.EjectAfter: it stays ok but is not Usable, so
// its clients go to their backups, and is probed with a DNS query of the
// balancer's own until any answer returns it. At most MaxEjectPercent of
// the ok backends are ejected at once, never the last usable one.
//
// Stuck: a backend is stuck once the kernel will not take more of its
// session's bytes (evport Conn.Stuck). Full says so (or that the session's
// queue has no room for the query); the UDP proxy then spills the query to
// another backend, counted here by NoteSpilled (Stats.Spilled), and
// ForwardUDP to a full backend drops the query and counts it in
// Stats.Stuck. The session's own queue holds at most one batch of maximal
// frames (UDPBatch) beyond the kernel's buffer, so a stalled backend
// delays at most one batch of queries.
//
// # Invariants
//
// Checked by Backend.invariant after every step in the tests:
//
//   - a session exists exactly in connecting, ok and heartbeat;
//   - the one timer is scheduled exactly in connecting, ok, heartbeat and
//     reconnecting;
//   - new, removed and stopped have neither;
//   - a backend is ejected only while ok, and its probe timer is scheduled
//     exactly while it is ejected;
//   - the remote count is never negative.
package backend
