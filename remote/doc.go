// Package remote is the balancer's client table: every client host (a
// "remote", keyed by its IPv4 address) the balancer has heard from, and the
// backend each one talks to. It is the C balancer's remotes.c.
//
// The model: a remote is created on first contact (a UDP datagram or a TCP
// connection) and forgotten after Timings.Expiry of silence. Each has a
// primary backend, to which it sticks while that backend is usable (ok
// and not ejected), and a backup used while the primary is not, or for a
// query the primary's full session cannot take (Table.Spill); a remote
// with neither gets a primary chosen round-robin among the usable
// backends. Rebalancing looks at
// the primary counts of the stable backends (backend.Backend.Stable): when
// their spread is too wide it clears the primary of some of the busiest
// backend's remotes, lowest addresses first, which choose again on their
// next packet.
//
// Invariants: the table holds at most its cap (SetMaxRemotes) remotes; a full table
// evicts the least recently seen remote, but never one seen within
// Timings.EvictAfter (new clients are served untracked instead, routed
// by a hash of their address), so a client with a query outstanding stays
// Known and its answer passes the UDP proxy's reflection guard. Each backend's primary count (Table.RemotesOf) is
// kept by this table and always equals the number of remotes whose
// primary it is. No remote keeps a logger: per-client records build
// remote_ip when written, and every kind of them is rate-limited.
//
// Each remote's UDP queries may be capped (Table.Admit, ratecap.go: a
// token bucket kept as one number in its slot), so that no client takes
// more than its share of a backend.
//
// A packet or connection from a client is routed in two steps:
// Table.HeardFrom (find or create the client's remote, mark it seen now)
// and Table.Route (choose its backend, assigning a primary or a backup
// and logging the change). Everything runs on the event loop (package
// evport); HeardFrom of a known remote (or of a new one a full table
// serves untracked), Admit, Route, Spill and Known allocate nothing, and
// each remote's rate cap and the busiest-clients counters are fixed-size.
//
// For the operator's tools (package mdb): the table is read a bounded
// slice of slots at a time (AppendInfoFrom; inspect.go says what a walk in
// slices sees), and HeardFrom counts the busiest clients of each 10 s
// window as they come (TopRemotes, top.go), so neither needs one long
// walk of the table.
//
// Across a restart handover (cmd/bbal) the table travels as a snapshot
// (Snapshot, Restore; snapshot.go): each remote keeps its primary, backup
// and times in the successor, and a snapshot that fails any check restores
// nothing.
package remote
