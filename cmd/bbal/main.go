/*
Bbal is the DNS load balancer in front of Binder's node-mname backends, the
Go successor of Joyent's C mname-balancer: it answers DNS over UDP and TCP
on one address and port and hands each query to a backend process over
that backend's AF_UNIX socket, keeping each client on one backend.

Usage:

	bbal [-b IP] [-p PORT] [-l LEVEL] [-c PATH] [-m IP:PORT] [-r N] -s SOCKET_DIR
	bbal --demo [-b IP] [-p PORT] [-l LEVEL]
	bbal -V | --version
	bbal -h | --help

-s names the directory where the backends' sockets appear (one per backend,
named by its ID); -b and -p the address and port to serve (0.0.0.0:53);
-l the log level (info; LOG_LEVEL in the environment overrides it). The
C balancer's invocations all work unchanged; the other options, the TCP
bounds (--tcp-max, --tcp-max-per-client) and --demo, which runs three demo
backends on 127.0.0.1:5353 for trying the balancer with dig, are described
in options.go and printed by -h. -V prints the version (package version)
and the Go version, which the "starting up" record also carries.

Logs are node-bunyan JSON records on stdout (package bunyan), with the C
balancer's messages, levels and fields. Signals: SIGTERM or SIGINT shuts
down as a lame duck (the TCP listener and idle TCP connections close at
once, UDP is answered until the busy ones have finished, up to a grace
period; a second signal exits at once), SIGHUP rescans the socket
directory, SIGUSR2 hands the sockets and the client table over to a new
process started from the binary on disk, then exits (handover.go).

Exit status: 0 after a clean shutdown, 1 for a usage error (one line on
stderr, with the usage, nothing bound) or a fatal error at start-up or run
time (a fatal log record on stdout).

This package is wiring only: it parses the options (options.go), makes the
logger and the event loop, starts the subsystems in order (daemon.go),
turns signals into work posted to the loop, and stops (stop.go) or hands
over (handover.go). The balancer itself is in the
backend, remote and proxy packages.
*/
package main

import (
	"fmt"
	"os"

	"github.com/joyent/mname-balancer/version"
)

func main() {
	opts, err := parseOptions(os.Args[1:], os.Getenv)
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "bbal: %v (%s)\n", err, usage)
		os.Exit(1)
	case opts.help:
		fmt.Print(help)
		os.Exit(0)
	case opts.version:
		fmt.Println(version.Line("bbal"))
		os.Exit(0)
	}
	os.Exit(run(opts))
}
