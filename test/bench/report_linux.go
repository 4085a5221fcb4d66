//go:build linux

package bench

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

/*
The printed table: one section per kind of figure, a column per path. The
counted figures (counts_linux.go) come first, then the timed ones, each
marked as a timing. Then the targets: those on counted figures with PASS or
FAIL (issue 19), with the whole path's CPU against the reflector's split
into what the front and what the backends add (the backends' share is a
floor under that ratio for any balancer), and issue 11's targets on timings as readings only, met or
not met: on a shared 2-vCPU machine timings swing too far to judge by
(never a test either way: see bench_linux.go).
*/

func (b *bench) print(start time.Time, load0 string) {
	out := b.cfg.Out
	if out == nil {
		return
	}
	r, p := b.rep, b.plan
	mode := "full"
	if b.cfg.Smoke {
		mode = "smoke (tiny rates: a check that every path answers, not a measurement)"
	}
	fmt.Fprintf(out, "mname-balancer bench, %s, %s\n", mode, start.UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "bbal:     %s\n", fileID(b.cfg.BBAL))
	if b.cfg.Compare != "" {
		fmt.Fprintf(out, "bbal-cmp: %s (compared, in the same run)\n", fileID(b.cfg.Compare))
	}
	fmt.Fprintf(out, "dnsdist:  %s, defaults (no packet cache), round-robin over the 3 UDP echo backends\n", dnsdistVersion(b.cfg.Dnsdist))
	fmt.Fprintf(out, "machine:  %d CPUs, load average %s at start, %s at end; run took %v\n",
		cpus(), load0, loadAvg(), time.Since(start).Round(time.Second))
	fmt.Fprintf(out, "paths:    reflector = 1 recvmmsg/sendmmsg echo process (the ceiling); direct = the 3 UDP echo\n")
	fmt.Fprintf(out, "          backends reached directly; bbal = bbal + 3 backend-protocol echo backends on AF_UNIX;\n")
	fmt.Fprintf(out, "          dnsdist = dnsdist + the same 3 UDP echo backends as direct. All echoes do the same work.\n")
	fmt.Fprintf(out, "cpus:     %s\n", b.placement)
	fmt.Fprintf(out, "load:     open loop, %d source addresses in 127.0.0.0/8 through one socket (IP_PKTINFO);\n", len(b.sources))
	if b.cfg.Poll > 0 {
		fmt.Fprintf(out, "          answers are received polling every %v for the answered and CPU figures, blocking for latency\n", b.cfg.Poll)
	}
	fmt.Fprintf(out, "          counted figures: %d round(s) of %v per path and rate, rotating through the paths\n", p.countRounds, p.countTime)
	if !b.cfg.Counts {
		fmt.Fprintf(out, "          timed UDP and node-mname figures: %d rounds rotating through the paths, the median round shown\n", p.rounds)
	}
	fmt.Fprintln(out)
	b.printCounted()
	if b.cfg.Counts {
		b.printCountTargets()
		return
	}
	fmt.Fprintf(out, "\ntimings (CPU time, rates and latencies: noisy on a shared machine)\n")

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) {
		if len(cells) == 0 {
			fmt.Fprintln(tw)
			return
		}
		cells[0] = fmt.Sprintf("%-44s", cells[0])
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	udp := func(label string, m map[string]Result, f func(Result) string) {
		cells := []string{label}
		for _, path := range b.udpPaths() {
			res, ok := m[path]
			if !ok {
				cells = append(cells, "-")
				continue
			}
			cells = append(cells, f(res))
		}
		row(cells...)
	}
	answered := func(res Result) string { return kq(res.AnsweredRate()) }
	sent := func(res Result) string { return kq(res.SentRate()) }
	pct := func(q float64) func(Result) string {
		return func(res Result) string { return us(res.Percentile(q)) }
	}
	row(append([]string{"UDP"}, b.udpPaths()...)...)
	udp(fmt.Sprintf("answered of %s q/s offered (q/s)", kq(float64(p.overload1))), r.Answered200, answered)
	udp(fmt.Sprintf("answered of %s q/s offered (q/s)", kq(float64(p.overload2))), r.Answered250, answered)
	udp(fmt.Sprintf("  rate the generator achieved at %s", kq(float64(p.overload1))), r.Answered200, sent)
	udp(fmt.Sprintf("  rate the generator achieved at %s", kq(float64(p.overload2))), r.Answered250, sent)
	udp(fmt.Sprintf("answered of %s q/s offered", kq(float64(p.low))), r.At20k, answered)
	udp(fmt.Sprintf("latency p50 at %s q/s (us)", kq(float64(p.low))), r.At20k, pct(0.5))
	udp(fmt.Sprintf("latency p99 at %s q/s (us)", kq(float64(p.low))), r.At20k, pct(0.99))
	udp(fmt.Sprintf("latency p99.9 at %s q/s (us)", kq(float64(p.low))), r.At20k, pct(0.999))
	udp(fmt.Sprintf("latency p99 at %s q/s (us)", kq(float64(p.mid))), r.At50k, pct(0.99))
	cpuRow := func(label string, m map[string]time.Duration) {
		cells := []string{label}
		for _, path := range b.udpPaths() {
			v, ok := m[path]
			if !ok || path == pathDirect {
				cells = append(cells, "-")
				continue
			}
			cells = append(cells, fmt.Sprintf("%.2f", float64(v)/float64(time.Microsecond)))
		}
		row(cells...)
	}
	cpuRow(fmt.Sprintf("CPU per query at %s q/s (us)", kq(float64(p.low))), r.CPU20k)
	cpuRow(fmt.Sprintf("CPU per query at %s q/s (us)", kq(float64(p.mid))), r.CPU50k)
	pathCPU := []string{fmt.Sprintf("CPU per answer at %s, with backends (us)", kq(float64(p.overload1)))}
	for _, path := range b.udpPaths() {
		if v, ok := r.PathCPU200[path]; ok && v > 0 {
			pathCPU = append(pathCPU, fmt.Sprintf("%.2f", float64(v)/float64(time.Microsecond)))
		} else {
			pathCPU = append(pathCPU, "-")
		}
	}
	row(pathCPU...)
	rss := []string{fmt.Sprintf("RSS per remote, %s new remotes (bytes)", kq(float64(p.remotes)))}
	for _, path := range b.udpPaths() {
		if v, ok := r.RSSPerRemote[path]; ok {
			rss = append(rss, fmt.Sprintf("%.0f", v))
		} else {
			rss = append(rss, "-")
		}
	}
	row(rss...)
	row()
	tcpPaths := b.tcpPaths()
	row(append([]string{"TCP"}, tcpPaths...)...)
	tcpRow := func(label string, m map[string]tcpResult) {
		cells := []string{label}
		for _, path := range tcpPaths {
			v := m[path]
			s := kq(v.Rate())
			if v.Errors > 0 {
				s += fmt.Sprintf(" (%d err)", v.Errors)
			}
			cells = append(cells, s)
		}
		row(cells...)
	}
	tcpRow(fmt.Sprintf("queries/s, %d persistent connections", p.tcpConns), r.TCPPersistent)
	tcpRow(fmt.Sprintf("connections/s (1 query each, %d workers)", p.tcpWorkers), r.TCPConns)
	row()
	row(append([]string{"dnsperf (3 instances, 100 outstanding each)"}, tcpPaths...)...)
	dp := []string{"queries/s completed"}
	dl := []string{"average latency (us)"}
	for _, path := range tcpPaths {
		v := r.Dnsperf[path]
		dp = append(dp, kq(v.QPS))
		dl = append(dl, us(v.Latency))
	}
	row(dp...)
	row(dl...)
	row()
	row("node-mname (3 processes)", "direct", "behind bbal")
	nodePaths := []string{"mname direct", "mname bbal"}
	nrow := func(label string, m map[string]Result, f func(Result) string) {
		cells := []string{label}
		for _, path := range nodePaths {
			cells = append(cells, f(m[path]))
		}
		row(cells...)
	}
	nrow(fmt.Sprintf("answered of %s q/s offered", kq(float64(p.nodeRate))), r.NodeOverload, answered)
	nrow(fmt.Sprintf("latency p50 at %s q/s (us)", kq(float64(p.nodeLow))), r.NodeLat, pct(0.5))
	nrow(fmt.Sprintf("latency p99 at %s q/s (us)", kq(float64(p.nodeLow))), r.NodeLat, pct(0.99))
	tw.Flush()

	b.printCountTargets()
	if b.cfg.Smoke {
		fmt.Fprintf(out, "\ntiming readings (smoke run: tiny rates, so these ratios say nothing about speed)\n")
	} else {
		fmt.Fprintf(out, "\ntiming readings (issue 11's targets; timings on this shared machine are read, not judged)\n")
	}
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	target := func(label string, v float64, ok bool, goal string) {
		verdict := "not met"
		if ok {
			verdict = "met"
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%s\t%s\n", label, v, goal, verdict)
	}
	a200 := func(path string) float64 { return r.Answered200[path].AnsweredRate() }
	x := ratio(a200(pathBBAL), a200(pathReflector))
	target(fmt.Sprintf("answered at %s: bbal / reflector", kq(float64(p.overload1))), x, x >= 0.95, ">= 0.95")
	x = ratio(a200(pathBBAL), a200(pathDnsdist))
	target(fmt.Sprintf("answered at %s: bbal / dnsdist", kq(float64(p.overload1))), x, x >= 2, ">= 2")
	x = ratio(r.Answered250[pathBBAL].AnsweredRate(), a200(pathBBAL))
	target(fmt.Sprintf("answered: bbal at %s / bbal at %s (no collapse)", kq(float64(p.overload2)), kq(float64(p.overload1))), x, x >= 0.97, ">= 0.97 (1, less 3% noise)")
	x = ratio(float64(r.CPU20k[pathBBAL]), float64(r.CPU20k[pathDnsdist]))
	target(fmt.Sprintf("CPU per query at %s: bbal / dnsdist", kq(float64(p.low))), x, x > 0 && x <= 0.7, "<= 0.7")
	x = ratio(float64(r.At20k[pathBBAL].Percentile(0.99)), float64(r.At20k[pathDirect].Percentile(0.99)))
	target(fmt.Sprintf("p99 at %s: bbal / direct", kq(float64(p.low))), x, x > 0 && x <= 1.2, "<= 1.2")
	tw.Flush()
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(out, "\nmemory (issue 11's targets; counted, not timed)\n")
	x = r.RSSPerRemote[pathBBAL]
	fmt.Fprintf(tw, "%s\t%.3f\t%s\t%s\n", "RSS per remote, bbal (bytes)", x, "<= 200", passFail(x <= 200))
	fmt.Fprintf(tw, "0 allocations per datagram\t-\tproved by the AllocsPerRun tests (make test)\t\n")
	tw.Flush()
	if note := overloadNote(r, p); note != "" && !b.cfg.Smoke {
		fmt.Fprintf(out, "%s\n", note)
	}
	if b.cfg.Compare == "" {
		return
	}
	fmt.Fprintf(out, "\nbbal / bbal-cmp, the two binaries measured in this run (above 1: bbal has more)\n")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	cmp := func(label string, a, c float64) { fmt.Fprintf(tw, "%s\t%.2f\t\n", label, ratio(a, c)) }
	cmp(fmt.Sprintf("answered at %s", kq(float64(p.overload1))), a200(pathBBAL), a200(pathCompare))
	cmp(fmt.Sprintf("answered at %s", kq(float64(p.overload2))), r.Answered250[pathBBAL].AnsweredRate(), r.Answered250[pathCompare].AnsweredRate())
	cmp(fmt.Sprintf("CPU per query at %s", kq(float64(p.low))), float64(r.CPU20k[pathBBAL]), float64(r.CPU20k[pathCompare]))
	cmp(fmt.Sprintf("CPU per query at %s", kq(float64(p.mid))), float64(r.CPU50k[pathBBAL]), float64(r.CPU50k[pathCompare]))
	cmp(fmt.Sprintf("p50 at %s", kq(float64(p.low))), float64(r.At20k[pathBBAL].Percentile(0.5)), float64(r.At20k[pathCompare].Percentile(0.5)))
	cmp(fmt.Sprintf("p99 at %s", kq(float64(p.low))), float64(r.At20k[pathBBAL].Percentile(0.99)), float64(r.At20k[pathCompare].Percentile(0.99)))
	cmp("RSS per remote", r.RSSPerRemote[pathBBAL], r.RSSPerRemote[pathCompare])
	cmp("TCP queries/s, persistent", r.TCPPersistent[pathBBAL].Rate(), r.TCPPersistent[pathCompare].Rate())
	cmp("TCP connections/s", r.TCPConns[pathBBAL].Rate(), r.TCPConns[pathCompare].Rate())
	cmp("dnsperf queries/s", r.Dnsperf[pathBBAL].QPS, r.Dnsperf[pathCompare].QPS)
	tw.Flush()
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// printCounted prints the counted figures: per rate, a row per figure and
// a column per path, each cell the median of the rounds with their range.
func (b *bench) printCounted() {
	out := b.cfg.Out
	paths := b.countedPaths()
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(cells ...string) {
		cells[0] = fmt.Sprintf("%-44s", cells[0])
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	for i, rate := range b.plan.countRates {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		row(append([]string{fmt.Sprintf("counted, per answered query at %s q/s", kq(float64(rate)))}, paths...)...)
		rounds := b.rep.Counted[rate]
		ans := []string{"  answered of offered, all rounds"}
		for _, path := range paths {
			var n, sent int
			for _, r := range rounds[path] {
				n += r.answered
			}
			sent = rate * int(b.plan.countTime/time.Millisecond) / 1000 * len(rounds[path])
			ans = append(ans, fmt.Sprintf("%s of %s", kq(float64(n)), kq(float64(sent))))
		}
		row(ans...)
		for _, m := range countMetrics {
			cells := []string{m.label}
			for _, path := range paths {
				if m.needsPerf && b.perfErr != nil {
					cells = append(cells, "-")
					continue
				}
				cells = append(cells, b.countSpread(rate, path, m.of).String())
			}
			row(cells...)
		}
	}
	tw.Flush()
	fmt.Fprintf(out, "  (median [min-max] of the rounds; whole path = the front process and its backends;\n")
	fmt.Fprintf(out, "   switches from /proc/PID/task/TID/status, CPU from schedstat")
	if b.perfErr != nil {
		fmt.Fprintf(out, "; syscalls not counted: %v)\n", b.perfErr)
	} else {
		fmt.Fprintf(out, ", syscalls from perf stat -e raw_syscalls:sys_enter)\n")
	}
}

// countSpread is figure f of path at rate over the rounds.
func (b *bench) countSpread(rate int, path string, f func(countRound) float64) spread {
	rounds := b.rep.Counted[rate][path]
	v := make([]float64, len(rounds))
	for i, r := range rounds {
		v[i] = f(r)
	}
	return spreadOf(v)
}

// countRatio is figure f of path a over path c at rate, a ratio per round.
func (b *bench) countRatio(rate int, a, c string, f func(countRound) float64) spread {
	return spreadOf(roundRatios(b.rep.Counted[rate][a], b.rep.Counted[rate][c], f))
}

// countTarget is one of issue 19's targets on the counted figures.
type countTarget struct {
	label    string
	v        spread
	limit    float64 // the figure must be at most this
	needPerf bool
}

// countTargets are issue 19's targets, each read from the figures of the
// run's highest and lowest counted rates (100k and 20k in a full run).
func (b *bench) countTargets() []countTarget {
	rates := b.plan.countRates
	low, high := rates[0], rates[len(rates)-1]
	return []countTarget{
		{fmt.Sprintf("bbal syscalls per query at %s", kq(float64(high))),
			b.countSpread(high, pathBBAL, frontSyscalls), 0.5, true},
		{fmt.Sprintf("whole-path CPU per query at %s: bbal / reflector", kq(float64(high))),
			b.countRatio(high, pathBBAL, pathReflector, wholeCPU), 1.3, false},
		{fmt.Sprintf("whole-path CPU per query at %s: bbal / dnsdist", kq(float64(high))),
			b.countRatio(high, pathBBAL, pathDnsdist, wholeCPU), 0.5, false},
		{fmt.Sprintf("front context switches per query at %s: bbal / dnsdist", kq(float64(low))),
			b.countRatio(low, pathBBAL, pathDnsdist, frontSwitches), 0.6, false},
	}
}

// printCountTargets prints issue 19's targets with PASS or FAIL on the
// median, and, with a compared binary, bbal against it figure by figure.
func (b *bench) printCountTargets() {
	out := b.cfg.Out
	if b.cfg.Smoke {
		fmt.Fprintf(out, "\ntargets on counted figures (smoke run: tiny rates, so these say little)\n")
	} else {
		fmt.Fprintf(out, "\ntargets on counted figures (issue 19; ratios taken within each round: median [min-max])\n")
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, t := range b.countTargets() {
		if t.needPerf && b.perfErr != nil {
			fmt.Fprintf(tw, "%s\t-\t<= %g\tnot counted (perf unavailable)\n", t.label, t.limit)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t<= %g\t%s\n", t.label, t.v, t.limit, passFail(t.v.med > 0 && t.v.med <= t.limit))
	}
	tw.Flush()
	if !b.cfg.Smoke {
		b.printReflectorFloor()
	}
	if b.cfg.Compare == "" {
		return
	}
	fmt.Fprintf(out, "\nbbal / bbal-cmp, counted, ratios within each round (below 1: bbal does less)\n")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, rate := range b.plan.countRates {
		for _, m := range countMetrics {
			if m.needsPerf && b.perfErr != nil {
				continue
			}
			fmt.Fprintf(tw, "at %s: %s\t%s\t\n", kq(float64(rate)), m.name, b.countRatio(rate, pathBBAL, pathCompare, m.of))
		}
	}
	tw.Flush()
}

// The whole path's CPU per query splits into the front's and the
// backends'; the reflector's is its datagram I/O alone, which the front
// does too (the same datagrams through the same recvmmsg and sendmmsg). So
// whole / reflector = front / reflector + backends / reflector, with the
// first term at least about 1: the backends' share alone says how close to
// the reflector any balancer in front of these backends can come.
var (
	frontCPU    = func(r countRound) float64 { return r.per(float64(r.front.cpu) / float64(time.Microsecond)) }
	backendsCPU = func(r countRound) float64 {
		return r.per(float64(r.whole.cpu-r.front.cpu) / float64(time.Microsecond))
	}
)

// reflectorShares is, round by round, the balancer's front and its
// backends' CPU per query over the reflector's: the two terms above.
func reflectorShares(bbal, reflector []countRound) (front, backends []float64) {
	return roundRatiosOf(bbal, frontCPU, reflector, wholeCPU), roundRatiosOf(bbal, backendsCPU, reflector, wholeCPU)
}

// printReflectorFloor prints those two terms at the highest counted rate.
func (b *bench) printReflectorFloor() {
	rates := b.plan.countRates
	high := rates[len(rates)-1]
	out := b.cfg.Out
	fmt.Fprintf(out, "\nwhole-path CPU / reflector at %s, split (not targets): front / reflector + backends / reflector\n", kq(float64(high)))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	front, backends := reflectorShares(b.rep.Counted[high][pathBBAL], b.rep.Counted[high][pathReflector])
	fmt.Fprintf(tw, "  bbal's front process / reflector\t%s\t(the same datagram I/O, and the backend hop)\n", spreadOf(front))
	fmt.Fprintf(tw, "  bbal's 3 echo backends / reflector\t%s\t(their wake-ups, reads and writes: on top of any front)\n", spreadOf(backends))
	tw.Flush()
}

// kq formats a rate in thousands ("153.2k"), or plainly below 1000.
func kq(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

// us formats a duration in microseconds.
func us(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%d", d.Microseconds())
}

// overloadNote says, when the generator could not offer the overload rate
// on the reflector path, what the three overload ratios measure on
// this machine: not capacity against a ceiling, but how much CPU each
// whole path spends per answer while it competes with the generator for the
// same CPUs. Empty when the generator kept up (then the reflector is a
// ceiling).
func overloadNote(r *Report, p plan) string {
	refl := r.Answered200[pathReflector]
	if refl.Sent == 0 || refl.SentRate() >= 0.95*float64(p.overload1) {
		return ""
	}
	note := fmt.Sprintf("note on the three answered ratios: the generator offered only %s of %s q/s on the reflector\n"+
		"path, so this machine cannot show the ceiling. The generator and the path share the CPUs (at %s\n"+
		"the generator sends harder and takes more of them), and what a path answers follows what it\n"+
		"spends per answer",
		kq(refl.SentRate()), kq(float64(p.overload1)), kq(float64(p.overload2)))
	b, c := r.PathCPU200[pathBBAL], r.PathCPU200[pathReflector]
	if b > 0 && c > 0 {
		note += fmt.Sprintf(": bbal with its backends spends %.2fx the reflector's\n"+
			"(\"CPU per answer at %s, with backends\" above)", float64(b)/float64(c), kq(float64(p.overload1)))
	}
	return note
}
