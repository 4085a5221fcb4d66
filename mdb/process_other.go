//go:build !linux && !illumos

package mdb

import "github.com/prometheus/client_golang/prometheus"

// processCollector is nil: client_golang's process collector reads a Linux
// /proc, and illumos has its own (psinfo.go).
func processCollector() prometheus.Collector { return nil }
