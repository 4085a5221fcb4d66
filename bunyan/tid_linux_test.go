/*
tid names the OS thread that wrote the record (gettid(2) on Linux), as
illumos-bunyan's does: a goroutine locked to its thread, as the event
loop's is, logs that thread's ID in every record, and goroutines locked to
different threads log different IDs.
*/

package bunyan_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// logFromLockedThread logs n records from a new goroutine locked to its
// own thread and returns the thread's ID and the records.
func logFromLockedThread(t *testing.T, n int) (int, []record) {
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.DebugLevel)
	tid := make(chan int)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread exits with the goroutine, never reused
		for i := 0; i < n; i++ {
			log.Info().Int("i", i).Msg("from a locked thread")
			runtime.Gosched()
		}
		tid <- unix.Gettid()
	}()
	id := <-tid
	return id, decodeRecords(t, out.Bytes())
}

func TestTidIsTheWritingThread(t *testing.T) {
	id1, recs1 := logFromLockedThread(t, 20)
	id2, recs2 := logFromLockedThread(t, 20)
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
