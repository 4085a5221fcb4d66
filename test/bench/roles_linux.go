//go:build linux

package bench

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
)

/*
The echo backends run as child processes of the bench binary itself (so
that their CPU is not the generator's and a balancer's /proc figures are its
own): the runner starts os.Executable() with BENCH_ROLE set, and RunRole,
called first thing by main (and by TestMain), serves that role instead of
returning. A role prints "ready" when it listens ("hello" for each control
session a frame echo accepts) and exits when its stdin closes, so a runner
that dies takes its children with it.
*/

// Role environment: which role, and its address (host:port or socket path).
const (
	roleEnv = "BENCH_ROLE"
	addrEnv = "BENCH_ADDR"
)

// Roles.
const (
	roleUDPEcho   = "udp-echo"   // UDP and TCP echo on BENCH_ADDR (host:port)
	roleFrameEcho = "frame-echo" // backend-protocol echo at BENCH_ADDR (a path)
)

// RunRole serves the role named in the environment and never returns if
// there is one; without one it returns at once.
func RunRole() {
	role := os.Getenv(roleEnv)
	if role == "" {
		return
	}
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	if err := runRole(role, os.Getenv(addrEnv)); err != nil {
		fmt.Fprintf(os.Stderr, "bench %s %s: %v\n", role, os.Getenv(addrEnv), err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runRole(role, addr string) error {
	switch role {
	case roleUDPEcho:
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !ap.Addr().Is4() {
			return fmt.Errorf("bad address %q", addr)
		}
		fd, err := udpSocket(ap.Addr().As4(), int(ap.Port()), true)
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp4", addr)
		if err != nil {
			return err
		}
		go serveTCPEcho(ln)
		fmt.Println("ready")
		return serveUDPEcho(fd)
	case roleFrameEcho:
		h := &helloCounter{w: os.Stdout}
		e, err := listenFrameEcho(addr, h.hello)
		if err != nil {
			return err
		}
		fmt.Println("ready")
		e.serve()
		return nil
	}
	return fmt.Errorf("unknown role (want %s)", strings.Join([]string{roleUDPEcho, roleFrameEcho}, " or "))
}
