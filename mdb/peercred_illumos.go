// The control socket's peer check on illumos: getpeerucred(3C).

package mdb

import "golang.org/x/sys/unix"

// fdPeerUID is the effective user ID of the peer of the socket fd.
func fdPeerUID(fd uintptr) (int, error) {
	u, err := unix.GetPeerUcred(fd)
	if err != nil {
		return -1, err
	}
	return u.Geteuid(), nil
}
