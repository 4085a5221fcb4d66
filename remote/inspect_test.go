/*
Tests of the sliced walk (AppendInfoFrom): a walk in slices, with remotes
evicted and created between slices, sees every remote that stays in the
table for the whole walk exactly once, and no slice looks at more slots
than asked.
*/

package remote_test

import (
	"testing"
	"time"

	"github.com/joyent/mname-balancer/remote"
)

func TestWalkInSlicesSeesStayingRemotesOnce(t *testing.T) {
	const (
		n     = 5000
		span  = 700
		churn = 200 // new remotes (each evicting one) between slices
	)
	h := newHarnessClock(t, noPeriodic, "5301")
	onLoop(t, h.loop, func() {
		h.table.SetMaxRemotes(n)
		for i := 1; i <= n; i++ {
			h.table.HeardFrom(ip10(i))
		}
		// The second half seen again: the first half is now the oldest,
		// evicted first by the newcomers.
		for i := n/2 + 1; i <= n; i++ {
			h.table.HeardFrom(ip10(i))
		}
	})
	seen := map[uint32]int{}
	var cursor uint32
	newcomer := n
	for slices := 0; ; slices++ {
		if slices > 100 {
			t.Fatal("the walk does not end")
		}
		var infos []remote.Info
		var next uint32
		var done bool
		onLoop(t, h.loop, func() {
			infos, next, done = h.table.AppendInfoFrom(nil, cursor, span)
			// Between slices: newcomers, each evicting one of the first
			// half, its freed slot reused (before or after the cursor).
			for range churn {
				newcomer++
				h.table.HeardFrom(ip10(newcomer))
			}
		})
		if next-cursor > span || len(infos) > span {
			t.Fatalf("a slice from %d went to %d with %d remotes: more than %d slots", cursor, next, len(infos), span)
		}
		for _, x := range infos {
			seen[x.Addr]++
		}
		cursor = next
		if done {
			break
		}
	}
	if evicted := newcomer - n; evicted >= n/2 {
		t.Fatalf("%d newcomers evicted some of the staying half: the test is wrong", evicted)
	}
	for i := n/2 + 1; i <= n; i++ {
		if seen[ip10(i)] != 1 {
			t.Errorf("10.0.0.%d, in the table for the whole walk, seen %d times", i, seen[ip10(i)])
		}
	}
	for addr, k := range seen {
		if k != 1 {
			t.Errorf("address %#x seen %d times", addr, k)
		}
	}
	onLoop(t, h.loop, func() {
		if infos, _, done := h.table.AppendInfoFrom(nil, cursor, span); !done || len(infos) != 0 {
			t.Errorf("after the end: %d remotes, done %v", len(infos), done)
		}
	})
}

// BenchmarkAppendInfoFrom is one slice of 4096 slots all in use (mdb's
// remoteSpan), the most a loop turn spends on inspection: ns/slice is the
// time on the loop, without the posting.
func BenchmarkAppendInfoFrom(b *testing.B) {
	h := newHarnessClock(b, noPeriodic, "5301")
	const span = 4096
	onLoop(b, h.loop, func() {
		for i := 1; i <= 4*span; i++ {
			h.table.HeardFrom(ip10(i))
		}
	})
	buf := make([]remote.Info, 0, span)
	var onLoopTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		onLoop(b, h.loop, func() {
			start := time.Now()
			buf, _, _ = h.table.AppendInfoFrom(buf[:0], uint32(i%4)*span, span)
			onLoopTime += time.Since(start)
		})
		if len(buf) != span {
			b.Fatalf("%d remotes in a full slice", len(buf))
		}
	}
	b.ReportMetric(float64(onLoopTime.Nanoseconds())/float64(b.N), "ns/slice")
}
