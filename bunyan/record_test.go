/*
Test helpers: capture a logger's output and decode it record by record,
refusing lines that are not exactly one JSON object or that repeat a key.
*/

package bunyan_test

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// record is one decoded log line.
type record map[string]any

// decodeRecords splits out into lines and decodes each into a record. It
// fails the test on a line that is not a single JSON object, that holds the
// same key twice, or when out does not end with a newline.
func decodeRecords(t *testing.T, out []byte) []record {
	t.Helper()
	if len(out) == 0 {
		return nil
	}
	if out[len(out)-1] != '\n' {
		t.Fatalf("output does not end with a newline: %q", out)
	}
	var recs []record
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		recs = append(recs, decodeRecord(t, line))
	}
	return recs
}

// decodeRecord decodes one line, checking for duplicate top-level keys.
func decodeRecord(t *testing.T, line string) record {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("line is not a JSON object (%v): %s", err, line)
	}
	rec := record{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("bad key in %s: %v", line, err)
		}
		key := tok.(string)
		if _, dup := rec[key]; dup {
			t.Fatalf("duplicate key %q in %s", key, line)
		}
		var val any
		if err := dec.Decode(&val); err != nil {
			t.Fatalf("bad value for %q in %s: %v", key, line, err)
		}
		rec[key] = val
	}
	if _, err := dec.Token(); err != nil {
		t.Fatalf("unterminated object %s: %v", line, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("trailing data after the object in %s", line)
	}
	return rec
}

// num returns the record's field key as an integer, failing if it is absent
// or not an integral JSON number.
func (r record) num(t *testing.T, key string) int64 {
	t.Helper()
	v, ok := r[key].(json.Number)
	if !ok {
		t.Fatalf("field %q = %#v (%T), want a JSON number", key, r[key], r[key])
	}
	n, err := v.Int64()
	if err != nil {
		t.Fatalf("field %q = %s, want an integer: %v", key, v, err)
	}
	return n
}

// str returns the record's field key as a string, failing if it is absent or
// not a JSON string.
func (r record) str(t *testing.T, key string) string {
	t.Helper()
	v, ok := r[key].(string)
	if !ok {
		t.Fatalf("field %q = %#v (%T), want a JSON string", key, r[key], r[key])
	}
	return v
}
