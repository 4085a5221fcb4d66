/*
 * Tests of the mdb-style pipelines: the README's and Binder's pipelines,
 * given literally, print in mdb's layout; anything else is refused with
 * the list of what is supported.
 */

package view

import (
	"net/netip"
	"strings"
	"testing"
)

func fixedSnapshot() *Snapshot {
	return &Snapshot{
		Backends: []Backend{
			{Object: 0x80a6f00, ID: 0x14b5, Path: "/var/run/binder/sockets/5301", OK: true, Remotes: 0x1f,
				ReconnectDelay: 1, StatConnStart: 1, StatUDP: 0x423e33},
			{Object: 0xc000123450, ID: 5302, Path: "/var/run/binder/sockets/5302", Removed: true, Reconnect: false},
		},
		Remotes: []Remote{
			{Object: 0x80b0cd0, Addr: netip.MustParseAddr("10.77.77.5"), Backend: 5301, StatUDP: 3},
			{Object: 0x80b0250, Addr: netip.MustParseAddr("10.77.77.64"), Backend: 5301, BackendBackup: 5302},
		},
		Timeouts: []Timeout{
			{Object: 0x80aff08, ID: 3, ScheduledAt: 0x317ef1a176887, Expiry: 0x317f0441d5a87,
				Func: "backend.(*Backend).heartbeatDue", Arg: "backend 5301", Active: true},
		},
	}
}

func TestPipelinesAsOperatorsWroteThem(t *testing.T) {
	s := fixedSnapshot()
	for _, c := range []struct{ pipeline, want string }{
		{`g_remotes::walk avl | ::printf "%12p %12I -> %d\n" remote_t . rem_addr.S_un.S_addr rem_backend`,
			"     80b0cd0   10.77.77.5 -> 5301\n" +
				"     80b0250  10.77.77.64 -> 5301\n"},
		// Binder's balstat, as its script passes them to mdb -e.
		{`g_backends::walk avl | ::printf "%12p %8d %4d %8d %s\n" backend_t . be_id be_ok be_remotes be_path`,
			"     80a6f00     5301    1       31 /var/run/binder/sockets/5301\n" +
				"  c000123450     5302    0        0 /var/run/binder/sockets/5302\n"},
		{`g_remotes::walk avl | ::printf "%12p %8d %12I\n" remote_t . rem_backend rem_addr.S_un.S_addr`,
			"     80b0cd0     5301   10.77.77.5\n" +
				"     80b0250     5301  10.77.77.64\n"},
		{`g_backends::walk avl | ::print backend_t be_id be_ok`,
			"be_id = 0x14b5\nbe_ok = 0x1 (B_TRUE)\nbe_id = 0x14b6\nbe_ok = 0 (0)\n"},
		{`g_backends::walk avl`, "80a6f00\nc000123450\n"},
		{`g_timeouts::walk avl|::printf "%-6d|%s(%s)\n" timeout_t to_id to_func to_arg`,
			"3     |backend.(*Backend).heartbeatDue(backend 5301)\n"},
	} {
		var b strings.Builder
		if err := RunPipeline(&b, s, c.pipeline); err != nil {
			t.Errorf("%s: %v", c.pipeline, err)
			continue
		}
		if b.String() != c.want {
			t.Errorf("%s:\n%q\nwant\n%q", c.pipeline, b.String(), c.want)
		}
	}
}

func TestPrintBackendLikeTheREADME(t *testing.T) {
	s := fixedSnapshot()
	s.Backends = s.Backends[:1]
	var b strings.Builder
	if err := RunPipeline(&b, s, "g_backends::walk avl | ::print backend_t"); err != nil {
		t.Fatal(err)
	}
	// The README's lines for these fields, verbatim (mdb's layout).
	want := `{
    be_id = 0x14b5
    be_path = "/var/run/binder/sockets/5301"
    be_ok = 0x1 (B_TRUE)
    be_reconnect = 0 (0)
    be_heartbeat_outstanding = 0 (0)
    be_removed = 0 (0)
    be_remotes = 0x1f
    be_reconnect_delay = 0x1
    be_stat_conn_start = 0x1
    be_stat_conn_error = 0
    be_stat_udp = 0x423e33
    be_stat_tcp = 0
    be_stat_stuck = 0
}
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := RunPipeline(&b, s, "g_timeouts::walk avl | ::print timeout_t"); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"    to_id = 0x3\n", "    to_scheduled_at = 0x317ef1a176887\n", "    to_expiry = 0x317f0441d5a87\n",
		"    to_func = backend.(*Backend).heartbeatDue\n", "    to_arg = \"backend 5301\"\n", "    to_active = 0x1 (B_TRUE)\n"} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("timeout_t print lacks %q:\n%s", line, b.String())
		}
	}
	b.Reset()
	s.Remotes = s.Remotes[:1]
	RunPipeline(&b, s, "g_remotes::walk avl | ::print remote_t")
	// 10.77.77.5 as the C in_addr held it, read on a little-endian host.
	if !strings.Contains(b.String(), "            S_addr = 0x54d4d0a\n") {
		t.Errorf("remote_t print:\n%s", b.String())
	}
}

func TestPipelineErrorsListWhatIsSupported(t *testing.T) {
	s := fixedSnapshot()
	for _, c := range []struct{ pipeline, want string }{
		{"::walk thread", "unsupported walker"},
		{"g_backends::walk list", "unsupported walker"},
		{"g_sessions::walk avl", "unsupported walker"},
		{"g_backends::walk avl | ::print remote_t", "yields backend_t"},
		{"g_backends::walk avl | ::print backend_t be_nothing", `no member "be_nothing"`},
		{`g_backends::walk avl | ::printf "%f\n" backend_t be_id`, "unsupported conversion"},
		{`g_backends::walk avl | ::printf "%d %d\n" backend_t be_id`, "2 conversions but 1 arguments"},
		{`g_backends::walk avl | ::printf "%s\n" backend_t be_id`, "not a string"},
		{`g_backends::walk avl | ::printf "%I\n" backend_t be_id`, "not an IPv4 address"},
		{`g_backends::walk avl | ::grep .`, `unsupported dcmd "::grep"`},
		{`g_backends::walk avl | ::print backend_t | ::print backend_t`, "at most one dcmd"},
		{`g_backends::walk avl | ::printf "%d backend_t be_id`, "unterminated quote"},
		{`g_backends::walk avl |`, "empty stage"},
	} {
		var b strings.Builder
		err := RunPipeline(&b, s, c.pipeline)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.pipeline, err, c.want)
			continue
		}
		if strings.Contains(c.want, "walker") || strings.Contains(c.want, "dcmd") {
			if !strings.Contains(err.Error(), "g_timeouts::walk avl (timeout_t)") {
				t.Errorf("%s: error does not list what is supported: %v", c.pipeline, err)
			}
		}
	}
}
