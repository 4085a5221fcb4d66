/*
 * Tests of snapshots: what a known mix of UDP and TCP queries from several
 * client addresses leaves in a snapshot, timer names and arguments, and
 * consistency while queries keep arriving.
 */

package mdb

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/evport/looptest"
	"github.com/joyent/mname-balancer/mdb/view"
)

func TestSnapshotCountsWhatWasSent(t *testing.T) {
	b := startBalancer(t, quietLog())
	port := b.udp.Port()
	// Four clients' UDP and TCP queries; mix sums them by address (one
	// address on illumos).
	mix := map[string][2]int{}
	answeredBy := map[string]string{}
	for i, n := range [][2]int{{3, 0}, {2, 1}, {0, 2}, {1, 0}} {
		from := clientAddr(i)
		for range n[0] {
			answeredBy[from] = query(t, "udp", from, port)
		}
		for range n[1] {
			answeredBy[from] = query(t, "tcp", from, port)
		}
		m := mix[from]
		mix[from] = [2]int{m[0] + n[0], m[1] + n[1]}
	}
	snap, err := b.in.Take(true, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tot := snap.Balancer
	if tot.UDPReceived != 6 || tot.UDPForwarded != 6 || tot.UDPAnswered != 6 {
		t.Errorf("UDP received/forwarded/answered = %d/%d/%d, want 6/6/6", tot.UDPReceived, tot.UDPForwarded, tot.UDPAnswered)
	}
	if tot.TCPAccepted != 3 || tot.TCPRefused != 0 {
		t.Errorf("TCP accepted/refused = %d/%d, want 3/0", tot.TCPAccepted, tot.TCPRefused)
	}
	if tot.Remotes != uint64(len(mix)) || len(snap.Remotes) != len(mix) || tot.Backends != 3 || tot.BackendsOK != 3 {
		t.Errorf("totals %+v, %d remotes listed", tot, len(snap.Remotes))
	}
	for i, r := range snap.Remotes {
		addr := r.Addr.String()
		want, ok := mix[addr]
		if !ok {
			t.Errorf("unexpected remote %s", r.Addr)
			continue
		}
		if r.StatUDP != uint64(want[0]) || r.StatTCP != uint64(want[1]) {
			t.Errorf("remote %s: udp %d tcp %d, want %v", r.Addr, r.StatUDP, r.StatTCP, want)
		}
		if strconv.Itoa(int(r.Backend)) != answeredBy[addr] {
			t.Errorf("remote %s: rem_backend %d, but %s answered", r.Addr, r.Backend, answeredBy[addr])
		}
		if r.FirstSeen <= snap.Crtime || r.LastSeen < r.FirstSeen || r.LastSeen > snap.Snaptime {
			t.Errorf("remote %s: first/last seen %d/%d outside crtime %d .. snaptime %d", r.Addr, r.FirstSeen, r.LastSeen, snap.Crtime, snap.Snaptime)
		}
		if i > 0 && !snap.Remotes[i-1].Addr.Less(r.Addr) {
			t.Errorf("remotes not sorted: %s before %s", snap.Remotes[i-1].Addr, r.Addr)
		}
	}
	var udp, tcp, remotes uint64
	for _, be := range snap.Backends {
		if !be.OK || !be.Conn || be.Removed || be.StatConnStart != 1 || be.Object == 0 {
			t.Errorf("backend %+v", be)
		}
		udp += be.StatUDP
		tcp += be.StatTCP
		remotes += uint64(be.Remotes)
	}
	if udp != 6 || tcp != 3 || remotes != uint64(len(mix)) {
		t.Errorf("backends forwarded udp %d tcp %d with %d remotes, want 6, 3, %d", udp, tcp, remotes, len(mix))
	}
}

func TestSnapshotNamesTimeouts(t *testing.T) {
	b := startBalancer(t, quietLog())
	snap, err := b.in.Take(false, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Remotes != nil {
		t.Errorf("remotes listed without being asked for")
	}
	got := map[string]bool{}
	for i, to := range snap.Timeouts {
		got[to.Func+" "+to.Arg] = true
		if to.Expiry < to.ScheduledAt || !to.Active || to.Object == 0 {
			t.Errorf("timeout %+v", to)
		}
		if i > 0 && to.Expiry < snap.Timeouts[i-1].Expiry {
			t.Errorf("timeouts not in expiry order")
		}
	}
	for _, want := range []string{
		"backend.(*Backend).timerFired backend 5301", // the one timer of an ok backend: its heartbeat
		"backend.(*Backend).timerFired backend 5303", // the one timer of an ok backend: its heartbeat
		"backend.(*Set).Rescan socket directory " + b.dir,
		"remote.(*Table).Expire remote table (expiry)",
		"remote.(*Table).Rebalance remote table (rebalance)",
	} {
		if !got[want] {
			t.Errorf("no timeout %q among %v", want, got)
		}
	}
	again, err := b.in.Take(false, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if again.Crtime != snap.Crtime || again.Snaptime <= snap.Snaptime || snap.Snaptime <= snap.Crtime {
		t.Errorf("crtime %d then %d, snaptime %d then %d: crtime must be fixed, snaptime advance", snap.Crtime, again.Crtime, snap.Snaptime, again.Snaptime)
	}
	if int(snap.Balancer.Timers) != len(snap.Timeouts) {
		t.Errorf("timers total %d, %d listed", snap.Balancer.Timers, len(snap.Timeouts))
	}
}

// A scrape's snapshot (counts only) counts the timers without listing
// them, and counts what a full snapshot lists. Timers may come and go
// between two snapshots, so the count is compared with a listing taken
// between two counts that agree.
func TestSnapshotCountsTimersWithoutListing(t *testing.T) {
	b := startBalancer(t, quietLog())
	for try := 0; ; try++ {
		before, err := b.in.take(takeCounts, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		full, err := b.in.Take(false, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		after, err := b.in.take(takeCounts, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(before.Timeouts) != 0 || len(before.Proxies) != 0 {
			t.Fatalf("a counts-only snapshot lists %d timeouts and %d proxies", len(before.Timeouts), len(before.Proxies))
		}
		if before.Balancer.Timers != after.Balancer.Timers {
			if try == 10 {
				t.Fatalf("the timers' count kept changing: %d then %d", before.Balancer.Timers, after.Balancer.Timers)
			}
			continue
		}
		if n := before.Balancer.Timers; n == 0 || n != uint64(len(full.Timeouts)) {
			t.Errorf("counts-only snapshots count %d timers; a full one lists %d", n, len(full.Timeouts))
		}
		return
	}
}

// Under load (clients keep arriving while snapshots are taken) every
// snapshot is of one instant: the backends' primary counts add up to the
// remotes listed, and to the total.
func TestSnapshotConsistentUnderLoad(t *testing.T) {
	b := startBalancer(t, quietLog())
	port := b.udp.Port()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := queryErr("udp", clientAddr((w*50+i)%200), port); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	for i := 0; i < 30; i++ {
		snap, err := b.in.Take(true, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0
		for _, be := range snap.Backends {
			sum += int(be.Remotes)
		}
		per := map[uint32]int{}
		for _, r := range snap.Remotes {
			per[r.Backend]++
		}
		for _, be := range snap.Backends {
			if per[be.ID] != int(be.Remotes) {
				t.Errorf("snapshot %d: backend %d has be_remotes %d but %d remotes list it", i, be.ID, be.Remotes, per[be.ID])
			}
		}
		if sum != len(snap.Remotes) || uint64(sum) != snap.Balancer.Remotes {
			t.Errorf("snapshot %d: be_remotes add up to %d, %d remotes listed, total %d", i, sum, len(snap.Remotes), snap.Balancer.Remotes)
		}
		if snap.Balancer.UDPForwarded > snap.Balancer.UDPReceived {
			t.Errorf("forwarded %d > received %d", snap.Balancer.UDPForwarded, snap.Balancer.UDPReceived)
		}
	}
	close(stop)
	wg.Wait()
}

// TestRemovedBackendShownOnce: a backend whose socket is removed is in the
// next snapshot of each consumer (the metrics, the control socket) as
// removed, with why and since when, and in none after; the totals count
// it no more.
func TestRemovedBackendShownOnce(t *testing.T) {
	b := startBalancer(t, quietLog())
	before, err := b.in.Take(false, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	b.demos["5303"].Close() // ends the session and removes the socket
	looptest.WaitFor(t, b.run.Loop, "5303 removed", func() bool {
		for _, x := range b.set.Backends() {
			if x.ID() == 5303 {
				return x.Removed()
			}
		}
		return false
	})
	find := func(s *view.Snapshot) *view.Backend {
		for i := range s.Backends {
			if s.Backends[i].ID == 5303 {
				return &s.Backends[i]
			}
		}
		return nil
	}
	for _, c := range []struct {
		name string
		d    detail
	}{{"metrics", takeCounts}, {"control", takeLists}} {
		first, err := b.in.take(c.d, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		be := find(first)
		if be == nil || be.State != "removed" || !be.Removed || be.Why != "socket file removed" ||
			be.StateSince <= before.Snaptime || be.StateSince > first.Snaptime || be.Crtime > before.Snaptime {
			t.Errorf("%s: first snapshot after the removal shows %+v; want 5303 removed since after %d, created before", c.name, be, before.Snaptime)
		}
		if first.Balancer.Backends != 2 || len(first.Backends) != 3 {
			t.Errorf("%s: %d backends counted, %d listed; want 2 and 3", c.name, first.Balancer.Backends, len(first.Backends))
		}
		second, err := b.in.take(c.d, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if be := find(second); be != nil || second.Balancer.Backends != 2 || len(second.Backends) != 2 {
			t.Errorf("%s: second snapshot lists %+v (%d listed, %d counted); want 5303 gone", c.name, be, len(second.Backends), second.Balancer.Backends)
		}
	}
}
