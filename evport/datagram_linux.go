//go:build linux

/*
 * The Linux batches of DatagramSocket: one recvmmsg(2) reads up to
 * DatagramBatch datagrams, one sendmmsg(2) sends the queued answers, both
 * raw system calls (x/sys has no wrappers) over message headers, iovecs and
 * sender/destination addresses built once, in initBatchIO, pointing at the
 * socket's own slots: nothing is allocated per call.
 *
 * recvmmsg gets MSG_TRUNC, so each header's msg_len is the datagram's true
 * size even when the slot kept only its first DatagramSlot bytes (udp(7)),
 * and no timeout: the socket is non-blocking, so it returns what is waiting,
 * or EAGAIN. sendmmsg returns how many datagrams it sent; when that is fewer
 * than asked, the next one failed, and sending again from it makes the
 * failure that one datagram's error: it is dropped, the rest go on (an
 * EAGAIN, a full socket buffer, drops the rest of the batch instead).
 */

package evport

import (
	"unsafe"

	"github.com/joyent/mname-balancer/internal/ipv4"
	"golang.org/x/sys/unix"
)

type batchIO struct {
	rhdr  [DatagramBatch]unix.Mmsghdr
	riov  [DatagramBatch]unix.Iovec
	rname [DatagramBatch]unix.RawSockaddrInet4
	thdr  [DatagramBatch]unix.Mmsghdr
	tiov  [DatagramBatch]unix.Iovec
	tname [DatagramBatch]unix.RawSockaddrInet4
	to    unix.SockaddrInet4 // SendTo's destination
}

// x/sys's unexported recvfrom (`//sys recvfrom(fd int, p []byte, flags
// int, from *RawSockaddrAny, fromlen *_Socklen)`), which fills a raw
// sockaddr instead of allocating a Sockaddr. go.mod pins x/sys; this
// package's tests catch a changed signature.
//
//go:linkname xsysRecvfrom golang.org/x/sys/unix.recvfrom
func xsysRecvfrom(fd int, p []byte, flags int, from *unix.RawSockaddrAny, fromlen *uint32) (n int, err error)

// recvfrom reads one datagram into buf, its sender into s.from.
func (s *DatagramSocket) recvfrom(buf []byte) (int, error) {
	return xsysRecvfrom(s.fd, buf, 0, &s.from, &s.fromlen)
}

// sendto sends buf to addr:port.
func (s *DatagramSocket) sendto(buf []byte, addr uint32, port uint16) error {
	s.to.Addr = ipv4.Bytes(addr)
	s.to.Port = int(port)
	return unix.Sendto(s.fd, buf, 0, &s.to)
}

func (s *DatagramSocket) initBatchIO() {
	for i := range DatagramBatch {
		s.riov[i].Base = &s.rbuf[i][0]
		s.riov[i].SetLen(DatagramSlot)
		s.rhdr[i].Hdr.Iov = &s.riov[i]
		s.rhdr[i].Hdr.SetIovlen(1)
		s.rhdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&s.rname[i]))

		s.tiov[i].Base = &s.tbuf[i][0]
		s.thdr[i].Hdr.Iov = &s.tiov[i]
		s.thdr[i].Hdr.SetIovlen(1)
		s.thdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&s.tname[i]))
		s.thdr[i].Hdr.Namelen = unix.SizeofSockaddrInet4
	}
}

func (s *DatagramSocket) recvBatch() (int, error) {
	for i := range DatagramBatch {
		s.rhdr[i].Hdr.Namelen = unix.SizeofSockaddrInet4
		s.rhdr[i].Hdr.Flags = 0
	}
	for {
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.rhdr[0])),
			DatagramBatch, unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		n := 0
		for i := 0; i < int(r); i++ {
			if s.rname[i].Family != unix.AF_INET {
				continue // not IPv4: the socket is AF_INET, so never
			}
			if n != i {
				s.rbuf[n], s.rbuf[i] = s.rbuf[i], s.rbuf[n] // keep slots in step; never in practice
			}
			s.rsize[n] = int(s.rhdr[i].Len)
			s.raddr[n], s.rport[n] = inet4(&s.rname[i])
			n++
		}
		return n, nil
	}
}

func (s *DatagramSocket) flushSends() (sent, failed int, first SendFailure) {
	for i := range s.tn {
		s.tiov[i].SetLen(s.tlen[i])
		setInet4(&s.tname[i], s.taddr[i], s.tport[i])
	}
	for next := 0; next < s.tn; {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.thdr[next])),
			uintptr(s.tn-next), unix.MSG_DONTWAIT, 0, 0)
		switch {
		case errno == unix.EINTR:
			continue
		case errno == 0 && r > 0:
			sent += int(r)
			next += int(r)
			continue
		case errno == 0:
			errno = unix.EIO // sent none, said nothing: never expected
		}
		dropped := s.dropSend(next, errno, failed, &first)
		failed += dropped
		next += dropped
	}
	return sent, failed, first
}
