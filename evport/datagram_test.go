/*
 * Tests of DatagramSocket over UDP loopback: the sender's address and port
 * come back as numbers (first octet most significant, port in host order),
 * SendTo reaches the address it names, an oversized datagram is truncated
 * to the buffer, EAGAIN means nothing is waiting, and a send plus a receive
 * allocate nothing. On Linux this also exercises the linknamed recvfrom
 * that the illumos build shares.
 */

package evport

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// boundUDP returns a non-blocking UDP socket bound to 127.0.0.1 on a free
// port, closed at the end of the test, and its port.
func boundUDP(t *testing.T) (int, uint16) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("socket: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, loopback4(0)); err != nil {
		t.Fatalf("bind: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("getsockname: %v", err)
	}
	return fd, uint16(sa.(*unix.SockaddrInet4).Port)
}

const loopbackAddr = 0x7F000001 // 127.0.0.1

// awaitDatagram waits (up to 5 s) until fd has a datagram to read:
// loopback delivery is usually done when sendto returns, but not always.
// pfd is the caller's, so that waiting allocates nothing.
func awaitDatagram(fd int, pfd []unix.PollFd) bool {
	pfd[0] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
	n, err := unix.Poll(pfd, 5000)
	return err == nil && n == 1
}

func TestDatagramRoundTrip(t *testing.T) {
	fa, portA := boundUDP(t)
	fb, portB := boundUDP(t)
	a, b := NewDatagramSocket(fa), NewDatagramSocket(fb)
	buf := make([]byte, 2048)

	if _, _, _, err := b.RecvFrom(buf); err != unix.EAGAIN {
		t.Fatalf("RecvFrom with nothing waiting: %v, want EAGAIN", err)
	}
	query := pattern(512)
	if err := a.SendTo(query, loopbackAddr, portB); err != nil {
		t.Fatalf("SendTo: %v", err)
	}
	pfd := make([]unix.PollFd, 1)
	if !awaitDatagram(fb, pfd) {
		t.Fatal("datagram not delivered")
	}
	n, addr, port, err := b.RecvFrom(buf)
	if err != nil {
		t.Fatalf("RecvFrom: %v", err)
	}
	if !bytes.Equal(buf[:n], query) {
		t.Fatalf("received %d bytes, not the %d sent", n, len(query))
	}
	if addr != loopbackAddr || port != portA {
		t.Fatalf("sender %#x:%d, want %#x:%d", addr, port, uint32(loopbackAddr), portA)
	}
	// And back to the address RecvFrom reported.
	if err := b.SendTo([]byte("answer"), addr, port); err != nil {
		t.Fatalf("SendTo: %v", err)
	}
	if !awaitDatagram(fa, pfd) {
		t.Fatal("reply not delivered")
	}
	n, addr, port, err = a.RecvFrom(buf)
	if err != nil || string(buf[:n]) != "answer" || addr != loopbackAddr || port != portB {
		t.Fatalf("reply: %q from %#x:%d (%v)", buf[:n], addr, port, err)
	}
}

func TestDatagramTruncatedToBuffer(t *testing.T) {
	fa, _ := boundUDP(t)
	fb, portB := boundUDP(t)
	a, b := NewDatagramSocket(fa), NewDatagramSocket(fb)
	big := pattern(1600)
	if err := a.SendTo(big, loopbackAddr, portB); err != nil {
		t.Fatal(err)
	}
	if !awaitDatagram(fb, make([]unix.PollFd, 1)) {
		t.Fatal("datagram not delivered")
	}
	small := make([]byte, 100)
	n, _, _, err := b.RecvFrom(small)
	if err != nil || n != len(small) || !bytes.Equal(small, big[:100]) {
		t.Fatalf("RecvFrom into 100 bytes: n %d err %v", n, err)
	}
	// The rest of that datagram is gone, not delivered as another.
	if _, _, _, err := b.RecvFrom(small); err != unix.EAGAIN {
		t.Fatalf("after a truncated datagram: %v, want EAGAIN", err)
	}
}

func TestDatagramAllocatesNothing(t *testing.T) {
	fa, _ := boundUDP(t)
	fb, portB := boundUDP(t)
	a, b := NewDatagramSocket(fa), NewDatagramSocket(fb)
	msg := pattern(64)
	buf := make([]byte, 1500)
	pfd := make([]unix.PollFd, 1)
	bad := 0
	allocs := testing.AllocsPerRun(500, func() {
		if err := a.SendTo(msg, loopbackAddr, portB); err != nil || !awaitDatagram(fb, pfd) {
			bad++
		}
		if n, _, _, err := b.RecvFrom(buf); err != nil || n != len(msg) {
			bad++
		}
	})
	if bad != 0 {
		t.Fatalf("%d sends or receives failed", bad)
	}
	if allocs != 0 {
		t.Fatalf("SendTo+RecvFrom allocate %v times", allocs)
	}
}
