//go:build linux

/*
 * The Listener under descriptor exhaustion (Linux): with RLIMIT_NOFILE
 * lowered and every free descriptor taken, accept(2) fails with EMFILE and
 * leaves the connections in the backlog, so the listening socket stays
 * readable. The Listener must report the error, pause instead of spinning,
 * and accept the waiting connections once descriptors are free again; and
 * a Listener closed from its error callback must not stay paused (no timer
 * left behind for a closed Listener).
 *
 * Lowering the process-wide limit would disturb anything else running in
 * the test process, so the test re-executes its own binary with
 * EVPORT_TEST_EMFILE_CHILD=1 and runs the scenario there; the parent only
 * checks that the child passed.
 */

package evport

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const emfileChildEnv = "EVPORT_TEST_EMFILE_CHILD"

func TestListenerPausesOnEMFILE(t *testing.T) {
	if os.Getenv(emfileChildEnv) == "1" {
		listenerEMFILEScenario(t)
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestListenerPausesOnEMFILE$", "-test.v", "-test.count=1", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), emfileChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("--- PASS: TestListenerPausesOnEMFILE")) {
		t.Fatalf("child did not run the scenario:\n%s", out)
	}
	t.Logf("child:\n%s", out)
}

// openFDs lists the process's open descriptors.
func openFDs(t *testing.T) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var fds []int
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil {
			fds = append(fds, fd)
		}
	}
	return fds
}

