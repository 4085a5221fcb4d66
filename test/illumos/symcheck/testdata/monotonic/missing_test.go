package main

import (
	"testing"
	_ "unsafe" // go:linkname
)

// A test file's own import of a name no illumos library has: the check
// attributes it to this package's test binary.
//
//go:cgo_import_dynamic libc_symcheck_missing symcheck_missing "libc.so"
//go:linkname libcSymcheckMissing libc_symcheck_missing
var libcSymcheckMissing uintptr

func TestMissing(t *testing.T) { t.Log(&libcSymcheckMissing) }
