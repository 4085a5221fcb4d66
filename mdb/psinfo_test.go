package mdb

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fakePsinfo is an amd64 psinfo_t (procfs.h) with the fields psinfo.go
// reads set and the others left as noise.
func fakePsinfo(pid int32, sizeKB, rssKB uint64, sec, nsec int64) []byte {
	b := make([]byte, 416) // sizeof (psinfo_t) on amd64
	for i := range b {
		b[i] = 0xA5
	}
	le := binary.LittleEndian
	le.PutUint32(b[8:], uint32(pid))
	le.PutUint64(b[48:], sizeKB)
	le.PutUint64(b[56:], rssKB)
	le.PutUint64(b[88:], uint64(sec))
	le.PutUint64(b[96:], uint64(nsec))
	return b
}

func TestParsePsinfo(t *testing.T) {
	p, err := parsePsinfo(fakePsinfo(4242, 81920, 20480, 1764633600, 500_000_000))
	if err != nil {
		t.Fatal(err)
	}
	if p.pid != 4242 || p.size != 80<<20 || p.rss != 20<<20 || p.start != 1764633600.5 {
		t.Errorf("parsed %+v, want pid 4242, 80 MiB, 20 MiB, start 1764633600.5", p)
	}
	if _, err := parsePsinfo(make([]byte, psinfoLen-1)); err == nil {
		t.Errorf("a short psinfo parsed")
	}
}

// The collector against a fake /proc/self: the standard names and values.
func TestPsinfoCollector(t *testing.T) {
	proc := t.TempDir()
	if err := os.WriteFile(filepath.Join(proc, "psinfo"), fakePsinfo(7, 2048, 1024, 1000, 0), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(proc, "fd"), 0o755)
	for _, fd := range []string{"0", "1", "2", "7"} {
		os.WriteFile(filepath.Join(proc, "fd", fd), nil, 0o644)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(psinfoCollector{proc: proc})
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetType() != dto.MetricType_GAUGE || len(f.Metric) != 1 || f.GetHelp() == "" {
			t.Errorf("%s: %v with %d metrics, want one gauge with help", f.GetName(), f.GetType(), len(f.Metric))
			continue
		}
		got[f.GetName()] = f.Metric[0].GetGauge().GetValue()
	}
	want := map[string]float64{
		"process_open_fds": 4, "process_resident_memory_bytes": 1 << 20,
		"process_start_time_seconds": 1000, "process_virtual_memory_bytes": 2 << 20,
	}
	if len(got) != len(want) {
		t.Errorf("families %v, want %v", got, want)
	}
	for name, v := range want {
		if got[name] != v {
			t.Errorf("%s = %v, want %v", name, got[name], v)
		}
	}
	// No psinfo: the scrape fails rather than say something false.
	os.Remove(filepath.Join(proc, "psinfo"))
	if _, err := reg.Gather(); err == nil {
		t.Errorf("a scrape without psinfo succeeded")
	}
}
