// A program that calls x/sys's ClockGettime: built for illumos it imports
// libc's "clockgettime", which illumos libc does not export.
package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func main() {
	var ts unix.Timespec
	fmt.Println(unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts), ts)
}
