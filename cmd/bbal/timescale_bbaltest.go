//go:build bbaltest

/*
 * The end-to-end tests' interval divisor, compiled in only with the
 * bbaltest build tag (test/e2e builds its own binary with it; the
 * production build is timescale.go). BBAL_TEST_TIME_SCALE, if set, divides
 * every interval (scan, heartbeat, connect, reconnect and INBOUND_TCP_OK
 * timeouts, expiry, rebalance) by its value.
 */

package main

import (
	"os"
	"strconv"

	"github.com/rs/zerolog"
)

// timeScaleEnv is the end-to-end tests' interval divisor.
const timeScaleEnv = "BBAL_TEST_TIME_SCALE"

// timeScale reads timeScaleEnv; false (after a fatal record) if it is set
// but not a positive number.
func timeScale(log zerolog.Logger) (float64, bool) {
	v := os.Getenv(timeScaleEnv)
	if v == "" {
		return 1, true
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		log.WithLevel(zerolog.FatalLevel).Str("value", v).Msg(timeScaleEnv + " is not a positive number")
		return 0, false
	}
	log.Warn().Float64("scale", f).Msg("intervals shortened for testing")
	return f, true
}
