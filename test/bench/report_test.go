//go:build linux

package bench

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The overload note appears exactly when the generator fell short of the
// overload rate on the reflector path, and then gives the rate it reached
// and how bbal's path compares per answer.
func TestOverloadNoteOnlyWhenTheGeneratorFellShort(t *testing.T) {
	p := fullPlan
	offered := func(rate int) *Report {
		r := newReport()
		sent := int(int64(rate) * int64(p.overloadTime) / int64(time.Second))
		r.Answered200[pathReflector] = Result{Sent: sent, Answered: sent, SendTime: p.overloadTime, Duration: p.overloadTime}
		r.PathCPU200[pathReflector] = 8 * time.Microsecond
		r.PathCPU200[pathBBAL] = 12 * time.Microsecond
		return r
	}
	if note := overloadNote(offered(p.overload1), p); note != "" {
		t.Errorf("generator kept up, yet a note: %q", note)
	}
	if note := overloadNote(offered(p.overload1*96/100), p); note != "" {
		t.Errorf("generator within 5%%, yet a note: %q", note)
	}
	note := overloadNote(offered(120_000), p)
	for _, want := range []string{"offered only 120.0k of 200.0k q/s", "spends 1.50x the reflector's"} {
		if !strings.Contains(note, want) {
			t.Errorf("note %q lacks %q", note, want)
		}
	}
	if note := overloadNote(newReport(), p); note != "" {
		t.Errorf("no reflector figure, yet a note: %q", note)
	}
}

// The median of rounds is the middle one, the upper middle of an even count,
// whatever order the rounds came in.
func TestMedianOf(t *testing.T) {
	id := func(d time.Duration) time.Duration { return d }
	if got := medianOf([]time.Duration{30, 10, 20}, id); got != 20 {
		t.Errorf("median of 30 10 20: %v", got)
	}
	if got := medianOf([]time.Duration{40, 10, 30, 20}, id); got != 30 {
		t.Errorf("median of 40 10 30 20: %v, want the upper middle 30", got)
	}
}

// Ratios between paths are taken round by round, then summarised: with a
// slow second round for both paths, the ratio of the medians (2) would hide
// that each round's ratio is 1.
func TestRoundRatiosWithinEachRound(t *testing.T) {
	rounds := func(cpus ...time.Duration) []countRound {
		var out []countRound
		for _, c := range cpus {
			out = append(out, countRound{answered: 1, whole: procCounts{cpu: c}})
		}
		return out
	}
	a := rounds(10*time.Microsecond, 40*time.Microsecond, 12*time.Microsecond)
	b := rounds(5*time.Microsecond, 20*time.Microsecond, 12*time.Microsecond)
	got := spreadOf(roundRatios(a, b, wholeCPU))
	if got != (spread{med: 2, lo: 1, hi: 2}) {
		t.Errorf("ratios of rounds (10/5, 40/20, 12/12): %+v, want median 2, 1-2", got)
	}
	a = rounds(10*time.Microsecond, 20*time.Microsecond, 30*time.Microsecond)
	b = rounds(10*time.Microsecond, 5*time.Microsecond, 60*time.Microsecond)
	if got := spreadOf(roundRatios(a, b, wholeCPU)); got != (spread{med: 1, lo: 0.5, hi: 4}) {
		t.Errorf("ratios of rounds (10/10, 20/5, 30/60): %+v, want median 1, 0.5-4", got)
	}
	if got := roundRatios(a, rounds(0, 5*time.Microsecond), wholeCPU); len(got) != 1 || got[0] != 4 {
		t.Errorf("a round with nothing to divide by, or missing, gives no ratio: %v", got)
	}
}

// The split of the whole path's CPU against the reflector: the backends'
// share is the whole path's less the front's, over the reflector's whole
// (it has no backends, so its own backends' share would divide by zero).
func TestBackendsShareOfReflector(t *testing.T) {
	bbal := []countRound{
		{answered: 2, front: procCounts{cpu: 12 * time.Microsecond}, whole: procCounts{cpu: 20 * time.Microsecond}},
		{answered: 1, front: procCounts{cpu: 7 * time.Microsecond}, whole: procCounts{cpu: 10 * time.Microsecond}},
	}
	refl := []countRound{
		{answered: 2, front: procCounts{cpu: 10 * time.Microsecond}, whole: procCounts{cpu: 10 * time.Microsecond}},
		{answered: 1, front: procCounts{cpu: 6 * time.Microsecond}, whole: procCounts{cpu: 6 * time.Microsecond}},
	}
	front, got := reflectorShares(bbal, refl)
	if len(got) != 2 || got[0] != 0.8 || got[1] != 0.5 {
		t.Errorf("backends / reflector per round: %v, want [0.8 0.5] (8/10 and 3/6)", got)
	}
	if len(front) != 2 || front[0] != 1.2 || front[1] != 7.0/6 {
		t.Errorf("front / reflector per round: %v, want [1.2 1.1666]", front)
	}
}

