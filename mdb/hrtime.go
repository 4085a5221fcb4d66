/*
 * hrtime: times as nanoseconds of the system's monotonic clock (CLOCK_MONOTONIC,
 * which is gethrtime(3C) on illumos and counts from boot), the unit of
 * kstat's crtime and snaptime and of the C balancer's hrtime_t fields.
 */

package mdb

import (
	"time"
	"unsafe"

	"github.com/joyent/mname-balancer/evport"
)

// hrClock converts times on the loop's clock to hrtimes: ref (a loop time)
// corresponds to the monotonic clock's reading taken alongside it.
type hrClock struct {
	ref   time.Time
	refHR int64
}

func newHRClock(ref time.Time) hrClock {
	// ref was read by the loop a moment ago; the offset between it and
	// time.Now is what has passed since, which the monotonic reading
	// includes.
	now := time.Now()
	return hrClock{ref: ref, refHR: gethrtime() - int64(now.Sub(ref))}
}

func (c hrClock) hr(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return c.refHR + int64(t.Sub(c.ref))
}

// gethrtime reads the monotonic clock in nanoseconds (evport's binding:
// gethrtime(3C) on illumos).
func gethrtime() int64 { return evport.MonotonicNanos() }

func timerHandle(t *evport.Timer) uintptr { return uintptr(unsafe.Pointer(t)) }
