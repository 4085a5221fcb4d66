//go:build illumos

/*
 * The monotonic clock on illumos: gethrtime(3C), the high-resolution time
 * the C balancer used (libc, SUNW_0.7), in nanoseconds since an arbitrary
 * point (boot), the clock of kstat's crtime and snaptime.
 *
 * Not x/sys's unix.ClockGettime: on solaris and illumos, x/sys v0.50.0
 * imports it from libc as "clockgettime" (zsyscall_solaris_amd64.go), a name
 * illumos libc does not export (it has clock_gettime), so a binary that
 * links it cannot start. test/illumos/symcheck catches any such import.
 *
 * The call is made as the other bindings here make theirs: a dynamic import
 * of the libc function, called through x/sys's rawSysvicall6 (reached by
 * linkname): gethrtime reads the clock without entering the kernel's
 * blocking paths, so no scheduler hand-off. It returns hrtime_t, 64 bits in
 * the result register, and cannot fail.
 */

package evport

import "unsafe"

// The local name begins with "libc_" (see bunyan/tid_illumos.go: the
// assembler must take the address absolutely); "_evport" keeps it apart
// from any other package's import of gethrtime.
//
//go:cgo_import_dynamic libc_evport_gethrtime gethrtime "libc.so"
//go:linkname procGethrtime libc_evport_gethrtime
var procGethrtime uintptr

// MonotonicNanos reads the system's monotonic clock in nanoseconds
// (gethrtime(3C)).
func MonotonicNanos() int64 {
	r, _, _ := rawSysvicall6(uintptr(unsafe.Pointer(&procGethrtime)), 0, 0, 0, 0, 0, 0, 0)
	return int64(r)
}
