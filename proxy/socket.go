/*
 * Listening sockets for the proxies: the UDP socket and the TCP listener
 * share one address and port (docs/contract.md), both with SO_REUSEADDR, both
 * non-blocking and close-on-exec. Failing to create or bind either is
 * reported with the address, so the daemon can log it as fatal.
 */

package proxy

import (
	"fmt"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// SocketStep is the system call of a listening socket's set-up that
// failed.
type SocketStep int

// The steps, in order.
const (
	StepSocket    SocketStep = iota // socket(3SOCKET)
	StepReuseAddr                   // setsockopt SO_REUSEADDR
	StepBind                        // bind(3SOCKET)
	StepListen                      // listen(3SOCKET), TCP only
)

var stepNames = [...]string{
	StepSocket:    "socket",
	StepReuseAddr: "setsockopt SO_REUSEADDR",
	StepBind:      "bind",
	StepListen:    "listen",
}

// String is the step as a call: "socket", "setsockopt SO_REUSEADDR",
// "bind", "listen".
func (s SocketStep) String() string {
	if s >= 0 && int(s) < len(stepNames) {
		return stepNames[s]
	}
	return "step " + strconv.Itoa(int(s))
}

// SocketError is a failed system call while setting up a listening
// socket, wrapped in what ListenUDP and ListenTCP return, so the daemon can
// log the C balancer's record for the step that failed.
type SocketError struct {
	Step SocketStep
	Err  error
}

func (e *SocketError) Error() string { return e.Step.String() + ": " + e.Err.Error() }
func (e *SocketError) Unwrap() error { return e.Err }

// tcpBacklog is the C balancer's listen backlog.
const tcpBacklog = 1000

func bindSocket(typ int, addr netip.AddrPort) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, &SocketError{StepSocket, err}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, &SocketError{StepReuseAddr, err}
	}
	sa := &unix.SockaddrInet4{Addr: addr.Addr().As4(), Port: int(addr.Port())}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("%v: %w", addr, &SocketError{StepBind, err})
	}
	return fd, nil
}

// Keep-alive on accepted TCP connections, as the C balancer set it
// (cserver.c): the first probe after 1 s idle, then one a second, and the
// connection is dropped after 15 unanswered, so a client that vanished (and
// the backend session behind it) is gone in about 16 s, not the system's
// two hours.
const (
	keepaliveIdle     = 1 // seconds before the first probe
	keepaliveInterval = 1 // seconds between probes
	keepaliveCount    = 15
)

// setKeepalive turns keep-alive on for fd with the C balancer's timings.
// Only SO_KEEPALIVE failing is an error; the timings are best effort, as
// they were in C.
func setKeepalive(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
		return fmt.Errorf("setsockopt SO_KEEPALIVE: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, keepaliveIdle)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPCNT, keepaliveCount)
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, keepaliveInterval)
	return nil
}

// checkSocket checks that fd is a bound AF_INET socket of type typ (and,
// for a stream, listening), makes it non-blocking and close-on-exec, and
// returns the address it is bound to.
func checkSocket(fd, typ int) (netip.AddrPort, error) {
	got, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("getsockopt SO_TYPE: %w", err)
	}
	if got != typ {
		return netip.AddrPort{}, fmt.Errorf("socket type %d, want %d", got, typ)
	}
	if typ == unix.SOCK_STREAM {
		if on, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || on == 0 {
			return netip.AddrPort{}, fmt.Errorf("not a listening socket (SO_ACCEPTCONN %d, %v)", on, err)
		}
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("getsockname: %w", err)
	}
	in4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("not an IPv4 socket")
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		return netip.AddrPort{}, fmt.Errorf("set non-blocking: %w", err)
	}
	return netip.AddrPortFrom(netip.AddrFrom4(in4.Addr), uint16(in4.Port)), nil
}
