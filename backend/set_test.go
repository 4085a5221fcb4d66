/*
 * Tests of the backend Set (set.go): discovery and the ID
 * rule, entries that cannot be backends (warned about once, the too-long
 * path with the C balancer's error record), an unreadable directory, and
 * round-robin selection with its rate-limited "no backends available" error.
 *
 * Scans are driven by calling Rescan on the loop, so their number is
 * exact; the periodic scan is pushed out of the way where it would blur
 * that.
 */

package backend_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/backend/backendtest"
	"github.com/joyent/mname-balancer/internal/timescale"
)

// idle timings: no periodic scan, no heartbeats, slow reconnects; the
// tests below drive everything themselves.
func idleTimings() backend.Timings {
	tm := timescale.Scale(backend.DefaultTimings(), 50)
	tm.Scan = time.Hour
	tm.HeartbeatInterval = time.Hour
	tm.ReconnectFirst = time.Hour
	return tm
}

// ids maps socket name to backend ID.
func (h *harness) ids() map[string]uint32 {
	out := make(map[string]uint32)
	onLoop(h.t, h.loop, func() {
		for _, b := range h.set.Backends() {
			out[filepath.Base(b.Path())] = b.ID()
		}
	})
	return out
}

// listenQuiet makes a socket the balancer may connect to; nobody answers.
func listenQuiet(t *testing.T, dir, name string) {
	t.Helper()
	ln, err := net.Listen("unix", filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
}

func TestBackendIDs(t *testing.T) {
	h := newHarness(t, idleTimings())
	stages := []struct {
		create []string
		want   map[string]uint32
	}{
		// The first backend without a port name is 1.
		{[]string{"b"}, map[string]uint32{"b": 1}},
		// Port names in range take their number, even below the highest.
		{[]string{"5399", "5300"}, map[string]uint32{"5300": 5300, "5399": 5399}},
		// Out of range and duplicates (05300 is 5300, taken) get max+1, in
		// directory order: 05300, 5299, 5400.
		{[]string{"5299", "5400", "05300"}, map[string]uint32{"05300": 5400, "5299": 5401, "5400": 5402}},
		// A port name that is free still takes its number; names go on.
		{[]string{"5350", "c"}, map[string]uint32{"5350": 5350, "c": 5403}},
	}
	want := make(map[string]uint32)
	for i, st := range stages {
		for _, name := range st.create {
			listenQuiet(t, h.dir, name)
		}
		if i == 0 {
			h.start()
		} else {
			h.rescan()
		}
		for k, v := range st.want {
			want[k] = v
		}
		got := h.ids()
		if len(got) != len(want) {
			t.Fatalf("stage %d: backends %v, want %v", i, got, want)
		}
		for name, id := range want {
			if got[name] != id {
				t.Errorf("stage %d: %s has ID %d, want %d", i, name, got[name], id)
			}
		}
	}
	onLoop(t, h.loop, func() {
		bs := h.set.Backends()
		for i := 1; i < len(bs); i++ {
			if bs[i-1].ID() >= bs[i].ID() {
				t.Errorf("Backends() not in ID order: %d before %d", bs[i-1].ID(), bs[i].ID())
			}
		}
		for name, id := range want {
			if b := h.set.Lookup(id); b == nil || b.Path() != filepath.Join(h.dir, name) {
				t.Errorf("Lookup(%d) = %v, want %s", id, b, name)
			}
		}
		if h.set.Lookup(0) != nil || h.set.Lookup(2) != nil {
			t.Error("Lookup found an ID that was never assigned")
		}
	})
	// Each backend was announced once, with its ID and path.
	for name, id := range want {
		rs := h.logs.Find(t, "new backend", "be_id", strconv.Itoa(int(id)), "be_path", filepath.Join(h.dir, name))
		if len(rs) != 1 {
			t.Errorf("%d \"new backend\" records for %s (%d), want 1", len(rs), name, id)
		}
	}
	if n := len(h.logs.Find(t, "new backend")); n != len(want) {
		t.Errorf("%d \"new backend\" records, want %d", n, len(want))
	}
}

// TestSkippedEntries: entries that cannot be backends are skipped with one
// record each, however many scans see them; a path one byte too long for
// sun_path is an error, one that just fits is a backend.
func TestSkippedEntries(t *testing.T) {
	h := newHarness(t, idleTimings())
	if err := os.WriteFile(filepath.Join(h.dir, "README"), []byte("not a socket\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(h.dir, "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	// 107 bytes fit sun_path with its NUL; 108 do not. Go will not bind a
	// 108-byte path, so bind a short one and rename the socket.
	fits := filepath.Join(h.dir, strings.Repeat("f", backend.MaxSocketPath-len(h.dir)-1))
	tooLong := filepath.Join(h.dir, strings.Repeat("L", backend.MaxSocketPath+1-len(h.dir)-1))
	if len(fits) != 107 || len(tooLong) != 108 {
		t.Fatalf("path lengths %d and %d, want 107 and 108", len(fits), len(tooLong))
	}
	listenQuiet(t, h.dir, filepath.Base(fits))
	listenQuiet(t, h.dir, "short")
	if err := os.Rename(filepath.Join(h.dir, "short"), tooLong); err != nil {
		t.Fatal(err)
	}

	h.start()
	for range 3 {
		h.rescan()
	}
	skip := "skipping entry in backend socket directory"
	if rs := h.logs.Find(t, "backend socket path is too long", "socket_path", tooLong); len(rs) != 1 || rs[0].Str("level") != "50" {
		t.Errorf("too-long records %v after 4 scans, want one error", rs)
	}
	for _, c := range []struct{ path, level, reason string }{
		{filepath.Join(h.dir, "README"), "40", "not a socket"},
		{filepath.Join(h.dir, "subdir"), "40", "not a socket"},
	} {
		rs := h.logs.Find(t, skip, "path", c.path)
		if len(rs) != 1 {
			t.Errorf("%d records skipping %s after 4 scans, want 1", len(rs), c.path)
			continue
		}
		if rs[0].Str("level") != c.level || !strings.Contains(rs[0].Str("reason"), c.reason) {
			t.Errorf("skipping %s: level %s reason %q, want level %s and %q", c.path, rs[0].Str("level"), rs[0].Str("reason"), c.level, c.reason)
		}
	}
	if got := h.ids(); len(got) != 1 || got[filepath.Base(fits)] != 1 {
		t.Errorf("backends %v, want only the 107-byte path, as ID 1", got)
	}

	// A skipped name that becomes a socket is a backend on the next scan.
	if err := os.Remove(filepath.Join(h.dir, "README")); err != nil {
		t.Fatal(err)
	}
	listenQuiet(t, h.dir, "README")
	h.rescan()
	if got := h.ids(); got["README"] != 2 {
		t.Errorf("backends %v, want README as ID 2", got)
	}
	if n := len(h.logs.Find(t, skip)); n != 2 {
		t.Errorf("%d skip records in all, want 2", n)
	}
}

// fakeOK starts a fake backend named name and completes its handshake;
// the session is returned so that the test keeps it open.
func fakeOK(t *testing.T, h *harness, name string) (*backend.Backend, *backendtest.Session) {
	t.Helper()
	f := backendtest.Listen(t, h.dir, name)
	h.rescan()
	s := f.Accept()
	s.Hello()
	b := h.backend(name)
	waitFor(t, h.loop, name+" OK", b.OK)
	return b, s
}

func TestSelect(t *testing.T) {
	tm := idleTimings()
	tm.NoBackendsLog = 300 * time.Millisecond
	// On the hand-driven clock: the calls that must fall within one
	// NoBackendsLog interval take no time on it however slow the machine.
	h := newClockHarness(t, tm)
	none := "no backends available"

	// Empty set.
	onLoop(t, h.loop, func() {
		if b := h.set.Select(); b != nil {
			t.Errorf("Select on an empty set = %d", b.ID())
		}
	})
	if rs := h.logs.Find(t, none); len(rs) != 1 || rs[0].Str("level") != "50" {
		t.Errorf("records %v, want one %q error", rs, none)
	}

	b1, _ := fakeOK(t, h, "5301")
	b3, _ := fakeOK(t, h, "5303")
	b2, _ := fakeOK(t, h, "5302")
	picks := func(n int) []uint32 {
		var out []uint32
		onLoop(t, h.loop, func() {
			for range n {
				if b := h.set.Select(); b != nil {
					out = append(out, b.ID())
				} else {
					out = append(out, 0)
				}
			}
		})
		return out
	}
	check := func(what string, got []uint32, want ...uint32) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: picked %v, want %v", what, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s: picked %v, want %v", what, got, want)
			}
		}
	}
	check("all OK", picks(7), 5301, 5302, 5303, 5301, 5302, 5303, 5301)

	// Last chosen was 5301; with 5302 faulted the turn goes on at 5303.
	onLoop(t, h.loop, func() { b2.Fault(b2.SessionNumber(), "test") })
	check("5302 down", picks(4), 5303, 5301, 5303, 5301)
	onLoop(t, h.loop, func() { b3.Fault(b3.SessionNumber(), "test") })
	check("only 5301", picks(2), 5301, 5301)

	// None OK: nil, and one record however often Select is called ...
	onLoop(t, h.loop, func() { b1.Fault(b1.SessionNumber(), "test") })
	h.advance(tm.NoBackendsLog) // since the empty set's record
	before := len(h.logs.Find(t, none))
	check("none OK", picks(5), 0, 0, 0, 0, 0)
	check("none OK, next turn", picks(5), 0, 0, 0, 0, 0)
	if n := len(h.logs.Find(t, none)) - before; n != 1 {
		t.Errorf("%d %q records from 10 calls in a row, want 1", n, none)
	}
	// ... until NoBackendsLog has passed, and not before.
	h.advance(tm.NoBackendsLog - time.Nanosecond)
	check("none OK, not yet", picks(3), 0, 0, 0)
	if n := len(h.logs.Find(t, none)) - before; n != 1 {
		t.Errorf("%d %q records before the interval passed, want 1", n, none)
	}
	h.advance(time.Nanosecond)
	check("none OK, later", picks(3), 0, 0, 0)
	if n := len(h.logs.Find(t, none)) - before; n != 2 {
		t.Errorf("%d %q records after the interval, want 2", n, none)
	}
	if rs := h.logs.Find(t, none); rs[len(rs)-1].Str("backends") != "3" {
		t.Errorf("record %v, want backends 3", rs[len(rs)-1])
	}
	// The 12 calls that wrote nothing are counted in one summary, written
	// before the record that ends the interval.
	sums := h.logs.Find(t, "log records suppressed")
	if len(sums) != 1 || sums[0].Str("suppressed_msg") != none || sums[0].Str("suppressed") != "12" {
		t.Errorf("summaries %v, want one of 12 %q records", sums, none)
	}
}

