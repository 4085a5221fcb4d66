// Package mdb is the operator's view of a running balancer, the successor
// of inspecting the C balancer with mdb(1): consistent snapshots of the
// backends, remotes, pending timeouts, open TCP proxies and balancer-wide
// totals; the same counters in kstat(1M) form; mdb-style pipelines over a
// snapshot; the control socket that serves them (and changes the log level
// at run time); the client that reads it (cmd/balstat); and the Prometheus
// endpoint (ListenMetrics, MetricsHandler: bbal -m), which takes the
// counters of one snapshot per scrape.
//
// A snapshot is taken on the event loop in one posted function, so every
// part of it describes the same instant, and handed back to the caller's
// goroutine. On the loop are the copying and the timers' description (their
// callbacks named, their labels built, the timers sorted); everything else
// (converting, sorting the remotes and proxies, formatting, serving) happens
// off the loop. Nothing here runs on the packet path, and nothing here
// changes balancer state except the log level.
//
// Times in a snapshot are hrtimes, nanoseconds since an arbitrary fixed
// point (the system's monotonic clock, as gethrtime(3C) and kstat's crtime
// and snaptime), so that ages are differences and -p prints them as kstat
// does.
package mdb
