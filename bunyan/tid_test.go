/*
tid on any OS (so the illumos test binaries check the LWP ID too): every
record a goroutine locked to its thread writes names one thread, and two
goroutines locked to two threads name two. tid_linux_test.go also checks
the number against gettid(2).
*/

package bunyan_test

import (
	"bytes"
	"runtime"
	"testing"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/rs/zerolog"
)

// tidsFromLockedThread logs n records from a new goroutine locked to its
// own thread (never unlocked: the thread exits with the goroutine and is
// not reused) and returns the tids they carry.
func tidsFromLockedThread(t *testing.T, n int) map[int64]int {
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.DebugLevel)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		for i := 0; i < n; i++ {
			log.Info().Int("i", i).Msg("from a locked thread")
			runtime.Gosched()
		}
	}()
	<-done
	tids := map[int64]int{}
	for _, r := range decodeRecords(t, out.Bytes()) {
		tids[r.num(t, "tid")]++
	}
	return tids
}

func TestTidNamesOneThreadPerLockedGoroutine(t *testing.T) {
	a := tidsFromLockedThread(t, 20)
	b := tidsFromLockedThread(t, 20)
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("a locked goroutine's records name several threads: %v, %v", a, b)
	}
	for ta := range a {
		if ta <= 0 {
			t.Errorf("tid %d, want a thread ID", ta)
		}
		if _, same := b[ta]; same {
			t.Errorf("goroutines locked to two threads both logged tid %d", ta)
		}
	}
}
