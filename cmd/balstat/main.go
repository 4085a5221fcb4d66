/*
Balstat shows what a running balancer (bbal) is doing, by asking its control
socket; it replaces Binder's mdb-based bin/balstat for this balancer.

	balstat [-c SOCKET] [-v]                  backends and remote peers (Binder's two tables)
	balstat [-c SOCKET] [-k] -p [PATTERN ...] [INTERVAL [COUNT]]
	                                          counters in kstat -p form
	balstat [-c SOCKET] -e 'PIPELINE'         an mdb-style pipeline
	balstat [-c SOCKET] -j                    the whole snapshot as JSON
	balstat [-c SOCKET] -s                    the summary: backends, the number
	                                          of remotes, the busiest ones
	balstat [-c SOCKET] -l [LEVEL [SECONDS] | reset]
	                                          show or change the log level
	balstat -V | -h                           the version; every option described

With no option it prints Binder's tables, in Binder's layout: BACKENDS
(OBJECT, BACKEND, OK?, #REMOTES, SOCKET PATH) and REMOTE PEERS (OBJECT,
BACKEND, REMOTE IP); OBJECT is a stable handle for the object (hex). -v adds
a first line naming the process (its pid, its generation: 1, or one more
than the process that handed over to it on svcadm refresh, and its start,
UTC), the counters, and each backend's STATE, SINCE (UTC) and, while not
ok, WHY.
A removed backend is listed once as removed, then no more.

-p prints the module "bbal" kstats (see package mdb/view): bbal:0:balancer:* for
the balancer's totals and bbal:<be_id>:backend:* for each backend. A
backend's "state" is a number:

	0 new           known, not yet connected
	1 connecting    control session dialled, hello awaited
	2 ok            taking traffic
	3 heartbeat     taking traffic, a heartbeat awaits its reply
	4 reconnecting  faulted ("why" says why), reconnect scheduled
	5 removed       socket file gone: shown once, then no longer listed
	6 stopped       the balancer is stopping

"state_since" is when it last became ok, stopped being ok or was removed, and
"crtime" when the balancer first found its socket file. PATTERNs
are kstat's (bbal:5301::, bbal:0:balancer:udp_*, /regex/ fields). With
INTERVAL it repeats every INTERVAL seconds, COUNT times (forever without
COUNT), with a blank line between rounds, as kstat does. -k adds the zone's udp and tcp kernel kstats that matter to a DNS
balancer; it needs balstat built for illumos with cgo.

-s answers the everyday question of a large balancer without listing a
million remotes: each backend's remotes and counters, the number of
remotes, and the busiest remotes of the balancer's last 10 s window (found
as queries came, not by walking the table; CONTACTS may exceed the truth
by at most OVERCOUNT).

-e accepts the pipelines operators ran against the C balancer with mdb:

	g_backends::walk avl | ::print backend_t
	g_timeouts::walk avl | ::print timeout_t
	g_remotes::walk avl | ::printf "%12p %12I -> %d\n" remote_t . rem_addr.S_un.S_addr rem_backend

-l with LEVEL (trace debug info warn error fatal) puts it in force, for
SECONDS if given, after which the configured level returns; "reset" returns
to it now; alone, -l shows the level in force.

Without -c, balstat asks the balancer's default control socket,
/tmp/bbal-UID/control.PORT (UID the balancer's user, PORT its DNS port),
found the way the balancer makes it: in the caller's own /tmp/bbal-UID, or
as root in any /tmp/bbal-UID owned by that UID and closed to others; with
several balancers running, -c names the one.
Only root and the balancer's own user are served. Exit status: 0, 1 if the
balancer could not be asked or refused (or, with -p, as kstat: if no
statistic matched), 2 for a usage error.
*/
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/joyent/mname-balancer/mdb/view"
	"github.com/joyent/mname-balancer/version"
)

const usage = `usage: balstat [-c SOCKET] [-v]
       balstat [-c SOCKET] [-k] -p [PATTERN ...] [INTERVAL [COUNT]]
       balstat [-c SOCKET] -e 'PIPELINE'
       balstat [-c SOCKET] -j
       balstat [-c SOCKET] -s
       balstat [-c SOCKET] -l [LEVEL [SECONDS] | reset]
       balstat -V | -h`

