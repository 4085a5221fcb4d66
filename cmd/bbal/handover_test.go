package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The successor's environment drops the old handover variables and names
// the next generation; a stray BBAL_HANDOVER in the parent's environment
// never reaches it twice.
func TestSuccessorEnv(t *testing.T) {
	got := successorEnv([]string{"PATH=/bin", "BBAL_HANDOVER=1", "BBAL_GENERATION=4", "LOG_LEVEL=debug"}, 5)
	want := []string{"PATH=/bin", "LOG_LEVEL=debug", "BBAL_HANDOVER=1", "BBAL_GENERATION=5"}
	if !slices.Equal(got, want) {
		t.Errorf("successorEnv: %q, want %q", got, want)
	}
	for env, want := range map[string]int{"": 1, "0": 1, "-2": 1, "x": 1, "3": 3} {
		if got := generationFromEnv(func(string) string { return env }); got != want {
			t.Errorf("generation from %q: %d, want %d", env, got, want)
		}
	}
}

// The successor is the binary at the path bbal was started as, made
// absolute at start-up (so a later upgrade of that file takes over), or
// BBAL_SUCCESSOR with no arguments.
func TestSuccessorCommand(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	none := func(string) string { return "" }
	exe, argv, err := successorCommand([]string{"bin/bbal", "-s", "/x"}, none)
	if err != nil || exe != filepath.Join(wd, "bin/bbal") || !slices.Equal(argv, []string{"bin/bbal", "-s", "/x"}) {
		t.Errorf("relative argv[0]: %q %q %v", exe, argv, err)
	}
	method := func(k string) string {
		if k == envSuccessor {
			return "/opt/smartdc/binder/smf/methods/binder-balancer"
		}
		return ""
	}
	exe, argv, err = successorCommand([]string{"/opt/bbal", "-s", "/x"}, method)
	if err != nil || exe != "/opt/smartdc/binder/smf/methods/binder-balancer" || !slices.Equal(argv, []string{exe}) {
		t.Errorf("BBAL_SUCCESSOR: %q %q %v", exe, argv, err)
	}
}

// The ready timeout always leaves the successor its backend wait and a
// margin, whatever a test build's scale.
func TestHandoverTimeouts(t *testing.T) {
	for _, scale := range []float64{1, 5, 100} {
		ready, wait := handoverTimeouts(scale)
		if wait != time.Duration(float64(successorBackendWait)/scale) || ready < wait+readyMargin {
			t.Errorf("scale %v: ready %v, backend wait %v", scale, ready, wait)
		}
	}
	if ready, wait := handoverTimeouts(1); ready != readyTimeout || wait != successorBackendWait {
		t.Errorf("production: ready %v, backend wait %v", ready, wait)
	}
}

// SIGTERM while a successor is starting abandons the handover: the
// successor is killed, and neither its "ready", should it still come, nor
// a SIGUSR2 starts anything (either would call machinery left nil here).
func TestShutdownKillsStartingSuccessor(t *testing.T) {
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- child.Wait() }()
	t.Cleanup(func() { _ = child.Process.Kill() })
	pid := child.Process.Pid
	h := &handover{log: zerolog.Nop(), state: handoverStarting, pid: pid, released: -1}

	h.shutdown()
	select {
	case err := <-waited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("successor ended with %v, want killed by SIGKILL", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the starting successor was not killed")
	}
	h.readyOutcome(pid, nil)
	h.begin()
	if h.state != handoverShutdown || h.pid != 0 {
		t.Errorf("after shutdown, a late ready and SIGUSR2: state %v, pid %d; want shut down and none", h.state, h.pid)
	}
}

// SIGTERM to a successor not yet ready abandons its side: it never says
// ready (the old process reads end of file and keeps serving).
func TestShutdownBeforeReady(t *testing.T) {
	cancelled := 0
	h := &handover{log: zerolog.Nop(), state: handoverNotReady, released: -1, cancelReady: func() { cancelled++ }}
	h.shutdown()
	h.shutdown()
	if cancelled != 1 || h.state != handoverShutdown {
		t.Errorf("cancelled %d times, state %v; want once and shut down", cancelled, h.state)
	}
}

// SIGUSR2 during a plain SIGTERM stop starts no handover (begin would use
// the table and sockets, nil here).
func TestNoHandoverAfterShutdown(t *testing.T) {
	h := &handover{log: zerolog.Nop(), state: handoverIdle, released: -1, exe: "/bin/true"}
	h.shutdown()
	h.begin()
	if h.state != handoverShutdown {
		t.Errorf("state %v after SIGTERM then SIGUSR2, want shut down", h.state)
	}
}
