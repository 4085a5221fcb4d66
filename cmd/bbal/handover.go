/*
 * The handover (issue 21): a reload or an upgrade without losing a query.
 * SIGUSR2 (the manifest's refresh method is ":kill -USR2", so `svcadm
 * refresh` sends it; outside SMF, `kill -USR2 PID`) makes this process
 * start its successor and hand it the listening sockets and the client
 * table:
 *
 *  1. The successor is started from the binary at the path this process
 *     was started as (argv[0], made absolute at start-up; not
 *     /proc/self/exe or os.Executable, which name the running image: after
 *     an upgrade the new file at that path takes over), with the same
 *     arguments and environment plus BBAL_HANDOVER=1 and BBAL_GENERATION;
 *     or, when BBAL_SUCCESSOR names a command (the SMF start method sets it
 *     to itself), that command, which reads the service's properties
 *     afresh, checks them, and execs the balancer in the foreground (so
 *     that `svccfg setprop; svcadm refresh` applies new properties, and a
 *     bad one fails the handover, not the service).
 *     It inherits, as descriptors 3 to 7: the UDP socket, the TCP
 *     listener, the read end of a pipe carrying the table's snapshot
 *     (remote/snapshot.go), the write end of a pipe for "ready", and the
 *     read end of a pipe that ends when the old process has closed its
 *     control socket and metrics endpoint, which the successor then opens
 *     (until then balstat reaches the old process).
 *  2. The successor parses its options as any start does (a bad one exits
 *     1 there), takes the sockets (checking that they are bound to its -b
 *     and -p), reads the snapshot (bounded in size and time; a bad one is
 *     an error record and an empty table), scans the socket directory,
 *     restores the table, waits until each backend found has connected or
 *     failed once (at most successorBackendWait), and only then starts
 *     reading and accepting and writes "ready".
 *  3. On "ready" this process stops reading UDP and accepting (both
 *     processes read the same kernel queues, so nothing that arrived in
 *     between is lost), sends the answers to queries it had forwarded (up
 *     to answerLinger), lets its TCP connections finish (lame duck, up to
 *     shutdownGrace; stop.go), logs "handover: done" and exits 0.
 *
 * A successor that cannot be started, exits, or is not ready within
 * readyTimeout is killed; this process logs "handover failed" at error
 * with the reason and keeps serving as if nothing happened. A SIGTERM
 * while the successor is starting kills it too (shutdown) before the
 * usual stop; after a SIGTERM, SIGUSR2 is ignored.
 *
 * Under SMF the successor is a child of the balancer, so it is in the
 * service's contract; with the "contract" duration model svc.startd
 * restarts the service only when the contract is empty, and it never is:
 * the successor is there before the old process exits. SMF sees no
 * restart. Everything here is POSIX (fork/exec with inherited
 * descriptors, pipes); nothing is Linux-only.
 *
 * The successor is a fresh process: what is not carried over is listed in
 * the README ("Reloading and upgrading").
 */

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/proxy"
	"github.com/joyent/mname-balancer/remote"
)

// Environment of a successor.
const (
	envHandover   = "BBAL_HANDOVER"   // "1": descriptors 3 to 7 are inherited (fdUDP .. fdReleased)
	envGeneration = "BBAL_GENERATION" // 1 for a process started by hand or SMF
	envSuccessor  = "BBAL_SUCCESSOR"  // the command a handover runs (the SMF start method)
)

// The successor's inherited descriptors.
const (
	fdUDP      = 3
	fdTCP      = 4
	fdSnapshot = 5
	fdReady    = 6
	fdReleased = 7 // end of file once the old process has let go of the control socket and metrics port
)

const (
	// readyTimeout bounds the successor's start, from exec to "ready".
	readyTimeout = 15 * time.Second
	// successorBackendWait bounds how long a successor waits for its
	// backends before saying ready all the same. Waiting costs nothing
	// (the old process serves meanwhile), and a backend not yet connected
	// when the successor starts reading has its clients moved to backups,
	// so it is long: node-mname starved of CPU has been seen to take 3 s
	// to answer a new session's hello.
	successorBackendWait = 8 * time.Second
	// readyMargin is what the ready timeout leaves a successor to start
	// besides its wait for backends, whatever a test build's time scale.
	readyMargin = 2 * time.Second
	// snapshotTimeout bounds the successor's read of the snapshot.
	snapshotTimeout = 5 * time.Second
	readyWord       = "ready\n"
)

// handoverState is where the old process is in a handover.
type handoverState int

