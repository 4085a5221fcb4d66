//go:build linux

package bench

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"
)

/*
The printed table: one section per kind of figure, a column per path, then
the ratios of issue 11's targets with PASS or FAIL (a reading, not a test:
see bench_linux.go).
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
	fmt.Fprintf(out, "          UDP and node-mname figures: %d rounds rotating through the paths, the median round shown\n\n", p.rounds)

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

	if b.cfg.Smoke {
		fmt.Fprintf(out, "\ntargets (smoke run: tiny rates, so these ratios say nothing about speed)\n")
	} else {
		fmt.Fprintf(out, "\ntargets (issue 11; a reading on a shared machine, never a CI failure)\n")
	}
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	target := func(label string, v float64, ok bool, goal string) {
		verdict := "FAIL"
		if ok {
			verdict = "PASS"
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%s\t%s\n", label, v, goal, verdict)
	}
	ratio := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
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
	x = r.RSSPerRemote[pathBBAL]
	target("RSS per remote, bbal (bytes)", x, x <= 200, "<= 200")
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
