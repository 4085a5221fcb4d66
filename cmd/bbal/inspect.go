/*
 * The operator's ways in: the control socket (-c, for balstat and the
 * run-time log level; without -c, view.DefaultControlPath in a directory of
 * the balancer's own, made here) and, with -m, the Prometheus endpoint. Neither is
 * needed to serve DNS: if one cannot be set up, that is an error record and
 * the balancer carries on without it.
 */

package main

import (
	"os"
	"path/filepath"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/mdb"
	"github.com/joyent/mname-balancer/mdb/view"
)

// startInspection starts what opts asks for and returns what stops it.
func startInspection(opts options, log zerolog.Logger, in *mdb.Inspector) (stop func()) {
	var stops []func()
	demoDir := ""           // removed last, after the socket is closed
	if opts.control == "" { // --demo without -c: a socket of its own
		dir, err := os.MkdirTemp("", "bbal-demo-ctl-")
		if err != nil {
			bunyan.Errno(log.Error(), err).Msg("could not create control socket; serving DNS without it")
			return func() {}
		}
		demoDir, opts.control = dir, filepath.Join(dir, "control")
	}
	var ctl *mdb.ControlServer
	var err error
	if opts.controlDefault { // without -c: a directory of our own, made (or checked) here
		err = view.MakeControlDir(opts.control)
	}
	if err == nil {
		ctl, err = mdb.ListenControl(opts.control, opts.dir, in, log)
	}
	if err != nil {
		bunyan.Errno(log.Error().Str("path", opts.control), err).
			Msg("could not create control socket; serving DNS without it")
	} else {
		stops = append(stops, func() { ctl.Close() })
	}
	if opts.metrics.IsValid() {
		m, err := mdb.ListenMetrics(opts.metrics.String(), in, log)
		if err != nil {
			bunyan.Errno(log.Error().Str("address", opts.metrics.String()), err).
				Msg("could not start metrics endpoint; serving DNS without it")
		} else {
			stops = append(stops, func() { m.Close() })
		}
	}
	return func() {
		for _, s := range stops {
			s()
		}
		if demoDir != "" {
			os.RemoveAll(demoDir)
		}
	}
}
