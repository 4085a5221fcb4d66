/*
 * Read-only views of the loop for the operator's tools (package mdb): the
 * pending timers, as the C balancer's g_timeouts showed them, or only their
 * number (what a metrics scrape needs, without describing each). Call these
 * on the loop only (Post first); they never change anything.
 */

package evport

import (
	"cmp"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"time"
)

// TimerInfo describes one scheduled timer.
type TimerInfo struct {
	Timer       *Timer        // the timer itself, a stable handle
	ScheduledAt time.Time     // when Reset (or the periodic reschedule) last ran
	When        time.Time     // when it is due
	Seq         uint64        // scheduling order; breaks ties between equal When
	Period      time.Duration // 0 for a one-shot timer
	Func        string        // the callback's name, e.g. "backend.(*Backend).heartbeatDue"
}

// NumTimers is the number of scheduled timers (AppendTimers' length,
// without describing them).
func (l *Loop) NumTimers() int { return len(l.timers) }

// AppendTimers appends every scheduled timer to dst, soonest first.
func (l *Loop) AppendTimers(dst []TimerInfo) []TimerInfo {
	start := len(dst)
	for _, t := range l.timers {
		dst = append(dst, TimerInfo{
			Timer:       t,
			ScheduledAt: t.set,
			When:        t.when,
			Seq:         t.seq,
			Period:      t.period,
			Func:        funcName(t.fn),
		})
	}
	slices.SortFunc(dst[start:], func(a, b TimerInfo) int {
		if c := a.When.Compare(b.When); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	return dst
}

// funcName is a readable name for a callback: the function's name without
// its module path and without the "-fm" of a method value.
func funcName(fn func()) string {
	if fn == nil {
		return ""
	}
	f := runtime.FuncForPC(reflect.ValueOf(fn).Pointer())
	if f == nil {
		return "?"
	}
	name := strings.TrimSuffix(f.Name(), "-fm")
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return name
}
