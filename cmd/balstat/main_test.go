/*
 * Tests of balstat's own parts: the options, and -k's plain refusal
 * outside an illumos cgo build. Binder's tables are tested in mdb/view;
 * what balstat prints from a live balancer is tested end to end
 * (test/e2e/inspect_test.go).
 */

package main

import (
	"bytes"
	"flag"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/joyent/mname-balancer/mdb/view"
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

// -h (and -help, --help) print every option; -V the version.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"-v", "-h"}} {
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb); code != 0 || out.String() != help || errb.Len() != 0 {
			t.Errorf("balstat %q: exit %d, stdout %q, stderr %q; want 0 and the help", args, code, out.String(), errb.String())
		}
	}
	// Every flag parseArgs defines is described.
	fs, _, _, _ := flagSet(&options{})
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(help, "\n  -"+f.Name+" ") {
			t.Errorf("the help does not describe -%s", f.Name)
		}
	})
	var out, errb bytes.Buffer
	if code := run([]string{"-V"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "balstat ") ||
		!strings.Contains(out.String(), runtime.Version()) {
		t.Errorf("balstat -V: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

// TestHelpMapsEveryState: -h gives the number of every state balstat -p's
// "state" can take, as view.StateNumber numbers it.
func TestHelpMapsEveryState(t *testing.T) {
	for i, s := range view.BackendStates {
		if !regexp.MustCompile(`(?m)^ +` + strconv.Itoa(i) + ` ` + s + ` `).MatchString(help) {
			t.Errorf("balstat -h does not say state %d is %s", i, s)
		}
	}
}
