/*
 * The remotes' storage: fixed-size, pointer-free slots in chunks of
 * chunkSize that never move (so a *Remote stays valid while its slot is
 * in use, and the garbage collector never scans them), numbered from 0.
 * Slots in use form a doubly linked list by slot number in the order
 * their remotes were last seen (newest at the head); free slots form a
 * singly linked free list through next. The cost of a remote is its slot
 * (80 bytes) plus its entry in the table's address map.
 *
 * Chunks are allocated as the table grows and kept: the table's memory
 * stays at its high-water mark, which the cap bounds.
 */

package remote

import "time"

// chunkSize is the number of slots allocated at a time (80 KiB).
const chunkSize = 1024

// none is the slot number of no slot.
const none = ^uint32(0)

// Remote is one client host. Addr and Stats may be read, and Stats
// counted, by the caller of HeardFrom; the rest is the table's.
type Remote struct {
	Addr    uint32 // IPv4 address, most significant byte first
	primary uint32 // primary backend's ID, 0 for none
	backup  uint32 // backup backend's ID, 0 for none
	prev    uint32 // slot seen just after this one (towards the head)
	next    uint32 // slot seen just before this one; free list link when free
	inUse   bool
	// onBackup: the last Route chose the backup because the primary was
	// not usable (a failover); a backup chosen by a spill leaves it false.
	onBackup bool

	firstSeen int64 // Unix nanoseconds (the loop's clock)
	lastSeen  int64
	due       int64 // the rate cap's theoretical arrival time (ratecap.go)
	Stats     Stats
}

// Tracked reports whether the remote is in the table (false: a client a
// full table could not add, served untracked).
func (r *Remote) Tracked() bool { return r.inUse }

// FirstSeen is when the remote was created.
func (r *Remote) FirstSeen() time.Time { return time.Unix(0, r.firstSeen) }

// LastSeen is when the remote was last looked up.
func (r *Remote) LastSeen() time.Time { return time.Unix(0, r.lastSeen) }

// slots holds the remotes; see the file comment.
type slots struct {
	chunks     []*[chunkSize]Remote
	free       uint32 // head of the free list
	head, tail uint32 // newest and oldest in use
}

func (s *slots) init() { s.free, s.head, s.tail = none, none, none }

// at returns slot n.
func (s *slots) at(n uint32) *Remote { return &s.chunks[n/chunkSize][n%chunkSize] }

// alloc takes a free slot (growing by a chunk when there is none); the
// caller fills it and links it with pushNewest.
func (s *slots) alloc() uint32 {
	if s.free == none {
		base := uint32(len(s.chunks)) * chunkSize
		c := new([chunkSize]Remote)
		s.chunks = append(s.chunks, c)
		for i := chunkSize - 1; i >= 0; i-- {
			c[i].next = s.free
			s.free = base + uint32(i)
		}
	}
	n := s.free
	s.free = s.at(n).next
	return n
}

// release unlinks slot n and returns it to the free list.
func (s *slots) release(n uint32) {
	s.unlink(n)
	r := s.at(n)
	*r = Remote{next: s.free}
	s.free = n
}

// pushNewest links slot n at the head (most recently seen).
func (s *slots) pushNewest(n uint32) {
	r := s.at(n)
	r.prev, r.next = none, s.head
	if s.head != none {
		s.at(s.head).prev = n
	} else {
		s.tail = n
	}
	s.head = n
}

// unlink takes slot n out of the seen-order list.
func (s *slots) unlink(n uint32) {
	r := s.at(n)
	if r.prev != none {
		s.at(r.prev).next = r.next
	} else {
		s.head = r.next
	}
	if r.next != none {
		s.at(r.next).prev = r.prev
	} else {
		s.tail = r.prev
	}
	r.prev, r.next = none, none
}

// touch moves slot n to the head: its remote was just seen.
func (s *slots) touch(n uint32) {
	if s.head == n {
		return
	}
	s.unlink(n)
	s.pushNewest(n)
}

// oldest is the least recently seen slot in use.
func (s *slots) oldest() (uint32, bool) { return s.tail, s.tail != none }

// span is the number of slots, in use or free: slot numbers are below it.
func (s *slots) span() uint32 { return uint32(len(s.chunks)) * chunkSize }

// each calls fn for every slot in use, in slot order.
func (s *slots) each(fn func(*Remote)) {
	for _, c := range s.chunks {
		for i := range c {
			if c[i].inUse {
				fn(&c[i])
			}
		}
	}
}