const (
	handoverIdle     handoverState = iota // serving; a handover may start
	handoverNotReady                      // a successor not yet ready itself: no handover yet
	handoverStarting                      // successor started, "ready" awaited
	handoverStopping                      // successor ready: this process winds down
	handoverShutdown                      // stopping on SIGTERM: no handover any more
)

// handover is the old process's side; all on the loop.
type handover struct {
	loop       *evport.Loop
	log        zerolog.Logger
	exe        string   // the binary on disk, absolute
	args       []string // argv, argv[0] included
	generation int
	readyAfter time.Duration
	flushLogs  func() // the summaries of suppressed records, before exiting

	udp   *proxy.UDP
	tcp   *proxy.TCP
	table *remote.Table
	stop  *stopping

	state    handoverState
	pid      int
	released int // write end of the successor's fdReleased pipe; -1: none

	// releaseInspection closes the control socket and metrics endpoint
	// (set by run).
	releaseInspection func()
	// cancelReady, while this process is a successor not yet ready
	// (handoverNotReady), gives up saying ready (becomeReady's cancel).
	cancelReady func()
}

// executablePath is the binary at the path argv0 names, made absolute
// against the working directory (or found in PATH) now, at start-up.
func executablePath(argv0 string) (string, error) {
	if strings.Contains(argv0, "/") {
		return filepath.Abs(argv0)
	}
	return exec.LookPath(argv0)
}

// successorCommand is what a handover runs: BBAL_SUCCESSOR, when set (the
// SMF start method sets it to itself, so that a successor reads the
// service's properties afresh and a bad one fails the handover, not the
// service), with no arguments; else the binary bbal was started as, with
// the same arguments.
func successorCommand(args []string, getenv func(string) string) (exe string, argv []string, err error) {
	if m := getenv(envSuccessor); m != "" {
		exe, err = executablePath(m)
		return exe, []string{exe}, err
	}
	exe, err = executablePath(args[0])
	return exe, args, err
}

// generationFromEnv is this process's generation: 1, or what the process
// that handed over said.
func generationFromEnv(getenv func(string) string) int {
	if g, err := strconv.Atoi(getenv(envGeneration)); err == nil && g > 0 {
		return g
	}
	return 1
}

// successorEnv is env without the handover variables, plus the
// successor's.
func successorEnv(env []string, generation int) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		if strings.HasPrefix(kv, envHandover+"=") || strings.HasPrefix(kv, envGeneration+"=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, envHandover+"=1", envGeneration+"="+strconv.Itoa(generation))
}

// begin starts a handover (SIGUSR2), unless one is under way.
func (h *handover) begin() {
	if h.state == handoverNotReady {
		h.log.Warn().Msg("handover: this process is not ready yet itself; signal ignored")
		return
	}
	if h.state == handoverShutdown {
		h.log.Warn().Msg("handover: this process is shutting down; signal ignored")
		return
	}
	if h.state != handoverIdle {
		h.log.Warn().Int("successor_pid", h.pid).Msg("handover already under way; signal ignored")
		return
	}
	if h.exe == "" {
		h.fail(errors.New("no binary to start: the path bbal was started as could not be resolved"))
		return
	}
	snap := h.table.Snapshot()
	var p [3][2]int // snapshot, ready, released: [read, write]
	for i := range p {
		if err := unix.Pipe2(p[i][:], unix.O_CLOEXEC); err != nil {
			for j := 0; j < i; j++ {
				unix.Close(p[j][0])
				unix.Close(p[j][1])
			}
			h.fail(fmt.Errorf("pipe: %w", err))
			return
		}
	}
	snapR, snapW, readyR, readyW := p[0][0], p[0][1], p[1][0], p[1][1]
	relR, relW := p[2][0], p[2][1]
	attr := &syscall.ProcAttr{
		Env:   successorEnv(os.Environ(), h.generation+1),
		Files: []uintptr{0, 1, 2, uintptr(h.udp.FD()), uintptr(h.tcp.ListenerFD()), uintptr(snapR), uintptr(readyW), uintptr(relR)},
	}
	pid, _, err := syscall.StartProcess(h.exe, h.args, attr)
	unix.Close(snapR)
	unix.Close(readyW)
	unix.Close(relR)
	if err != nil {
		unix.Close(snapW)
		unix.Close(readyR)
		unix.Close(relW)
		h.fail(fmt.Errorf("starting %s: %w", h.exe, err))
		return
	}
	h.state, h.pid, h.released = handoverStarting, pid, relW
	h.log.Info().Int("successor_pid", pid).Str("binary", h.exe).Int("generation", h.generation+1).
		Int("udp_fd", h.udp.FD()).Int("tcp_fd", h.tcp.ListenerFD()).Int("remotes", h.table.Len()).
		Int("snapshot_bytes", len(snap)).Msg("handover: successor started, sockets passed")

	go func() { // the snapshot may be larger than a pipe holds
		f := os.NewFile(uintptr(snapW), "snapshot pipe")
		_, _ = f.Write(snap) // a successor that stops reading has failed; its own records say why
		f.Close()
	}()
	h.awaitReady(readyR, pid)
	go func() { // reap the successor, whenever it exits
		proc, err := os.FindProcess(pid)
		if err != nil {
			return
		}
		st, err := proc.Wait()
		h.loop.Post(func() { h.exited(pid, st, err) })
	}()
}

