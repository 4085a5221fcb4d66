// balstat's own CPU priority on illumos, where setpriority(3C) on the
// process applies to all its LWPs.

package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// yieldCPU lowers balstat's CPU priority to niceness (see main.go).
func yieldCPU(niceness int) error {
	if err := unix.Setpriority(unix.PRIO_PROCESS, 0, niceness); err != nil {
		return fmt.Errorf("lowering balstat's priority: %w", err)
	}
	return nil
}
