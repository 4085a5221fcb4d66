/*
Package bunyan writes the balancer's logs as node-bunyan JSON records
on top of github.com/rs/zerolog, so that the operator's existing tools (the
bunyan CLI, grep for established messages) keep working.

Every record is one line holding one JSON object with the core fields

	v         0
	level     10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal
	name      "mname-balancer"
	hostname  the host's name, read once by New
	pid       the process ID, read once by New
	tid       the OS thread that wrote the record, as illumos-bunyan logs
	          it: gettid(2) on Linux, the LWP ID on illumos (tid_*.go); the
	          event loop's goroutine is locked to its thread, so all its
	          records name that thread
	time      ISO 8601 in UTC with milliseconds: "2026-11-25T17:09:20.123Z"
	msg       the message, present even when empty

plus the fields of the record and of every logger it descends from. JSON
objects are unordered; the core fields are not necessarily first (see
logger.go).

The API is zerolog's own: New returns a zerolog.Logger, callers write
ordinary zerolog chains, and child loggers are made with With():

	log := bunyan.New(os.Stdout, zerolog.InfoLevel)
	log.Info().Str("addr", "0.0.0.0:53").Msg("listening for UDP packets")

	be := log.With().Uint32("be_id", 5301).Str("be_path", path).Logger()
	be.Info().Msg("new backend")

	// A child logger costs hundreds of bytes: for one per client, build
	// the field when the record is written instead, and let a RateLimiter
	// (ratelimit.go) bound records that client input can trigger.
	if newPeer.Allow(loop.Now()) {
		bunyan.IPv4(log.Info(), "remote_ip", addr).Msg("new remote peer")
	}

	// Free when trace is off: Trace() returns nil and every call on it is a no-op.
	bunyan.IPv4(log.Trace(), "src", addr).Uint32("len", n).Msg("inbound UDP")

	if err != nil {
		bunyan.Errno(log.Error(), err).Str("path", path).Msg("connect failed")
	}

Fatal: zerolog's Fatal() writes the record at level 60 and then calls
os.Exit(1) (or zerolog.FatalExitFunc when set), so deferred functions do not
run. That is what the daemon wants for "cannot bind"; code that must log a
fatal-level record without exiting uses WithLevel(zerolog.FatalLevel).
Panic() is logged at level 60 as well and then panics.

Keys the package owns: v, level, name, hostname, pid, tid, time, msg; and err,
errno, strerror written by Errno. A caller that adds a field with one of the
core names, or calls Timestamp() on an event or context, produces a duplicate
key; don't.

Importing this package changes zerolog's process-wide settings (see
logger.go). It is the program's only logger, so nothing else depends on them.

This package imports no balancer package.
*/
package bunyan
