//go:build linux

/*
The generator against an in-process UDP echo: it sends exactly the number
of queries its rate and duration make, from the sources it was given, split
over its workers without loss or overlap, and matches every answer to its
query.
*/

package bench

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/test/e2e"
)

func TestLoadSendsItsScheduleAndMatchesEveryAnswer(t *testing.T) {
	e2e.SkipInShort(t) // seconds of real-time load
	fd, err := udpSocket([4]byte{127, 0, 0, 1}, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = serveUDPEcho(fd) }()
	t.Cleanup(func() { unix.Close(fd) })
	port := sa.(*unix.SockaddrInet4).Port

	for _, workers := range []int{1, 3} {
		l := Load{Rate: 2000, Duration: 500 * time.Millisecond, Grace: 2 * time.Second,
			Sources: sourceAddrs(1, 7), Targets: []unix.RawSockaddrInet4{local(port)}, Workers: workers}
		began := time.Now()
		res, err := l.Run()
		took := time.Since(began)
		if err != nil {
			t.Fatalf("%d workers: %v", workers, err)
		}
		// Every query answered, the grace period ends early.
		if res.Answered == res.Sent && took > l.Duration+l.Grace/2 {
			t.Errorf("%d workers: every query answered, yet the load took %v (grace %v)", workers, took, l.Grace)
		}
		if res.Sent != 1000 {
			t.Errorf("%d workers: sent %d queries, want 1000", workers, res.Sent)
		}
		// A loopback echo at 2k q/s loses nothing unless the machine is
		// starved for seconds; allow a little all the same.
		if res.Answered < 990 || res.Answered > res.Sent {
			t.Errorf("%d workers: %d of %d answered", workers, res.Answered, res.Sent)
		}
		if res.Percentile(0.5) <= 0 || res.Percentile(0.5) > res.Percentile(0.999) {
			t.Errorf("%d workers: percentiles out of order: p50 %v, p99.9 %v", workers, res.Percentile(0.5), res.Percentile(0.999))
		}
	}
}
