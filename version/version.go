// Package version says which build of the balancer is running: the version
// stamped at build time, the Go toolchain that built it, and the platform.
//
// The Makefile stamps the version with the linker ("-X
// github.com/joyent/mname-balancer/version.stamped=$(VERSION)", VERSION
// from "git describe" in the repository) in every build it makes: make,
// the release and Binder's build, the last two built with -buildvcs=false
// so that they stay reproducible:
// the same commit gives the same version and the same bytes. A binary built
// without the Makefile (go build, go install) carries what the Go toolchain
// recorded instead: the module version, or the VCS revision and whether the
// tree was modified.
package version

import (
	"runtime"
	"runtime/debug"
)

// stamped is set by the linker (-X); empty when the Makefile did not build
// the binary.
var stamped string

// Unknown is the version of a binary that carries none.
const Unknown = "unknown"

// String is the version of this build: the stamped one, else the module
// version or the VCS revision the toolchain recorded, else Unknown.
func String() string {
	if stamped != "" {
		return stamped
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Unknown
	}
	return fromBuildInfo(bi)
}

// fromBuildInfo is the version the Go toolchain recorded in bi.
func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var revision, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if revision == "" {
		return Unknown
	}
	if len(revision) > 12 {
		revision = revision[:12]
	}
	if modified == "true" {
		revision += "-dirty"
	}
	return revision
}

// Go is the version of the Go toolchain that built this binary.
func Go() string { return runtime.Version() }

// Line is the one line "-V" prints: the program, its version, the Go
// version and the platform.
func Line(program string) string {
	return program + " " + String() + " (" + Go() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
