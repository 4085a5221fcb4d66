package evport

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Resume called from inside the Conn's own Received must not offer the same
// bytes a second time (the handler is already looking at them).
func TestResumeInsideReceivedOffersOnce(t *testing.T) {
	l := newTestLoop(t)
	a, b := socketpair(t)
	rec := newRecorder(t, "reader")
	rec.onReceived = func(c *Conn, data []byte) int {
		c.Resume()
		return len(data)
	}
	if _, err := NewConn(l, a, rec, ConnConfig{}); err != nil {
		t.Fatal(err)
	}
	msg := []byte("offered exactly once")
	if _, err := unix.Write(b, msg); err != nil {
		t.Fatal(err)
	}
	runUntil(t, l, 5*time.Second, "bytes received", func() bool { return len(rec.data) >= len(msg) })
	if !bytes.Equal(rec.data, msg) {
		t.Fatalf("handler consumed %q, want %q once", rec.data, msg)
	}
}

// Post after Close drops the work instead of writing to a closed pipe fd
// (whose number may already belong to someone else).
func TestPostAfterCloseIsDropped(t *testing.T) {
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	wakeW := l.wakeW
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Reuse the wake-up pipe's write-end number for a pipe of our own.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	l.Post(func() { t.Error("posted work ran after Close") })
	if p[1] != wakeW {
		t.Logf("the new pipe did not reuse fd %d; checking the queue only", wakeW)
	}
	var buf [8]byte
	if n, _ := unix.Read(p[0], buf[:]); n > 0 {
		t.Fatalf("Post after Close wrote %d bytes into a reused fd", n)
	}
	if len(l.posted) != 0 {
		t.Fatalf("Post after Close queued work")
	}
}
