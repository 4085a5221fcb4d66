/*
 * Tests of the run-time log level: a change takes effect for every logger
 * at once, a temporary change returns to the configured level by itself
 * (on a hand-driven clock: the test fires the revert), a revert made stale
 * by a later change does nothing, and each change is a record that is
 * written whatever the level.
 */

package mdb

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/bunyan"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) records(t *testing.T) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// handClock stands in for time.Now and time.AfterFunc: it records each
// scheduled function, which the test fires.
type handClock struct {
	now     time.Time
	pending []*handTimer
}

type handTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func (c *handClock) install(lv *LogLevel) {
	lv.now = func() time.Time { return c.now }
	lv.after = func(d time.Duration, f func()) func() bool {
		tm := &handTimer{d: d, f: f}
		c.pending = append(c.pending, tm)
		return func() bool { was := !tm.stopped; tm.stopped = true; return was }
	}
}

func TestLogLevelTemporaryChange(t *testing.T) {
	t.Cleanup(func() { zerolog.SetGlobalLevel(zerolog.TraceLevel) })
	var buf lockedBuffer
	root := bunyan.New(&buf, zerolog.TraceLevel)
	child := root.With().Str("component", "x").Logger()
	lv := NewLogLevel(root, zerolog.WarnLevel)
	clock := &handClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	clock.install(lv)
	child.Info().Msg("hidden at warn")
	if err := lv.Set(zerolog.DebugLevel, 2*time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	if st := lv.Current(); st.Level != "debug" || st.Configured != "warn" || st.Until != "2026-01-02T03:04:07Z" {
		t.Errorf("state %+v, want debug until 2 s from now", st)
	}
	if len(clock.pending) != 1 || clock.pending[0].d != 2*time.Second {
		t.Fatalf("revert scheduled %+v, want one in 2 s", clock.pending)
	}
	child.Debug().Msg("shown at debug")
	clock.pending[0].f() // the 2 s have passed
	if st := lv.Current(); st.Level != "warn" || st.Until != "" {
		t.Errorf("after the revert: state %+v, want warn with no revert pending", st)
	}
	child.Info().Msg("hidden again")
	var msgs []string
	for _, r := range buf.records(t) {
		msgs = append(msgs, r["msg"].(string))
		if strings.HasPrefix(r["msg"].(string), "log level") && r["level"].(float64) != 30 {
			t.Errorf("level change record at level %v", r["level"])
		}
	}
	want := []string{"log level changed", "shown at debug", "log level restored to the configured level"}
	if strings.Join(msgs, "|") != strings.Join(want, "|") {
		t.Errorf("records %q, want %q", msgs, want)
	}
	recs := buf.records(t)
	if recs[0]["level_name"] != "debug" || recs[0]["previous"] != "warn" || recs[0]["duration_s"] != 2.0 {
		t.Errorf("change record %v", recs[0])
	}
}

// A temporary change replaced by another: the first one's revert is
// stopped, and if it fires all the same (time.Timer.Stop can lose that
// race) it changes nothing.
func TestLogLevelStaleRevertDoesNothing(t *testing.T) {
	t.Cleanup(func() { zerolog.SetGlobalLevel(zerolog.TraceLevel) })
	var buf lockedBuffer
	lv := NewLogLevel(bunyan.New(&buf, zerolog.TraceLevel), zerolog.InfoLevel)
	clock := &handClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	clock.install(lv)
	if err := lv.Set(zerolog.DebugLevel, time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	if err := lv.Set(zerolog.ErrorLevel, time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	if len(clock.pending) != 2 || !clock.pending[0].stopped || clock.pending[1].stopped {
		t.Fatalf("reverts %+v: want the first stopped, the second pending", clock.pending)
	}
	clock.pending[0].f() // the stale revert fires anyway
	if st := lv.Current(); st.Level != "error" || st.Until != "2026-01-02T04:04:05Z" {
		t.Errorf("after a stale revert: state %+v, want error until the hour is up", st)
	}
	clock.pending[1].f()
	if st := lv.Current(); st.Level != "info" || st.Until != "" {
		t.Errorf("after the revert: state %+v, want info", st)
	}
	if n := len(buf.records(t)); n != 3 {
		t.Errorf("%d records, want 3 (two changes, one revert)", n)
	}
}

func TestLogLevelPermanentChangeAndReset(t *testing.T) {
	t.Cleanup(func() { zerolog.SetGlobalLevel(zerolog.TraceLevel) })
	var buf lockedBuffer
	root := bunyan.New(&buf, zerolog.TraceLevel)
	lv := NewLogLevel(root, zerolog.InfoLevel)
	if err := lv.Set(zerolog.ErrorLevel, 0, "test"); err != nil {
		t.Fatal(err)
	}
	root.Warn().Msg("hidden at error")
	if st := lv.Current(); st.Level != "error" || st.Until != "" {
		t.Errorf("state %+v", st)
	}
	if err := lv.Set(zerolog.DebugLevel, -time.Second, "test"); err == nil {
		t.Error("negative duration accepted")
	}
	if err := lv.Reset("test"); err != nil {
		t.Fatal(err)
	}
	root.Info().Msg("shown at info")
	recs := buf.records(t)
	if len(recs) != 3 || recs[1]["level_name"] != "info" || recs[2]["msg"] != "shown at info" {
		t.Errorf("records %v", recs)
	}
}
