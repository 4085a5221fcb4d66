//go:build linux

package bench

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCPUSplitAndList(t *testing.T) {
	var all unix.CPUSet
	for _, c := range []int{0, 1, 2, 3, 5, 7} {
		all.Set(c)
	}
	gen, paths, ok := cpuSplit(all)
	if !ok || cpuList(gen) != "0" || cpuList(paths) != "1-3,5,7" {
		t.Errorf("split of 0-3,5,7: generator %q, paths %q, ok %v", cpuList(gen), cpuList(paths), ok)
	}
	var one unix.CPUSet
	one.Set(4)
	if _, _, ok := cpuSplit(one); ok {
		t.Errorf("one CPU was split")
	}
	var high unix.CPUSet
	high.Set(70)
	high.Set(71)
	if gen, paths, ok := cpuSplit(high); !ok || cpuList(gen) != "70" || cpuList(paths) != "71" {
		t.Errorf("split of 70-71: %q %q %v", cpuList(gen), cpuList(paths), ok)
	}
}

// A child started by startOn runs on the set given, and the thread that
// started it does not stay among this process's threads with that mask.
func TestStartOnPinsTheChildOnly(t *testing.T) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	last := -1
	for c := 0; c < len(allowed)*64; c++ {
		if allowed.IsSet(c) {
			last = c
		}
	}
	var set unix.CPUSet
	set.Set(last)
	cmd := exec.Command("sleep", "5")
	if err := startOn(cmd, &set); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var child unix.CPUSet
	if err := unix.SchedGetaffinity(cmd.Process.Pid, &child); err != nil {
		t.Fatal(err)
	}
	if child != set {
		t.Errorf("child on CPUs %s, want %s", cpuList(child), cpuList(set))
	}
	if allowed.Count() < 2 {
		return // one CPU: nothing else to tell apart
	}
	// The starting thread ends with its goroutine; the runtime tears it
	// down just after, and never runs another goroutine on it.
	deadline := time.Now().Add(2 * time.Second)
	for {
		stray := strayThreads(allowed)
		if len(stray) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads left on other CPUs than the process's %s: %v", cpuList(allowed), stray)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// strayThreads lists this process's threads whose CPUs are not want.
func strayThreads(want unix.CPUSet) []string {
	var out []string
	tids, _ := os.ReadDir("/proc/self/task")
	for _, e := range tids {
		tid, _ := strconv.Atoi(e.Name())
		var m unix.CPUSet
		if unix.SchedGetaffinity(tid, &m) == nil && m != want {
			out = append(out, e.Name()+" on "+cpuList(m))
		}
	}
	return out
}

// pinSelf moves every thread, and threads made afterwards follow.
func TestPinSelfMovesEveryThread(t *testing.T) {
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := pinSelf(allowed); err != nil {
			t.Error(err)
		}
	}()
	gen, _, ok := cpuSplit(allowed)
	if !ok {
		gen = allowed
	}
	if err := pinSelf(gen); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // a new thread, made after the pinning
		lockAndCheck(t, gen)
		close(done)
	}()
	<-done
	if stray := strayThreads(gen); len(stray) > 0 {
		t.Errorf("threads not on CPUs %s: %v", cpuList(gen), stray)
	}
}

func lockAndCheck(t *testing.T, want unix.CPUSet) {
	var m unix.CPUSet
	if err := unix.SchedGetaffinity(0, &m); err != nil {
		t.Error(err)
		return
	}
	if m != want {
		t.Errorf("a goroutine's thread on CPUs %s, want %s", cpuList(m), cpuList(want))
	}
}