// help is what -h (or --help) prints: the usage and every option.
const help = usage + `

balstat shows what a running balancer (bbal) is doing, through its control
socket. With no option it prints Binder's two tables, BACKENDS and REMOTE
PEERS.

  -c SOCKET  the balancer's control socket (default: found in
             /tmp/bbal-UID/control.PORT, the balancer's own default; as
             root in any user's; with several balancers running, -c names
             one)
  -v         the tables with counters, after the process's pid,
             generation (handovers since the last start, plus 1) and start;
             each backend's STATE, SINCE (UTC) and WHY (the last fault while
             not ok); and every drop, refusal, accept failure, early close
             and removal from the remote table counted by cause
  -p         counters in kstat -p form: bbal:0:balancer:* and
             bbal:<be_id>:backend:*; PATTERNs as kstat's (bbal:5301::,
             bbal:0:balancer:udp_*, /regex/); with INTERVAL, every INTERVAL
             seconds, COUNT times (forever without COUNT), a blank line
             between rounds. A backend's "state" is a number:
               0 new           known, not yet connected
               1 connecting    control session dialled, hello awaited
               2 ok            taking traffic
               3 heartbeat     taking traffic, a heartbeat awaits its reply
               4 reconnecting  faulted ("why" says why), reconnect scheduled
               5 removed       socket file gone: shown once, then not listed
               6 stopped       the balancer is stopping
  -k         with -p, the zone's udp and tcp kernel kstats too (balstat built
             for illumos with cgo)
  -e PIPELINE  an mdb-style pipeline, as operators ran against the C
             balancer: g_backends::walk avl | ::print backend_t
  -j         the whole snapshot as JSON
  -s         the summary: each backend's remotes and counters, the number
             of remotes and the busiest ones of the last 10 s (without
             listing every remote)
  -l         the log level in force; -l LEVEL [SECONDS] puts LEVEL (trace
             debug info warn error fatal) in force, for SECONDS if given;
             -l reset returns to the configured level
  -V         print the version and exit
  -h         print this help and exit

Exit status: 0; 1 if the balancer could not be asked or refused (with -p,
as kstat, also if no statistic matched); 2 for a usage error.
`

// requestTimeout bounds each exchange with the balancer; fullTimeout one
// for the whole snapshot, which the balancer streams (and cuts off) over
// as long.
const (
	requestTimeout = 30 * time.Second
	fullTimeout    = 2 * time.Minute
)

// wholeSnapshotNice is balstat's niceness while it reads a whole snapshot.
const wholeSnapshotNice = 10

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type mode int

const (
	modeTables mode = iota
	modeKstat
	modePipeline
	modeJSON
	modeLevel
	modeSummary
)

type options struct {
	help     bool // -h: print help, exit 0
	version  bool // -V: print the version, exit 0
	control  string
	mode     mode
	verbose  bool
	summary  bool
	kernel   bool
	pipeline string
	operands []string
}

// flagSet defines balstat's flags, setting o's fields; -p, -j and -l are
// returned.
func flagSet(o *options) (fs *flag.FlagSet, p, j, l *bool) {
	fs = flag.NewFlagSet("balstat", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.control, "c", "", "control socket")
	fs.BoolVar(&o.verbose, "v", false, "tables with counters")
	fs.BoolVar(&o.summary, "s", false, "summary")
	p = fs.Bool("p", false, "kstat -p form")
	fs.BoolVar(&o.kernel, "k", false, "kernel kstats too")
	fs.StringVar(&o.pipeline, "e", "", "mdb-style pipeline")
	j = fs.Bool("j", false, "JSON")
	l = fs.Bool("l", false, "log level")
	fs.BoolVar(&o.version, "V", false, "version")
	return fs, p, j, l
}

