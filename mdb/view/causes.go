/*
 * Causes: every place the balancer drops a datagram, refuses or closes a
 * connection early, or forgets a client has a counter named for that
 * cause, and this table is the one list of them. Each view takes it from
 * here: balstat -v's COUNTERS BY CAUSE table, the bbal:0:balancer kstat
 * (the Stat names, which are also the JSON fields of Totals), and the
 * metrics (one family per Kind, the Reason as its "reason" label).
 */

package view

// Kind is one family of causes.
type Kind struct {
	Name   string // as balstat -v prints it
	Metric string // the Prometheus family
	Help   string // the family's help, before the list of reasons
}

// The kinds of cause.
var (
	UDPDropped = Kind{"udp_dropped", "bbal_udp_dropped_total",
		"UDP datagrams dropped (client queries, or backend answers for the last two reasons), by reason"}
	TCPRefused = Kind{"tcp_refused", "bbal_tcp_refused_total",
		"TCP connections accepted and closed at once, without a proxy, by reason"}
	TCPAcceptErrors = Kind{"tcp_accept_errors", "bbal_tcp_accept_errors_total",
		"accept(2) failures on the TCP listener (EMFILE, ENFILE, ECONNABORTED, ...), by reason"}
	TCPClosed = Kind{"tcp_closed", "bbal_tcp_closed_total",
		"TCP connections closed before their end (a deadline, an error, the backend, a stop), by reason"}
	RemotesForgotten = Kind{"remotes_forgotten", "bbal_remotes_forgotten_total",
		"Remotes (client hosts) taken out of the remote table, by reason"}
	ServedDegraded = Kind{"served_degraded", "bbal_served_degraded_total",
		"UDP queries and TCP connections served in a degraded way rather than refused (issue 20), by reason"}
)

// Kinds lists the kinds in the order the views print them.
var Kinds = []Kind{UDPDropped, TCPRefused, TCPAcceptErrors, TCPClosed, RemotesForgotten, ServedDegraded}

// Cause is one cause and its counter.
type Cause struct {
	Kind   Kind
	Reason string                 // the metrics' "reason" label
	Stat   string                 // the bbal:0:balancer statistic and the Totals JSON field
	Help   string                 // what it counts
	Count  func(t *Totals) uint64 // the counter in a snapshot
}

