// balstat's own CPU priority on Linux, where a nice value is each
// thread's: every thread the process has is lowered, and threads made
// later inherit it from the one that makes them.

package main

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// yieldCPU lowers balstat's CPU priority to niceness (see main.go).
func yieldCPU(niceness int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("lowering balstat's priority: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.Setpriority(unix.PRIO_PROCESS, tid, niceness); err != nil && err != unix.ESRCH {
			return fmt.Errorf("lowering balstat's priority (thread %d): %w", tid, err)
		}
	}
	return nil
}
