/*
Memory per remote (issues 11, 12): the heap that n remotes with a primary
hold, measured with runtime.MemStats after a forced GC, over 100k remotes
in every run and over 1M when BBAL_REMOTES_1M is set (make soak). Issue 11
wants at most 200 bytes per remote; issue 12 at most 256 at 1M. The log
goes to io.Discard so that the records do not count.
*/

package remote_test

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"testing"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/remote"
)

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// bytesPerRemote fills a fresh table with n remotes, each with a primary,
// and returns the heap they hold divided by n.
func bytesPerRemote(t *testing.T, n int) float64 {
	log := bunyan.New(io.Discard, zerolog.InfoLevel)
	h := newHarnessLog(t, noPeriodic, &log, "5301", "5302", "5303")
	var table *remote.Table
	onLoop(t, h.loop, func() { table = h.table })
	before := heapInUse()
	onLoop(t, h.loop, func() {
		for i := 0; i < n; i++ {
			addr := 0x0A000000 + uint32(i)
			if table.Route(table.HeardFrom(addr)) == nil {
				t.Fatalf("remote %d got no backend", i)
			}
		}
	})
	after := heapInUse()
	onLoop(t, h.loop, func() {
		if table.Len() != n {
			t.Fatalf("Len %d, want %d", table.Len(), n)
		}
	})
	runtime.KeepAlive(table)
	return float64(after-before) / float64(n)
}

func TestBytesPerRemote(t *testing.T) {
	for _, tc := range []struct {
		n     int
		limit float64
		run   bool
	}{
		{100_000, 200, true},
		{1_000_000, 256, os.Getenv("BBAL_REMOTES_1M") != ""},
	} {
		if !tc.run {
			t.Logf("%d remotes: set BBAL_REMOTES_1M=1 to measure (make soak)", tc.n)
			continue
		}
		t.Run(fmt.Sprint(tc.n), func(t *testing.T) {
			got := bytesPerRemote(t, tc.n)
			t.Logf("%d remotes: %.0f bytes of heap each", tc.n, got)
			if got > tc.limit {
				t.Errorf("%d remotes hold %.0f bytes each, want <= %.0f", tc.n, got, tc.limit)
			}
		})
	}
}
