/*
 * Tests of the kstat -p form against real kstat -p output (quoted below
 * from public sources), and of kstat-style patterns.
 */

package view

import (
	"strings"
	"testing"
)

// Real `kstat -p` lines. The first block is cpu_info from a SPARC T3 (as
// quoted in a Ruby test suite's fixture), statistics in kstat's byte
// order with class and crtime among them; the second is the uptime idiom
// `kstat -p unix:0:system_misc:snaptime` (as quoted in neofetch).
const realCPUInfo = "cpu_info:0:cpu_info0:brand\tSPARC-T3\n" +
	"cpu_info:0:cpu_info0:chip_id\t0\n" +
	"cpu_info:0:cpu_info0:class\tmisc\n" +
	"cpu_info:0:cpu_info0:clock_MHz\t1649\n" +
	"cpu_info:0:cpu_info0:core_id\t1026\n" +
	"cpu_info:0:cpu_info0:cpu_fru\thc:///component=\n" +
	"cpu_info:0:cpu_info0:cpu_type\tsparcv9\n" +
	"cpu_info:0:cpu_info0:crtime\t182.755017565\n" +
	"cpu_info:0:cpu_info0:current_clock_Hz\t1648762500\n" +
	"cpu_info:0:cpu_info0:device_ID\t0\n" +
	"cpu_info:0:cpu_info0:fpu_type\tsparcv9\n" +
	"cpu_info:0:cpu_info0:implementation\tSPARC-T3 (chipid 0, clock 1649 MHz)\n" +
	"cpu_info:0:cpu_info0:pg_id\t1\n"

const realSnaptime = "unix:0:system_misc:snaptime\t14809.906993005\n"

func str(name, v string) KstatValue { return KstatValue{Name: name, Str: v, IsStr: true} }

func TestKstatPMatchesRealOutput(t *testing.T) {
	// The statistics in a scrambled order: the printer sorts them.
	ks := []Kstat{
		{Module: "unix", Instance: 0, Name: "system_misc", Class: "misc", Crtime: 0, Snaptime: 14809906993005,
			Stats: []KstatValue{num("clk_intr", 1480990)}},
		{Module: "cpu_info", Instance: 0, Name: "cpu_info0", Class: "misc", Crtime: 182755017565, Snaptime: 9305222459039730,
			Stats: []KstatValue{
				num("pg_id", 1), str("implementation", "SPARC-T3 (chipid 0, clock 1649 MHz)"), str("fpu_type", "sparcv9"),
				num("device_ID", 0), num("current_clock_Hz", 1648762500), str("cpu_type", "sparcv9"),
				str("cpu_fru", "hc:///component="), num("core_id", 1026), num("clock_MHz", 1649),
				num("chip_id", 0), str("brand", "SPARC-T3"), str("state", "on-line"),
			}},
	}
	SortKstats(ks)
	if ks[0].Module != "cpu_info" {
		t.Fatalf("kstats not sorted by module: %s first", ks[0].Module)
	}
	for _, c := range []struct{ pattern, want string }{
		{"cpu_info:0:cpu_info0:/^[a-p]/", realCPUInfo},
		{"unix:0:system_misc:snaptime", realSnaptime},
		{"unix::system_misc:snap*", realSnaptime},
		{"*:0::snaptime", "cpu_info:0:cpu_info0:snaptime\t9305222.459039730\n" + realSnaptime},
		{"unix:1", ""},
	} {
		p, err := ParseKstatPattern(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := WriteKstatP(&b, ks, []KstatPattern{p}); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("pattern %s:\n%s\nwant:\n%s", c.pattern, b.String(), c.want)
		}
	}
}

func TestKstatsOfSnapshot(t *testing.T) {
	s := &Snapshot{Crtime: 1_500_000_000, Snaptime: 2_000_000_001,
		Balancer: Totals{UDPReceived: 7, UDPAnswered: 6, TCPAccepted: 2},
		Backends: []Backend{
			{ID: 5302, Path: "/s/5302", OK: true, Remotes: 3, StatUDP: 4},
			{ID: 10, Path: "/s/x", StatConnStart: 2, StatConnError: 1},
		}}
	var b strings.Builder
	pats := []KstatPattern{}
	for _, p := range []string{"bbal:0:balancer:udp_*", "bbal:0:balancer:crtime", "bbal:/^[0-9]{2}$/:backend", "bbal:5302::remotes"} {
		kp, err := ParseKstatPattern(p)
		if err != nil {
			t.Fatal(err)
		}
		pats = append(pats, kp)
	}
	WriteKstatP(&b, Kstats(s), pats)
	want := "bbal:0:balancer:crtime\t1.500000000\n" +
		"bbal:0:balancer:udp_answered\t6\n" +
		"bbal:0:balancer:udp_drop_no_backend\t0\n" +
		"bbal:0:balancer:udp_drop_oversize\t0\n" +
		"bbal:0:balancer:udp_drop_send_error\t0\n" +
		"bbal:0:balancer:udp_drop_stuck\t0\n" +
		"bbal:0:balancer:udp_forwarded\t0\n" +
		"bbal:0:balancer:udp_received\t7\n" +
		"bbal:10:backend:class\tnet\n" +
		"bbal:10:backend:conn_error\t1\n" +
		"bbal:10:backend:conn_start\t2\n" +
		"bbal:10:backend:crtime\t1.500000000\n" +
		"bbal:10:backend:ok\t0\n" +
		"bbal:10:backend:path\t/s/x\n" +
		"bbal:10:backend:remotes\t0\n" +
		"bbal:10:backend:snaptime\t2.000000001\n" +
		"bbal:10:backend:stuck\t0\n" +
		"bbal:10:backend:tcp\t0\n" +
		"bbal:10:backend:udp\t0\n" +
		"bbal:5302:backend:remotes\t3\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestKstatPatternErrors(t *testing.T) {
	for _, p := range []string{"a:b:c:d:e", "bbal:/[/", "bbal:[:"} {
		if _, err := ParseKstatPattern(p); err == nil {
			t.Errorf("pattern %q accepted", p)
		}
	}
}
