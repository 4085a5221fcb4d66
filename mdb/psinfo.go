/*
 * The process metrics on illumos, where client_golang has no process
 * collector: process_start_time_seconds, process_resident_memory_bytes and
 * process_virtual_memory_bytes from /proc/self/psinfo (psinfo_t, see
 * proc(5) and usr/src/uts/common/sys/procfs.h), process_open_fds from the
 * entries of /proc/self/fd. The names and meanings are the standard
 * collector's, so one dashboard reads both platforms.
 *
 * psinfo_t on amd64 (LP64), the offsets read here:
 *
 *	  8  pr_pid     pid_t (int32)
 *	 48  pr_size    size_t, the image size in KiB
 *	 56  pr_rssize  size_t, the resident set size in KiB
 *	 88  pr_start   timestruc_t: tv_sec int64, tv_nsec int64 (at 96)
 */

package mdb

import (
	"encoding/binary"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
)

// psinfo is what the collector reads of psinfo_t.
type psinfo struct {
	pid       int32
	size, rss uint64  // bytes
	start     float64 // seconds since the epoch
}

// psinfoLen is the least psinfo_t the offsets need.
const psinfoLen = 104

// parsePsinfo reads an amd64 psinfo_t.
func parsePsinfo(b []byte) (psinfo, error) {
	if len(b) < psinfoLen {
		return psinfo{}, fmt.Errorf("psinfo: %d bytes, want at least %d", len(b), psinfoLen)
	}
	le := binary.LittleEndian
	sec, nsec := int64(le.Uint64(b[88:])), int64(le.Uint64(b[96:]))
	return psinfo{
		pid:   int32(le.Uint32(b[8:])),
		size:  le.Uint64(b[48:]) * 1024,
		rss:   le.Uint64(b[56:]) * 1024,
		start: float64(sec) + float64(nsec)/1e9,
	}, nil
}

var (
	procStartDesc = prometheus.NewDesc("process_start_time_seconds",
		"Start time of the process since unix epoch in seconds.", nil, nil)
	procRSSDesc = prometheus.NewDesc("process_resident_memory_bytes",
		"Resident memory size in bytes.", nil, nil)
	procVSizeDesc = prometheus.NewDesc("process_virtual_memory_bytes",
		"Virtual memory size in bytes.", nil, nil)
	procFDsDesc = prometheus.NewDesc("process_open_fds",
		"Number of open file descriptors.", nil, nil)
)

// psinfoCollector collects the process metrics from /proc/self (illumos).
type psinfoCollector struct{ proc string }

func (psinfoCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- procStartDesc
	ch <- procRSSDesc
	ch <- procVSizeDesc
	ch <- procFDsDesc
}

func (c psinfoCollector) Collect(ch chan<- prometheus.Metric) {
	b, err := os.ReadFile(c.proc + "/psinfo")
	if err == nil {
		var p psinfo
		if p, err = parsePsinfo(b); err == nil {
			ch <- prometheus.MustNewConstMetric(procStartDesc, prometheus.GaugeValue, p.start)
			ch <- prometheus.MustNewConstMetric(procRSSDesc, prometheus.GaugeValue, float64(p.rss))
			ch <- prometheus.MustNewConstMetric(procVSizeDesc, prometheus.GaugeValue, float64(p.size))
		}
	}
	if err != nil {
		ch <- prometheus.NewInvalidMetric(procStartDesc, err)
	}
	fds, err := os.ReadDir(c.proc + "/fd")
	if err != nil {
		ch <- prometheus.NewInvalidMetric(procFDsDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(procFDsDesc, prometheus.GaugeValue, float64(len(fds)))
}
