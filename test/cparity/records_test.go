/*
Every log record the C balancer emits, as data, and the check that the Go
balancer can emit each with the same msg, the same level and the same
field names (issue 9): operators' alerts grep the C messages and filter on
level, and their tools read the fields.

cRecords was made from every bunyan_trace ... bunyan_fatal call in the C
reference's main.c, backend.c, remotes.c, tcp_proxy.c and udp_proxy.c
(libcloop and timeouts.c log nothing): the message (adjacent literals
joined; udp_proxy.c's one variable message is its three values), the
level, and the record's field names followed by those of the child logger
it is called on (be_log: be_id, be_path; rem_log: remote_ip; prx_log:
backend, conn_id, remote_ip, remote_port). The Go side may add fields; it
may not lack one. One addition is required: every Go record that names a
backend carries be_id (the C TCP records named it "backend" only, so a
filter on be_id missed them; "backend" stays beside it).

notReproduced lists the records deliberately left out, each with the
reason: C allocation failures (Go has no failing allocation to log: the
runtime ends the process), C's immediate sends whose failure Go meets as
the session's or connection's error record (Go queues, and Conn.Write
cannot fail), the loop's per-turn trace (evport does not log), a remote
lookup that cannot fail in Go, and option parsing done before logging.
The test also fails if a record listed there can in fact be emitted, so
the list stays true.

What "can emit" means: some Go site has the msg, the level and every
field. It does not tie the site to the same event as the C call; the
end-to-end tests do that for the records operators alert on.
*/

package cparity

