package proxy

import "golang.org/x/sys/unix"

// ClientFDs lists the client-side descriptors of the open proxies, for
// tests that inspect the accepted sockets (loop goroutine only).
func (t *TCP) ClientFDs() []int {
	var fds []int
	for p := range t.live {
		fds = append(fds, p.client.FD())
	}
	return fds
}

// LeavesTooFew is the descriptor-reserve rule (leavesTooFew).
var LeavesTooFew = leavesTooFew

// ScanMessages feeds chunks to a fresh message scanner and returns how
// many messages each completed and the bytes of the last one in progress.
func ScanMessages(chunks ...[]byte) (completed []int, partial int) {
	var s msgScanner
	for _, c := range chunks {
		completed = append(completed, s.feed(c))
	}
	return completed, s.have
}

// Progress sums, over the open proxies, the client bytes the deadline
// code has scanned and the client EOFs seen, so that a test on a frozen
// clock knows the loop has taken in what the client sent before it
// advances time.
func (t *TCP) Progress() (scanned uint64, clientEOFs int) {
	for p := range t.live {
		scanned += p.scanned
		if p.clientEOF {
			clientEOFs++
		}
	}
	return scanned, clientEOFs
}

// Forward takes one client datagram to its backend, as a received one is.
func (u *UDP) Forward(msg []byte, addr uint32, port uint16) {
	u.forward(msg, len(msg), addr, port)
}

// Accept hands the TCP path a connection as its listener would, with any
// peer address (the listener's accept(2) yields IPv4 peers only).
func (t *TCP) Accept(fd int, peer unix.Sockaddr) { t.accept(fd, peer) }
