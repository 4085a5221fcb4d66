/*
 * Tests of Binder's tables: to the byte as Binder's bin/balstat printed
 * them, and the -v columns.
 */

package view

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

func TestTablesAreBinders(t *testing.T) {
	snap := &Snapshot{
		Snaptime: 100e9, Walltime: "2026-12-02T01:00:00.5Z", Pid: 4242, Generation: 3, Crtime: 30e9,
		Backends: []Backend{
			{Object: 0xc00010a000, ID: 5301, Path: "/var/run/binder/sockets/5301", OK: true, Remotes: 2, StatUDP: 10, StatConnStart: 1,
				State: "ok", StateSince: 40e9},
			{Object: 0xc00010a0f0, ID: 5302, Path: "/var/run/binder/sockets/5302", Remotes: 0,
				State: "reconnecting", StateSince: 97e9, Why: "no heartbeat", StatConnError: 1},
		},
		Remotes: []Remote{
			{Object: 0xc000200000, Addr: netip.MustParseAddr("10.77.77.5"), Backend: 5301, StatUDP: 7},
			{Object: 0xc000200080, Addr: netip.MustParseAddr("10.77.77.64"), Backend: 5301, BackendBackup: 5302, StatTCP: 1},
		},
	}
	// What Binder's bin/balstat printed: its printf headers and mdb
	// ::printf rows, widths 12/8/4/8 and 12/8/12.
	want := "BACKENDS:\n\n" +
		"      OBJECT  BACKEND  OK? #REMOTES SOCKET PATH\n" +
		"  c00010a000     5301    1        2 /var/run/binder/sockets/5301\n" +
		"  c00010a0f0     5302    0        0 /var/run/binder/sockets/5302\n" +
		"\nREMOTE PEERS:\n\n" +
		"      OBJECT  BACKEND    REMOTE IP\n" +
		"  c000200000     5301   10.77.77.5\n" +
		"  c000200080     5301  10.77.77.64\n" +
		"\n"
	var b bytes.Buffer
	if err := WriteTables(&b, snap, false); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("tables:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := WriteTables(&b, snap, true); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "BALANCER: pid 4242, generation 3, started 2026-12-02T00:58:50Z\n\nBACKENDS:\n") {
		t.Errorf("-v tables do not begin with the process's pid, generation and start:\n%s", b.String())
	}
	for _, line := range []string{
		"      OBJECT  BACKEND  OK? #REMOTES STATE        SINCE                CONN_START CONN_ERROR          UDP        TCP      STUCK SOCKET PATH WHY\n",
		"  c00010a000     5301    1        2 ok           2026-12-02T00:59:00Z          1          0           10          0          0 /var/run/binder/sockets/5301\n",
		"  c00010a0f0     5302    0        0 reconnecting 2026-12-02T00:59:57Z          0          1            0          0          0 /var/run/binder/sockets/5302 no heartbeat\n",
		"      OBJECT  BACKEND    REMOTE IP   BACKUP          UDP   UDP_DROP        TCP   TCP_DROP\n",
		"  c000200080     5301  10.77.77.64     5302            0          0          1          0\n",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("-v tables lack %q:\n%s", line, b.String())
		}
	}
}
