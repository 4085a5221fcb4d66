//go:build illumos

/*
 * The illumos binding of DatagramSocket: illumos has no recvmmsg or
 * sendmmsg (nor does x/sys for it), so a batch is a loop of recvfrom and
 * sendto calls, each through the raw path (no scheduler hand-off), behind
 * the same interface as Linux's. A datagram is read
 * into one 64 KiB buffer, so that its true size is known, and its first
 * DatagramSlot bytes are copied into the batch's slot.
 */

package evport

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

type batchIO struct {
	scratch []byte
	to      unix.RawSockaddrInet4 // SendTo's destination
}

// recvfrom(3SOCKET) and sendto(3SOCKET) from libsocket, as x/sys imports
// them (sendto under its XPG name, __xnet_sendto, with a socklen_t length),
// but called through rawSysvicall6: the socket is non-blocking, so neither
// can block, and the runtime need not hand the P off around each call as
// sysvicall6 (x/sys's recvfrom and sendto) does. "_evport" keeps the local
// names apart from x/sys's; they begin with "libc_" for the assembler (see
// bunyan/tid_illumos.go).
//
//go:cgo_import_dynamic libc_evport_recvfrom recvfrom "libsocket.so"
//go:cgo_import_dynamic libc_evport___xnet_sendto __xnet_sendto "libsocket.so"
//go:linkname procRecvfrom libc_evport_recvfrom
//go:linkname procSendto libc_evport___xnet_sendto
var procRecvfrom, procSendto uintptr

// recvfrom reads one datagram into buf, its sender into s.from (s.fromlen
// in: its size; out: the address's length). The pointers are converted to
// uintptr in the call expression (unsafe.Pointer rule (4); port_illumos.go).
func (s *DatagramSocket) recvfrom(buf []byte) (int, error) {
	var p0 *byte
	if len(buf) > 0 {
		p0 = &buf[0]
	}
	r, _, errno := rawSysvicall6(uintptr(unsafe.Pointer(&procRecvfrom)), 6, uintptr(s.fd),
		uintptr(unsafe.Pointer(p0)), uintptr(len(buf)), 0,
		uintptr(unsafe.Pointer(&s.from)), uintptr(unsafe.Pointer(&s.fromlen)))
	return result(r, errno)
}

// sendto sends buf to addr:port.
func (s *DatagramSocket) sendto(buf []byte, addr uint32, port uint16) error {
	setInet4(&s.to, addr, port)
	var p0 *byte
	if len(buf) > 0 {
		p0 = &buf[0]
	}
	r, _, errno := rawSysvicall6(uintptr(unsafe.Pointer(&procSendto)), 6, uintptr(s.fd),
		uintptr(unsafe.Pointer(p0)), uintptr(len(buf)), 0,
		uintptr(unsafe.Pointer(&s.to)), unix.SizeofSockaddrInet4)
	_, err := result(r, errno)
	return err
}

func (s *DatagramSocket) initBatchIO() {
	s.scratch = make([]byte, 64<<10)
}

func (s *DatagramSocket) recvBatch() (int, error) {
	n := 0
	for n < DatagramBatch {
		size, addr, port, err := s.RecvFrom(s.scratch)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if n > 0 {
				break // return what was read: a socket error comes back next time; a non-IPv4 datagram, already read, is dropped
			}
			return 0, err
		}
		copy(s.rbuf[n][:], s.scratch[:min(size, DatagramSlot)])
		s.rsize[n], s.raddr[n], s.rport[n] = size, addr, port
		n++
	}
	return n, nil
}

func (s *DatagramSocket) flushSends() (sent, failed int, first SendFailure) {
	for i := 0; i < s.tn; {
		err := s.SendTo(s.tbuf[i][:s.tlen[i]], s.taddr[i], s.tport[i])
		switch err {
		case unix.EINTR:
		case nil:
			sent++
			i++
		default:
			dropped := s.dropSend(i, err, failed, &first)
			failed += dropped
			i += dropped
		}
	}
	return sent, failed, first
}
