// The control socket's peer check on illumos: getpeerucred(3C).

package mdb

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerUID is the effective user ID of the process at the other end of c.
func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	uid := -1
	var cerr error
	err = raw.Control(func(fd uintptr) {
		var u *unix.Ucred
		u, cerr = unix.GetPeerUcred(fd)
		if cerr == nil {
			uid = u.Geteuid()
		}
	})
	if err != nil {
		return -1, err
	}
	return uid, cerr
}
