/*
 * Test harness for the remote table: a real evport loop on its own
 * goroutine, a backend Set over a short socket directory under /tmp whose
 * sockets are demo backends (package backend/demo, which answer the hello
 * and heartbeats by themselves), and a goroutine-safe log buffer whose
 * bunyan records the tests search.
 *
 * Table, Set and Backend state is touched only on the loop: the test
 * goroutine uses onLoop (Post and wait) and waitFor (a condition polled on
 * the loop).
 */

package remote_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/backend/demo"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/bunyan/bunyantest"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/evport/looptest"
	"github.com/joyent/mname-balancer/internal/timescale"
	"github.com/joyent/mname-balancer/remote"
)

type logBuffer = bunyantest.Buffer

var (
	onLoop  = looptest.OnLoop
	waitFor = looptest.WaitFor
)

// harness: demo backends, a started Set and a Table (not started).
type harness struct {
	t      testing.TB
	run    *looptest.Runner // run.Clock is nil unless made by newHarnessClock
	loop   *evport.Loop
	logs   *logBuffer
	dir    string
	set    *backend.Set
	table  *remote.Table
	limits *bunyan.Limits // every rate-limited record; tests flush it by hand
	demos  map[string]*demo.Server
}

// backendTimings: the defaults divided by 50, but a fault keeps a backend down
// for 200 ms, long enough to look at, short enough to wait for; and a
// backend is stable (counted by Rebalance) as soon as it is ok.
func backendTimings() backend.Timings {
	tm := timescale.Scale(backend.DefaultTimings(), 50)
	tm.ReconnectFirst = 200 * time.Millisecond
	tm.StableAfter = 0
	return tm
}

// newHarness starts demo backends with the given socket names and waits
// until the Set has them all OK.
func newHarness(t testing.TB, rt remote.Timings, names ...string) *harness {
	t.Helper()
	return newHarnessLog(t, rt, nil, names...)
}

// newHarnessLog is newHarness with the given logger for the Table and Set
// (nil: debug records into h.logs).
func newHarnessLog(t testing.TB, rt remote.Timings, log *zerolog.Logger, names ...string) *harness {
	t.Helper()
	return newHarnessWith(t, rt, log, false, backendTimings(), names...)
}

// newHarnessClock is newHarness on a loop whose clock moves only when the
// test calls h.run.Advance (backends' timers stand still too: none
// faults by itself).
func newHarnessClock(t testing.TB, rt remote.Timings, names ...string) *harness {
	t.Helper()
	return newHarnessWith(t, rt, nil, true, backendTimings(), names...)
}

// newHarnessWith is the harness with the given backend timings (bt; those
// of backendTimings unless a test needs others).
func newHarnessWith(t testing.TB, rt remote.Timings, log *zerolog.Logger, clock bool, bt backend.Timings, names ...string) *harness {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := &harness{t: t, dir: dir, logs: &logBuffer{}, limits: &bunyan.Limits{}, demos: make(map[string]*demo.Server)}
	if clock {
		h.run = looptest.StartWithClock(t)
	} else {
		h.run = looptest.Start(t)
	}
	h.loop = h.run.Loop
	for _, name := range names {
		s, err := demo.Listen(filepath.Join(dir, name), name)
		if err != nil {
			t.Fatal(err)
		}
		h.demos[name] = s
		t.Cleanup(func() { s.Close() })
	}
	if log == nil {
		l := bunyan.New(h.logs, zerolog.DebugLevel)
		log = &l
	}
	if clock {
		// No heartbeats or probes on the hand clock: one Advance can jump
		// past a heartbeat and its deadline before the demo backend's
		// answer is read, which faults the backend and takes its remotes
		// (TestExpire failed so, 1 run in 200). These tests are about the
		// table; the backend package tests heartbeats on its own clock.
		bt.HeartbeatInterval = 1000 * time.Hour
		bt.ProbeAfter = 1000 * time.Hour
	}
	onLoop(t, h.loop, func() {
		h.set = backend.NewSet(h.loop, *log, h.limits, dir, bt)
		h.table = remote.NewTable(h.loop, *log, h.limits, h.set, rt)
		h.set.Start()
	})
	t.Cleanup(func() {
		onLoop(t, h.loop, func() {
			h.table.Stop()
			h.set.Stop()
		})
	})
	waitFor(t, h.loop, "all backends OK", func() bool {
		bs := h.set.Backends()
		for _, b := range bs {
			if !b.OK() {
				return false
			}
		}
		return len(bs) == len(names)
	})
	return h
}

// be returns the backend with the given ID (on the loop or not: the
// pointer never changes).
func (h *harness) be(id uint32) *backend.Backend {
	var b *backend.Backend
	onLoop(h.t, h.loop, func() { b = h.set.Lookup(id) })
	if b == nil {
		h.t.Fatalf("no backend %d", id)
	}
	return b
}

// checkCounts verifies, on the loop, that each backend's count
// (Table.RemotesOf) is the number of remotes whose primary it is.
func (h *harness) checkCounts() {
	h.t.Helper()
	onLoop(h.t, h.loop, func() {
		count := make(map[*backend.Backend]int)
		h.table.Each(func(r *remote.Remote) {
			if p := h.table.PrimaryOf(r); p != nil {
				count[p]++
			}
		})
		for _, b := range h.set.Backends() {
			if n := h.table.RemotesOf(b.ID()); n != count[b] {
				h.t.Errorf("backend %d: RemotesOf %d, but it is primary of %d remotes", b.ID(), n, count[b])
			}
		}
	})
}

// ip10 is 10.0.0.n as the table keys it.
func ip10(n int) uint32 { return 0x0A000000 | uint32(n) }

func idOf(b *backend.Backend) uint32 {
	if b == nil {
		return 0
	}
	return b.ID()
}
