/*
 * The open-file limit: bbal raises its soft RLIMIT_NOFILE to the hard limit
 * at start (issue 12; the Go runtime does the same on some systems, this
 * makes it explicit and logged), and the TCP path's limits are derived from
 * the result (proxy.DefaultTCPConfig).
 */

package main

import (
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/bunyan"
)

// raiseFileLimit sets the soft open-file limit to the hard one and returns
// the soft limit in force afterwards.
func raiseFileLimit(log zerolog.Logger) uint64 {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		bunyan.Errno(log.Warn(), err).Msg("could not read the open-file limit")
		return 1024
	}
	if lim.Cur < lim.Max {
		raised := unix.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised); err != nil {
			bunyan.Errno(log.Warn(), err).Uint64("soft", lim.Cur).Uint64("hard", lim.Max).
				Msg("could not raise the open-file limit")
		} else {
			lim = raised
		}
	}
	log.Info().Uint64("soft", lim.Cur).Uint64("hard", lim.Max).Msg("open-file limit")
	return lim.Cur
}
