package main

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// -k's names are the kernel's: read against kstat -p lines of the udp and
// tcp kstats (testdata/kstat-p.txt), every statistic -k asks for exists,
// in the MIB kstat and nowhere else, and nothing else is shown.
func TestKernelStatsAreTheKernelsNames(t *testing.T) {
	f, err := os.Open("testdata/kstat-p.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	shown := map[string][]string{}
	sc := bufio.NewScanner(f)
	lines := 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		key, _, ok := strings.Cut(line, "\t")
		parts := strings.Split(key, ":")
		if !ok || len(parts) != 4 {
			t.Fatalf("not a kstat -p line: %q", line)
		}
		lines++
		module, name, stat := parts[0], parts[2], parts[3]
		if kernelStatShown(module, name, stat) {
			shown[module+":"+name] = append(shown[module+":"+name], stat)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines < 60 {
		t.Fatalf("%d kstat lines in the fixture", lines)
	}
	// What -k asks for (kernelStats), each found in the fixture.
	want := map[string][]string{}
	for module, stats := range kernelStats {
		want[module+":"+module] = slices.Sorted(slices.Values(stats))
	}
	for k, stats := range shown {
		slices.Sort(stats)
		if !slices.Equal(stats, want[k]) {
			t.Errorf("%s shows %v, want %v", k, stats, want[k])
		}
	}
	for k := range want {
		if _, ok := shown[k]; !ok {
			t.Errorf("%s shows nothing, want %v", k, want[k])
		}
	}
	for _, k := range [][2]string{{"udp", "udpstat"}, {"tcp", "tcpstat"}, {"ip", "ip"}} {
		if kernelKstatShown(k[0], k[1]) {
			t.Errorf("kstat %s:*:%s is read, want only udp:*:udp and tcp:*:tcp", k[0], k[1])
		}
	}
}
