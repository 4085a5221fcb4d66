//go:build linux

/*
End-to-end tests of the handover (issue 21; cmd/bbal handover.go): SIGUSR2,
which the manifest's refresh method sends, makes bbal start its successor
from the binary on disk and hand it the sockets and the client table.

Under steady UDP load from many source addresses (load_test.go) and with
persistent TCP clients, busy and idle:
  - two refreshes in a row lose no UDP query (each answered exactly once),
    every TCP query is answered (a connection the old process closes is
    closed cleanly with nothing owed, and the client retries), and every
    client keeps its backend;
  - a successor that cannot start (binary missing), exits (a bad flag) or
    never says ready (killed after the ready timeout) leaves the old
    process serving with nothing lost, and an error record says why;
  - a refresh while a backend is down keeps every client on the backend
    it had (its backup, for the dead backend's clients).

Loads are bounded (a few seconds); the harness checks every log line with
bunyan --strict and the last process's exit.
*/
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// handoverScale shortens the successor's ready timeout (to 3.6 s: its
// backend wait, 1.6 s, and 2 s) for the test of a successor that never
// says ready; the others run with
// the real timings, so that a loaded machine's stall of a second or two
// cannot fault a backend (a probe unanswered for 1 s at this scale) and
// move its clients.
const handoverScale = 5

// handOver sends SIGUSR2 and waits until the successor is ready and the
// old process has logged "handover: done" and "exiting"; it returns the
// old process's "handover: done" record. Signal and cleanup then go to the
// successor.
func handOver(t *testing.T, bal *Balancer) LogRecord {
	t.Helper()
	old := bal.Pid()
	n := len(bal.Find("handover: ready", nil))
	bal.Signal(syscall.SIGUSR2)
	ready := bal.WaitLogCount("handover: ready", nil, n+1, 15*time.Second)
	pid := int(ready.Num("pid"))
	if pid == old || pid == 0 {
		t.Fatalf("handover: ready logged by pid %d; the old process is %d", pid, old)
	}
	bal.Adopt(pid)
	done := bal.WaitLog("handover: done", map[string]any{"pid": old, "successor_pid": pid}, 15*time.Second)
	bal.WaitLog("exiting", map[string]any{"pid": old}, 5*time.Second)
	if syscall.Kill(old, 0) == nil {
		time.Sleep(100 * time.Millisecond) // "exiting" is its last record; the exit follows
	}
	return done
}

// handoverCluster is three node-mname backends and bbal, started from bin
// ("" for the test build) with intervals divided by scale.
func handoverCluster(t *testing.T, bin string, scale float64) *udpCluster {
	t.Helper()
	return startUDPClusterWith(t, BalancerConfig{Binary: bin, LogLevel: "info", TimeScale: scale}, "5301", "5302", "5303")
}

func checkLoad(t *testing.T, bal *Balancer, what string, r loadReport) {
	t.Helper()
	t.Logf("%s: %v", what, r)
	if r.Sent == 0 || r.Lost != 0 || r.Dup != 0 || r.Moved != 0 {
		t.Errorf("%s: %v; want every query answered once and every client kept on its backend "+
			"(the kernel dropped %d datagrams for want of room in the balancer's UDP socket)", what, r, udpSocketDrops(bal.Port))
	}
}

// udpSocketDrops is the kernel's count of datagrams dropped at the UDP
// socket bound to 127.0.0.1:port (a full receive queue: a process starved
// of CPU), from /proc/net/udp; -1 if not found. A diagnostic only.
func udpSocketDrops(port int) int {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return -1
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 13 && f[1] == local {
			n, _ := strconv.Atoi(f[len(f)-1])
			return n
		}
	}
	return -1
}

func TestRefreshTwiceLosesNothing(t *testing.T) {
	SkipInShort(t)
	bal := handoverCluster(t, "", 1).bal
	busy := startTCPClients(t, bal.Port, 5, true)
	idle := startTCPClients(t, bal.Port, 5, false)
	load := startUDPLoad(t, bal.Port, 300, 100, 4*time.Second)

	time.Sleep(time.Second)
	first := handOver(t, bal)
	if first.Num("tcp_drained") < 5 {
		t.Errorf("first handover drained %v TCP connections; 10 were open", first.Num("tcp_drained"))
	}
	carried := bal.WaitLog("handover: remotes carried over", map[string]any{"pid": bal.Pid()}, time.Second)
	if carried.Num("remotes") < 100 {
		t.Errorf("%v remotes carried over; the load alone made 100", carried.Num("remotes"))
	}
	time.Sleep(500 * time.Millisecond)
	handOver(t, bal)

	checkLoad(t, bal, "UDP across two refreshes", load.wait(time.Second))
	answeredBusy := busy.answered.Load()
	for what, c := range map[string]*tcpClients{"busy": busy, "idle": idle} {
		if errs := c.end(); len(errs) != 0 || c.failures.Load() != 0 {
			t.Errorf("%s TCP clients: %d queries failed: %v", what, c.failures.Load(), errs)
		}
	}
	if answeredBusy < 100 {
		t.Errorf("busy TCP clients got %d answers in 4 s", answeredBusy)
	}
	if r := bal.Find("closing TCP connections still open after the grace period", nil); len(r) != 0 {
		t.Errorf("a TCP connection was cut by the grace period: %v", r)
	}
	// The third generation serves, and balstat reaches it and says so.
	bal.WaitLog("handover: ready", map[string]any{"generation": 3}, time.Second)
	bal.WaitLog("control socket listening", map[string]any{"pid": bal.Pid()}, 5*time.Second)
	out := balstat(t, bal, "-v")
	if want := "BALANCER: pid " + strconv.Itoa(bal.Pid()) + ", generation 3, started "; !strings.HasPrefix(out, want) {
		t.Errorf("balstat -v after two refreshes begins %q, want %q", strings.SplitN(out, "\n", 2)[0], want)
	}
}

