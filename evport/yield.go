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
 * bench). On illumos the mechanism differs and has not been measured:
 * port_getn goes through sysvicall6, which gives up the P for every wait
 * (the runtime's entersyscallblock), so sysmon has no P to take back and
 * its back-off is not reset that way; but the loop still comes back to a
 * P without passing through the scheduler, so the 10 ms preemption can
 * still find it on one tick.
 *
 * A runtime.Gosched every yieldEvery moves the tick on, so sysmon never
 * finds the loop running too long and backs off to its 10 ms naps. It
 * costs a hand-off of the P (two thread wake-ups) 200 times a second of
 * busy loop. It comes just before the wait, once the turn's output is
 * written, so no query or answer waits on it; a loop that sleeps longer
 * than yieldEvery yields once per wake-up, after that turn's work.
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
