/*
Package proxy is the balancer's front door: the listening UDP socket and
the TCP listener (one address and port for both), and the path
from a client to its backend and back. It is the one package that sees
both a client socket and a backend session; everything runs on the event
loop (package evport), so nothing here locks.

The model:

	UDP   a datagram from a client is looked up in the remote table
	      (package remote), which names the client's backend, and queued on
	      that backend's control session as INBOUND_UDP; the backend's
	      OUTBOUND_UDP answers come back through the answer sink installed
	      on the backend Set and are sent from the listening socket. A
	      datagram is dropped and counted (oversized, over its client's
	      rate cap, no backend, every usable backend full) or forwarded,
	      at once: to the client's backend, or, when that one's session
	      is full, spilled to its backup or another with room. The only
	      per-datagram state is the reflection guard's fixed record of
	      queries from clients a full table serves untracked (guard.go).
	TCP   each accepted connection becomes a proxy: the client's socket
	      joined to a new AF_UNIX session with the client's backend, which
	      is told the client's address (INBOUND_TCP) and must accept
	      (INBOUND_TCP_OK); then bytes are copied verbatim both ways.

A TCP proxy's states (tcp.go): accepted -> handshake -> established ->
closing -> closed. Admission may refuse it at once (too many connections
in all or from that client, descriptors running into the reserve kept for
backend sessions, no backend); the handshake ends at INBOUND_TCP_OK, or
closes both sides on anything else or on the OK timeout (which also faults
the backend); an end-of-file from one side is passed on as a write
shutdown to the other; an error on either side, or a deadline (a message
too slow, idle, a backend that does not finish after the client closed:
deadline.go), closes both at once.

Stopping (cmd/bbal's lame-duck stop and restart handover): TCP.LameDuck
stops accepting, closes at once every connection that owes its client
nothing (counted as lame_duck) and ends each of the others as soon as it
does (Drain says when none is left); TCP.Abort closes those still open
when the stop's grace runs out (counted as shutdown_grace).
UDP.StopReading stops reading client datagrams while answers still go
out, and Close sends those queued. A successor takes the bound sockets
over by descriptor (UDP.FD, TCP.ListenerFD; UDPOnSocket, TCPOnSocket).

Invariants:

  - every descriptor is closed exactly once (evport.Conn guarantees it,
    and a proxy closes both sides in one place, its teardown);
  - a proxy is in the live set, and counted against its client address,
    from the end of its accept to its teardown, never longer than its
    deadlines allow, and never more than TCPConfig.MaxConns at once;
  - what a client can make the balancer hold is bounded: per TCP direction
    one receive buffer and one send queue (reading stops when the other
    side does not take more), per UDP datagram nothing beyond the
    backend's bounded send queue and a slot of the untracked clients'
    fixed record (16,384 slots, overwritten, never grown);
  - the UDP packet path allocates nothing in steady state (the allocation
    tests prove it), and trace records are built only when enabled;
  - records that client input can trigger are written through a
    bunyan.RateLimiter; the counters (TCPStats, UDPStats) count everything,
    written or not.
*/
package proxy