func TestParsePerfStat(t *testing.T) {
	out := "\n41,,raw_syscalls:sys_enter,1043538,100.00,,\n3,,context-switches,1043538,100.00,0.003,K/sec\n"
	c, err := parsePerfStat([]byte(out))
	if err != nil || c.syscalls != 41 || c.perfSwitches != 3 {
		t.Errorf("parsePerfStat: %+v, %v; want 41 syscalls, 3 switches", c, err)
	}
	for _, bad := range []string{
		"<not counted>,,raw_syscalls:sys_enter,0,0.00,,\n3,,context-switches,1,100.00,,\n",
		"3,,context-switches,1,100.00,,\n",
		"event syntax error: 'raw_syscalls:sys_enter'\n",
	} {
		if c, err := parsePerfStat([]byte(bad)); err == nil {
			t.Errorf("parsePerfStat(%q) = %+v, want an error", bad, c)
		}
	}
}

func TestProcCountParsers(t *testing.T) {
	status := "Name:\tbbal\nvoluntary_ctxt_switches:\t1234\nnonvoluntary_ctxt_switches:\t56\n"
	if v, n := switchCounts([]byte(status)); v != 1234 || n != 56 {
		t.Errorf("switchCounts: %d, %d; want 1234, 56", v, n)
	}
	if got := schedstatCPU([]byte("123456789 2000 17\n")); got != 123456789*time.Nanosecond {
		t.Errorf("schedstatCPU: %v", got)
	}
}

// Without perf the syscall target says it was not counted, never PASS or
// FAIL; the others are judged on the median of the rounds' ratios.
func TestCountTargetsVerdicts(t *testing.T) {
	r := newReport()
	// One round per cpu given, each of 100 queries.
	rounds := func(switches uint64, cpus ...time.Duration) []countRound {
		var out []countRound
		for _, cpu := range cpus {
			out = append(out, countRound{answered: 100,
				front: procCounts{syscalls: 100, voluntary: switches * 100},
				whole: procCounts{cpu: cpu * 100}})
		}
		return out
	}
	us := time.Microsecond
	p := plan{countRates: []int{20_000, 100_000}}
	r.Counted[20_000] = map[string][]countRound{
		pathBBAL: rounds(1, us), pathDnsdist: rounds(2, us), pathReflector: rounds(1, us)}
	// bbal / dnsdist by round: 0.6, 0.45, 0.4 (the median passes, the
	// worst round would not); bbal / reflector: 1.2, 1.35, 1.2.
	r.Counted[100_000] = map[string][]countRound{
		pathBBAL:      rounds(1, 12*us, 9*us, 12*us),
		pathDnsdist:   rounds(1, 20*us, 20*us, 30*us),
		pathReflector: rounds(1, 10*us, 6666*time.Nanosecond, 10*us)}
	var out strings.Builder
	b := &bench{plan: p, rep: r, cfg: Config{Out: &out}, perfErr: errors.New("no perf")}
	b.printCountTargets()
	for _, want := range []string{
		"bbal syscalls per query at 100.0k  -  <= 0.5  not counted (perf unavailable)",
		"bbal / reflector  1.20 [1.20-1.35]  <= 1.3  PASS",
		"bbal / dnsdist  0.45 [0.40-0.60]  <= 0.5  PASS",
		"front context switches per query at 20.0k: bbal / dnsdist  0.50 [0.50-0.50]  <= 0.6  PASS",
	} {
		if !strings.Contains(strings.Join(strings.Fields(out.String()), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("targets lack %q:\n%s", want, out.String())
		}
	}
}

// Each round of counted loads starts one path further on, so that over the
// rounds every path is measured in every position.
func TestRotatedOrder(t *testing.T) {
	paths := []string{"a", "b", "c"}
	for k, want := range []string{"a b c", "b c a", "c a b", "a b c"} {
		if got := strings.Join(rotated(paths, k), " "); got != want {
			t.Errorf("rotated(%v, %d) = %s, want %s", paths, k, got, want)
		}
	}
	if strings.Join(paths, " ") != "a b c" {
		t.Errorf("rotated changed its argument: %v", paths)
	}
}

// A round perf could not count is run once more; a second such round, or
// any other error, ends the run.
func TestAgainIfNotCounted(t *testing.T) {
	quiet := func(string, ...any) {}
	for _, tc := range []struct {
		errs  []error
		calls int
		fails bool
	}{
		{[]error{nil}, 1, false},
		{[]error{fmt.Errorf("%w: perf on bbal", errPerfRound), nil}, 2, false},
		{[]error{errPerfRound, errPerfRound}, 2, true},
		{[]error{errors.New("generator failed")}, 1, true},
	} {
		calls := 0
		_, err := againIfNotCounted(func() (countRound, error) {
			calls++
			return countRound{answered: calls}, tc.errs[calls-1]
		}, quiet)
		if calls != tc.calls || (err != nil) != tc.fails {
			t.Errorf("errors %v: %d loads, error %v; want %d loads, failing %v", tc.errs, calls, err, tc.calls, tc.fails)
		}
	}
}
