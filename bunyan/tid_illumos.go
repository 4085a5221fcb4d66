/*
The writing thread's ID on illumos: the LWP ID, the number illumos-bunyan
logs as tid (it calls thr_self(3C); in illumos libc, thr_self and
pthread_self return curthread->ul_lwpid, the same value as _lwp_self(2))
and that prstat -L, pstack and mdb show.

How it is reached without cgo: x/sys has no wrapper for thr_self or
_lwp_self, so this file does what x/sys does for every libc function: a
dynamic import of thr_self from libc.so (go:cgo_import_dynamic, which the
compiler allows outside cgo for exactly this use) called through x/sys's
unexported rawSysvicall6, reached by linkname as evport/port_illumos.go
reaches it for port_associate. rawSysvicall6 (runtime's syscall_rawsysvicall6) switches to the
system stack for the call but, unlike sysvicall6, does not enter a blocking
system call: right for a function that only reads the thread's own
structure.

Alternatives considered: the runtime keeps the same number in m.procid
(runtime/os3_solaris.go, minit: pthread_self()), but nothing exported or
linkname-able returns it, and the linker refuses pull linknames to runtime
internals (-checklinkname, Go 1.23); a raw syscall instruction for
_lwp_self would bypass libc, which illumos does not promise as an
interface.

No cache, as on Linux: goroutines move between threads.
*/

package bunyan

import (
	"syscall"
	"unsafe"

	_ "golang.org/x/sys/unix" // defines rawSysvicall6, linked below
)

// The local name must begin with "libc_": on illumos the assembler takes
// the address of such symbols absolutely (useAbs in cmd/internal/obj/x86),
// which the linker turns into a PLT address; any other name gets a
// PC-relative address the linker cannot resolve for a dynamic import.
// "_bunyan" keeps it apart from any other package's import of thr_self.
//
//go:cgo_import_dynamic libc_bunyan_thr_self thr_self "libc.so"
//go:linkname libcThrSelf libc_bunyan_thr_self
var libcThrSelf uintptr

//go:linkname rawSysvicall6 golang.org/x/sys/unix.rawSysvicall6
func rawSysvicall6(trap, nargs, a1, a2, a3, a4, a5, a6 uintptr) (r1, r2 uintptr, err syscall.Errno)

// threadID returns the LWP ID of the OS thread running the caller.
func threadID() int {
	id, _, _ := rawSysvicall6(uintptr(unsafe.Pointer(&libcThrSelf)), 0, 0, 0, 0, 0, 0, 0)
	return int(uint32(id)) // thread_t is 32 bits: the register's upper half is not part of it
}
