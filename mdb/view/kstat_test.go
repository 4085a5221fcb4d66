/*
 * Tests of the kstat -p form against real kstat -p output (quoted below
 * from public sources), and of kstat-style patterns.
 */

package view

import (
	"os"
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
		// kstat prints an hrtime with %.9f of a double: the hrtime
		// 9305222459039730 comes out ...729, as it would from kstat.
		{"*:0::snaptime", "cpu_info:0:cpu_info0:snaptime\t9305222.459039729\n" + realSnaptime},
		{"unix:1", ""},
	} {
		p, err := ParseKstatPattern(c.pattern)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if _, err := WriteKstatP(&b, ks, []KstatPattern{p}); err != nil {
			t.Fatal(err)
		}
		if b.String() != c.want {
			t.Errorf("pattern %s:\n%s\nwant:\n%s", c.pattern, b.String(), c.want)
		}
	}
}

func TestKstatsOfSnapshot(t *testing.T) {
	s := &Snapshot{Crtime: 1_500_000_000, Snaptime: 2_000_000_001,
		Balancer: Totals{UDPReceived: 7, UDPAnswered: 6, TCPAccepted: 2, UDPDropStuck: 3, UDPSpilled: 5},
		Backends: []Backend{
			{ID: 5302, Path: "/s/5302", OK: true, Remotes: 3, StatUDP: 4},
			{ID: 10, Path: "/s/x", StatConnStart: 2, StatConnError: 1, Crtime: 1_700_000_000, StatSpilled: 4, StatEjections: 2, StatEjectCapped: 1,
				State: "reconnecting", StateSince: 1_900_000_000, Why: "no heartbeat"},
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
	// Pattern by pattern, as kstat prints: the crtime line after udp_*.
	want := "bbal:0:balancer:udp_answered\t6\n" +
		"bbal:0:balancer:udp_drop_no_backend\t0\n" +
		"bbal:0:balancer:udp_drop_not_client\t0\n" +
		"bbal:0:balancer:udp_drop_oversize\t0\n" +
		"bbal:0:balancer:udp_drop_rate_capped\t0\n" +
		"bbal:0:balancer:udp_drop_send_error\t0\n" +
		"bbal:0:balancer:udp_drop_stuck\t3\n" +
		"bbal:0:balancer:udp_forwarded\t0\n" +
		"bbal:0:balancer:udp_received\t7\n" +
		"bbal:0:balancer:udp_served_untracked\t0\n" +
		"bbal:0:balancer:udp_spilled\t5\n" +
		"bbal:0:balancer:crtime\t1.500000000\n" +
		"bbal:10:backend:class\tnet\n" +
		"bbal:10:backend:conn_error\t1\n" +
		"bbal:10:backend:conn_start\t2\n" +
		"bbal:10:backend:crtime\t1.700000000\n" + // the backend's own, not the balancer's
		"bbal:10:backend:eject_capped\t1\n" +
		"bbal:10:backend:ejected\t0\n" +
		"bbal:10:backend:ejections\t2\n" +
		"bbal:10:backend:ok\t0\n" +
		"bbal:10:backend:path\t/s/x\n" +
		"bbal:10:backend:remotes\t0\n" +
		"bbal:10:backend:snaptime\t2.000000001\n" +
		"bbal:10:backend:spilled\t4\n" +
		"bbal:10:backend:state\t4\n" + // reconnecting
		"bbal:10:backend:state_since\t1.900000000\n" +
		"bbal:10:backend:stuck\t0\n" +
		"bbal:10:backend:tcp\t0\n" +
		"bbal:10:backend:udp\t0\n" +
		"bbal:10:backend:why\tno heartbeat\n" +
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

// TestKstatRoundsAsKstat prints what `kstat -p unix:0:system_misc:snaptime
// unix:0:system_misc:crtime 'cpu_info:0:cpu_info0:/^c[hlo]|^br/' 1 2`
// prints (testdata/kstat-p-rounds.txt): the lines are the real ones
// quoted above, arranged as kstat.c arranges them: pattern by pattern
// (ks_instances_print loops over the selectors, then the kstats), so the
// unix lines come before cpu_info's though cpu_info sorts first; the
// statistics of a kstat without regard to case (clock_MHz between class
// and core_id: nvpair_insert's strcasecmp); an hrtime of 0 as "0"
// (ks_value_print); a blank line between rounds and none after the last
// (main's loop: putchar('\n') after the sleep when a round follows).
// Kstat exits 1 when no statistic matched (g_matched).
func TestKstatRoundsAsKstat(t *testing.T) {
	want, err := os.ReadFile("testdata/kstat-p-rounds.txt")
	if err != nil {
		t.Fatal(err)
	}
	round := func(snap int64) []Kstat {
		ks := []Kstat{
			{Module: "unix", Instance: 0, Name: "system_misc", Class: "misc", Crtime: 0, Snaptime: snap,
				Stats: []KstatValue{num("clk_intr", 1480990)}},
			{Module: "cpu_info", Instance: 0, Name: "cpu_info0", Class: "misc", Crtime: 182755017565, Snaptime: snap,
				Stats: []KstatValue{num("core_id", 1026), num("clock_MHz", 1649), num("chip_id", 0),
					str("brand", "SPARC-T3"), str("cpu_type", "sparcv9")}},
		}
		SortKstats(ks)
		return ks
	}
	var pats []KstatPattern
	for _, s := range []string{"unix:0:system_misc:snaptime", "unix:0:system_misc:crtime", "cpu_info:0:cpu_info0:/^c[hlo]|^br/"} {
		p, err := ParseKstatPattern(s)
		if err != nil {
			t.Fatal(err)
		}
		pats = append(pats, p)
	}
	snaps := []int64{14809906993005, 14810906993005}
	waits := 0
	var b strings.Builder
	matched, err := KstatRounds(&b, pats, 2, func() { waits++ }, func() ([]Kstat, error) {
		s := snaps[0]
		snaps = snaps[1:]
		return round(s), nil
	})
	if err != nil || !matched {
		t.Fatalf("KstatRounds: matched %v, %v", matched, err)
	}
	if b.String() != string(want) {
		t.Errorf("got:\n%s\nwant (kstat's):\n%s", b.String(), want)
	}
	if waits != 1 {
		t.Errorf("%d waits for 2 rounds, want 1 (before the second)", waits)
	}

	none, _ := ParseKstatPattern("unix:0:system_misc:nosuchstat")
	b.Reset()
	matched, err = KstatRounds(&b, []KstatPattern{none}, 3, func() {}, func() ([]Kstat, error) { return round(1), nil })
	if err != nil || matched || b.String() != "\n\n" {
		t.Errorf("a pattern matching nothing: matched %v, err %v, printed %q; want false, nil and the two blank lines between rounds", matched, err, b.String())
	}
}

// TestKstatSortsWithoutCase: kstat sorts statistics with strcasecmp, so
// the sd driver's error kstat prints "snaptime" between "Size" and "Soft
// Errors" and "class" before "Device Not Ready" (byte order would put
// every capitalised name first).
func TestKstatSortsWithoutCase(t *testing.T) {
	ks := []Kstat{{Module: "sderr", Instance: 0, Name: "sd0,err", Class: "device_error", Crtime: 31e9, Snaptime: 32e9,
		Stats: []KstatValue{num("Soft Errors", 0), num("Size", 500107862016), num("Device Not Ready", 0), str("Vendor", "ATA")}}}
	var b strings.Builder
	if _, err := WriteKstatP(&b, ks, nil); err != nil {
		t.Fatal(err)
	}
	want := "sderr:0:sd0,err:class\tdevice_error\n" +
		"sderr:0:sd0,err:crtime\t31.000000000\n" +
		"sderr:0:sd0,err:Device Not Ready\t0\n" +
		"sderr:0:sd0,err:Size\t500107862016\n" +
		"sderr:0:sd0,err:snaptime\t32.000000000\n" +
		"sderr:0:sd0,err:Soft Errors\t0\n" +
		"sderr:0:sd0,err:Vendor\tATA\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
