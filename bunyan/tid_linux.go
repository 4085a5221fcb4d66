/*
The writing thread's ID on Linux: gettid(2), the number ps -L and
/proc/PID/task show. The call is a plain system call without errors and
without allocation (x/sys makes it with RawSyscallNoError); it is made once
per enabled record, never for a disabled one.

No cache: a goroutine may move between threads at any call, so a value
remembered per goroutine would be wrong, and Go has no thread-local storage
to remember it per thread.
*/

package bunyan

import "golang.org/x/sys/unix"

// threadID returns the ID of the OS thread running the caller.
func threadID() int { return unix.Gettid() }
