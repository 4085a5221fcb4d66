/*
 * Tests of DatagramSocket over UDP loopback: the sender's address and port
 * come back as numbers (first octet most significant, port in host order),
 * SendTo reaches the address it names, an oversized datagram is truncated
 * to the buffer, EAGAIN means nothing is waiting, and a send plus a receive
 * allocate nothing. On Linux this also exercises the linknamed recvfrom
 * that the illumos build shares. The batches: RecvBatch reads at most
 * DatagramBatch, in order, with true sizes and senders; QueueSend and
 * FlushSends deliver a whole batch, drop only the datagram that fails and
 * report it; and a batch each way allocates nothing.
 */

package evport

import (
	"bytes"
	"testing"
	"time"

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

// sendFrom sends msg from fd to 127.0.0.1:port and fails the test if it
// cannot.
func sendFrom(t *testing.T, fd int, msg []byte, port uint16) {
	t.Helper()
	if err := unix.Sendto(fd, msg, 0, loopback4(int(port))); err != nil {
		t.Fatalf("sendto: %v", err)
	}
}

// recvAll reads batches from s until count datagrams have come (or 5 s
// pass), copying each; it returns them and the batch sizes seen.
func recvAll(t *testing.T, s *DatagramSocket, fd int, count int) (msgs [][]byte, sizes []int, from []uint16, batches []int) {
	t.Helper()
	pfd := make([]unix.PollFd, 1)
	deadline := time.Now().Add(5 * time.Second)
	for len(msgs) < count && time.Now().Before(deadline) {
		if !awaitDatagram(fd, pfd) {
			break
		}
		n, err := s.RecvBatch()
		if err == unix.EAGAIN {
			continue
		}
		if err != nil {
			t.Fatalf("RecvBatch: %v", err)
		}
		batches = append(batches, n)
		for i := 0; i < n; i++ {
			msg, size, addr, port := s.Received(i)
			if addr != loopbackAddr {
				t.Fatalf("datagram %d from %#x", len(msgs), addr)
			}
			msgs = append(msgs, bytes.Clone(msg))
			sizes = append(sizes, size)
			from = append(from, port)
		}
	}
	return msgs, sizes, from, batches
}

func TestRecvBatch(t *testing.T) {
	fa, portA := boundUDP(t)
	fb, portB := boundUDP(t)
	fc, port := boundUDP(t)
	c := NewDatagramSocket(fc)
	if n, err := c.RecvBatch(); n != 0 || err != unix.EAGAIN {
		t.Fatalf("RecvBatch with nothing waiting: %d, %v; want 0, EAGAIN", n, err)
	}
	// DatagramBatch+6 datagrams from two senders, the 10th oversized.
	const count = DatagramBatch + 6
	for i := 0; i < count; i++ {
		msg := []byte{byte(i), byte(i >> 8), 'q'}
		if i == 10 {
			msg = append(pattern(3000), byte(i))
		}
		from := fa
		if i%2 == 1 {
			from = fb
		}
		sendFrom(t, from, msg, port)
	}
	time.Sleep(20 * time.Millisecond) // let loopback deliver them all before the first read
	msgs, sizes, from, batches := recvAll(t, c, fc, count)
	if len(msgs) != count {
		t.Fatalf("received %d of %d datagrams", len(msgs), count)
	}
	if batches[0] != DatagramBatch {
		t.Errorf("first batch of %d, want %d (batches %v)", batches[0], DatagramBatch, batches)
	}
	for _, b := range batches {
		if b > DatagramBatch {
			t.Fatalf("a batch of %d exceeds DatagramBatch", b)
		}
	}
	for i, msg := range msgs {
		wantPort := portA
		if i%2 == 1 {
			wantPort = portB
		}
		if from[i] != wantPort {
			t.Fatalf("datagram %d from port %d, want %d", i, from[i], wantPort)
		}
		if i == 10 {
			if sizes[i] != 3001 || len(msg) != DatagramSlot || !bytes.Equal(msg, pattern(3000)[:DatagramSlot]) {
				t.Fatalf("oversized datagram: size %d, kept %d bytes; want 3001, the first %d", sizes[i], len(msg), DatagramSlot)
			}
			continue
		}
		if want := []byte{byte(i), byte(i >> 8), 'q'}; !bytes.Equal(msg, want) || sizes[i] != 3 {
			t.Fatalf("datagram %d = %v (size %d), want %v", i, msg, sizes[i], want)
		}
	}
}

func TestQueueAndFlushSends(t *testing.T) {
	fa, _ := boundUDP(t)
	fb, portB := boundUDP(t)
	a, b := NewDatagramSocket(fa), NewDatagramSocket(fb)
	if sent, failed, _ := a.FlushSends(); sent != 0 || failed != 0 {
		t.Fatalf("empty flush: sent %d failed %d", sent, failed)
	}
	if a.QueueSend(pattern(DatagramSlot+1), loopbackAddr, portB) {
		t.Fatal("QueueSend took a datagram longer than DatagramSlot")
	}
	for i := 0; i < DatagramBatch; i++ {
		if !a.QueueSend([]byte{byte(i), 'a'}, loopbackAddr, portB) {
			t.Fatalf("QueueSend %d refused", i)
		}
	}
	if a.QueueSend([]byte("one too many"), loopbackAddr, portB) || a.QueuedSends() != DatagramBatch {
		t.Fatalf("a full batch took more (queued %d)", a.QueuedSends())
	}
	sent, failed, first := a.FlushSends()
	if sent != DatagramBatch || failed != 0 || first.Err != nil || a.QueuedSends() != 0 {
		t.Fatalf("flush: sent %d failed %d (%v), %d left queued", sent, failed, first.Err, a.QueuedSends())
	}
	msgs, _, _, _ := recvAll(t, b, fb, DatagramBatch)
	if len(msgs) != DatagramBatch {
		t.Fatalf("received %d of %d", len(msgs), DatagramBatch)
	}
	for i, m := range msgs {
		if !bytes.Equal(m, []byte{byte(i), 'a'}) {
			t.Fatalf("datagram %d = %v", i, m)
		}
	}
}

// A datagram that cannot be sent (to the broadcast address, without
// SO_BROADCAST) is dropped and reported; the ones around it go out.
func TestFlushSendsDropsOnlyTheFailure(t *testing.T) {
	fa, _ := boundUDP(t)
	fb, portB := boundUDP(t)
	a, b := NewDatagramSocket(fa), NewDatagramSocket(fb)
	const broadcast = 0xFFFFFFFF
	a.QueueSend([]byte("first"), loopbackAddr, portB)
	a.QueueSend([]byte("refused"), broadcast, 53)
	a.QueueSend([]byte("third"), loopbackAddr, portB)
	sent, failed, first := a.FlushSends()
	if sent != 2 || failed != 1 || first.Err == nil || first.Addr != broadcast || first.Port != 53 || first.Slot != 1 {
		t.Fatalf("sent %d failed %d first %+v; want 2, 1, the broadcast in slot 1", sent, failed, first)
	}
	msgs, _, _, _ := recvAll(t, b, fb, 2)
	if len(msgs) != 2 || string(msgs[0]) != "first" || string(msgs[1]) != "third" {
		t.Fatalf("received %q", msgs)
	}
}

func TestDatagramBatchesAllocateNothing(t *testing.T) {
	fa, portA := boundUDP(t)
	fb, portB := boundUDP(t)
	a, b := NewDatagramSocket(fa), NewDatagramSocket(fb)
	msg := pattern(64)
	pfd := make([]unix.PollFd, 1)
	bad := 0
	const perRun = 8
	allocs := testing.AllocsPerRun(200, func() {
		for i := 0; i < perRun; i++ {
			if !a.QueueSend(msg, loopbackAddr, portB) {
				bad++
			}
		}
		if sent, _, _ := a.FlushSends(); sent != perRun {
			bad++
		}
		got := 0
		for got < perRun && awaitDatagram(fb, pfd) {
			n, err := b.RecvBatch()
			if err != nil && err != unix.EAGAIN {
				bad++
				break
			}
			for i := 0; i < n; i++ {
				if m, _, _, port := b.Received(i); len(m) != len(msg) || port != portA {
					bad++
				}
			}
			got += n
		}
		if got != perRun {
			bad++
		}
	})
	if bad != 0 {
		t.Fatalf("%d batch operations went wrong", bad)
	}
	if allocs != 0 {
		t.Fatalf("a batch of %d each way allocates %v times", perRun, allocs)
	}
}
