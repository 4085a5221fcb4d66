//go:build linux

package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

/*
The counted figures: what a path does per answered query, counted by the
kernel rather than timed, so that a busy shared machine changes them little
(issue 19). For each load, of the front process (bbal, dnsdist, the
reflector) and of the whole path (front and backends):

	syscalls           perf stat's raw_syscalls:sys_enter tracepoint on every
	                   thread of the processes (needs perf and the right to
	                   trace them, usually root); without it the row is "-"
	context switches   voluntary (the thread slept) and involuntary (it was
	                   preempted), summed over /proc/PID/task/TID/status
	CPU                time on CPU, summed over /proc/PID/task/TID/schedstat
	                   (nanoseconds, unlike /proc/PID/stat's 10 ms ticks)

Each figure is taken over rounds that rotate through the paths, each round
starting one path further on (a path measured right after another tends to
count less: with a fixed order that alone made two builds of the same bbal
differ by 10-20 %), and the ratios between paths are taken within a round
(then the median of the rounds' ratios), so that a burst of other work
weighs on both sides of a ratio. Threads that exit during a load take their counts with them; the
paths measured keep theirs for the whole run.
*/

// procCounts are the counters of a set of processes at one moment, or the
// difference between two moments.
type procCounts struct {
	voluntary, involuntary uint64        // context switches
	cpu                    time.Duration // time on CPU
	syscalls               uint64        // from perf; 0 without it
	perfSwitches           uint64        // perf's context-switches, a cross-check of the two above
}

func (c procCounts) minus(o procCounts) procCounts {
	return procCounts{
		voluntary: c.voluntary - o.voluntary, involuntary: c.involuntary - o.involuntary,
		cpu: c.cpu - o.cpu, syscalls: c.syscalls - o.syscalls, perfSwitches: c.perfSwitches - o.perfSwitches,
	}
}

func (c procCounts) plus(o procCounts) procCounts {
	return procCounts{
		voluntary: c.voluntary + o.voluntary, involuntary: c.involuntary + o.involuntary,
		cpu: c.cpu + o.cpu, syscalls: c.syscalls + o.syscalls, perfSwitches: c.perfSwitches + o.perfSwitches,
	}
}

// readProcCounts sums the context switches and CPU time of every thread of
// the processes pids from /proc; a process that has gone counts nothing.
func readProcCounts(pids []int) procCounts {
	var c procCounts
	for _, pid := range pids {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
		if err != nil {
			continue
		}
		for _, task := range tasks {
			if b, err := os.ReadFile(task + "/status"); err == nil {
				v, n := switchCounts(b)
				c.voluntary += v
				c.involuntary += n
			}
			if b, err := os.ReadFile(task + "/schedstat"); err == nil {
				c.cpu += schedstatCPU(b)
			}
		}
	}
	return c
}

// switchCounts reads voluntary_ctxt_switches and nonvoluntary_ctxt_switches
// out of a /proc status file.
func switchCounts(status []byte) (voluntary, involuntary uint64) {
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "voluntary_ctxt_switches":
			voluntary = n
		case "nonvoluntary_ctxt_switches":
			involuntary = n
		}
	}
	return voluntary, involuntary
}

// schedstatCPU is the first field of a /proc schedstat file: nanoseconds on
// CPU.
func schedstatCPU(schedstat []byte) time.Duration {
	f := strings.Fields(string(schedstat))
	if len(f) == 0 {
		return 0
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0
	}
	return time.Duration(ns)
}

// perfEvents are what perf stat counts.
const perfEvents = "raw_syscalls:sys_enter,context-switches"

// perfCheck says why perf cannot count syscalls here, or nil if it can: it
// counts a trivial command.
func perfCheck(perf string) error {
	if perf == "" {
		return errors.New("no perf given")
	}
	if _, err := exec.LookPath(perf); err != nil {
		return fmt.Errorf("%w (Debian: apt-get install linux-perf)", err)
	}
	out, err := exec.Command(perf, "stat", "-x,", "-e", perfEvents, "--", "true").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s stat -e %s: %w: %s", perf, perfEvents, err, firstLine(out))
	}
	if _, err := parsePerfStat(out); err != nil {
		return fmt.Errorf("%s stat -e %s: %w", perf, perfEvents, err)
	}
	return nil
}

func firstLine(b []byte) string {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line
}

// parsePerfStat reads perf stat's CSV output (-x,): "count,unit,event,...".
// Both events must be there with a count.
func parsePerfStat(out []byte) (procCounts, error) {
	var c procCounts
	found := 0
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ",")
		if len(f) < 3 {
			continue
		}
		var into *uint64
		switch f[2] {
		case "raw_syscalls:sys_enter":
			into = &c.syscalls
		case "context-switches":
			into = &c.perfSwitches
		default:
			continue
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return c, fmt.Errorf("%s: %q", f[2], f[0]) // "<not counted>", "<not supported>"
		}
		*into = n
		found++
	}
	if found != 2 {
		return c, fmt.Errorf("no counts in %q", firstLine(out))
	}
	return c, nil
}

