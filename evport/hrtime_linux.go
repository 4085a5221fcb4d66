//go:build linux

// The monotonic clock on Linux: clock_gettime(CLOCK_MONOTONIC), the clock
// gethrtime(3C) is on illumos (hrtime_illumos.go).

package evport

import "golang.org/x/sys/unix"

// MonotonicNanos reads the system's monotonic clock in nanoseconds.
func MonotonicNanos() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic("clock_gettime(CLOCK_MONOTONIC): " + err.Error()) // cannot fail: the clock and the pointer are valid
	}
	return ts.Nano()
}
