package mdb

import "github.com/prometheus/client_golang/prometheus"

// processCollector reads /proc/self/psinfo and /proc/self/fd (psinfo.go):
// client_golang's process collector reads a Linux /proc.
func processCollector() prometheus.Collector { return psinfoCollector{proc: "/proc/self"} }
