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

// logFromLockedThread logs n records from a new goroutine locked to its
// own thread (never unlocked: the thread exits with the goroutine and is
// not reused) and returns the records and, if probe is not nil, what probe
// returned on that thread after the logging (0 otherwise).
func logFromLockedThread(t *testing.T, n int, probe func() int) (int, []record) {
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.DebugLevel)
	probed := make(chan int)
	go func() {
		runtime.LockOSThread()
		for i := 0; i < n; i++ {
			log.Info().Int("i", i).Msg("from a locked thread")
			runtime.Gosched()
		}
		v := 0
		if probe != nil {
			v = probe()
		}
		probed <- v
	}()
	v := <-probed
	return v, decodeRecords(t, out.Bytes())
}

// tidsFromLockedThread logs n records from a new locked thread and
// returns the tids they carry.
func tidsFromLockedThread(t *testing.T, n int) map[int64]int {
	_, recs := logFromLockedThread(t, n, nil)
	tids := map[int64]int{}
	for _, r := range recs {
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
