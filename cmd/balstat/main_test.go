/*
 * Tests of balstat's own parts: the options, and -k's plain refusal
 * outside an illumos cgo build. Binder's tables are tested in mdb/view;
 * what balstat prints from a live balancer is tested end to end
 * (test/e2e/inspect_test.go).
 */

package main

import (
	"bytes"
	"strings"
	"testing"
)

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
