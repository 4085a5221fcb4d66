// The control socket's peer check on Linux: SO_PEERCRED.

package mdb

import "golang.org/x/sys/unix"

// fdPeerUID is the effective user ID of the peer of the socket fd.
func fdPeerUID(fd uintptr) (int, error) {
	u, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return -1, err
	}
	return int(u.Uid), nil
}
