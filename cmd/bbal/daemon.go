/*
 * Start-up, signals and shutdown of the balancer process.
 *
 * Order: logger ("starting up"), open-file limit, "timings", event loop,
 * backend set and remote table, signal handling, TCP listener, UDP socket
 * (in that order: listen.go), then the first directory scan and the
 * periodic work, then the control socket and the metrics endpoint
 * (inspect.go); Run blocks on the loop. Failing to start (to bind, say) is
 * a fatal record (the C program's, listen.go), the same said in one line on
 * stderr, and exit 1; so is a loop that fails while running (a listening
 * socket that can no longer be re-armed), so that SMF restarts the
 * balancer.
 *
 * Signals are received on their own goroutine and posted to the loop:
 *
 *	SIGTERM, SIGINT  first: a lame-duck stop (stop.go): stop accepting,
 *	                 close idle TCP connections, keep answering UDP while
 *	                 the busy ones finish (up to shutdownGrace), then close
 *	                 UDP and the backend sessions, log "exiting", exit 0;
 *	                 second: exit 1 at once
 *	SIGHUP           rescan the socket directory now
 *	SIGUSR2          hand over to a successor started from the binary on
 *	                 disk (handover.go; the manifest's refresh method)
 *
 * The intervals in force are logged at start-up ("timings", info). They are
 * the defaults, always, in the production build; only a binary built with
 * the bbaltest tag (the end-to-end tests' own) can shorten them, see
 * timescale.go.
 */

package main

import (
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/internal/timescale"
	"github.com/joyent/mname-balancer/mdb"
	"github.com/joyent/mname-balancer/proxy"
	"github.com/joyent/mname-balancer/remote"
	"github.com/joyent/mname-balancer/version"
)

// limitsFlush is how often the summaries of suppressed records are
// written when no further record of their kind comes.
const limitsFlush = time.Second

// logTimings records the intervals in force, in milliseconds.
func logTimings(log zerolog.Logger, bt backend.Timings, rt remote.Timings, tcp proxy.TCPConfig) {
	log.Info().
		Int64("scan_ms", bt.Scan.Milliseconds()).
		Int64("connect_timeout_ms", bt.ConnectTimeout.Milliseconds()).
		Int64("heartbeat_interval_ms", bt.HeartbeatInterval.Milliseconds()).
		Int64("heartbeat_timeout_ms", bt.HeartbeatTimeout.Milliseconds()).
		Int64("reconnect_first_ms", bt.ReconnectFirst.Milliseconds()).
		Int64("reconnect_max_ms", bt.ReconnectMax.Milliseconds()).
		Int64("probe_after_ms", bt.ProbeAfter.Milliseconds()).
		Int64("probe_timeout_ms", bt.ProbeTimeout.Milliseconds()).
		Int64("stable_after_ms", bt.StableAfter.Milliseconds()).
		Int64("remote_expiry_ms", rt.Expiry.Milliseconds()).
		Int64("rebalance_ms", rt.Rebalance.Milliseconds()).
		Int64("remote_evict_after_ms", rt.EvictAfter.Milliseconds()).
		Int64("tcp_ok_timeout_ms", tcp.OKTimeout.Milliseconds()).
		Int64("tcp_message_timeout_ms", tcp.MessageTimeout.Milliseconds()).
		Int64("tcp_idle_timeout_ms", tcp.IdleTimeout.Milliseconds()).
		Int64("tcp_half_close_timeout_ms", tcp.HalfCloseTimeout.Milliseconds()).
		Msg("timings")
}