// perfRun is perf stat counting on running processes until stopped.
type perfRun struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

// startPerf starts counting perfEvents on every thread of pids.
func startPerf(perf string, pids []int) (*perfRun, error) {
	list := make([]string, len(pids))
	for i, pid := range pids {
		list[i] = strconv.Itoa(pid)
	}
	p := &perfRun{}
	p.cmd = exec.Command(perf, "stat", "-x,", "-e", perfEvents, "-p", strings.Join(list, ","))
	p.cmd.Stderr = &p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s stat -p %s: %w", perf, strings.Join(list, ","), err)
	}
	return p, nil
}

// stop interrupts perf, which then prints its counts.
func (p *perfRun) stop() (procCounts, error) {
	_ = p.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		return procCounts{}, fmt.Errorf("perf stat did not stop on SIGINT")
	}
	// perf stat exits non-zero after SIGINT on some versions: the counts decide.
	return parsePerfStat(p.out.Bytes())
}

// errPerfRound marks a round whose perf counts came back unusable (perf
// printed "<not counted>", say): countFigures runs such a round once more.
var errPerfRound = errors.New("syscalls not counted this round")

// countRound is one path's counts over one load of one round.
type countRound struct {
	answered     int
	front, whole procCounts // the front process; front and backends
}

// per is v per answered query.
func (r countRound) per(v float64) float64 {
	if r.answered == 0 {
		return 0
	}
	return v / float64(r.answered)
}

// countMetric is one counted figure, read from a round.
type countMetric struct {
	label     string // in the table, under the figure above it if indented
	name      string // standing alone
	needsPerf bool
	of        func(countRound) float64
}

var countMetrics = []countMetric{
	{"front syscalls", "front syscalls", true, func(r countRound) float64 { return r.per(float64(r.front.syscalls)) }},
	{"front context switches", "front context switches", false, func(r countRound) float64 { return r.per(float64(r.front.voluntary + r.front.involuntary)) }},
	{"  voluntary", "front voluntary switches", false, func(r countRound) float64 { return r.per(float64(r.front.voluntary)) }},
	{"  involuntary", "front involuntary switches", false, func(r countRound) float64 { return r.per(float64(r.front.involuntary)) }},
	{"whole path syscalls", "whole path syscalls", true, func(r countRound) float64 { return r.per(float64(r.whole.syscalls)) }},
	{"whole path context switches", "whole path context switches", false, func(r countRound) float64 { return r.per(float64(r.whole.voluntary + r.whole.involuntary)) }},
	{"  voluntary", "whole path voluntary switches", false, func(r countRound) float64 { return r.per(float64(r.whole.voluntary)) }},
	{"  involuntary", "whole path involuntary switches", false, func(r countRound) float64 { return r.per(float64(r.whole.involuntary)) }},
	{"whole path CPU (us, schedstat)", "whole path CPU", false, func(r countRound) float64 { return r.per(float64(r.whole.cpu) / float64(time.Microsecond)) }},
}

// Metric accessors the targets use.
var (
	frontSyscalls = countMetrics[0].of
	frontSwitches = countMetrics[1].of
	wholeCPU      = countMetrics[8].of
)

// spread is the median of v (the upper one of an even count) with its
// minimum and maximum.
type spread struct{ med, lo, hi float64 }

func spreadOf(v []float64) spread {
	if len(v) == 0 {
		return spread{}
	}
	s := append([]float64(nil), v...)
	for i := 1; i < len(s); i++ { // insertion sort: a handful of rounds
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return spread{med: s[len(s)/2], lo: s[0], hi: s[len(s)-1]}
}

// roundRatios is f(a's round i) / f(b's round i) for each round both have,
// so that each ratio compares loads run under the same conditions.
func roundRatios(a, b []countRound, f func(countRound) float64) []float64 {
	return roundRatiosOf(a, f, b, f)
}

// roundRatiosOf is fa(a's round i) / fb(b's round i) for each round both
// have: two figures of two paths, compared round by round.
func roundRatiosOf(a []countRound, fa func(countRound) float64, b []countRound, fb func(countRound) float64) []float64 {
	var out []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		if d := fb(b[i]); d > 0 {
			out = append(out, fa(a[i])/d)
		}
	}
	return out
}