// awaitReady reads "ready" from the successor on its own goroutine and
// posts the outcome to the loop.
func (h *handover) awaitReady(fd, pid int) {
	_ = unix.SetNonblock(fd, true) // so that the read has a deadline
	f := os.NewFile(uintptr(fd), "ready pipe")
	go func() {
		_ = f.SetReadDeadline(time.Now().Add(h.readyAfter))
		buf := make([]byte, len(readyWord))
		n, err := io.ReadFull(f, buf)
		f.Close()
		var outcome error
		switch {
		case err == nil && string(buf[:n]) == readyWord:
		case errors.Is(err, os.ErrDeadlineExceeded):
			outcome = fmt.Errorf("successor not ready within %v", h.readyAfter)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			outcome = errors.New("successor exited (or closed its ready pipe) before it was ready")
		case err != nil:
			outcome = fmt.Errorf("reading the ready pipe: %w", err)
		default:
			outcome = fmt.Errorf("successor wrote %q, not ready", buf[:n])
		}
		h.loop.Post(func() { h.readyOutcome(pid, outcome) })
	}()
}

// readyOutcome ends the wait for "ready": the old process hands over, or
// kills the successor and keeps serving.
func (h *handover) readyOutcome(pid int, err error) {
	if h.state != handoverStarting || h.pid != pid {
		return
	}
	if err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		h.fail(err)
		return
	}
	h.state = handoverStopping
	h.log.Info().Int("successor_pid", pid).Msg("handover: successor ready; no longer reading or accepting")
	h.releaseInspection()
	h.closeReleased()
	h.stop.handOver(func(answers uint64, drained int) {
		h.log.Info().Int("successor_pid", pid).Uint64("answers_forwarded", answers).Int("tcp_drained", drained).
			Msg("handover: done")
		h.flushLogs()
		h.loop.Stop()
	})
}

// exited is the successor's exit, reaped.
func (h *handover) exited(pid int, st *os.ProcessState, err error) {
	e := h.log.Warn().Int("successor_pid", pid)
	if st != nil {
		e = e.Str("status", st.String())
	}
	if err != nil {
		e = e.Str("error", err.Error())
	}
	e.Msg("handover: successor exited")
}

// shutdown ends handovers: this process is stopping (SIGTERM), and no
// SIGUSR2 starts one from now on. One under way is abandoned. As the old
// process, it kills a successor not yet ready, so that the successor
// neither serves on after the stop nor says ready to a process already
// winding down (whose readyOutcome would start a second stop). As a
// successor not yet ready itself, it never says ready (cancelReady), so
// the old process keeps serving.
func (h *handover) shutdown() {
	switch h.state {
	case handoverStarting:
		_ = syscall.Kill(h.pid, syscall.SIGKILL)
		h.log.Warn().Int("successor_pid", h.pid).Msg("handover abandoned: shutting down; successor killed")
		h.closeReleased()
	case handoverNotReady:
		h.cancelReady()
		h.log.Warn().Msg("handover abandoned: shutting down before ready; the old process keeps serving")
	}
	h.state, h.pid = handoverShutdown, 0
}

// fail logs why a handover did not happen; this process keeps serving.
func (h *handover) fail(err error) {
	h.log.Error().Int("successor_pid", h.pid).Str("error", err.Error()).Msg("handover failed; still serving")
	h.closeReleased()
	h.state, h.pid = handoverIdle, 0
}

func (h *handover) closeReleased() {
	if h.released >= 0 {
		unix.Close(h.released)
		h.released = -1
	}
}

// awaitRelease posts start to the loop once the old process has let go of
// the control socket and metrics endpoint (end of file on fdReleased).
func awaitRelease(loop *evport.Loop, start func()) {
	unix.CloseOnExec(fdReleased)
	f := os.NewFile(fdReleased, "released pipe")
	go func() {
		_, _ = io.Copy(io.Discard, f)
		f.Close()
		loop.Post(start)
	}()
}

// stopping reports whether the process is winding down after a handover
// (a SIGTERM then changes nothing).
func (h *handover) stopping() bool { return h.state == handoverStopping }

