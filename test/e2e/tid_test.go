//go:build linux

/*
tid (issue 9): every record names the OS thread that wrote it, as
illumos-bunyan's records do, and the event loop's goroutine is locked to
one thread, so everything the loop logs names that one thread. Checked on
the real bbal with a real node-mname backend and a client: the loop's
records (backend and remote records, UDP traces) all carry one tid, and it
is a thread of the balancer's process (/proc/PID/task/TID exists while it
runs; Linux).
*/

package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

func TestLoopRecordsNameOneThread(t *testing.T) {
	SkipInShort(t)
	dir := SocketDir(t)
	StartMnameBackend(t, dir, "5301")
	bal := StartBalancer(t, BalancerConfig{SocketDir: dir, TimeScale: udpTimeScale, LogLevel: "trace"})
	bal.WaitLog("backend socket established", map[string]any{"be_id": "5301"}, udpEventTimeout)
	newUDPClient(t, bal, udpClientIP(0)).mustWhoami("5301")
	bal.WaitLog("forwarding UDP packet to backend", nil, udpEventTimeout)

	// Records only the loop writes.
	loopMsgs := []string{"connecting to backend", "backend socket established", "new remote peer",
		"remote assigned to new primary backend", "received UDP packet from remote", "forwarding UDP packet to backend"}
	tids := map[float64][]string{}
	for _, msg := range loopMsgs {
		recs := bal.Find(msg, nil)
		if len(recs) == 0 {
			t.Fatalf("no %q record", msg)
		}
		for _, r := range recs {
			tid, ok := r["tid"].(float64)
			if !ok || tid <= 0 {
				t.Fatalf("%q: tid %v, want a thread ID", msg, r["tid"])
			}
			tids[tid] = append(tids[tid], msg)
		}
	}
	if len(tids) != 1 {
		t.Fatalf("the loop's records name %d threads, want 1: %v", len(tids), tids)
	}
	for tid := range tids {
		task := filepath.Join("/proc", strconv.Itoa(bal.Pid()), "task", strconv.Itoa(int(tid)))
		if _, err := os.Stat(task); err != nil {
			t.Errorf("tid %v is not a thread of the balancer (pid %d): %v", tid, bal.Pid(), err)
		}
	}
	// Every record has a tid, whichever goroutine wrote it.
	for _, r := range bal.Records() {
		if tid, ok := r["tid"].(float64); !ok || tid <= 0 {
			t.Errorf("record without a thread ID: %v", r)
		}
	}
}
