//go:build !linux && !illumos

// balstat's own CPU priority elsewhere: left as it is.

package main

// yieldCPU does nothing on this OS.
func yieldCPU(int) error { return nil }
