/*
 * Datagram I/O without allocation: receive and send IPv4 datagrams on a
 * non-blocking UDP socket, the sender's address coming back as plain
 * numbers rather than a freshly allocated unix.Sockaddr.
 *
 * x/sys/unix's exported Recvfrom converts every sender address into a new
 * Sockaddr value, one heap allocation per datagram, which the balancer's
 * packet path must not make. Its unexported recvfrom (the same declaration,
 * `//sys recvfrom(fd int, p []byte, flags int, from *RawSockaddrAny,
 * fromlen *_Socklen)`, on Linux and illumos alike) takes a raw sockaddr
 * buffer; it is reached here by linkname, so Linux tests exercise the very
 * call the illumos build makes. go.mod pins x/sys; the tests in this package
 * catch a changed signature on Linux, where both ports share it.
 *
 * A DatagramSocket keeps its raw address buffers so that nothing escapes per
 * call. It belongs to the loop goroutine.
 */

package evport

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

//go:linkname recvfrom golang.org/x/sys/unix.recvfrom
func recvfrom(fd int, p []byte, flags int, from *unix.RawSockaddrAny, fromlen *uint32) (n int, err error)

// DatagramSocket reads and writes IPv4 datagrams on fd without allocating.
type DatagramSocket struct {
	fd      int
	from    unix.RawSockaddrAny
	fromlen uint32 // a field: passed by pointer to a bodiless (linknamed) function, a local would escape
	to      unix.SockaddrInet4
}

// NewDatagramSocket wraps a bound, non-blocking AF_INET datagram socket.
func NewDatagramSocket(fd int) *DatagramSocket {
	return &DatagramSocket{fd: fd}
}

// RecvFrom reads one datagram into buf and returns its length and the
// sender's IPv4 address (most significant byte first octet) and port. A
// datagram longer than buf is truncated to len(buf) (give a buffer of 64 KiB
// to learn every datagram's true size). unix.EAGAIN means none is waiting.
func (s *DatagramSocket) RecvFrom(buf []byte) (n int, addr uint32, port uint16, err error) {
	s.fromlen = unix.SizeofSockaddrAny
	n, err = recvfrom(s.fd, buf, 0, &s.from, &s.fromlen)
	if err != nil {
		return 0, 0, 0, err
	}
	if s.from.Addr.Family != unix.AF_INET {
		return 0, 0, 0, fmt.Errorf("recvfrom: address family %d is not AF_INET", s.from.Addr.Family)
	}
	in4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&s.from))
	addr = uint32(in4.Addr[0])<<24 | uint32(in4.Addr[1])<<16 | uint32(in4.Addr[2])<<8 | uint32(in4.Addr[3])
	p := (*[2]byte)(unsafe.Pointer(&in4.Port))
	port = uint16(p[0])<<8 | uint16(p[1])
	return n, addr, port, nil
}

// SendTo sends buf as one datagram to addr:port.
func (s *DatagramSocket) SendTo(buf []byte, addr uint32, port uint16) error {
	s.to.Addr = [4]byte{byte(addr >> 24), byte(addr >> 16), byte(addr >> 8), byte(addr)}
	s.to.Port = int(port)
	return unix.Sendto(s.fd, buf, 0, &s.to)
}
