/*
 * Test of the summary (balstat -s) layout.
 */

package view

import (
	"net/netip"
	"strings"
	"testing"
)

func TestSummary(t *testing.T) {
	snap := &Snapshot{
		Snaptime: 20e9, Walltime: "2026-12-02T01:00:20Z",
		Balancer: Totals{Remotes: 1000000},
		Backends: []Backend{
			{ID: 5301, Path: "/var/run/binder/sockets/5301", OK: true, Remotes: 600000, StatUDP: 123456, StatTCP: 7, StatStuck: 2},
			{ID: 5302, Path: "/var/run/binder/sockets/5302", Remotes: 400000},
		},
		Busiest: &Busiest{WindowStart: 5e9, WindowNS: 10e9, Contacts: 90000, Remotes: []BusyRemote{
			{Addr: netip.MustParseAddr("10.77.77.5"), Contacts: 40000, Backend: 5301},
			{Addr: netip.MustParseAddr("192.168.100.200"), Contacts: 1200, Overcount: 300},
		}},
	}
	want := "BACKENDS:\n\n" +
		" BACKEND  OK? #REMOTES          UDP        TCP      STUCK SOCKET PATH\n" +
		"    5301    1   600000       123456          7          2 /var/run/binder/sockets/5301\n" +
		"    5302    0   400000            0          0          0 /var/run/binder/sockets/5302\n" +
		"\nREMOTES: 1000000\n" +
		"\nBUSIEST REMOTES (10s from 2026-12-02T01:00:05Z: 90000 contacts in all):\n\n" +
		"      REMOTE IP   CONTACTS  OVERCOUNT  BACKEND\n" +
		"     10.77.77.5      40000          0     5301\n" +
		"192.168.100.200       1200        300        0\n" +
		"\n"
	var b strings.Builder
	if err := WriteSummary(&b, snap); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("summary:\n%s\nwant:\n%s", b.String(), want)
	}
}
