/*
 * bbal: the DNS load balancer in front of Binder's node-mname backends.
 *
 * This package is wiring only: it parses the options (options.go), makes
 * the logger and the event loop, starts the subsystems in order (daemon.go)
 * and turns signals into work posted to the loop. The balancer itself is in
 * the backend, remote and proxy packages.
 *
 * Exit status: 0 after a clean shutdown (SIGTERM, SIGINT), 1 for a usage
 * error (one line on stderr, with the usage, nothing bound) or a fatal error at start-up or
 * run time (a fatal log record on stdout).
 */

package main

import (
	"fmt"
	"os"
)

func main() {
	opts, err := parseOptions(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bbal: %v (%s)\n", err, usage)
		os.Exit(1)
	}
	os.Exit(run(opts))
}
