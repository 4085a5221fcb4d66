//go:build linux

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

/*
CPU placement, when asked for (Config.Pin, bench -pin). The generator
stands in for clients on other machines: pinned, it takes no CPU from the
path it measures, nor the path from it (sharing the CPUs, a generator that
sends harder takes CPU from the path, which decides the answered figures
under overload). With two CPUs or more, the bench process (the UDP
generator, the TCP loads and dnsperf, which it starts itself) then runs on
the first CPU it may use, and every process of the paths (reflector, echo
backends, balancers, dnsdist, node-mname) on the others. On a 2-CPU machine
that leaves a path one CPU for all its processes, which favours a path
whose threads hand work to each other on one CPU (dnsdist) over one of
four processes (bbal and three backends), and crowds node-mname: so it is
not the default, and the header says which was used.

A child gets its CPUs from the thread that starts it (clone copies the
caller's affinity): startOn starts it from a goroutine locked to its
thread, with the thread moved to the paths' CPUs for the start only, so no
other goroutine ever runs on that mask.
*/

// cpuSplit divides the CPUs in allowed: the first for the generator, the
// rest for the paths; ok is false with fewer than two.
func cpuSplit(allowed unix.CPUSet) (gen, paths unix.CPUSet, ok bool) {
	first := true
	for cpu := 0; cpu < len(allowed)*64; cpu++ {
		if !allowed.IsSet(cpu) {
			continue
		}
		if first {
			gen.Set(cpu)
			first = false
			continue
		}
		paths.Set(cpu)
	}
	return gen, paths, paths.Count() > 0
}

// cpuList formats a set as Linux lists CPUs ("1-3,5").
func cpuList(set unix.CPUSet) string {
	var parts []string
	for cpu := 0; cpu < len(set)*64; cpu++ {
		if !set.IsSet(cpu) {
			continue
		}
		end := cpu
		for end+1 < len(set)*64 && set.IsSet(end+1) {
			end++
		}
		if end == cpu {
			parts = append(parts, strconv.Itoa(cpu))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", cpu, end))
		}
		cpu = end
	}
	return strings.Join(parts, ",")
}

// pinSelf moves every thread of this process onto set; threads made later
// inherit it from the thread that makes them. GOMAXPROCS is fixed first at
// its current value, so that the runtime does not shrink it to the one CPU
// (the generator's sending and receiving threads each need a P).
func pinSelf(set unix.CPUSet) error {
	runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for range 5 {
		tids, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("pin: %w", err)
		}
		moved := 0
		for _, t := range tids {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			var now unix.CPUSet
			if unix.SchedGetaffinity(tid, &now) == nil && now == set {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("pin thread %d: %w", tid, err)
			}
			moved++
		}
		if moved == 0 {
			return nil // every thread was already there: none was being made meanwhile
		}
	}
	return fmt.Errorf("pin: threads kept appearing")
}

// startOn starts cmd with its CPUs set to set (nil: where this process
// may run).
func startOn(cmd *exec.Cmd, set *unix.CPUSet) error {
	if set == nil {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var own unix.CPUSet
		if err := unix.SchedGetaffinity(0, &own); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("pin: %w", err)
			return
		}
		if err := unix.SchedSetaffinity(0, set); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("pin: %w", err)
			return
		}
		err := cmd.Start()
		if unix.SchedSetaffinity(0, &own) == nil {
			runtime.UnlockOSThread() // the thread is as it was: back to the pool
		} // else it stays locked, and goes with this goroutine
		errc <- err
	}()
	return <-errc
}

// place pins the generator and sets where e starts the paths, if cfg asks
// for it and there are two CPUs or more, and says so for the header.
func place(cfg Config, e *env) (string, error) {
	if !cfg.Pin {
		return "generator and paths share every CPU (not pinned)", nil
	}
	var allowed unix.CPUSet
	if err := unix.SchedGetaffinity(0, &allowed); err != nil {
		return "", fmt.Errorf("pin: %w", err)
	}
	gen, paths, ok := cpuSplit(allowed)
	if !ok {
		return "generator and paths share the one CPU", nil
	}
	if err := pinSelf(gen); err != nil {
		return "", err
	}
	e.pathCPUs = &paths
	return fmt.Sprintf("generator, TCP load and dnsperf on CPU %s; every path process on CPU %s", cpuList(gen), cpuList(paths)), nil
}
