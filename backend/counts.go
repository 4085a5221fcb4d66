/*
 * RemoteCounts: the right to change the backends' primary counts
 * (be_remotes). Only the remote table assigns primaries, so only it may
 * change the counts: the Set hands this capability out once, and Backend
 * itself offers the count read-only.
 */

package backend

// RemoteCounts changes the primary counts of one Set's backends.
type RemoteCounts struct{ set *Set }

// ClaimRemoteCounts hands out the Set's RemoteCounts. It may be claimed
// once (by the remote table); a second claim is a wiring bug and panics.
func (s *Set) ClaimRemoteCounts() *RemoteCounts {
	if s.countsClaimed {
		panic("backend: RemoteCounts claimed twice")
	}
	s.countsClaimed = true
	return &RemoteCounts{set: s}
}

// Adjust adds delta to the number of remotes whose primary b is. A count
// may not go below zero: that is a bookkeeping bug, and panics.
func (rc *RemoteCounts) Adjust(b *Backend, delta int) {
	if b.set != rc.set {
		panic("backend: RemoteCounts of another Set")
	}
	if b.remotes+delta < 0 {
		panic("backend: remote count below zero")
	}
	b.remotes += delta
}
