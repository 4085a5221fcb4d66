//go:build linux

package bench

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

/*
Batched datagram I/O through the raw recvmmsg(2) and sendmmsg(2) syscalls
(x/sys/unix has the numbers but no wrappers), with every header, iovec,
address and control buffer allocated once: after newBatch nothing on the
datagram path allocates.
*/

// mmsghdr is struct mmsghdr: a msghdr and the byte count the kernel fills.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// batchSize is how many datagrams one syscall moves at most.
const batchSize = 64

// pktinfoSpace is the control space of one IP_PKTINFO message.
var pktinfoSpace = unix.CmsgSpace(unix.SizeofInet4Pktinfo)

// batch is a set of preallocated datagram slots.
type batch struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	bufs  [][]byte
	names []unix.RawSockaddrInet4
	ctrl  []byte
	size  int
}

// newBatch makes n slots of bufSize bytes each, with an address per slot
// and, if pktinfo, room for an IP_PKTINFO control message per slot.
func newBatch(n, bufSize int, pktinfo bool) *batch {
	b := &batch{
		hdrs:  make([]mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		bufs:  make([][]byte, n),
		names: make([]unix.RawSockaddrInet4, n),
		size:  bufSize,
	}
	slab := make([]byte, n*bufSize)
	if pktinfo {
		b.ctrl = make([]byte, n*pktinfoSpace)
	}
	for i := range b.hdrs {
		b.bufs[i] = slab[i*bufSize : (i+1)*bufSize : (i+1)*bufSize]
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(bufSize)
		h := &b.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Namelen = unix.SizeofSockaddrInet4
		h.Iov = &b.iovs[i]
		h.Iovlen = 1
		if pktinfo {
			c := b.ctrl[i*pktinfoSpace : (i+1)*pktinfoSpace]
			cm := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
			cm.Level = unix.IPPROTO_IP
			cm.Type = unix.IP_PKTINFO
			cm.SetLen(unix.CmsgLen(unix.SizeofInet4Pktinfo))
			h.Control = &c[0]
			h.SetControllen(pktinfoSpace)
		}
	}
	return b
}

// setSource makes slot i leave from addr (IP_PKTINFO's ipi_spec_dst).
func (b *batch) setSource(i int, addr [4]byte) {
	c := b.ctrl[i*pktinfoSpace:]
	info := (*unix.Inet4Pktinfo)(unsafe.Pointer(&c[unix.CmsgLen(0)]))
	info.Spec_dst = addr
}

// setLen sets the length slot i sends.
func (b *batch) setLen(i, n int) { b.iovs[i].SetLen(n) }

// data returns the bytes received in slot i by the last recv.
func (b *batch) data(i int) []byte { return b.bufs[i][:b.hdrs[i].n] }

// recv receives up to len(slots) datagrams (at least one, then whatever is
// queued: MSG_WAITFORONE) on the blocking socket fd.
func (b *batch) recv(fd int) (int, error) { return b.recvFlags(fd, unix.MSG_WAITFORONE) }

// poll receives whatever is queued on fd, up to len(slots) datagrams,
// without waiting (EAGAIN when there is nothing).
func (b *batch) poll(fd int) (int, error) { return b.recvFlags(fd, unix.MSG_DONTWAIT) }

func (b *batch) recvFlags(fd, flags int) (int, error) {
	for i := range b.hdrs {
		b.hdrs[i].hdr.Namelen = unix.SizeofSockaddrInet4
		b.iovs[i].SetLen(b.size)
	}
	for {
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd),
			uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), uintptr(flags), 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(r), nil
	}
}

// send sends slots [0, n) on fd, retrying until all are gone. Datagrams
// the kernel refuses (ECONNREFUSED from an earlier ICMP, ENOBUFS) are
// skipped: this is load, not a conversation.
func (b *batch) send(fd, n int) error {
	off := 0
	for off < n {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd),
			uintptr(unsafe.Pointer(&b.hdrs[off])), uintptr(n-off), 0, 0, 0)
		switch {
		case errno == unix.EINTR || errno == unix.EAGAIN:
			continue
		case errno == unix.ECONNREFUSED || errno == unix.ENOBUFS || errno == unix.EPERM:
			off++ // this datagram is lost; go on with the rest
		case errno != 0:
			return fmt.Errorf("sendmmsg: %w", errno)
		default:
			off += int(r)
		}
	}
	return nil
}

// udpSocket opens a blocking IPv4 UDP socket bound to addr:port (port 0:
// any), with large buffers; rcvTimeout, if set, bounds each receive.
func udpSocket(addr [4]byte, port int, reuse bool) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("udp socket: %w", err)
	}
	const bufBytes = 8 << 20
	for _, opt := range [][2]int{{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF}, {unix.SO_SNDBUFFORCE, unix.SO_SNDBUF}} {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt[0], bufBytes) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt[1], bufBytes)
		}
	}
	if reuse {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: addr, Port: port}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("udp bind %v:%d: %w", addr, port, err)
	}
	return fd, nil
}

// setRecvTimeout bounds each blocking receive on fd.
func setRecvTimeout(fd int, ms int) error {
	tv := unix.NsecToTimeval(int64(ms) * 1e6)
	return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
}

// rawAddr fills a sockaddr_in for addr:port.
func rawAddr(addr [4]byte, port int) unix.RawSockaddrInet4 {
	sa := unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: addr}
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	return sa
}