func listenerEMFILEScenario(t *testing.T) {
	// The loop's clock is moved by hand: the pause ends when, and only
	// when, the test advances it by AcceptBackoff, however slow the machine.
	l, clock := newClockLoop(t)
	var accepted []int
	var errs []error
	onAccept := func(fd int, _ unix.Sockaddr) { accepted = append(accepted, fd) }

	// ln is the Listener under test.
	lfd, path := listenUnix(t)
	ln, err := NewListener(l, lfd, onAccept, func(err error) { errs = append(errs, err) })
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	// closer is closed by its own error callback.
	cfd, closerPath := listenUnix(t)
	closerClosed, pausedAfterClose := false, false
	var closer *Listener
	closer, err = NewListener(l, cfd, onAccept, func(err error) {
		errs = append(errs, err)
		if err := closer.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		closerClosed = true
		l.Post(func() { pausedAfterClose = closer.Paused() })
	})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()

	// The clients exist before the descriptors run out; connecting needs
	// none on this side, accepting does.
	const clients = 3
	var cfds []int
	for i := 0; i < clients+2; i++ { // one more each for rounds 2 and 3
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		cfds = append(cfds, fd)
	}
	defer func() {
		for _, fd := range cfds {
			unix.Close(fd)
		}
	}()
	connect := func(fd int, path string) {
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
			t.Fatalf("connect: %v", err)
		}
	}

	var orig unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	highest := 0
	for _, fd := range openFDs(t) {
		highest = max(highest, fd)
	}
	lowered := orig
	lowered.Cur = uint64(highest + 16)
	if lowered.Cur > orig.Cur {
		t.Skipf("descriptor limit %d already too low to lower", orig.Cur)
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	defer func() {
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &orig); err != nil {
			t.Errorf("restoring RLIMIT_NOFILE: %v", err)
		}
	}()
	var hog []int
	releaseHog := func() {
		for _, fd := range hog {
			unix.Close(fd)
		}
		hog = nil
	}
	defer releaseHog()
	exhaust := func() {
		for {
			fd, err := unix.Open("/dev/null", unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err == unix.EMFILE {
				return
			}
			if err != nil {
				t.Fatalf("open /dev/null: %v", err)
			}
			hog = append(hog, fd)
			if len(hog) > 1000 {
				t.Fatal("descriptor limit not reached")
			}
		}
	}

	// Round 1: out of descriptors, the Listener reports EMFILE once per
	// AcceptBackoff and does not look at the socket in between, though the
	// waiting connections keep it readable: not a spin.
	const waitLimit = 10 * time.Second // real time, for a broken Listener only
	exhaust()
	for _, fd := range cfds[:clients] {
		connect(fd, path)
	}
	runTurnsUntil(t, l, waitLimit, "EMFILE reported", func() bool { return len(errs) > 0 })
	const idleTurns = 20 // turns that find the socket readable and must leave it be
	pausedFor := func(round int) {
		t.Helper()
		if len(errs) != round {
			t.Fatalf("%d accept errors after %d backoffs, want %d", len(errs), round-1, round)
		}
		if !errors.Is(errs[round-1], unix.EMFILE) {
			t.Fatalf("accept error %v, want EMFILE", errs[round-1])
		}
		if !ln.Paused() {
			t.Fatalf("listener not Paused after EMFILE %d", round)
		}
		runTurns(t, l, idleTurns)
		if len(errs) != round {
			t.Fatalf("%d accept errors in %d turns with the clock stopped: the listener spins", len(errs)-round, idleTurns)
		}
		if len(accepted) != 0 {
			t.Fatalf("accepted %d with no descriptors free", len(accepted))
		}
	}
	pausedFor(1)
	// The pause lasts AcceptBackoff exactly.
	advance(t, l, clock, AcceptBackoff-time.Nanosecond)
	runTurns(t, l, idleTurns)
	if len(errs) != 1 || !ln.Paused() {
		t.Fatalf("before AcceptBackoff: %d accept errors, Paused %v; want 1 and true", len(errs), ln.Paused())
	}
	advance(t, l, clock, time.Nanosecond)
	runTurnsUntil(t, l, waitLimit, "accept retried after AcceptBackoff", func() bool { return len(errs) > 1 })
	pausedFor(2)
	advance(t, l, clock, AcceptBackoff)
	runTurnsUntil(t, l, waitLimit, "accept retried after AcceptBackoff", func() bool { return len(errs) > 2 })
	pausedFor(3)
	// Descriptors back: the waiting connections are accepted at the end of
	// the pause, without another report.
	releaseHog()
	runTurns(t, l, idleTurns)
	if len(accepted) != 0 {
		t.Fatalf("accepted %d while paused", len(accepted))
	}
	advance(t, l, clock, AcceptBackoff)
	runTurnsUntil(t, l, waitLimit, "accepts after EMFILE", func() bool { return len(accepted) == clients })
	for _, fd := range accepted {
		unix.Close(fd)
	}
	accepted = nil
	if ln.Paused() || len(errs) != 3 {
		t.Fatalf("after accepting: Paused %v, %d accept errors; want false and 3", ln.Paused(), len(errs))
	}

	// Round 2: closing a paused Listener ends the pause; nothing more is
	// accepted or reported.
	errs = nil
	exhaust()
	connect(cfds[clients], path)
	runTurnsUntil(t, l, waitLimit, "a pause", func() bool { return ln.Paused() })
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ln.Paused() || len(l.timers) != 0 {
		t.Fatalf("closed Listener still Paused (%d timers pending)", len(l.timers))
	}
	releaseHog()
	advance(t, l, clock, 2*AcceptBackoff)
	runTurns(t, l, idleTurns)
	if len(errs) != 1 || len(accepted) != 0 {
		t.Fatalf("closed Listener: %d errors, %d accepts; want 1 and 0", len(errs), len(accepted))
	}

	// Round 3: a Listener closed by its own error callback does not pause.
	errs = nil
	exhaust()
	connect(cfds[clients+1], closerPath)
	runTurnsUntil(t, l, waitLimit, "an error", func() bool { return closerClosed })
	runTurns(t, l, idleTurns) // the check the callback posted has run
	if pausedAfterClose || closer.Paused() || len(l.timers) != 0 {
		t.Fatalf("Listener closed from onError reports Paused %v/%v (%d timers pending)",
			pausedAfterClose, closer.Paused(), len(l.timers))
	}
	releaseHog()
	advance(t, l, clock, 2*AcceptBackoff)
	runTurns(t, l, idleTurns)
	if len(errs) != 1 || len(accepted) != 0 {
		t.Fatalf("closed Listener: %d errors, %d accepts; want 1 and 0", len(errs), len(accepted))
	}
}

// runTurnsUntil (beside its one user, which only Linux builds) runs l turn by turn until cond holds (checked on the loop
// once a turn) and fails the test if it does not within limit of real
// time. Unlike runUntil it needs no timer, so it suits a loop on a
// hand-driven clock, whose timers fire only when the test advances it.
// While it runs, every turn polls the loop's fds without sleeping.
func runTurnsUntil(t *testing.T, l *Loop, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	timedOut := false
	var check func()
	check = func() {
		switch {
		case cond():
			l.Stop()
		case time.Now().After(deadline):
			timedOut = true
			l.Stop()
		default:
			l.Post(check) // runs on the next turn, after its wait
		}
	}
	l.Post(check)
	if err := l.Run(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if timedOut {
		t.Fatalf("timed out after %v waiting for %s", limit, what)
	}
}

// runTurns runs l for n turns, each of which dispatches whatever fd is
// ready (without sleeping: posted work is waiting) and runs the timers
// due on the loop's clock.
func runTurns(t *testing.T, l *Loop, n int) {
	t.Helper()
	turns := 0
	runTurnsUntil(t, l, time.Minute, fmt.Sprintf("%d turns", n), func() bool {
		turns++
		return turns > n
	})
}
