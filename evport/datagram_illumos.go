//go:build illumos

/*
 * The illumos batches of DatagramSocket: illumos has no recvmmsg or
 * sendmmsg (nor does x/sys for it), so a batch is a loop of recvfrom and
 * sendto calls behind the same interface as Linux's. A datagram is read
 * into one 64 KiB buffer, so that its true size is known, and its first
 * DatagramSlot bytes are copied into the batch's slot.
 */

package evport

import "golang.org/x/sys/unix"

type batchIO struct {
	scratch []byte
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
