// The control socket's peer check: which user is at the other end. The
// question is asked of the socket's fd through one call per OS
// (peercred_linux.go, peercred_illumos.go).

package mdb

import "net"

// peerUID is the effective user ID of the process at the other end of c.
func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	uid := -1
	var cerr error
	err = raw.Control(func(fd uintptr) { uid, cerr = fdPeerUID(fd) })
	if err != nil {
		return -1, err
	}
	return uid, cerr
}
