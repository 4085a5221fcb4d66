/*
 * Yield: why a busy loop passes through the Go scheduler every few
 * milliseconds.
 *
 * The loop goroutine never blocks in the Go sense: it waits in the kernel,
 * in a system call, and comes back to the same thread and P. So the
 * runtime's monitor thread (sysmon) sees its P on the same scheduling tick
 * for ever. Every 10 ms of that it preempts the goroutine (a signal, and,
 * the goroutine being locked to its thread, a hand-off of the P to another
 * thread and back), and if the loop is in its wait at that moment it takes
 * the P away, which resets sysmon's own back-off: it polls again every
 * 20 us, doubling only after 50 polls. Under steady load on Linux that
 * kept sysmon waking about 2,400 times a second and the loop being
 * preempted about 30 times a second: at 20,000 queries a second, 0.13 of
 * the balancer's 0.60 context switches per query were sysmon's (make
 * bench). The logic is the runtime's, not the kernel's, and port_getn
 * enters its system call the way epoll_wait does (port_illumos.go), so
 * illumos should see the same; it has not been measured there.
 *
 * A runtime.Gosched every yieldEvery moves the tick on, so sysmon never
 * finds the loop running too long and backs off to its 10 ms naps. It
 * costs a hand-off of the P (two thread wake-ups) 200 times a second of
 * busy loop, and nothing when the loop is idle: a loop that sleeps in its
 * wait longer than yieldEvery yields once when it wakes.
 */

package evport

import "time"

// yieldEvery is how often a busy loop passes through the Go scheduler:
// well inside sysmon's 10 ms, with room for a long turn.
const yieldEvery = 5 * time.Millisecond

// maybeYield calls l.yield if yieldEvery has passed, on the loop's clock,
// since it last did.
func (l *Loop) maybeYield() {
	if l.now.Sub(l.lastYield) < yieldEvery {
		return
	}
	l.lastYield = l.now
	l.yield()
}
