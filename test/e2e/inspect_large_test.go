//go:build linux

/*
End-to-end test of inspecting a large remote table (issue 20): with tens of
thousands of remotes (sources from 127.64.0.1 up, sent through one socket
with IP_PKTINFO), `balstat -j` lists each of them once while a client's
queries keep being answered, and the balancer's RSS grows by no more than
a few slices' worth: the remotes are read a slice per loop turn and
streamed, never marshalled whole (before, a snapshot of N remotes cost
about 1 KiB of heap per remote: 50 MB here). The figures at a million
remotes are bench -inspect's.
*/
package e2e

import (
	"encoding/json"
	"os/exec"
	"sync/atomic"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/mdb/view"
)

// fillRemotes sends one query from each of n sources 127.64.0.1 and up
// (a spoofFlood at 10k/s, which two node-mname backends answer as it goes:
// at 25k/s their backlog held a query sent just after for over 3 s on a
// loaded machine), again until the balancer counts 98% of them, and
// returns the count. On a busy machine the kernel drops datagrams before
// the balancer reads them (with the machine loaded, a round at 25k/s
// counted about half of those still missing, and five rounds once came to
// 97.4%), so each round that falls short sends at half the rate (5k/s at
// least). The test fails when a round adds no remote at all, which is
// the balancer not counting, not the machine being slow, or after ten
// rounds.
func fillRemotes(t *testing.T, bal *Balancer, n int) int {
	t.Helper()
	rate := 10_000
	counted := uint64(0)
	for round := 1; ; round++ {
		startSpoofFlood(t, bal.Port, [4]byte{127, 64, 0, 1}, n, rate).wait()
		snap, err := view.FetchSnapshot(bal.Control, false, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got := snap.Balancer.Remotes
		if got >= uint64(n*98/100) {
			return int(got)
		}
		if got <= counted || round == 10 {
			t.Fatalf("round %d of %d sources at %d/s: the balancer counts %d remotes (%d before), want %d", round, n, rate, got, counted, n*98/100)
		}
		t.Logf("round %d of %d sources at %d/s: %d counted", round, n, rate, got)
		counted = got
		rate = max(rate/2, 5_000)
	}
}

func TestInspectLargeTableStreamed(t *testing.T) {
	SkipInShort(t)
	const n = 50_000
	c := startUDPClusterWith(t, BalancerConfig{TimeScale: udpTimeScale, Remotes: 2 * n}, "5301", "5302")
	filled := fillRemotes(t, c.bal, n)
	normal := c.client(udpClientIP(0))
	want := normal.mustWhoami("")
	rssBefore := procStatusKB(t, c.bal.Pid(), "VmRSS")

	var peak atomic.Int64
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			kb, err := procStatus(c.bal.Pid(), "VmRSS")
			if err != nil {
				t.Error(err) // not Fatal: this is not the test's goroutine
				return
			}
			peak.Store(max(peak.Load(), int64(kb)))
		}
	}()
	type result struct {
		out []byte
		err error
	}
	res := make(chan result, 1)
	go func() {
		out, err := exec.Command(balstatBinary(t), "-c", c.bal.Control, "-j").Output()
		res <- result{out, err}
	}()
	// Every query is answered while balstat runs. Which backend answers may
	// change: with the spoofed remotes spread unevenly, the table's
	// rebalancing (every 1.5 s at this time scale) may move this client
	// too, which is the table doing its work, not inspection hurting DNS.
	answered, moved := 0, 0
	var r result
	for waiting := true; waiting; {
		select {
		case r = <-res:
			waiting = false
		default:
			got, err := normal.whoami(udpAnswerTimeout)
			if err != nil || got == "" {
				t.Errorf("query %d during balstat -j: %q, %v", answered+1, got, err)
			} else if got != want {
				moved++
				want = got
			}
			answered++
		}
	}
	if moved > 0 {
		t.Logf("the client moved backend %d times during balstat -j (rebalancing)", moved)
	}
	close(done)
	<-sampled
	if r.err != nil {
		t.Fatalf("balstat -j: %v", r.err)
	}
	var snap view.Snapshot
	if err := json.Unmarshal(r.out, &snap); err != nil {
		t.Fatalf("balstat -j output: %v", err)
	}
	seen := map[string]bool{}
	for _, x := range snap.Remotes {
		if seen[x.Addr.String()] {
			t.Errorf("remote %s listed twice", x.Addr)
		}
		seen[x.Addr.String()] = true
	}
	if len(seen) < filled {
		t.Errorf("%d remotes listed, want the %d counted before and more", len(seen), filled)
	}
	grew := int(peak.Load()) - rssBefore
	t.Logf("%d remotes: balstat -j %d bytes; RSS %d KiB, peak +%d KiB; %d queries answered meanwhile",
		len(seen), len(r.out), rssBefore, grew, answered)
	// A slice is 4096 remotes (~1 MiB copied, converted and encoded per
	// client); a whole snapshot marshalled at once would be ~50 MiB here.
	if limit := max(rssBefore/10, 16<<10); grew > limit {
		t.Errorf("RSS grew by %d KiB during balstat -j of %d remotes, want at most %d KiB", grew, n, limit)
	}
	if answered == 0 {
		t.Error("no query was asked while balstat ran")
	}
}
