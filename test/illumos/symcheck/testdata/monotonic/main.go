// A program that reads the monotonic clock through evport (gethrtime on
// illumos): built for illumos it imports only names libc exports.
package main

import (
	"fmt"

	"github.com/joyent/mname-balancer/evport"
)

func main() { fmt.Println(evport.MonotonicNanos()) }