func (s spread) String() string {
	if s.med == 0 && s.lo == 0 && s.hi == 0 {
		return "-"
	}
	return fmt.Sprintf("%s [%s-%s]", num(s.med), num(s.lo), num(s.hi))
}

// num formats a figure with three significant digits or so.
func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// countedPaths are the paths whose counts are taken: the direct path has
// no front process.
func (b *bench) countedPaths() []string {
	var out []string
	for _, p := range b.udpPaths() {
		if p != pathDirect {
			out = append(out, p)
		}
	}
	return out
}

// countFigures runs the counted loads: for each rate, rounds that rotate
// through the paths, in an order that turns by one path each round.
func (b *bench) countFigures() error {
	p := b.plan
	b.perfErr = perfCheck(b.cfg.Perf)
	if b.perfErr != nil {
		b.progress("syscalls not counted: %v", b.perfErr)
	}
	for _, rate := range p.countRates {
		rounds := map[string][]countRound{}
		for round := range p.countRounds {
			for _, path := range rotated(b.countedPaths(), round) {
				r, err := againIfNotCounted(func() (countRound, error) { return b.countLoad(path, rate) }, b.progress)
				if err != nil {
					return err
				}
				rounds[path] = append(rounds[path], r)
			}
		}
		b.rep.Counted[rate] = rounds
	}
	return nil
}

// againIfNotCounted runs load, and once more if perf could not count its
// round: perf now and then reports an event it could not count, and one
// such round should not end a run of several minutes.
func againIfNotCounted(load func() (countRound, error), progress func(string, ...any)) (countRound, error) {
	r, err := load()
	if errors.Is(err, errPerfRound) {
		progress("%v: running the round again", err)
		r, err = load()
	}
	return r, err
}

// rotated is paths starting at paths[k % len(paths)], wrapping around.
func rotated(paths []string, k int) []string {
	k %= len(paths)
	return append(append([]string(nil), paths[k:]...), paths[:k]...)
}

// countLoad runs one load on path at rate and counts what its processes did.
func (b *bench) countLoad(path string, rate int) (countRound, error) {
	front, backends := []int{b.pids[path]}, b.backends[path]
	// /proc is read outside perf's window, so both cover the same time:
	// perf's settling, the load and its grace period.
	f0, k0 := readProcCounts(front), readProcCounts(backends)
	var perfFront, perfBack *perfRun
	if b.perfErr == nil {
		var err error
		if perfFront, err = startPerf(b.cfg.Perf, front); err != nil {
			return countRound{}, err
		}
		if len(backends) > 0 {
			if perfBack, err = startPerf(b.cfg.Perf, backends); err != nil {
				perfFront.stop()
				return countRound{}, err
			}
		}
		time.Sleep(b.plan.perfSettle) // perf attaches to every thread
	}
	res, err := Load{Rate: rate, Duration: b.plan.countTime, Grace: b.plan.grace, Sources: b.sources,
		Targets: b.targets[path], Workers: b.cfg.Workers, Poll: b.cfg.Poll}.Run()
	var cf, ck procCounts
	if perfFront != nil {
		var perr error
		if cf, perr = perfFront.stop(); perr != nil && err == nil {
			err = fmt.Errorf("%w: perf on %s (pid %d): %w", errPerfRound, path, front[0], perr)
		}
	}
	if perfBack != nil {
		var perr error
		if ck, perr = perfBack.stop(); perr != nil && err == nil {
			err = fmt.Errorf("%w: perf on %s's backends: %w", errPerfRound, path, perr)
		}
	}
	f1, k1 := readProcCounts(front), readProcCounts(backends)
	r := countRound{answered: res.Answered, front: f1.minus(f0)}
	back := k1.minus(k0)
	r.front.syscalls, r.front.perfSwitches = cf.syscalls, cf.perfSwitches
	back.syscalls, back.perfSwitches = ck.syscalls, ck.perfSwitches
	r.whole = r.front.plus(back)
	if err != nil {
		return r, fmt.Errorf("%s at %d q/s (counted): %w", path, rate, err)
	}
	b.progress("%-9s %7d q/s offered, counted: answered %d of %d; front %.2f syscalls, %.2f+%.2f switches (perf: %.2f), %.2f us; whole path %.2f syscalls, %.2f switches, %.2f us per query",
		path, rate, res.Answered, res.Sent, r.per(float64(r.front.syscalls)),
		r.per(float64(r.front.voluntary)), r.per(float64(r.front.involuntary)), r.per(float64(r.front.perfSwitches)),
		r.per(float64(r.front.cpu)/1e3), r.per(float64(r.whole.syscalls)),
		r.per(float64(r.whole.voluntary+r.whole.involuntary)), r.per(float64(r.whole.cpu)/1e3))
	time.Sleep(b.plan.pause)
	return r, nil
}
