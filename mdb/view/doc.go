// Package view is the operator's side of inspecting a running balancer:
// what a snapshot holds (Snapshot and one view type per object: Backend,
// Remote, Timeout, Proxy, each the state of that object at the snapshot's
// instant, never a live object), where the control socket is when -c does
// not say (DefaultControlPath, FindControlSocket), its client (Request,
// FetchSnapshot), and the ways balstat prints a snapshot: Binder's tables
// and -v's (WriteTables), the summary (WriteSummary), kstat -p (Kstats,
// WriteKstatP, KstatRounds), mdb-style pipelines (RunPipeline) and JSON (a
// Snapshot's own encoding). Causes is the one list of the counters by
// cause (drops, refusals, early closes, forgotten remotes, degraded
// service) that each of these views and the daemon's metrics print.
//
// It imports no balancer package, no event loop, no HTTP and no
// Prometheus, so balstat links only this; the daemon's side (taking
// snapshots on the loop, serving the control socket, metrics, the log
// level) is package mdb, which fills these types in. The names of a view's
// JSON fields and pipeline members are the C balancer's (be_id, rem_addr,
// to_func, ...), so that the pipelines operators ran against the C
// balancer with mdb keep their meaning.
package view
