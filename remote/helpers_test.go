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
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/backend/demo"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/remote"
)

// waitLimit bounds every wait; generous because -race on two cores is slow.
const waitLimit = 10 * time.Second

func startLoop(t *testing.T) *evport.Loop {
	t.Helper()
	loop, err := evport.New()
	if err != nil {
		t.Fatalf("evport.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- loop.Run() }()
	t.Cleanup(func() {
		loop.Post(loop.Stop)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("loop.Run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Errorf("loop did not stop")
			return
		}
		loop.Close()
	})
	return loop
}

func onLoop(t *testing.T, loop *evport.Loop, fn func()) {
	t.Helper()
	done := make(chan struct{})
	loop.Post(func() {
		defer close(done)
		fn()
	})
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("loop did not run posted work within %v", waitLimit)
	}
}

func waitFor(t *testing.T, loop *evport.Loop, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		var ok bool
		onLoop(t, loop, func() { ok = cond() })
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

type record map[string]any

func (r record) str(key string) string {
	v, ok := r[key]
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}

// find returns the records with message msg whose fields match kv pairs.
func (b *logBuffer) find(t *testing.T, msg string, kv ...string) []record {
	t.Helper()
	b.mu.Lock()
	data := append([]byte(nil), b.buf.Bytes()...)
	b.mu.Unlock()
	var out []record
next:
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		var r record
		if err := d.Decode(&r); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if r.str("msg") != msg {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if r.str(kv[i]) != kv[i+1] {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// harness: demo backends, a started Set and a Table (not started).
type harness struct {
	t     *testing.T
	loop  *evport.Loop
	logs  *logBuffer
	dir   string
	set   *backend.Set
	table *remote.Table
	demos map[string]*demo.Server
}

// backendTimings: SPEC's divided by 50, but a fault keeps a backend down
// for 200 ms, long enough to look at, short enough to wait for.
func backendTimings() backend.Timings {
	tm := backend.DefaultTimings().Scale(50)
	tm.ReconnectFirst = 200 * time.Millisecond
	return tm
}

// newHarness starts demo backends with the given socket names and waits
// until the Set has them all OK.
func newHarness(t *testing.T, rt remote.Timings, names ...string) *harness {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	h := &harness{t: t, dir: dir, logs: &logBuffer{}, demos: make(map[string]*demo.Server)}
	h.loop = startLoop(t)
	for _, name := range names {
		s, err := demo.Listen(filepath.Join(dir, name), name)
		if err != nil {
			t.Fatal(err)
		}
		h.demos[name] = s
		t.Cleanup(func() { s.Close() })
	}
	log := bunyan.New(h.logs, zerolog.DebugLevel)
	onLoop(t, h.loop, func() {
		h.set = backend.NewSet(h.loop, log, dir, backendTimings())
		h.table = remote.NewTable(h.loop, log, h.set, rt)
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

// checkCounts verifies, on the loop, that each backend's Remotes() is the
// number of remotes whose primary it is.
func (h *harness) checkCounts() {
	h.t.Helper()
	onLoop(h.t, h.loop, func() {
		count := make(map[*backend.Backend]int)
		h.table.Each(func(r *remote.Remote) {
			if p := r.Primary(); p != nil {
				count[p]++
			}
		})
		for _, b := range h.set.Backends() {
			if b.Remotes() != count[b] {
				h.t.Errorf("backend %d: Remotes() %d, but it is primary of %d remotes", b.ID(), b.Remotes(), count[b])
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
