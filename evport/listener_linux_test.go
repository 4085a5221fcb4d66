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
	l := newTestLoop(t)
	var accepted []int
	var errs []error
	onAccept := func(fd int, _ unix.Sockaddr) { accepted = append(accepted, fd) }

	// ln is the Listener under test; pausedAfterError counts the errors
	// after which it was found Paused on the next turn.
	lfd, path := listenUnix(t)
	pausedAfterError := 0
	var ln *Listener
	ln, err := NewListener(l, lfd, onAccept, func(err error) {
		errs = append(errs, err)
		l.Post(func() {
			if ln.Paused() {
				pausedAfterError++
			}
		})
	})
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

	// Round 1: out of descriptors for 300 ms: a few reports, not a spin.
	exhaust()
	for _, fd := range cfds[:clients] {
		connect(fd, path)
	}
	runFor(t, l, 300*time.Millisecond)
	errsWhileOut := len(errs)
	if errsWhileOut == 0 {
		t.Fatal("EMFILE never reported")
	}
	if errsWhileOut >= 10 {
		t.Fatalf("%d accept errors in 300 ms: the listener spins", errsWhileOut)
	}
	for _, err := range errs {
		if !errors.Is(err, unix.EMFILE) {
			t.Fatalf("accept error %v, want EMFILE", err)
		}
	}
	if pausedAfterError == 0 {
		t.Fatal("listener not Paused after EMFILE")
	}
	if len(accepted) != 0 {
		t.Fatalf("accepted %d with no descriptors free", len(accepted))
	}
	// Descriptors back: the waiting connections are accepted.
	releaseHog()
	runUntil(t, l, 5*time.Second, "accepts after EMFILE", func() bool { return len(accepted) == clients })
	for _, fd := range accepted {
		unix.Close(fd)
	}
	accepted = nil
	if ln.Paused() {
		t.Fatal("listener still paused after accepting")
	}
	t.Logf("%d EMFILE reports in 300 ms", errsWhileOut)

	// Round 2: closing a paused Listener ends the pause; nothing more is
	// accepted or reported.
	errs = nil
	exhaust()
	connect(cfds[clients], path)
	runUntil(t, l, 5*time.Second, "a pause", func() bool { return ln.Paused() })
	if err := ln.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ln.Paused() || len(l.timers) != 0 {
		t.Fatalf("closed Listener still Paused (%d timers pending)", len(l.timers))
	}
	releaseHog()
	runFor(t, l, 2*AcceptBackoff)
	if len(errs) != 1 || len(accepted) != 0 {
		t.Fatalf("closed Listener: %d errors, %d accepts; want 1 and 0", len(errs), len(accepted))
	}

	// Round 3: a Listener closed by its own error callback does not pause.
	errs = nil
	exhaust()
	connect(cfds[clients+1], closerPath)
	runUntil(t, l, 5*time.Second, "an error", func() bool { return closerClosed })
	runFor(t, l, 5*time.Millisecond)
	if pausedAfterClose || closer.Paused() || len(l.timers) != 0 {
		t.Fatalf("Listener closed from onError reports Paused %v/%v (%d timers pending)",
			pausedAfterClose, closer.Paused(), len(l.timers))
	}
	releaseHog()
	runFor(t, l, 2*AcceptBackoff)
	if len(errs) != 1 || len(accepted) != 0 {
		t.Fatalf("closed Listener: %d errors, %d accepts; want 1 and 0", len(errs), len(accepted))
	}
}
