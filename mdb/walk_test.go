/*
 * Tests of the streamed snapshot: the stream is the whole snapshot (every
 * remote once, the rest as Take has it) for a table of many slices; a
 * reader of a full snapshot that reads nothing is cut off by the write
 * deadline and holds up neither another full snapshot nor DNS.
 */

package mdb

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/evport/looptest"
	"github.com/joyent/mname-balancer/mdb/view"
	"github.com/joyent/mname-balancer/remote"
)

// addRemotes puts n remotes (10.x.y.z) in b's table, on the loop.
func addRemotes(t *testing.T, b *testBalancer, n int) {
	t.Helper()
	looptest.OnLoop(t, b.run.Loop, func() {
		for i := 0; i < n; i++ {
			b.table.HeardFrom(0x0A000000 | uint32(i+1))
		}
	})
}

func TestWriteSnapshotIsTheWholeSnapshot(t *testing.T) {
	// On a hand-driven clock: the busiest remotes are those of the last
	// complete 10 s window, which on the system clock could end between
	// the two snapshots (it did, under load: one listed the remotes added
	// here, the other the quiet window before).
	b := startBalancerWithClock(t, quietLog())
	const n = 3*remoteSpan + 100 // four slices
	addRemotes(t, b, n)
	query(t, "udp", clientAddr(0), b.udp.Port())
	b.run.Advance(remote.TopWindow) // the window of those n+1 contacts is complete
	var out bytes.Buffer
	if err := b.in.WriteSnapshot(&out, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(out.Bytes(), []byte("}\n")) || bytes.Count(out.Bytes(), []byte("\n}")) > 0 {
		t.Errorf("the answer does not end in one newline: %q", out.Bytes()[max(0, out.Len()-40):])
	}
	var r view.Response
	if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Snapshot == nil {
		t.Fatalf("the stream is not a snapshot answer: %v", err)
	}
	whole, err := b.in.Take(true, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := r.Snapshot
	if got.Busiest == nil || got.Busiest.Contacts != n+1 || len(got.Busiest.Remotes) == 0 {
		t.Errorf("streamed busiest remotes %+v, want the window of the %d contacts", got.Busiest, n+1)
	}
	if len(got.Remotes) != n+1 || len(whole.Remotes) != n+1 || got.Balancer.Remotes != n+1 {
		t.Fatalf("%d remotes streamed (total %d), %d taken; want %d", len(got.Remotes), got.Balancer.Remotes, len(whole.Remotes), n+1)
	}
	seen := map[string]int{}
	for _, x := range got.Remotes {
		seen[x.Addr.String()]++
	}
	for _, x := range whole.Remotes {
		if seen[x.Addr.String()] != 1 {
			t.Errorf("remote %s streamed %d times", x.Addr, seen[x.Addr.String()])
		}
	}
	// Apart from the remotes' order and the instant, the snapshot Take
	// returns (each snapshot converts times with its own reading of the
	// clocks: the same within a millisecond).
	got.Remotes = view.SortRemotes(got.Remotes)
	for i := range got.Remotes {
		g, w := &got.Remotes[i], &whole.Remotes[i]
		if d := g.LastSeen - w.LastSeen; d < -1e6 || d > 1e6 || g.LastSeen-g.FirstSeen != w.LastSeen-w.FirstSeen {
			t.Errorf("remote %s: seen %d..%d streamed, %d..%d taken", g.Addr, g.FirstSeen, g.LastSeen, w.FirstSeen, w.LastSeen)
		}
		g.FirstSeen, g.LastSeen, w.FirstSeen, w.LastSeen = 0, 0, 0, 0
	}
	for i := range got.Backends { // converted the same way as the remotes' times
		g, w := &got.Backends[i], &whole.Backends[i]
		if d := g.StateSince - w.StateSince; d < -1e6 || d > 1e6 || g.StateSince-g.Crtime != w.StateSince-w.Crtime {
			t.Errorf("backend %d: created %d, state since %d streamed, %d, %d taken", g.ID, g.Crtime, g.StateSince, w.Crtime, w.StateSince)
		}
		g.StateSince, g.Crtime, w.StateSince, w.Crtime = 0, 0, 0, 0
	}
	for _, s := range []*view.Snapshot{got, whole} {
		s.Snaptime, s.Walltime, s.Balancer.UptimeNS = 0, "", 0
		s.Timeouts = nil
		if s.Busiest != nil {
			s.Busiest.WindowStart = 0 // converted with each snapshot's clock
		}
	}
	a, _ := json.Marshal(got)
	w, _ := json.Marshal(whole)
	if !bytes.Equal(a, w) {
		i := 0
		for i < min(len(a), len(w)) && a[i] == w[i] {
			i++
		}
		t.Errorf("streamed snapshot differs from the whole one at byte %d:\n%.300s\n%.300s", i, a[max(0, i-100):], w[max(0, i-100):])
	}
}

// A reader of a full snapshot that reads nothing holds up neither another
// full snapshot nor DNS, and is cut off at its write deadline.
//
// No timed targets: the slow reader's server has a write deadline far
// beyond the fetches' own timeouts, so a full snapshot that waited for
// the slow reader would fail its fetch, whatever the machine's speed;
// and the cut-off is awaited as the server giving the client's slot back
// while the client reads nothing.
func TestSlowFullSnapshotReaderBlocksNoOne(t *testing.T) {
	b := startBalancer(t, quietLog())
	addRemotes(t, b, 2*remoteSpan) // some MB of JSON: more than the socket buffers
	patient := defaultControlTimes
	patient.write = time.Hour
	s := startControlTimes(t, b, patient, peerUID, os.Geteuid())
	slow := slowSnapshotReader(t, s)
	for i := 0; i < 3; i++ {
		snap, err := view.FetchSnapshot(s.Path(), true, 10*time.Second)
		if err != nil {
			t.Fatalf("a full snapshot beside a slow reader: %v", err)
		}
		if len(snap.Remotes) < 2*remoteSpan {
			t.Fatalf("a full snapshot beside a slow reader: %d remotes, want %d and more", len(snap.Remotes), 2*remoteSpan)
		}
		query(t, "udp", clientAddr(0), b.udp.Port())
	}
	if len(s.all) == 0 {
		t.Fatal("the slow reader is no longer served: cut off before its write deadline")
	}
	slow.Close()

	// With the usual write deadline (shorter here), the slow reader is cut
	// off: no sooner than the deadline, and what it can still read is a
	// part of the snapshot, not all of it.
	times := defaultControlTimes
	times.write = time.Second
	s = startControlTimes(t, b, times, peerUID, os.Geteuid())
	start := time.Now()
	slow = slowSnapshotReader(t, s)
	for len(s.all) != 0 {
		if time.Since(start) > 30*time.Second {
			t.Fatal("the slow reader was not cut off")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := time.Since(start); d < times.write {
		t.Errorf("the slow reader was cut off after %v, before its write deadline (%v)", d, times.write)
	}
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(slow)
	if err != nil {
		t.Fatalf("reading what the slow reader was sent: %v after %d bytes", err, len(got))
	}
	if json.Valid(got) {
		t.Errorf("the slow reader received its whole snapshot (%d bytes): it was not cut off", len(got))
	}
}

// slowSnapshotReader asks s for a full snapshot and reads none of it
// (with a receive buffer as small as can be); it returns once the first
// bytes have arrived, so the snapshot is being written to it.
func slowSnapshotReader(t *testing.T, s *ControlServer) *net.UnixConn {
	t.Helper()
	c, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	slow := c.(*net.UnixConn)
	t.Cleanup(func() { slow.Close() })
	slow.SetReadBuffer(1)
	if _, err := io.WriteString(slow, "snapshot\n"); err != nil {
		t.Fatal(err)
	}
	raw, err := slow.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	var peekErr error
	err = raw.Read(func(fd uintptr) bool { // waits until readable
		var b [1]byte
		_, _, peekErr = unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK)
		return peekErr != unix.EAGAIN
	})
	if err == nil {
		err = peekErr
	}
	if err != nil {
		t.Fatalf("waiting for the slow reader's first bytes: %v", err)
	}
	slow.SetReadDeadline(time.Time{})
	return slow
}

// The summary carries the busiest remotes (remote.Table.TopRemotes, tested
// there); a scrape's snapshot, which needs only counts, does not.
func TestSummaryHasBusiestScrapeNot(t *testing.T) {
	b := startBalancer(t, quietLog())
	sum, err := b.in.Take(false, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Busiest == nil || sum.Busiest.WindowNS != int64(10*time.Second) || sum.Busiest.WindowStart > sum.Snaptime {
		t.Errorf("summary's busiest remotes %+v", sum.Busiest)
	}
	counts, err := b.in.take(takeCounts, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Busiest != nil {
		t.Errorf("a scrape's snapshot has busiest remotes %+v", counts.Busiest)
	}
}

// A whole snapshot's memory does not grow with the table: after a first
// one (which makes the walk's buffers), another of 200k remotes allocates
// under 512 KiB, 2.6 bytes a remote (marshalled whole it was ~1 KiB a remote;
// with a slice's buffers made per walk, 0.8-3.5 MB).
func TestWholeSnapshotAllocatesLittle(t *testing.T) {
	b := startBalancer(t, quietLog())
	const n = 200_000
	addRemotes(t, b, n)
	if err := b.in.WriteSnapshot(io.Discard, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	if err := b.in.WriteSnapshot(io.Discard, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&m1)
	if got := m1.TotalAlloc - m0.TotalAlloc; got > 512<<10 {
		t.Errorf("a whole snapshot of %d remotes allocated %d bytes, want under 512 KiB", n, got)
	}
}
