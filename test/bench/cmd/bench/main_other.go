//go:build !linux

package main

import (
	"fmt"
	"os"
)

// The bench drives Linux interfaces (recvmmsg, IP_PKTINFO, /proc).
func main() {
	fmt.Fprintln(os.Stderr, "bench: Linux only")
	os.Exit(1)
}