// TestRefreshFailingSuccessor: whatever is wrong with the successor, the
// old process keeps serving, loses nothing, and says why at error.
func TestRefreshFailingSuccessor(t *testing.T) {
	SkipInShort(t)
	real := BalancerBinary(t)
	for _, tc := range []struct {
		name   string
		break_ func(path string) error
		reason string
		exited string // the reaped successor's status; "" when none was started
		scale  float64
		load   time.Duration // from 0.5 s before the refresh to a second or more after its failure
	}{
		{"missing binary", os.Remove, "starting ", "", 1, 2 * time.Second},
		{"bad flag", func(path string) error {
			return replaceScript(path, "exec "+real+" --no-such-flag \"$@\"\n")
		}, "exited (or closed its ready pipe) before it was ready", "exit status 1", 1, 2 * time.Second},
		{"never ready", func(path string) error {
			return replaceScript(path, "exec sleep 60\n")
		}, "not ready within 3.6s", "signal: killed", handoverScale, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "bbal")
			copyFile(t, real, bin)
			bal := handoverCluster(t, bin, tc.scale).bal
			busy := startTCPClients(t, bal.Port, 3, true)
			load := startUDPLoad(t, bal.Port, 300, 50, tc.load)
			time.Sleep(500 * time.Millisecond)
			if err := tc.break_(bin); err != nil {
				t.Fatal(err)
			}
			pid := bal.Pid()
			bal.Signal(syscall.SIGUSR2)
			rec := bal.WaitLog("handover failed; still serving", map[string]any{"pid": pid}, 10*time.Second)
			if got := rec.Str("error"); !strings.Contains(got, tc.reason) {
				t.Errorf("handover failed with %q, want it to say %q", got, tc.reason)
			}
			if tc.exited != "" { // the successor is gone (killed if need be) and reaped
				bal.WaitLog("handover: successor exited", map[string]any{"pid": pid, "status": tc.exited}, 5*time.Second)
			}
			checkLoad(t, bal, "UDP through a failed refresh", load.wait(time.Second))
			if errs := busy.end(); len(errs) != 0 {
				t.Errorf("TCP clients: %v", errs)
			}
			if busy.closed.Load() != 0 {
				t.Errorf("%d TCP connections closed by a refresh that failed", busy.closed.Load())
			}
			if bal.Pid() != pid || len(bal.Find("handover: done", nil)) != 0 {
				t.Errorf("the old process handed over to a failed successor")
			}
		})
	}
}

// TestRefreshDuringBackendFault: with one backend down (its clients on
// their backups), a refresh loses nothing and moves nobody.
func TestRefreshDuringBackendFault(t *testing.T) {
	SkipInShort(t)
	c := handoverCluster(t, "", 1)
	bal := c.bal
	warm := startUDPLoad(t, bal.Port, 500, 60, 500*time.Millisecond)
	warm.wait(200 * time.Millisecond)
	c.peers["5302"].Kill()
	bal.WaitLog("backend socket closed", map[string]any{"be_id": 5302}, 10*time.Second)

	load := startUDPLoad(t, bal.Port, 300, 60, 3*time.Second)
	time.Sleep(time.Second)
	handOver(t, bal)
	ready := bal.Find("handover: ready", map[string]any{"pid": bal.Pid()})
	if len(ready) != 1 || ready[0].Num("backends_ok") != 2 {
		t.Errorf("successor ready with %v; want 2 backends ok (5302 is down)", ready)
	}
	r := load.wait(time.Second)
	checkLoad(t, bal, "UDP through a refresh with a backend down", r)
}

func replaceScript(path, body string) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestRefreshThroughSuccessorCommand: with BBAL_SUCCESSOR set (as the SMF
// start method sets it to itself), a handover runs that command, which
// execs the balancer with new arguments (a changed property), keeping the
// inherited sockets across the shell's exec.
func TestRefreshThroughSuccessorCommand(t *testing.T) {
	SkipInShort(t)
	real := BalancerBinary(t)
	dir := SocketDir(t)
	for _, n := range []string{"5301", "5302"} {
		StartMnameBackend(t, dir, n)
	}
	work := t.TempDir()
	argsFile, method := filepath.Join(work, "args"), filepath.Join(work, "method")
	if err := replaceScript(method, "exec "+real+" $(cat "+argsFile+")\n"); err != nil {
		t.Fatal(err)
	}
	bal := StartBalancer(t, BalancerConfig{SocketDir: dir, LogLevel: "info", Env: []string{"BBAL_SUCCESSOR=" + method}})
	bal.WaitLog("backend socket established", map[string]any{"be_id": 5302}, 10*time.Second)
	// A "property" changes: the successor allows 77 TCP connections.
	args := "-b 127.0.0.1 -p " + strconv.Itoa(bal.Port) + " -s " + dir + " -l info -c " + bal.Control + " --tcp-max 77"
	if err := os.WriteFile(argsFile, []byte(args), 0o644); err != nil {
		t.Fatal(err)
	}
	load := startUDPLoad(t, bal.Port, 300, 40, 2500*time.Millisecond)
	time.Sleep(700 * time.Millisecond)
	handOver(t, bal)
	checkLoad(t, bal, "UDP through a refresh by the successor command", load.wait(time.Second))
	if len(bal.Find("listening for TCP packets", map[string]any{"pid": bal.Pid(), "max_conns": 77})) != 1 {
		t.Errorf("the successor was not started with the new arguments (--tcp-max 77): %v",
			bal.Find("listening for TCP packets", nil))
	}
}
