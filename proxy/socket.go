/*
 * Listening sockets for the proxies: the UDP socket and the TCP listener
 * share one address and port (SPEC §6, §7), both with SO_REUSEADDR, both
 * non-blocking and close-on-exec. Failing to create or bind either is
 * reported with the address, so the daemon can log it as fatal.
 */

package proxy

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// tcpBacklog is the C balancer's listen backlog.
const tcpBacklog = 1000

func bindSocket(typ int, addr netip.AddrPort) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("setsockopt SO_REUSEADDR: %w", err)
	}
	sa := &unix.SockaddrInet4{Addr: addr.Addr().As4(), Port: int(addr.Port())}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind %v: %w", addr, err)
	}
	return fd, nil
}

// boundPort reports the port the kernel chose when asked for port 0.
func boundPort(fd int) (uint16, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return 0, fmt.Errorf("getsockname: %w", err)
	}
	in4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		return 0, fmt.Errorf("getsockname: not an IPv4 address")
	}
	return uint16(in4.Port), nil
}
