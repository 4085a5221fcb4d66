//go:build linux

package bench

import (
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
