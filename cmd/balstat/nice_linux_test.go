/*
 * Test that yieldCPU lowers every thread of the process, including those
 * made after it (Linux keeps a nice value per thread). It runs in a child
 * process: the test binary's own priority stays.
 */

package main

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func TestYieldCPUHelper(t *testing.T) {
	if os.Getenv("BALSTAT_TEST_YIELD") == "" {
		t.Skip("helper process only")
	}
	if err := yieldCPU(10); err != nil {
		os.Stdout.WriteString("ERROR " + err.Error())
		os.Exit(3)
	}
	// Threads made afterwards: goroutines locked to new threads.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lockAndSleep()
		}()
	}
	wg.Wait()
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/stat")
		if err != nil {
			continue
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if f[16] != "10" { // field 19, nice, counted after the command
			os.Stdout.WriteString("thread " + task.Name() + " nice " + f[16] + "\n")
			os.Exit(4)
		}
	}
	os.Stdout.WriteString("OK\n")
	os.Exit(0)
}

func TestYieldCPULowersEveryThread(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestYieldCPUHelper$")
	cmd.Env = append(os.Environ(), "BALSTAT_TEST_YIELD=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Errorf("yieldCPU: %v\n%s", err, out)
	}
}

// lockAndSleep makes a thread: its goroutine is locked to one, never
// unlocked, so the thread ends with it.
func lockAndSleep() {
	runtime.LockOSThread()
	var ts unix.Timespec = unix.NsecToTimespec(5e6)
	unix.Nanosleep(&ts, nil)
}
