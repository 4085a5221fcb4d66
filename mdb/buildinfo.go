/*
 * The metrics that say which process answers a scrape rather than what the
 * balancer did: bbal_build_info (the version and the Go version, as the
 * label values of a gauge that is always 1, the Prometheus convention for
 * build information), and the standard process collector's process_*
 * families (start time, open descriptors, resident memory, CPU) on Linux
 * (process_linux.go); on illumos, where client_golang's would read a Linux
 * /proc that is not there, the same names from psinfo (psinfo.go).
 */

package mdb

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/joyent/mname-balancer/version"
)

var buildInfoDesc = prometheus.NewDesc("bbal_build_info",
	"The balancer's build: its version (as bbal -V says) and the Go version that built it; always 1.",
	[]string{"version", "goversion"}, nil)

// buildInfo collects bbal_build_info.
type buildInfo struct{}

func (buildInfo) Describe(ch chan<- *prometheus.Desc) { ch <- buildInfoDesc }

func (buildInfo) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, version.String(), version.Go())
}

// processCollectors are the build information and, where the platform has
// one, the standard process collector.
func processCollectors() []prometheus.Collector {
	cs := []prometheus.Collector{buildInfo{}}
	if pc := processCollector(); pc != nil {
		cs = append(cs, pc)
	}
	return cs
}
