// Package bench is the project's own side-by-side benchmark (`make bench`),
// soak run (`make soak`) and two measurements of the operator's side
// (bench -inspect, bench -holds). The benchmark starts the balancer under
// test, dnsdist, a minimal recvmmsg/sendmmsg reflector and echo backends,
// drives them with an open-loop load generator from many 127.0.0.0/8
// source addresses, and prints one table of figures and ratios measured
// in the same run.
//
// Everything here but dnsmsg.go (plain bytes) is Linux-only (recvmmsg,
// sendmmsg, IP_PKTINFO, /proc); elsewhere the package holds only that. The
// pieces:
//
//	mmsg_linux.go       preallocated recvmmsg/sendmmsg batches (raw syscalls)
//	dnsmsg.go           the query the generator sends and the echo's answer
//	gen_linux.go        the open-loop UDP generator (fixed rate, many sources)
//	echo_linux.go       echo backends: backend protocol over AF_UNIX, and
//	                    plain UDP (which is also the reflector), both with TCP
//	proc_linux.go       CPU ticks and RSS of a process from /proc
//	counts_linux.go     the counted figures: syscalls (perf), context
//	                    switches and CPU (/proc) per query, over rounds
//	roles_linux.go      the subprocess roles (echo, reflector) of this binary
//	paths_linux.go      starting and stopping each path under test
//	tcpload_linux.go    TCP queries per second and connections per second
//	dnsperf_linux.go    dnsperf as the second load generator
//	cpus_linux.go       where the generator and the paths run (-pin)
//	bench_linux.go      the paths and how each figure is measured
//	report_linux.go     the table, the targets (judged on counted figures,
//	                    read on timed ones), the notes
//	soak_linux.go       the hostile-conditions soak
//	inspect_linux.go    bench -inspect: what one balstat -j of a large
//	                    remote table costs the balancer's RSS and DNS
//	holds_linux.go      bench -holds: how long idle or silent connections
//	                    keep a scrape, balstat -p and balstat -j waiting
//
// Timings on a shared machine are noisy; the ratios compare paths measured
// one after the other in the same run, which cancels part of that noise.
// The targets are judged only on what the kernel counts (syscalls, context
// switches, CPU time per query); timed figures are printed as readings.
package bench