func run(opts options) int {
	// This goroutine becomes the loop's (loop.Run) after it has started
	// the backends and listeners, logging as it goes: locked from here,
	// every record the loop's state writes names one thread (tid), the
	// start-up ones ("new backend", "connecting to backend") included.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The root logger passes everything; the level in force is the
	// run-time one (mdb.LogLevel), which starts as -l and the control
	// socket may change.
	log := bunyan.New(os.Stdout, zerolog.TraceLevel)
	level := mdb.NewLogLevel(log, opts.level)
	log.Info().Str("address", opts.addr.String()).Str("port", strconv.Itoa(int(opts.port))).
		Str("socket_dir", opts.dir).Bool("demo", opts.demo).
		Str("version", version.String()).Str("go_version", version.Go()).Msg("starting up")
	generation := generationFromEnv(os.Getenv)
	inherited := os.Getenv(envHandover) == "1" // a successor: see handover.go
	var snap []byte
	var snapErr error
	if inherited {
		snap, snapErr = readSnapshot()
	}
	exe, exeArgs, exeErr := successorCommand(os.Args, os.Getenv)
	if exeErr != nil {
		bunyan.Errno(log.Warn(), exeErr).Str("argv0", os.Args[0]).Msg("cannot resolve the binary's path; a handover (SIGUSR2) will fail")
	}

	if opts.demo {
		dir, stop, err := startDemoBackends(log)
		if err != nil {
			bunyan.Errno(log.WithLevel(zerolog.FatalLevel), err).Msg("could not start demo backends")
			sayStartFailure("could not start demo backends", err)
			return 1
		}
		defer stop()
		opts.dir = dir
	}

	bt, rt := backend.DefaultTimings(), remote.DefaultTimings()
	scale, ok := timeScale(log)
	if !ok {
		return 1
	}
	bt, rt = timescale.Scale(bt, scale), timescale.Scale(rt, scale)
	tcpCfg := timescale.Scale(proxy.DefaultTCPConfig(raiseFileLimit(log)), scale)
	if opts.tcpMax > 0 {
		tcpCfg.MaxConns = opts.tcpMax
	}
	if opts.tcpMaxPerClient > 0 {
		tcpCfg.MaxPerClient = opts.tcpMaxPerClient
	}
	logTimings(log, bt, rt, tcpCfg)

	loop, err := evport.New()
	if err != nil {
		bunyan.Errno(log.WithLevel(zerolog.FatalLevel), err).Msg("cloop init failure") // main.c's message
		sayStartFailure("cloop init failure", err)
		return 1
	}
	defer loop.Close()
	started := loop.Now()

	// Every record client input can trigger is rate-limited; one timer
	// writes the summaries of what the limiters suppressed.
	limits := &bunyan.Limits{}
	flushLimits := func() { limits.Flush(loop.Now()) }
	loop.Every(limitsFlush, flushLimits)

	set := backend.NewSet(loop, log, limits, opts.dir, bt)
	table := remote.NewTable(loop, log, limits, set, rt)
	table.SetMaxRemotes(opts.remotes)
	table.SetRateCap(opts.udpClientRate, opts.udpClientRate)

	// Signals are caught from here on, before anything listens, so that a
	// SIGTERM sent once the listeners are up is never the default action.
	// What they post runs in loop.Run, after the listeners below are set in
	// stop and ho.
	stop := &stopping{loop: loop, log: log, table: table, set: set}
	readyAfter, backendWait := handoverTimeouts(scale)
	ho := &handover{loop: loop, log: log, exe: exe, args: exeArgs, generation: generation,
		readyAfter: readyAfter, table: table, stop: stop, released: -1,
		flushLogs: flushLimits}
	shutdown := func() {
		if ho.stopping() {
			log.Info().Msg("already handing over to a successor; signal ignored")
			return
		}
		ho.shutdown()
		stop.lameDuck(func() {
			flushLimits() // the summaries of the last records
			loop.Stop()
		})
	}
	handOver := func() {
		if opts.demo {
			log.Warn().Msg("no handover with --demo (its backends live in this process); signal ignored")
			return
		}
		ho.begin()
	}
	stopSignals := handleSignals(loop, log, shutdown, set.Rescan, handOver)
	defer stopSignals()

	listen := netip.AddrPortFrom(opts.addr, opts.port)
	var udp *proxy.UDP
	var tcp *proxy.TCP
	if inherited {
		udp, tcp, err = inheritSockets(loop, log, limits, table, tcpCfg, listen.String())
		if err != nil {
			log.WithLevel(zerolog.FatalLevel).Str("error", err.Error()).Msg("handover: could not take the inherited sockets")
			sayStartFailure("handover: could not take the inherited sockets", err)
			return 1
		}
		set.SetAnswerSink(udp.SendAnswer)
	} else {
		// TCP first: a port in use fails here, before any UDP (listen.go).
		tcp, err = proxy.ListenTCP(loop, log, limits, listen, table, tcpCfg)
		if err != nil {
			logListenFailure(log, os.Stderr, msgTCPListen, listen, err)
			return 1
		}

		log.Debug().Str("address", listen.Addr().String()).Str("port", strconv.Itoa(int(listen.Port()))).Msg("opening UDP listen socket")
		udp, err = proxy.ListenUDP(loop, log, limits, listen, table)
		if err != nil {
			logListenFailure(log, os.Stderr, udpFailureMsg(err), listen, err)
			return 1
		}
		set.SetAnswerSink(udp.SendAnswer) // backends' OUTBOUND_UDP answers leave by the UDP socket
	}
	stop.udp, stop.tcp, ho.udp, ho.tcp = udp, tcp, udp, tcp

	set.Start()
	table.Start()
	if inherited {
		restoreTable(log, table, snap, snapErr)
		ho.state = handoverNotReady
		ho.cancelReady = becomeReady(loop, log, set, udp, tcp, generation, backendWait, func() { ho.state = handoverIdle })
	}

	in := mdb.NewInspector(mdb.Sources{Loop: loop, Set: set, Table: table, UDP: udp, TCP: tcp, Level: level, Started: started,
		Generation: generation})
	// The control socket and the metrics endpoint are one process's at a
	// time: a successor starts them once the old process has released
	// them (handover.go).
	inspecting := false
	stopInspection := func() {}
	startInspecting := func() {
		stopInspection, inspecting = startInspection(opts, log, in), true
	}
	ho.releaseInspection = func() {
		if inspecting {
			stopInspection()
			inspecting = false
		}
	}
	defer ho.releaseInspection()
	if inherited {
		awaitRelease(loop, startInspecting)
	} else {
		startInspecting()
	}

	if err := loop.Run(); err != nil {
		bunyan.Errno(log.WithLevel(zerolog.FatalLevel), err).Msg("cloop run failure") // main.c's message
		return 1
	}
	log.Info().Msg("exiting")
	return 0
}

// handledSignals are the signals bbal acts on (handleSignals); the help
// describes each.
var handledSignals = []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGUSR2}

// handleSignals posts shutdown on the first SIGTERM or SIGINT (exiting at
// once on the second), rescan on SIGHUP and handOver on SIGUSR2.
func handleSignals(loop *evport.Loop, log zerolog.Logger, shutdown, rescan, handOver func()) (stop func()) {
	ch := make(chan os.Signal, 4)
	for _, sig := range handledSignals {
		signal.Notify(ch, sig)
	}
	done := make(chan struct{})
	var terminating atomic.Bool
	go func() {
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				switch {
				case sig == syscall.SIGHUP:
					loop.Post(func() {
						log.Info().Msg("SIGHUP: rescanning backend socket directory")
						rescan()
					})
				case sig == syscall.SIGUSR2:
					loop.Post(func() {
						log.Info().Msg("SIGUSR2: handing over to a successor")
						handOver()
					})
				case terminating.Swap(true):
					log.Warn().Str("signal", sig.String()).Msg("second signal; exiting at once")
					os.Exit(1)
				default:
					loop.Post(func() {
						log.Info().Str("signal", sig.String()).Msg("signal received; shutting down")
						shutdown()
					})
				}
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
