//go:build !bbaltest

/*
 * The production build's intervals: always the defaults. The end-to-end
 * tests' interval divisor (BBAL_TEST_TIME_SCALE) exists only in a binary
 * built with the bbaltest tag (timescale_bbaltest.go); make, make release
 * and go build ./cmd/bbal leave it out, so no environment variable can
 * shorten a production balancer's timers.
 */

package main

import "github.com/rs/zerolog"

// timeScale is the divisor applied to every interval: 1 in production.
func timeScale(zerolog.Logger) (float64, bool) { return 1, true }
