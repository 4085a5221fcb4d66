/*
 * Tests of the client's handling of a streamed remotes list: sorted by
 * address, an address listed twice (forgotten and heard from again during
 * the walk) kept once, as last seen.
 */

package view

import (
	"net/netip"
	"testing"
)

func TestSortRemotesKeepsLastSeen(t *testing.T) {
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	rs := SortRemotes([]Remote{
		{Addr: a("10.0.0.9"), LastSeen: 5},
		{Addr: a("10.0.0.2"), LastSeen: 7, Backend: 1},
		{Addr: a("10.0.0.10"), LastSeen: 1},
		{Addr: a("10.0.0.2"), LastSeen: 9, Backend: 2},
		{Addr: a("10.0.0.2"), LastSeen: 3, Backend: 3},
	})
	want := []Remote{{Addr: a("10.0.0.2"), LastSeen: 9, Backend: 2}, {Addr: a("10.0.0.9"), LastSeen: 5}, {Addr: a("10.0.0.10"), LastSeen: 1}}
	if len(rs) != len(want) {
		t.Fatalf("%+v, want %+v", rs, want)
	}
	for i := range want {
		if rs[i] != want[i] {
			t.Errorf("remote %d: %+v, want %+v", i, rs[i], want[i])
		}
	}
	if SortRemotes(nil) != nil {
		t.Error("no remotes (a summary) became a list")
	}
}
