/*
Package bunyantest captures a logger's bunyan records in tests: a Buffer
is the io.Writer given to bunyan.New, safe for the loop and the test
goroutine together, and decodes what was written into Records that tests
search by message and fields. Every line must be JSON; one that is not
fails the test.
*/
package bunyantest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

// WaitLimit bounds Wait.
const WaitLimit = 10 * time.Second

// Buffer collects log output.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Record is one decoded bunyan record; numbers keep their JSON text.
type Record map[string]any

// Str renders a field for comparison ("" when absent).
func (r Record) Str(key string) string {
	v, ok := r[key]
	if !ok {
		return ""
	}
	return fmt.Sprint(v)
}

// Num reads a numeric field (a zerolog duration is in milliseconds); -1
// if it is absent or not a number.
func (r Record) Num(key string) float64 {
	n, ok := r[key].(json.Number)
	if !ok {
		return -1
	}
	f, err := n.Float64()
	if err != nil {
		return -1
	}
	return f
}

// Records decodes every record written so far.
func (b *Buffer) Records(t testing.TB) []Record {
	t.Helper()
	b.mu.Lock()
	data := append([]byte(nil), b.buf.Bytes()...)
	b.mu.Unlock()
	var out []Record
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		var r Record
		if err := d.Decode(&r); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// Find returns the records with message msg whose fields match the
// key/value pairs in kv.
func (b *Buffer) Find(t testing.TB, msg string, kv ...string) []Record {
	t.Helper()
	var out []Record
next:
	for _, r := range b.Records(t) {
		if r.Str("msg") != msg {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if r.Str(kv[i]) != kv[i+1] {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// Wait waits until at least n records match and returns them.
func (b *Buffer) Wait(t testing.TB, n int, msg string, kv ...string) []Record {
	t.Helper()
	deadline := time.Now().Add(WaitLimit)
	for {
		rs := b.Find(t, msg, kv...)
		if len(rs) >= n {
			return rs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d %q records %v; have %d; log:\n%s", n, msg, kv, len(rs), b.String())
		}
		time.Sleep(2 * time.Millisecond)
	}
}
