//go:build !linux

package mdb

import "github.com/prometheus/client_golang/prometheus"

// processCollector is nil: client_golang's process collector reads a Linux
// /proc (on illumos it would fail every scrape).
func processCollector() prometheus.Collector { return nil }
