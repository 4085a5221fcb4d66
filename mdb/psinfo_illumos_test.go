package mdb

import (
	"os"
	"testing"
	"time"
)

// The real /proc/self/psinfo: the offsets psinfo.go reads are this
// process's pid, start, size and resident set.
func TestPsinfoOfThisProcess(t *testing.T) {
	b, err := os.ReadFile("/proc/self/psinfo")
	if err != nil {
		t.Fatal(err)
	}
	p, err := parsePsinfo(b)
	if err != nil {
		t.Fatal(err)
	}
	now := float64(time.Now().UnixNano()) / 1e9
	if int(p.pid) != os.Getpid() || p.start < now-3600 || p.start > now || p.rss < 1<<20 || p.size < p.rss {
		t.Errorf("psinfo %+v: want pid %d, a start in the last hour (now %.0f), rss over 1 MiB, size at least rss",
			p, os.Getpid(), now)
	}
}
