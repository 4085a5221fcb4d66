/*
tid names the OS thread that wrote the record (gettid(2) on Linux), as
illumos-bunyan's does: a goroutine locked to its thread, as the event
loop's is, logs that thread's ID in every record, and goroutines locked to
different threads log different IDs.
*/

package bunyan_test

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestTidIsTheWritingThread(t *testing.T) {
	id1, recs1 := logFromLockedThread(t, 20, unix.Gettid)
	id2, recs2 := logFromLockedThread(t, 20, unix.Gettid)
	if id1 == id2 {
		t.Fatalf("two goroutines locked to their own threads ran on thread %d both", id1)
	}
	for _, tc := range []struct {
		id   int
		recs []record
	}{{id1, recs1}, {id2, recs2}} {
		if len(tc.recs) != 20 {
			t.Fatalf("got %d records, want 20", len(tc.recs))
		}
		for _, r := range tc.recs {
			if got := r.num(t, "tid"); got != int64(tc.id) {
				t.Errorf("record %v: tid %d, want the writing thread %d", r, got, tc.id)
			}
		}
	}
}
