//go:build linux

// Command bench runs the project's benchmark or soak (make bench, make
// soak; see package test/bench and README "Benchmarks").
//
//	bench [-bbal PATH] [-compare PATH] [-smoke] [-workers N]   the table
//	                                           (-compare: a second balancer
//	                                           binary as one more column)
//	bench -counts [-bbal PATH] [-compare PATH] only the counted figures
//	                                           (syscalls, context switches,
//	                                           CPU per query) and their targets
//	bench -soak [-bbal PATH]                   the hostile-conditions soak
//	bench -inspect [-bbal PATH] [-balstat PATH] [-remotes N]
//	                                           what one balstat -j of N
//	                                           remotes costs RSS and DNS
//	bench -holds [-bbal PATH] [-balstat PATH]  how long idle and silent
//	                                           clients keep a scrape and the
//	                                           operator out
//
// BBAL in the environment names the balancer binary when -bbal is not
// given (default bin/bbal), BBAL_COMPARE the one -compare names.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/joyent/mname-balancer/test/bench"
)

func main() {
	bench.RunRole()
	def := os.Getenv("BBAL")
	if def == "" {
		def = "bin/bbal"
	}
	bbal := flag.String("bbal", def, "the balancer binary to bench (env BBAL)")
	smoke := flag.Bool("smoke", false, "a second per path: check that every path answers")
	soak := flag.Bool("soak", false, "run the hostile-conditions soak instead")
	counts := flag.Bool("counts", false, "only the counted figures (syscalls, context switches, CPU per query) and their targets")
	perf := flag.String("perf", "perf", "perf binary, to count syscalls (Debian: linux-perf; without it syscalls are not counted)")
	compare := flag.String("compare", os.Getenv("BBAL_COMPARE"), "a second balancer binary to measure in the same run (env BBAL_COMPARE)")
	workers := flag.Int("workers", 1, "UDP generator threads (more reach higher rates, but take CPU from the paths)")
	pin := flag.Bool("pin", false, "run the generator (and TCP load, dnsperf) on one CPU and every path process on the others (with 2 CPUs or more)")
	poll := flag.Duration("poll", 200*time.Microsecond, "for the overload and CPU figures, the generator's receivers poll at this interval instead of sleeping on their sockets (0: they sleep)")
	inspect := flag.Bool("inspect", false, "measure one balstat -j of a large remote table instead")
	balstat := flag.String("balstat", "bin/balstat", "the balstat binary (-inspect)")
	remotes := flag.Int("remotes", 1_000_000, "remotes to fill the table with (-inspect)")
	holds := flag.Bool("holds", false, "measure how long holding clients keep /metrics and the control socket out instead")
	flag.Parse()
	root, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	abs, err := filepath.Abs(*bbal)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cmp := *compare
	if cmp != "" {
		if cmp, err = filepath.Abs(cmp); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	cfg := bench.Config{
		BBAL: abs, Compare: cmp, Dnsdist: "dnsdist", Dnsperf: "dnsperf", Node: "node", Perf: *perf, Counts: *counts,
		RepoRoot: root, Smoke: *smoke, Workers: *workers, Pin: *pin, Poll: *poll, Out: os.Stdout, Progress: os.Stderr,
	}
	if *inspect || *holds {
		bs, aerr := filepath.Abs(*balstat)
		if aerr != nil {
			fmt.Fprintln(os.Stderr, aerr)
			os.Exit(1)
		}
		ic := bench.InspectConfig{BBAL: abs, Balstat: bs, Node: "node", RepoRoot: root,
			Remotes: *remotes, Out: os.Stdout, Progress: os.Stderr}
		if *holds {
			err = bench.Holds(ic)
		} else {
			err = bench.Inspect(ic)
		}
	} else if *soak {
		err = bench.Soak(cfg)
	} else {
		_, err = bench.Run(cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
