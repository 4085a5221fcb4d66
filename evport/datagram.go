/*
 * Datagram I/O without allocation: receive and send IPv4 datagrams on a
 * non-blocking UDP socket, one at a time or in batches, the peers' addresses
 * staying plain numbers rather than freshly allocated unix.Sockaddrs.
 *
 * One at a time: RecvFrom and SendTo, over each binding's recvfrom and
 * sendto. x/sys/unix's exported Recvfrom converts every sender address
 * into a new Sockaddr value, one heap allocation per datagram, which the
 * balancer's packet path must not make. On Linux (datagram_linux.go) its
 * unexported recvfrom, which takes a raw sockaddr buffer, is reached by
 * linkname, and Sendto is x/sys's own. On illumos (datagram_illumos.go)
 * both are libsocket calls made through the raw path, as port_associate
 * is: x/sys's recvfrom and sendto go through sysvicall6, which hands the
 * P off for a blocking call, once per datagram; on a non-blocking socket
 * they cannot block.
 *
 * In batches, the interface the UDP proxy uses: RecvBatch reads up to
 * DatagramBatch waiting datagrams at once and Received(i) returns each;
 * QueueSend copies an answer into the send batch and FlushSends sends the
 * batch. On Linux a batch is one recvmmsg(2) or sendmmsg(2) over headers,
 * iovecs, address buffers and slots allocated once with the socket; on
 * illumos, which has neither, the same interface loops over recvfrom and
 * sendto. Each received datagram keeps at most DatagramSlot bytes but
 * reports its true size, so the caller can tell and report an oversized
 * one.
 *
 * A DatagramSocket belongs to the loop goroutine.
 */

package evport

import (
	"fmt"
	"unsafe"

	"github.com/joyent/mname-balancer/internal/ipv4"
	"golang.org/x/sys/unix"
)

// DatagramBatch is how many datagrams RecvBatch reads, and FlushSends
// sends, at most in one go.
const DatagramBatch = 64

// DatagramSlot is how many bytes of each datagram a batch keeps (larger
// ones are reported with their size, truncated), and the largest answer
// QueueSend takes.
const DatagramSlot = 2048

// DatagramSocket reads and writes IPv4 datagrams on fd without allocating.
type DatagramSocket struct {
	fd      int
	from    unix.RawSockaddrAny
	fromlen uint32 // a field: passed by pointer to a bodiless (linknamed) function, a local would escape

	// Received datagrams: sizes (true, possibly > DatagramSlot), senders.
	rsize [DatagramBatch]int
	raddr [DatagramBatch]uint32
	rport [DatagramBatch]uint16
	rbuf  *[DatagramBatch][DatagramSlot]byte

	// Queued answers.
	tn    int
	tlen  [DatagramBatch]int
	taddr [DatagramBatch]uint32
	tport [DatagramBatch]uint16
	tbuf  *[DatagramBatch][DatagramSlot]byte

	batchIO // the platform's batch machinery and send address
}

// SendFailure describes the first queued datagram that FlushSends could
// not send.
type SendFailure struct {
	Err  error
	Addr uint32
	Port uint16
	Len  int // the datagram's length
	Slot int // its place in the flushed batch, from 0 (QueuedSends before its QueueSend)
}

// NewDatagramSocket wraps a bound, non-blocking AF_INET datagram socket.
func NewDatagramSocket(fd int) *DatagramSocket {
	s := &DatagramSocket{
		fd:   fd,
		rbuf: new([DatagramBatch][DatagramSlot]byte),
		tbuf: new([DatagramBatch][DatagramSlot]byte),
	}
	s.initBatchIO()
	return s
}

