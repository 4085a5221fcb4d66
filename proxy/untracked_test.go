package proxy

import (
	"testing"
	"time"
)

// TestUntrackedRecord: the reflection guard's record of untracked
// clients' queries lets each query's answer through once: several
// queries in flight from one socket (other DNS IDs) each get theirs; an
// answer to another port, with another ID, a second answer, or one after
// untrackedTTL does not pass.
func TestUntrackedRecord(t *testing.T) {
	u := new(untracked)
	const addr, port = 0x0A000001, 5353
	query := func(id uint16) []byte { return []byte{byte(id >> 8), byte(id), 1, 0} }
	now := int64(time.Hour)
	for id := uint16(1); id <= 3; id++ {
		u.note(addr, port, query(id), now)
	}
	// Another port, in the same slot (a port that hashes there): only the
	// comparison can refuse it.
	other := uint16(port + 1)
	for untrackedSlot(addr, other, 1) != untrackedSlot(addr, port, 1) {
		other++
	}
	if u.take(addr, other, query(1), now) {
		t.Errorf("an answer to another port (%d) passed", other)
	}
	if u.take(addr, port, query(4), now) {
		t.Error("an answer with an ID never sent passed")
	}
	for id := uint16(3); id >= 1; id-- {
		if !u.take(addr, port, query(id), now+1) {
			t.Errorf("the answer to query %d of 3 in flight from one socket was refused", id)
		}
		if u.take(addr, port, query(id), now+1) {
			t.Errorf("a second answer to query %d passed", id)
		}
	}
	u.note(addr, port, query(5), now)
	if u.take(addr, port, query(5), now+untrackedTTL) {
		t.Error("an answer untrackedTTL after its query passed")
	}
}