// Causes lists every cause, kind by kind.
var Causes = []Cause{
	{UDPDropped, "oversize", "udp_drop_oversize", "a client datagram over 1500 bytes",
		func(t *Totals) uint64 { return t.UDPDropOversize }},
	{UDPDropped, "no_backend", "udp_drop_no_backend", "no backend was ok",
		func(t *Totals) uint64 { return t.UDPDropNoBackend }},
	{UDPDropped, "rate_capped", "udp_drop_rate_capped", "the client was over its query rate cap (--udp-client-rate)",
		func(t *Totals) uint64 { return t.UDPDropRateCapped }},
	{UDPDropped, "stuck", "udp_drop_stuck", "the backend's control session could take no more, nor any other usable backend's",
		func(t *Totals) uint64 { return t.UDPDropStuck }},
	{UDPDropped, "send_error", "udp_drop_send_error", "an answer the UDP socket would not send",
		func(t *Totals) uint64 { return t.UDPDropSendError }},
	{UDPDropped, "not_client", "udp_drop_not_client", "an answer to an address that is no client in the remote table (the reflection guard)",
		func(t *Totals) uint64 { return t.UDPDropNotClient }},

	{TCPRefused, "max_conns", "tcp_refused_max_conns", "the cap on open connections was reached",
		func(t *Totals) uint64 { return t.TCPRefusedMaxConns }},
	{TCPRefused, "max_per_client", "tcp_refused_max_per_client", "the cap on one client's open connections was reached",
		func(t *Totals) uint64 { return t.TCPRefusedMaxPerClient }},
	{TCPRefused, "fd_reserve", "tcp_refused_fd_reserve", "too few descriptors left (kept for backend sessions)",
		func(t *Totals) uint64 { return t.TCPRefusedFDReserve }},
	{TCPRefused, "no_backend", "tcp_refused_no_backend", "no backend was ok",
		func(t *Totals) uint64 { return t.TCPRefusedNoBackend }},
	{TCPRefused, "backend_connect", "tcp_refused_backend_connect", "the chosen backend's socket could not be connected",
		func(t *Totals) uint64 { return t.TCPRefusedBackendConnect }},

	{TCPAcceptErrors, "accept_error", "tcp_accept_errors", "accept(2) failed",
		func(t *Totals) uint64 { return t.TCPAcceptErrors }},

	{TCPClosed, "ok_timeout", "tcp_closed_ok_timeout", "the backend did not take the connection (INBOUND_TCP_OK) in time",
		func(t *Totals) uint64 { return t.TCPClosedOKTimeout }},
	{TCPClosed, "message_timeout", "tcp_closed_message_timeout", "a client message not complete within its deadline",
		func(t *Totals) uint64 { return t.TCPClosedMessageTimeout }},
	{TCPClosed, "idle_timeout", "tcp_closed_idle_timeout", "no byte moved either way for the idle timeout",
		func(t *Totals) uint64 { return t.TCPClosedIdleTimeout }},
	{TCPClosed, "halfclose_timeout", "tcp_closed_halfclose_timeout", "the backend did not finish in time after the client's EOF",
		func(t *Totals) uint64 { return t.TCPClosedHalfCloseTimeout }},
	{TCPClosed, "error", "tcp_closed_error", "a socket error on either side",
		func(t *Totals) uint64 { return t.TCPClosedError }},
	{TCPClosed, "backend_closed", "tcp_closed_backend_closed", "the backend ended the session before taking the connection (INBOUND_TCP_OK)",
		func(t *Totals) uint64 { return t.TCPClosedBackendClosed }},
	{TCPClosed, "bad_tcp_ok", "tcp_closed_bad_tcp_ok", "the backend answered INBOUND_TCP with another frame",
		func(t *Totals) uint64 { return t.TCPClosedBadTCPOK }},
	{TCPClosed, "lame_duck", "tcp_closed_lame_duck", "closed at a stop, owing its client nothing",
		func(t *Totals) uint64 { return t.TCPClosedLameDuck }},
	{TCPClosed, "shutdown_grace", "tcp_closed_shutdown_grace", "still open when a stop's grace period ran out (SIGTERM or a handover)",
		func(t *Totals) uint64 { return t.TCPClosedShutdownGrace }},

	{RemotesForgotten, "evicted", "remotes_evicted", "the least recently seen, to make room in a full table",
		func(t *Totals) uint64 { return t.RemotesEvicted }},
	{RemotesForgotten, "expired", "remotes_expired", "silent for the expiry time",
		func(t *Totals) uint64 { return t.RemotesExpired }},

	{ServedDegraded, "spilled", "udp_spilled", "a UDP query its client's backend was too full to take, forwarded to the backup or another backend",
		func(t *Totals) uint64 { return t.UDPSpilled }},
	{ServedDegraded, "untracked_udp", "udp_served_untracked", "a UDP query of a new client the full remote table (-r) could not add, routed by its address",
		func(t *Totals) uint64 { return t.UDPServedUntracked }},
	{ServedDegraded, "untracked_tcp", "tcp_served_untracked", "a TCP connection of a new client the full remote table (-r) could not add, routed by its address",
		func(t *Totals) uint64 { return t.TCPServedUntracked }},
}

// KindHelp is k's help text with the list of its reasons.
func KindHelp(k Kind) string {
	h := k.Help + ":"
	sep := " "
	for _, c := range Causes {
		if c.Kind == k {
			h += sep + c.Reason + " (" + c.Help + ")"
			sep = "; "
		}
	}
	return h + "."
}