// inheritSockets takes the UDP socket and TCP listener passed as fds 3
// and 4, which must be bound to want.
func inheritSockets(loop *evport.Loop, log zerolog.Logger, limits *bunyan.Limits, table *remote.Table, cfg proxy.TCPConfig, want string) (*proxy.UDP, *proxy.TCP, error) {
	udp, err := proxy.UDPOnSocket(loop, log, limits, fdUDP, table)
	if err != nil {
		unix.Close(fdTCP)
		return nil, nil, err
	}
	tcp, err := proxy.TCPOnSocket(loop, log, limits, fdTCP, table, cfg)
	if err != nil {
		udp.Close()
		return nil, nil, err
	}
	for _, got := range []string{udp.Addr().String(), tcp.Addr().String()} {
		if got != want {
			udp.Close()
			tcp.Close()
			return nil, nil, fmt.Errorf("inherited socket bound to %s, not %s (-b, -p)", got, want)
		}
	}
	log.Info().Int("udp_fd", fdUDP).Int("tcp_fd", fdTCP).Str("address", want).Msg("handover: sockets inherited")
	return udp, tcp, nil
}

// readSnapshot reads the table's snapshot from fd 5, at most
// remote.MaxSnapshotSize bytes and for at most snapshotTimeout.
func readSnapshot() ([]byte, error) {
	_ = unix.SetNonblock(fdSnapshot, true)
	f := os.NewFile(fdSnapshot, "snapshot pipe")
	defer f.Close()
	_ = f.SetReadDeadline(time.Now().Add(snapshotTimeout))
	b, err := io.ReadAll(io.LimitReader(f, remote.MaxSnapshotSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the snapshot (fd %d): %w", fdSnapshot, err)
	}
	return b, nil
}

// restoreTable puts the snapshot into the table (after the Set's first
// scan), logging what was carried over or why nothing was.
func restoreTable(log zerolog.Logger, table *remote.Table, snap []byte, readErr error) {
	if readErr != nil {
		log.Error().Str("error", readErr.Error()).Msg("handover: no snapshot; starting with an empty client table")
		return
	}
	n, err := table.Restore(snap)
	if err != nil {
		log.Error().Str("error", err.Error()).Int("snapshot_bytes", len(snap)).
			Msg("handover: snapshot rejected; starting with an empty client table")
		return
	}
	log.Info().Int("remotes", n).Int("snapshot_bytes", len(snap)).Msg("handover: remotes carried over")
}

// becomeReady waits (on the loop) until every backend has connected or
// failed once, or backendWait (successorBackendWait, scaled) has passed,
// then starts reading and accepting and tells the old process. cancel,
// before that, gives up: the old process reads end of file instead of
// "ready" and keeps serving.
func becomeReady(loop *evport.Loop, log zerolog.Logger, set *backend.Set, udp *proxy.UDP, tcp *proxy.TCP, generation int, backendWait time.Duration, ready func()) (cancel func()) {
	deadline := loop.Now().Add(backendWait)
	var poll *evport.Timer
	check := func() {
		ok, pending := 0, 0
		for _, b := range set.Backends() {
			switch {
			case b.OK():
				ok++
			case b.State() == backend.StateNew || b.State() == backend.StateConnecting:
				pending++
			}
		}
		if pending > 0 && loop.Now().Before(deadline) {
			return
		}
		poll.Stop()
		if err := udp.Start(); err != nil {
			loop.Fail(fmt.Errorf("handover: %w", err))
			return
		}
		if err := tcp.Start(); err != nil {
			loop.Fail(fmt.Errorf("handover: %w", err))
			return
		}
		f := os.NewFile(fdReady, "ready pipe")
		_, err := f.Write([]byte(readyWord))
		f.Close()
		if err != nil {
			// The old process gave up on us (and is killing us) or died.
			bunyan.Errno(log.Error(), err).Msg("handover: could not say ready")
		}
		log.Info().Int("backends_ok", ok).Int("backends_pending", pending).Int("generation", generation).
			Msg("handover: ready")
		ready()
	}
	poll = loop.Every(10*time.Millisecond, check)
	return func() {
		poll.Stop()
		unix.Close(fdReady)
	}
}

// handoverTimeouts are the ready timeout and the successor's wait for its
// backends, divided by a test build's time scale; the ready timeout always
// leaves readyMargin beyond the wait.
func handoverTimeouts(scale float64) (ready, backendWait time.Duration) {
	backendWait = time.Duration(float64(successorBackendWait) / scale)
	return max(time.Duration(float64(readyTimeout)/scale), backendWait+readyMargin), backendWait
}
