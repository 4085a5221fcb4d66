/*
 * Tests of the run-time log level: a change takes effect for every logger
 * at once, a temporary change returns to the configured level by itself,
 * and each change is a record that is written whatever the level.
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

func TestLogLevelTemporaryChange(t *testing.T) {
	t.Cleanup(func() { zerolog.SetGlobalLevel(zerolog.TraceLevel) })
	var buf lockedBuffer
	root := bunyan.New(&buf, zerolog.TraceLevel)
	child := root.With().Str("component", "x").Logger()
	lv := NewLogLevel(root, zerolog.WarnLevel)
	child.Info().Msg("hidden at warn")
	if err := lv.Set(zerolog.DebugLevel, 2*time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	if st := lv.Current(); st.Level != "debug" || st.Configured != "warn" || st.Until == "" {
		t.Errorf("state %+v", st)
	}
	child.Debug().Msg("shown at debug")
	deadline := time.Now().Add(10 * time.Second)
	for lv.Current().Level != "warn" {
		if time.Now().After(deadline) {
			t.Fatal("level did not return to warn")
		}
		time.Sleep(50 * time.Millisecond)
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