// RecvFrom reads one datagram into buf and returns its length and the
// sender's IPv4 address (most significant byte first octet) and port. A
// datagram longer than buf is truncated to len(buf) (give a buffer of 64 KiB
// to learn every datagram's true size). unix.EAGAIN means none is waiting.
func (s *DatagramSocket) RecvFrom(buf []byte) (n int, addr uint32, port uint16, err error) {
	s.fromlen = unix.SizeofSockaddrAny
	n, err = s.recvfrom(buf)
	if err != nil {
		return 0, 0, 0, err
	}
	if s.from.Addr.Family != unix.AF_INET {
		return 0, 0, 0, fmt.Errorf("recvfrom: address family %d is not AF_INET", s.from.Addr.Family)
	}
	addr, port = inet4((*unix.RawSockaddrInet4)(unsafe.Pointer(&s.from)))
	return n, addr, port, nil
}

// SendTo sends buf as one datagram to addr:port.
func (s *DatagramSocket) SendTo(buf []byte, addr uint32, port uint16) error {
	return s.sendto(buf, addr, port)
}

// RecvBatch reads up to DatagramBatch waiting datagrams and returns how
// many; Received(i) returns each. With none waiting it returns 0 and
// unix.EAGAIN. A datagram from other than an IPv4 sender (never, on this
// AF_INET socket) is skipped on Linux; on illumos it ends the batch,
// unreported if datagrams were read before it, and otherwise RecvBatch
// returns 0 and RecvFrom's error for it.
func (s *DatagramSocket) RecvBatch() (int, error) { return s.recvBatch() }

// Received returns datagram i (0 <= i < the last RecvBatch's count): its
// bytes (at most DatagramSlot of them, valid until the next RecvBatch), its
// true size, and its sender's address and port.
func (s *DatagramSocket) Received(i int) (msg []byte, size int, addr uint32, port uint16) {
	size = s.rsize[i]
	return s.rbuf[i][:min(size, DatagramSlot)], size, s.raddr[i], s.rport[i]
}

// QueueSend copies msg into the send batch, for addr:port, and reports
// whether it did: not when the batch is full (FlushSends first) or msg is
// longer than DatagramSlot (send that one with SendTo).
func (s *DatagramSocket) QueueSend(msg []byte, addr uint32, port uint16) bool {
	if s.tn == DatagramBatch || len(msg) > DatagramSlot {
		return false
	}
	i := s.tn
	s.tlen[i] = copy(s.tbuf[i][:], msg)
	s.taddr[i], s.tport[i] = addr, port
	s.tn++
	return true
}

// QueuedSends is how many datagrams wait for FlushSends.
func (s *DatagramSocket) QueuedSends() int { return s.tn }

// FlushSends sends the queued datagrams and empties the batch. It reports
// how many were sent and how many could not be (those are dropped), with
// the first failure.
func (s *DatagramSocket) FlushSends() (sent, failed int, first SendFailure) {
	if s.tn == 0 {
		return 0, 0, SendFailure{}
	}
	sent, failed, first = s.flushSends()
	s.tn = 0
	return sent, failed, first
}

// dropSend accounts for queued datagram i failing with err, in a flush
// that has failed failed datagrams so far: the flush's first failure is
// kept in *first, and EAGAIN (the socket's buffer is full) drops the rest
// of the batch with it, any other error this datagram only. It returns how
// many datagrams are dropped.
func (s *DatagramSocket) dropSend(i int, err error, failed int, first *SendFailure) int {
	if failed == 0 {
		*first = SendFailure{Err: err, Addr: s.taddr[i], Port: s.tport[i], Len: s.tlen[i], Slot: i}
	}
	if err == unix.EAGAIN {
		return s.tn - i
	}
	return 1
}

// inet4 reads an IPv4 socket address as numbers.
func inet4(in4 *unix.RawSockaddrInet4) (addr uint32, port uint16) {
	addr = ipv4.FromBytes(in4.Addr)
	p := (*[2]byte)(unsafe.Pointer(&in4.Port))
	return addr, uint16(p[0])<<8 | uint16(p[1])
}

// setInet4 writes addr:port into an IPv4 socket address.
func setInet4(in4 *unix.RawSockaddrInet4, addr uint32, port uint16) {
	in4.Family = unix.AF_INET
	in4.Addr = ipv4.Bytes(addr)
	p := (*[2]byte)(unsafe.Pointer(&in4.Port))
	p[0], p[1] = byte(port>>8), byte(port)
}
