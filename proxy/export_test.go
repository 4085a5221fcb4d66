package proxy

// ClientFDs lists the client-side descriptors of the open proxies, for
// tests that inspect the accepted sockets (loop goroutine only).
func (t *TCP) ClientFDs() []int {
	var fds []int
	for p := range t.live {
		fds = append(fds, p.client.FD())
	}
	return fds
}

// ScanMessages feeds chunks to a fresh message scanner and returns how
// many messages each completed and the bytes of the last one in progress.
func ScanMessages(chunks ...[]byte) (completed []int, partial int) {
	var s msgScanner
	for _, c := range chunks {
		completed = append(completed, s.feed(c))
	}
	return completed, s.have
}
