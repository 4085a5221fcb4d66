//go:build !(illumos && cgo)

// Kernel kstats need illumos and cgo (github.com/illumos/go-kstat); this
// build has neither, and says so.

package main

import (
	"fmt"
	"runtime"

	"github.com/joyent/mname-balancer/mdb/view"
)

func kernelKstats() ([]view.Kstat, error) {
	return nil, fmt.Errorf("-k reads the kernel's kstats and needs balstat built for illumos with cgo (this build is %s/%s without them)",
		runtime.GOOS, runtime.GOARCH)
}