import (
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// cRecord is one record of the C balancer.
type cRecord struct {
	site   string // file:line in the C reference
	level  string
	msg    string
	fields []string // record fields, then the child logger's
}

var cRecords = []cRecord{
	{"backend.c:250", "error", "no backends available", nil},
	{"backend.c:328", "info", "new backend", []string{"be_id", "be_path"}},
	{"backend.c:364", "info", "connecting to backend", []string{"be_id", "be_path"}},
	{"backend.c:376", "info", "backend socket removed", []string{"be_id", "be_path"}},
	{"backend.c:381", "error", "failed to connect", []string{"errno", "strerror", "be_id", "be_path"}},
	{"backend.c:431", "debug", "reconnect triggered for backend", []string{"delay_secs", "be_id", "be_path"}},
	{"backend.c:459", "error", "backend faulted (reset and reconnect)", []string{"be_id", "be_path"}},
	{"backend.c:494", "error", "no heartbeat from backend", []string{"be_id", "be_path"}},
	{"backend.c:531", "trace", "heartbeat sent", []string{"be_id", "be_path"}},
	{"backend.c:581", "fatal", "could not pullup", []string{"errno", "strerror", "be_id", "be_path"}},
	{"backend.c:600", "trace", "inbound frame", []string{"frame_type", "be_id", "be_path"}},
	{"backend.c:609", "error", "errant frame before hello", []string{"frame_type", "be_id", "be_path"}},
	{"backend.c:624", "error", "duplicate hello from backend", []string{"be_id", "be_path"}},
	{"backend.c:633", "info", "backend socket established", []string{"be_id", "be_path"}},
	{"backend.c:650", "error", "unexpected heartbeat response from backend", []string{"be_id", "be_path"}},
	{"backend.c:662", "trace", "received heartbeat reply", []string{"be_id", "be_path"}},
	{"backend.c:672", "error", "invalid frame type", []string{"frame_type", "be_id", "be_path"}},
	{"backend.c:692", "fatal", "could not pullup", []string{"errno", "strerror", "be_id", "be_path"}},
	{"backend.c:710", "warn", "backend sent oversized UDP packet", []string{"len", "be_id", "be_path"}},
	{"backend.c:732", "fatal", "could not pullup", []string{"errno", "strerror", "be_id", "be_path"}},
	{"backend.c:747", "trace", "outbound UDP packet", []string{"dest_ip", "dest_port", "data_len", "be_id", "be_path"}},
	{"backend.c:762", "error", "outbound UDP packet error", []string{"dest_ip", "dest_port", "data_len", "errno", "strerror", "be_id", "be_path"}},
	{"backend.c:793", "info", "backend socket connected", []string{"be_id", "be_path"}},
	{"backend.c:801", "error", "could not allocate buffer", []string{"errno", "strerror", "be_id", "be_path"}},
	{"backend.c:812", "error", "sending hello frame", []string{"errno", "strerror", "be_id", "be_path"}},
	{"backend.c:831", "warn", "backend socket EOF", []string{"be_id", "be_path"}},
	{"backend.c:845", "error", "backend socket error", []string{"cause", "errno", "strerror", "be_id", "be_path"}},
	{"backend.c:865", "info", "backend socket closed", []string{"be_id", "be_path"}},
	{"backend.c:900", "error", "backend cconn_alloc failed", []string{"errno", "strerror", "be_id", "be_path"}},
	{"backend.c:911", "error", "socket(2) failed", []string{"errno", "strerror", "be_id", "be_path"}},
	{"backend.c:928", "error", "connect(3SOCKET) failed", []string{"socket_path", "errno", "strerror", "be_id", "be_path"}},
	{"backend.c:962", "warn", "timed out connecting to backend", []string{"be_id", "be_path"}},
	{"backend.c:1019", "error", "error opening socket directory", []string{"socket_dir", "errno", "error"}},
	{"backend.c:1033", "error", "error reading socket directory", []string{"socket_dir", "errno", "error"}},
	{"backend.c:1057", "error", "backend socket path is too long", []string{"socket_path"}},
	{"backend.c:1076", "info", "backend socket returned (connecting)", []string{"be_id", "be_path"}},
	{"backend.c:1084", "error", "backend_create failed", []string{"socket_path", "errno", "error"}},
	{"backend.c:1147", "trace", "balancer spread statistics", []string{"max_count", "min_count", "max_be_id", "spread"}},
	{"main.c:150", "info", "starting up", nil},
	{"main.c:158", "fatal", "cloop init failure", []string{"errno", "strerror"}},
	{"main.c:167", "fatal", "data structure failure", []string{"errno", "strerror"}},
	{"main.c:195", "fatal", "timer init failure", []string{"errno", "strerror"}},
	{"main.c:242", "trace", "event loop", []string{"count"}},
	{"main.c:247", "fatal", "cloop run failure", []string{"errno", "strerror"}},
	{"remotes.c:143", "info", "remote assigned to new primary backend", []string{"be_id", "remote_ip"}},
	{"remotes.c:174", "info", "remote assigned to original primary backend", []string{"be_id", "remote_ip"}},
	{"remotes.c:196", "info", "remote assigned to new backup backend", []string{"be_id", "remote_ip"}},
	{"remotes.c:255", "info", "new remote peer", []string{"remote_ip"}},
	{"remotes.c:301", "info", "expiring remote entry", []string{"remote_ip"}},
	{"remotes.c:330", "info", "rebalancing to reduce spread", []string{"remote_ip"}},
	{"tcp_proxy.c:60", "debug", "TCP teardown", []string{"backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:94", "trace", "TCP frontend data", []string{"backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:100", "trace", "TCP data arrived from remote, but backend not yet connected", []string{"backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:116", "trace", "forwarded bytes from front to back", []string{"count", "backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:122", "warn", "forward to backend failed", []string{"count", "errno", "strerror", "backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:141", "trace", "TCP stream EOF", []string{"which", "backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:149", "error", "FIN send failed", []string{"which", "backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:164", "debug", "connected to backend", []string{"backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:181", "warn", "backend hello frame alloc failed", []string{"errno", "strerror", "backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:196", "warn", "backend hello frame send failed", []string{"errno", "strerror", "backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:217", "trace", "TCP backend data", []string{"backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:232", "fatal", "could not pullup", []string{"errno", "strerror", "backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:247", "warn", "backend invalid TCP OK", []string{"frame_type", "backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:254", "trace", "backend reports TCP OK", []string{"backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:277", "trace", "forwarded bytes from back to front", []string{"count", "backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:283", "warn", "forward to frontend failed", []string{"count", "errno", "strerror", "backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:303", "trace", "TCP stream EOF", []string{"which", "backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:308", "error", "FIN send failed", []string{"which", "backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:324", "error", "TCP error", []string{"which", "cause", "errno", "strerror", "backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:351", "debug", "frontend connection closed", []string{"backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:355", "debug", "backend connection closed", []string{"backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:372", "debug", "proxy connection finished", []string{"backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:389", "error", "timed out connecting to backend", []string{"backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:418", "fatal", "incoming TCP calloc", nil},
	{"tcp_proxy.c:425", "warn", "incoming TCP accept failure", []string{"errno", "strerror"}},
	{"tcp_proxy.c:435", "debug", "inbound TCP connection", []string{"conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:446", "error", "could not lookup remote (dropping)", []string{"remote_ip", "remote_port"}},
	{"tcp_proxy.c:456", "trace", "could not find backend for remote", []string{"remote_ip"}},
	{"tcp_proxy.c:468", "warn", "incoming TCP failure (bunyan child)", []string{"errno", "strerror"}},
	{"tcp_proxy.c:475", "trace", "connecting to backend", []string{"backend", "conn_id", "remote_ip", "remote_port"}},
	{"tcp_proxy.c:527", "fatal", "failed to create TCP listen socket", []string{"address", "port", "errno", "strerror"}},
	{"tcp_proxy.c:536", "info", "listening for TCP packets", []string{"address", "port"}},
	{"udp_proxy.c:37", "debug", "opening UDP listen socket", []string{"address", "port"}},
	{"udp_proxy.c:45", "warn", "failed to parse IP address or port", []string{"address", "port"}},
	{"udp_proxy.c:82", "info", "listening for UDP packets", []string{"address", "port"}},
	{"udp_proxy.c:91", "fatal", "failed to create UDP listen socket", []string{"address", "port", "errno", "strerror"}},
	{"udp_proxy.c:91", "fatal", "failed to set SO_REUSEADDR on UDP listen socket", []string{"address", "port", "errno", "strerror"}},
	{"udp_proxy.c:91", "fatal", "failed to bind UDP listen socket", []string{"address", "port", "errno", "strerror"}},
	{"udp_proxy.c:140", "trace", "ran out of UDP packets", []string{"packet_count"}},
	{"udp_proxy.c:153", "error", "could not lookup remote (dropping)", []string{"remote_ip"}},
	{"udp_proxy.c:166", "warn", "dropping oversized UDP packet", []string{"len", "remote_ip"}},
	{"udp_proxy.c:172", "trace", "received UDP packet from remote", []string{"remote_port", "len", "remote_ip"}},
	{"udp_proxy.c:179", "trace", "could not find backend for remote", []string{"remote_ip"}},
	{"udp_proxy.c:187", "trace", "stuck backend write queue", []string{"be_id", "be_path"}},
	{"udp_proxy.c:219", "trace", "forwarding UDP packet to backend", []string{"remote_ip", "remote_port", "len", "be_id", "be_path"}},
	{"udp_proxy.c:226", "warn", "failed to send packet to backend", []string{"remote_ip", "remote_port", "len", "errno", "strerror", "be_id", "be_path"}},
}

// notReproduced: C site → why the Go balancer does not emit that record.
var notReproduced = map[string]string{
	"backend.c:581":   "could not pullup: " + allocFailure + " (Go's frame reader grows a slice)",
	"backend.c:692":   "could not pullup: " + allocFailure,
	"backend.c:732":   "could not pullup: " + allocFailure,
	"tcp_proxy.c:232": "could not pullup: " + allocFailure,
	"backend.c:801":   "could not allocate buffer (hello frame): " + allocFailure,
	"backend.c:900":   "backend cconn_alloc failed: " + allocFailure,
	"backend.c:1084":  "backend_create failed: C fails only in calloc, strdup, timeout_alloc or bunyan_child, " + allocFailure,
	"tcp_proxy.c:181": "backend hello frame alloc failed: " + allocFailure,
	"tcp_proxy.c:418": "incoming TCP calloc: " + allocFailure,
	"tcp_proxy.c:468": "incoming TCP failure (bunyan child): " + allocFailure + "; a Go child logger cannot fail",
	"main.c:167":      "data structure failure: C's AVL trees and timeout list initialisation (allocation); Go's maps need none",
	"main.c:195":      "timer init failure: cloop timer allocation; Go's loop timers are made by a call that cannot fail",
	"main.c:242": "event loop (trace, count per turn): the loop is package evport, which by DESIGN imports no " +
		"balancer package and does not log; the record carries nothing but a turn counter",
	"udp_proxy.c:153": lookupFailure,
	"tcp_proxy.c:446": lookupFailure,
	"udp_proxy.c:226": "failed to send packet to backend: C writes each datagram to the backend socket at once; Go " +
		"queues it on the backend session (evport.Conn.Write cannot fail), and a failed write faults the session " +
		"with \"backend socket error\" (error, cause, errno, strerror)",
	"backend.c:812": "sending hello frame: as for datagrams, Go queues CLIENT_HELLO on the new session; a failed write " +
		"faults it with \"backend socket error\"",
	"tcp_proxy.c:122": "forward to backend failed: " + queuedSend,
	"tcp_proxy.c:283": "forward to frontend failed: " + queuedSend,
	"tcp_proxy.c:196": "backend hello frame send failed: " + queuedSend,
	"tcp_proxy.c:149": "FIN send failed: Go's CloseWrite is queued behind the send queue; a failed shutdown(2) " +
		"closes that side, logged as \"TCP error\" (which, cause, errno, strerror)",
	"tcp_proxy.c:308": "FIN send failed: as tcp_proxy.c:149",
	"udp_proxy.c:45": "failed to parse IP address or port: Go checks -b and -p before anything is logged or " +
		"bound, a usage error on stderr and exit 1 (docs/contract.md), as C's getopt errors are",
}

// lookupFailure is why "could not lookup remote (dropping)" is not
// reproduced.
const lookupFailure = "could not lookup remote (dropping): C's remotes_lookup fails only to allocate; Go's remote " +
	"table cannot fail so, and what it does at its cap full of active clients (serve the client untracked) is Go's " +
	"rate-limited \"remote table full of active remotes: serving new client untracked\" (warn, remote_ip)"

// queuedSend is why C's immediate-send failures on the TCP path are not
// reproduced.
const queuedSend = "C writes at once and logs a failed write; Go's evport.Conn.Write queues (it cannot fail) and " +
	"a failed send closes that side, logged as \"TCP error\" (which, cause, errno, strerror)"

// allocFailure is the reason shared by the records of C allocation
// failures.
const allocFailure = "a C allocation failure; Go has no failing allocation to log (the runtime ends the process)"

func TestEveryCRecordHasAGoEmitter(t *testing.T) {
	sites := scanTree(t, filepath.Join("..", ".."))
	if len(sites) < 20 {
		t.Fatalf("found only %d emission sites in the Go sources: the scanner is broken", len(sites))
	}
	var missing []string
	for _, c := range cRecords {
		ok, near := emitted(c, sites)
		reason, excused := notReproduced[c.site]
		switch {
		case ok && excused:
			t.Errorf("%s %s %q is listed as not reproduced (%s), but Go emits it: remove it from notReproduced",
				c.site, c.level, c.msg, reason)
		case !ok && !excused:
			missing = append(missing, c.site)
			msg := "no Go site emits it"
			if len(near) > 0 {
				msg = "Go sites with that msg: " + strings.Join(near, "; ")
			}
			t.Errorf("%s: C record %s %q with fields %v: %s", c.site, c.level, c.msg, c.fields, msg)
		}
	}
	for site := range notReproduced {
		found := false
		for _, c := range cRecords {
			found = found || c.site == site
		}
		if !found {
			t.Errorf("notReproduced names %s, which is no C record", site)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Logf("%d of %d C records missing: %s", len(missing), len(cRecords), strings.Join(missing, " "))
	}
}

// emitted reports whether some Go site can emit c, and else describes the
// sites that have its message.
func emitted(c cRecord, sites []goSite) (bool, []string) {
	var near []string
	for _, s := range sites {
		if s.msg != c.msg && !(s.dynamic && s.consts[c.msg]) {
			continue
		}
		if s.levels[c.level] && hasAll(s.fields, c.fields) {
			return true, nil
		}
		near = append(near, s.describe())
	}
	return false, near
}

func hasAll(have map[string]bool, want []string) bool {
	for _, f := range want {
		if !have[f] {
			return false
		}
	}
	return true
}

// TestEveryBackendRecordHasBeID: a Go record with the C TCP records'
// "backend" field also has "be_id", so that one filter (bunyan -c
// 'this.be_id == 5304') finds every record about a backend.
func TestEveryBackendRecordHasBeID(t *testing.T) {
	sites := scanTree(t, filepath.Join("..", ".."))
	n := 0
	for _, s := range sites {
		if !s.fields["backend"] {
			continue
		}
		n++
		if !s.fields["be_id"] {
			t.Errorf("%s: a record with \"backend\" but no \"be_id\": %s", s.pos, s.describe())
		}
	}
	if n < 10 {
		t.Errorf("only %d sites name a backend; the TCP proxy's records alone are more: the scanner is broken", n)
	}
}