func parseArgs(args []string) (options, error) {
	var o options
	fs, p, j, l := flagSet(&o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) { // -h, -help, --help
			return options{help: true}, nil
		}
		return o, err
	}
	if o.version {
		return o, nil
	}
	o.operands = fs.Args()
	n := 0
	set := func(on bool, m mode) {
		if on {
			n++
			o.mode = m
		}
	}
	set(*p || o.kernel, modeKstat)
	set(o.pipeline != "", modePipeline)
	set(*j, modeJSON)
	set(*l, modeLevel)
	set(o.summary, modeSummary)
	switch {
	case n > 1:
		return o, errors.New("-p (or -k), -e, -j, -s and -l are alternatives: give one")
	case o.verbose && o.mode != modeTables:
		return o, errors.New("-v goes with the tables only")
	case (o.mode == modeTables || o.mode == modePipeline || o.mode == modeJSON || o.mode == modeSummary) && len(o.operands) > 0:
		return o, fmt.Errorf("unexpected argument %q", o.operands[0])
	case o.mode == modeLevel && len(o.operands) > 2:
		return o, fmt.Errorf("unexpected argument %q", o.operands[2])
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "balstat: %v\n%s\n", err, usage)
		return 2
	}
	switch {
	case o.help:
		io.WriteString(stdout, help)
		return 0
	case o.version:
		fmt.Fprintln(stdout, version.Line("balstat"))
		return 0
	}
	switch o.mode {
	case modeKstat:
		err = runKstat(o, stdout)
	case modeLevel:
		err = runLevel(o, stdout)
	default:
		var snap *view.Snapshot
		if err = findControl(&o); err != nil {
			break
		}
		if o.mode == modeSummary {
			snap, err = view.FetchSnapshot(o.control, false, requestTimeout)
		} else {
			// Reading, sorting and printing a million remotes takes
			// seconds of CPU, which DNS (the balancer, Binder) on the same
			// machine comes first for: best effort, raising one's own
			// niceness is always allowed.
			_ = yieldCPU(wholeSnapshotNice)
			snap, err = view.FetchSnapshot(o.control, true, fullTimeout)
		}
		if err != nil {
			break
		}
		switch o.mode {
		case modeSummary:
			err = view.WriteSummary(stdout, snap)
		case modeTables:
			err = view.WriteTables(stdout, snap, o.verbose)
		case modePipeline:
			err = view.RunPipeline(stdout, snap, o.pipeline)
		case modeJSON:
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(snap)
		}
	}
	if errors.Is(err, errNoMatch) {
		return 1
	}
	if err != nil {
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprintf(stderr, "balstat: %v\n%s\n", err, usage)
			return 2
		}
		fmt.Fprintf(stderr, "balstat: %v\n", err)
		return 1
	}
	return 0
}

type usageError struct{ error }

// findControl finds the balancer's default control socket when -c gave
// none.
func findControl(o *options) error {
	if o.control != "" {
		return nil
	}
	var err error
	o.control, err = view.FindControlSocket()
	return err
}

// runKstat prints kstat -p lines, once or every INTERVAL seconds.
func runKstat(o options, w io.Writer) error {
	ops := o.operands
	var nums []int
	for len(ops) > 0 && len(nums) < 2 {
		n, err := strconv.Atoi(ops[len(ops)-1])
		if err != nil {
			break
		}
		nums = append([]int{n}, nums...)
		ops = ops[:len(ops)-1]
	}
	interval, count := 0, 1
	switch len(nums) {
	case 1:
		interval, count = nums[0], 0
	case 2:
		interval, count = nums[0], nums[1]
	}
	if len(nums) > 0 && (interval < 1 || (len(nums) == 2 && count < 1)) {
		return usageError{errors.New("INTERVAL and COUNT must be 1 or more")}
	}
	var pats []view.KstatPattern
	for _, s := range ops {
		p, err := view.ParseKstatPattern(s)
		if err != nil {
			return usageError{err}
		}
		pats = append(pats, p)
	}
	if err := findControl(&o); err != nil {
		return err
	}
	wait := func() { time.Sleep(time.Duration(interval) * time.Second) }
	matched, err := view.KstatRounds(w, pats, count, wait, func() ([]view.Kstat, error) {
		snap, err := view.FetchSnapshot(o.control, false, requestTimeout)
		if err != nil {
			return nil, err
		}
		ks := view.Kstats(snap)
		if o.kernel {
			kern, err := kernelKstats()
			if err != nil {
				return nil, err
			}
			ks = append(ks, kern...)
			view.SortKstats(ks)
		}
		return ks, nil
	})
	if err == nil && !matched {
		return errNoMatch
	}
	return err
}

// errNoMatch is -p's "no statistic matched": exit status 1 and no
// message, as kstat does.
var errNoMatch = errors.New("no statistic matched")

// runLevel shows or changes the balancer's log level.
func runLevel(o options, w io.Writer) error {
	req := "loglevel"
	if len(o.operands) > 0 {
		req += " " + strings.Join(o.operands, " ")
	}
	if err := findControl(&o); err != nil {
		return err
	}
	r, err := view.Request(o.control, req, requestTimeout)
	if err != nil {
		return err
	}
	if r.LogLevel == nil {
		return errors.New("the balancer's answer has no log level")
	}
	st := r.LogLevel
	fmt.Fprintf(w, "log level %s (configured %s", st.Level, st.Configured)
	if st.Until != "" {
		fmt.Fprintf(w, "; until %s", st.Until)
	}
	fmt.Fprintln(w, ")")
	return nil
}
