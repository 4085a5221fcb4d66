//go:build linux

package bench

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
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

	// A frame echo's misbehaviours, for the soak.
	flapEnv     = "BENCH_FLAP_MS"  // an unknown frame this many ms after each hello
	victimEnv   = "BENCH_VICTIM"   // IP:PORT that gets answers it never asked for...
	spuriousEnv = "BENCH_SPURIOUS" // ...this many of them, once SIGUSR1 arms it
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
		if ms, _ := strconv.Atoi(os.Getenv(flapEnv)); ms > 0 {
			e.flapAfter = time.Duration(ms) * time.Millisecond
		}
		if v := os.Getenv(victimEnv); v != "" {
			ap, err := netip.ParseAddrPort(v)
			if err != nil || !ap.Addr().Is4() {
				return fmt.Errorf("bad %s %q", victimEnv, v)
			}
			n, _ := strconv.Atoi(os.Getenv(spuriousEnv))
			a := ap.Addr().As4()
			e.spurious = &spurious{addr: binary.BigEndian.Uint32(a[:]), port: ap.Port(), data: make([]byte, 1500)}
			e.spurious.left.Store(int64(n))
			arm := make(chan os.Signal, 1)
			signal.Notify(arm, syscall.SIGUSR1)
			go func() {
				<-arm
				e.spurious.armed.Store(true)
			}()
		}
		fmt.Println("ready")
		e.serve()
		return nil
	}
	return fmt.Errorf("unknown role (want %s)", strings.Join([]string{roleUDPEcho, roleFrameEcho}, " or "))
}
