// Package mdb is the daemon's side of the operator's view of a running
// balancer, the successor of inspecting the C balancer with mdb(1): it
// takes consistent snapshots of the backends, remotes, pending timeouts,
// open TCP proxies and balancer-wide totals on the event loop (Inspector);
// serves them on the control socket, which also changes the log level at
// run time (ControlServer, LogLevel); and serves their counters to
// Prometheus (ListenMetrics: bbal -m), one snapshot per scrape, with the
// build and the process metrics (on illumos too) beside them, over a
// bounded number of connections of which idle ones make room for new ones
// (connlimit.go).
//
// What a snapshot is, and everything that reads one (the control socket's
// client, Binder's tables, the kstat -p form, mdb-style pipelines) is in
// package mdb/view, which balstat imports without linking the balancer:
// mdb imports view, never the other way. A snapshot carries plain values
// (addresses as netip.Addr, times as hrtimes), converted here once from
// what backend, remote, proxy and evport report.
//
// A snapshot is taken on the event loop in one posted function, so every
// part of it describes the same instant, and handed back to the caller's
// goroutine; but the remotes, which may number millions, are read a
// bounded slice per loop turn and streamed to the control socket's client
// (walk.go says what the walk guarantees). On the loop are the copying
// and the timers' description (their callbacks named, their labels built,
// the timers sorted); everything else (converting, sorting the proxies,
// encoding, serving) happens off the loop. Nothing here runs on the packet path, and nothing here
// changes balancer state except the log level.
//
// Times in a snapshot are hrtimes, nanoseconds since an arbitrary fixed
// point (the system's monotonic clock, as gethrtime(3C) and kstat's crtime
// and snaptime), so that ages are differences and -p prints them as kstat
// does.
package mdb
