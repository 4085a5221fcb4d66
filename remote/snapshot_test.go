/*
 * Tests of the table's snapshot (snapshot.go): a round trip between two
 * tables over sets with the same socket names keeps every remote's
 * primary, backup and times, and the primary counts; every kind of bad
 * input (truncated anywhere, another version or magic, over the bounds,
 * an index out of range, a bad checksum, too long) is an ErrSnapshot and
 * leaves the table empty.
 */

package remote_test

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/joyent/mname-balancer/remote"
)

// snapshotOf fills a table with n remotes over three backends and returns
// its snapshot and each remote's primary backend's socket name.
func snapshotOf(t *testing.T, n int) ([]byte, map[uint32]string) {
	h := newHarness(t, noPeriodic, "5301", "5302", "b3")
	primaries := map[uint32]string{}
	var snap []byte
	onLoop(t, h.loop, func() {
		for i := 1; i <= n; i++ {
			r := h.table.HeardFrom(ip10(i))
			primaries[ip10(i)] = filepath.Base(h.table.Route(r).Path())
		}
		snap = h.table.Snapshot()
	})
	return snap, primaries
}

func TestSnapshotRoundTrip(t *testing.T) {
	snap, primaries := snapshotOf(t, 7)
	h := newHarness(t, noPeriodic, "5301", "5302", "b3")
	onLoop(t, h.loop, func() {
		n, err := h.table.Restore(snap)
		if err != nil || n != 7 || h.table.Len() != 7 {
			t.Fatalf("Restore: %d, %v; Len %d; want 7 restored", n, err, h.table.Len())
		}
		// Backends are matched by socket name ("b3" is not a Binder port
		// name: its ID is the set's choice).
		h.table.Each(func(r *remote.Remote) {
			p := h.table.PrimaryOf(r)
			if p == nil || filepath.Base(p.Path()) != primaries[r.Addr] {
				t.Errorf("remote %#x: primary %v, want %s", r.Addr, p, primaries[r.Addr])
			}
		})
		// The restored remotes stick: a lookup does not choose again.
		for addr, want := range primaries {
			if got := filepath.Base(h.table.Route(h.table.HeardFrom(addr)).Path()); got != want {
				t.Errorf("remote %#x: backend %s after restore, want %s", addr, got, want)
			}
		}
	})
	h.checkCounts()
}

// resum recomputes the checksum of a snapshot changed by a test.
func resum(b []byte) []byte {
	b = append([]byte(nil), b...)
	binary.BigEndian.PutUint32(b[len(b)-4:], crc32.ChecksumIEEE(b[:len(b)-4]))
	return b
}

func TestSnapshotBadInput(t *testing.T) {
	snap, _ := snapshotOf(t, 3)
	bad := map[string][]byte{}
	for n := 0; n < len(snap); n++ {
		bad["truncated to "+strconv.Itoa(n)] = snap[:n]
	}
	v2 := append([]byte(nil), snap...)
	binary.BigEndian.PutUint16(v2[4:], 2)
	bad["version 2"] = resum(v2)
	magic := append([]byte(nil), snap...)
	copy(magic, "XXXX")
	bad["magic"] = resum(magic)
	flipped := append([]byte(nil), snap...)
	flipped[len(flipped)-6] ^= 1
	bad["checksum"] = flipped
	many := append([]byte(nil), snap...)
	binary.BigEndian.PutUint32(many[8:], 1<<30)
	bad["remote count over the bound"] = resum(many)
	backends := append([]byte(nil), snap...)
	binary.BigEndian.PutUint16(backends[6:], 2000)
	bad["backend count over the bound"] = resum(backends)
	// The first entry's primary index: past the names.
	idx := append([]byte(nil), snap...)
	entries := len(idx) - 4 - 3*24
	binary.BigEndian.PutUint16(idx[entries+4:], 99)
	bad["backend index out of range"] = resum(idx)
	extra := append(append([]byte(nil), snap[:len(snap)-4]...), 0)
	bad["trailing byte"] = resum(append(extra, 0, 0, 0, 0))
	bad["oversized"] = make([]byte, remote.MaxSnapshotSize+1)

	h := newHarness(t, noPeriodic, "5301")
	for name, b := range bad {
		onLoop(t, h.loop, func() {
			n, err := h.table.Restore(b)
			if !errors.Is(err, remote.ErrSnapshot) {
				t.Errorf("%s: Restore returned %d, %v; want an ErrSnapshot", name, n, err)
			}
			if n != 0 || h.table.Len() != 0 {
				t.Errorf("%s: %d restored, table holds %d; want an empty table", name, n, h.table.Len())
			}
		})
	}
	h.checkCounts()
}
