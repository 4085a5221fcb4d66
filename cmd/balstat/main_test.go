/*
 * Tests of balstat's own parts: Binder's tables to the byte, the options,
 * and -k's plain refusal outside an illumos cgo build. What it prints from
 * a live balancer is tested end to end (test/e2e/inspect_test.go).
 */

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/joyent/mname-balancer/mdb"
)

func TestTablesAreBinders(t *testing.T) {
	snap := &mdb.Snapshot{
		Backends: []mdb.Backend{
			{Object: 0xc00010a000, ID: 5301, Path: "/var/run/binder/sockets/5301", OK: true, Remotes: 2, StatUDP: 10, StatConnStart: 1},
			{Object: 0xc00010a0f0, ID: 5302, Path: "/var/run/binder/sockets/5302", Remotes: 0},
		},
		Remotes: []mdb.Remote{
			{Object: 0xc000200000, Addr: "10.77.77.5", Backend: 5301, StatUDP: 7},
			{Object: 0xc000200080, Addr: "10.77.77.64", Backend: 5301, BackendBackup: 5302, StatTCP: 1},
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
	if err := writeTables(&b, snap, false); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("tables:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	if err := writeTables(&b, snap, true); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"      OBJECT  BACKEND  OK? #REMOTES CONN_START CONN_ERROR          UDP        TCP      STUCK SOCKET PATH\n",
		"  c00010a000     5301    1        2          1          0           10          0          0 /var/run/binder/sockets/5301\n",
		"      OBJECT  BACKEND    REMOTE IP   BACKUP          UDP   UDP_DROP        TCP   TCP_DROP\n",
		"  c000200080     5301  10.77.77.64     5302            0          0          1          0\n",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("-v tables lack %q:\n%s", line, b.String())
		}
	}
}

func TestOptions(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"-p", "-j"}, 2, "alternatives"},
		{[]string{"-v", "-j"}, 2, "-v goes with the tables only"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"-x"}, 2, "flag provided but not defined"},
		{[]string{"-l", "debug", "5", "more"}, 2, `unexpected argument "more"`},
		{[]string{"-p", "bbal:::", "0"}, 2, "INTERVAL and COUNT must be 1 or more"},
		{[]string{"-p", "a:b:c:d:e"}, 2, "more than four fields"},
		{[]string{"-c", "/nonexistent/control"}, 1, "control socket: dial unix /nonexistent/control"},
	} {
		var out, errb bytes.Buffer
		code := run(c.args, &out, &errb)
		if code != c.code || !strings.Contains(errb.String(), c.err) {
			t.Errorf("balstat %q: exit %d, stderr %q; want %d and %q", c.args, code, errb.String(), c.code, c.err)
		}
	}
}
