// Package evport is the balancer's event loop: one goroutine, locked to
// its OS thread, that owns every socket, timer and byte of balancer state,
// driven by the operating system's readiness notification (event ports on
// illumos, epoll on Linux) through one small binding, Port.
//
// # The model
//
// A Loop runs turns. Each turn reads the clock (Loop.Now), runs the timers
// that are due, runs the work other goroutines posted (Loop.Post), runs
// the functions those asked for with AtTurnEnd, writes out the Conns that
// queued bytes, passes through the Go scheduler if 5 ms have gone by since
// it last did (yield.go: so that the runtime's monitor thread neither
// preempts a busy loop nor keeps waking to watch it), then waits for
// readiness no longer than until the next timer, reads the clock again,
// dispatches each ready fd to its handler, and, when the last handler has
// returned, runs the AtTurnEnd functions the handlers asked for (output
// many handlers gathered leaves once: the UDP answers of every backend
// read in the turn, in one batch). Callbacks never block and never run
// concurrently; nothing the loop owns is locked. Other goroutines reach
// loop state only by Post, which wakes the Port.
//
// The layers above the loop: FD (an fd and its handler), Conn (a buffered,
// non-blocking stream: backend sessions and proxied TCP), Listener (accept
// with back-off on EMFILE), DatagramSocket (UDP, one datagram or a batch of
// DatagramBatch at a time, allocation-free), Timer (one-shot and periodic),
// and Clock (real time, or a hand-driven clock for tests: evporttest,
// looptest.StartWithClock).
//
// # States
//
// An FD is registered (NewFD) and then, at any moment, exactly one of:
// disarmed; armed one-shot for some Events (Arm: the first event disarms
// it and runs the handler once); watched (Watch: it stays armed, and the
// handler runs on every turn in which it is ready); closed (Close: once,
// dissociated before close(2)). FD.Armed is the one record of what the
// Port is associated for; the bindings keep none. A Conn is connecting,
// open or closed; a Timer is stopped or scheduled.
//
// # Invariants
//
//   - Every callback (handler, timer, posted function, Conn event) runs on
//     the loop goroutine, one at a time. Loop.Now changes only where the
//     loop reads the clock: at the start of a turn and after each wait (so
//     the timers and posted work of a turn see one time, and the handlers
//     dispatched after the wait another), and, on a hand-driven clock, in
//     the catch-up that advancing it posts.
//   - An event reaches a handler only if its fd's current registration is
//     armed and has the event's generation: the Port's user word carries
//     fd and generation, so an event for a closed fd whose number was
//     reused is dropped, not delivered to the newcomer.
//   - Timers due at the same instant run in the order they were scheduled;
//     a timer scheduled while timers run waits for the next turn.
//   - The steady-state packet path allocates nothing: re-arm, wait and
//     dispatch, Conn writes and flushes, timer resets, datagram batches
//     (the AllocsPerRun tests prove it), and neither binding locks or
//     allocates per wait or re-arm.
//   - Anything a peer can make grow is bounded: a Conn's receive buffer
//     and send queue, a batch, the events of one wait.
//
// # The illumos binding, and what it was checked against
//
// CI runs on Linux, so the illumos files (port_illumos.go,
// datagram_illumos.go, hrtime_illumos.go) are compiled, vetted and
// symbol-checked there (test/illumos/symcheck: every name they import is
// one illumos's libraries export) but run only in a zone (make
// illumos-tests). They were read line by line against these sources; to
// repeat the check, read them again:
//
//   - illumos-gate: usr/src/uts/common/fs/portfs/port.c, port_fd.c and
//     port_vnops.c (associate, one-shot delivery, close, the
//     process.port-max-events limit and its EAGAIN);
//     usr/src/uts/common/sys/port.h and port_impl.h (port_event_t, the
//     sources); usr/src/lib/libc/port/gen/event_port.c (the libc
//     wrappers); the man pages port_create.3c, port_associate.3c,
//     port_getn.3c (ETIME with events) and port_send.3c;
//     usr/src/lib/libc/port/mapfile-vers and
//     usr/src/lib/libsocket/common/mapfile-vers (the exported names:
//     port_*, gethrtime, thr_self; recvfrom, __xnet_sendto);
//     usr/src/lib/libc/port/threads/thr.c (thr_self, for bunyan).
//   - Go runtime: runtime/netpoll_solaris.go (how the runtime itself uses
//     event ports), runtime/syscall_solaris.go (syscall_sysvicall6 enters
//     a blocking system call, syscall_rawsysvicall6 does not),
//     runtime/sys_solaris_amd64.s (asmsysvicall6: errno zeroed before the
//     call and read after), runtime/os3_solaris.go; cmd/internal/obj/x86's
//     useAbs (why local import names begin with "libc_").
//   - golang.org/x/sys v0.50.0 (go.mod): unix/syscall_solaris.go,
//     unix/zsyscall_solaris_amd64.go (its imports, and the misspelt
//     "clockgettime" this package avoids), unix/asm_solaris_amd64.s
//     (sysvicall6 and rawSysvicall6, reached here by linkname).
package evport
