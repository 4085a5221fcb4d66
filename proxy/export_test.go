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