// TestUnreadableDirectory: a socket directory that cannot be opened logs the
// C balancer's record on each scan, and nothing else happens.
func TestUnreadableDirectory(t *testing.T) {
	h := newHarness(t, idleTimings())
	if err := os.Remove(h.dir); err != nil {
		t.Fatal(err)
	}
	h.start()
	rs := h.logs.Find(t, "error opening socket directory", "socket_dir", h.dir)
	if len(rs) != 1 || rs[0].Str("level") != "50" || rs[0].Str("errno") != strconv.Itoa(int(syscall.ENOENT)) || rs[0].Str("error") == "" {
		t.Errorf("records %v, want one error with socket_dir, errno ENOENT and error", rs)
	}
	if got := h.ids(); len(got) != 0 {
		t.Errorf("backends %v from a missing directory", got)
	}
}

// TestStopIsFinal: after Stop every backend is stopped, and a scan (a late
// SIGHUP) neither finds new backends nor starts sessions.
func TestStopIsFinal(t *testing.T) {
	h := newHarness(t, idleTimings())
	b, s := fakeOK(t, h, "5301")
	onLoop(t, h.loop, h.set.Stop)
	s.ExpectClosed()
	listenQuiet(t, h.dir, "5302")
	h.rescan()
	onLoop(t, h.loop, func() {
		if b.State() != backend.StateStopped || len(h.set.Backends()) != 1 {
			t.Errorf("state %v with %d backends after Stop and a scan, want stopped and 1", b.State(), len(h.set.Backends()))
		}
	})
	h.check()
}
