/*
 * Tests of the loop and Conn under misuse and at their edges: Resume from
 * inside Received, Post after Close, Fail, a truncated message at EOF, and
 * the receive buffer's growth under a busy stream.
 */

package evport

import (
	"bytes"
	"errors"
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

// Post after Close drops the work instead of waking a closed Port (whose
// fd number may already belong to someone else).
func TestPostAfterCloseIsDropped(t *testing.T) {
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l.Post(func() { t.Error("posted work ran after Close") })
	if len(l.posted) != 0 || l.wakePending {
		t.Fatalf("Post after Close queued work (%d) or woke the closed Port (%v)", len(l.posted), l.wakePending)
	}
}

// Fail stops Run and makes it return the error; Close twice is harmless.
func TestFailStopsRunWithError(t *testing.T) {
	l, err := New()
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("listener deaf")
	l.NewTimer(func() { l.Fail(boom) }).Reset(0)
	if err := l.Run(); !errors.Is(err, boom) {
		t.Fatalf("Run returned %v, want %v", err, boom)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// AtEOF lets a handler that consumes whole messages tell a truncated one
// (the peer is gone) from one still arriving.
func TestAtEOFWithPartialMessage(t *testing.T) {
	l := newTestLoop(t)
	a, b := socketpair(t)
	rec := newRecorder(t, "reader")
	sawEOFWithBytes := false
	rec.onReceived = func(c *Conn, data []byte) int {
		if c.AtEOF() && len(data) == 3 {
			sawEOFWithBytes = true
		}
		return 0 // waiting for a 4-byte message that never completes
	}
	if _, err := NewConn(l, a, rec, ConnConfig{}); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(b, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	unix.Shutdown(b, unix.SHUT_WR)
	runUntil(t, l, 5*time.Second, "Received at EOF", func() bool { return sawEOFWithBytes })
	if rec.eof != 0 {
		t.Fatal("EOF reported while unconsumed bytes remain")
	}
}

// A busy stream is read in growing chunks, not 4 KiB at a time.
func TestReceiveBufferGrowsUnderLoad(t *testing.T) {
	l := newTestLoop(t)
	a, b := socketpair(t)
	rec := newRecorder(t, "reader")
	c, err := NewConn(l, a, rec, ConnConfig{RecvBuffer: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	const total = 1 << 20
	go func() {
		data := pattern(total)
		for len(data) > 0 {
			n, err := unix.Write(b, data)
			if err == unix.EAGAIN {
				time.Sleep(time.Millisecond)
				continue
			}
			if err != nil {
				return
			}
			data = data[n:]
		}
	}()
	runUntil(t, l, 10*time.Second, "1 MiB received", func() bool { return len(rec.data) >= total })
	if !bytes.Equal(rec.data, pattern(total)) {
		t.Fatal("bytes corrupted")
	}
	if cap(c.rbuf) <= initialRecvBuffer {
		t.Errorf("buffer stayed at %d bytes", cap(c.rbuf))
	}
	if rec.received > total/initialRecvBuffer/2 {
		t.Errorf("%d reads for 1 MiB: the buffer did not grow", rec.received)
	}
}
