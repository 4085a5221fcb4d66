//go:build linux

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"time"
)

/*
dnsperf (Debian package dnsperf) as a second load generator, so that no
figure rests on our generator alone. dnsperf sends from one address, and
the balancer keys its clients by address, so three dnsperf instances run
at once from three source addresses (127.6.0.1-3), each closed-loop with
up to 100 queries outstanding: the sum of their completed queries per second
is the figure, with their mean latency. For the direct path instance k
queries echo backend k.
*/

// dnsperfResult sums the instances' reports.
type dnsperfResult struct {
	QPS     float64       // completed queries per second, all instances
	Latency time.Duration // mean of the instances' average latencies
	Lost    int           // queries dnsperf counted as lost
}

var (
	reQPS     = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
	reLatency = regexp.MustCompile(`Average Latency \(s\):\s+([0-9.]+)`)
	reLost    = regexp.MustCompile(`Queries lost:\s+([0-9]+)`)
)

// runDnsperf runs one dnsperf per port in ports for d.
func runDnsperf(bin, dir string, ports []int, d time.Duration) (dnsperfResult, error) {
	data := filepath.Join(dir, "dnsperf.txt")
	var lines []byte
	for i := range 1000 {
		lines = fmt.Appendf(lines, "%08x.example A\n", i)
	}
	if err := os.WriteFile(data, lines, 0o644); err != nil {
		return dnsperfResult{}, err
	}
	var res dnsperfResult
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for k, port := range ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := exec.Command(bin, "-s", "127.0.0.1", "-p", strconv.Itoa(port),
				"-a", fmt.Sprintf("127.6.0.%d", k+1), "-d", data, "-q", "100",
				"-l", strconv.Itoa(int(d.Seconds()+0.5)), "-t", "1").CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			qps, lat, lost := reQPS.FindSubmatch(out), reLatency.FindSubmatch(out), reLost.FindSubmatch(out)
			if err != nil || qps == nil || lat == nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("dnsperf -p %d: %v: %s", port, err, out)
				}
				return
			}
			q, _ := strconv.ParseFloat(string(qps[1]), 64)
			l, _ := strconv.ParseFloat(string(lat[1]), 64)
			res.QPS += q
			res.Latency += time.Duration(l * float64(time.Second) / float64(len(ports)))
			if lost != nil {
				n, _ := strconv.Atoi(string(lost[1]))
				res.Lost += n
			}
		}()
	}
	wg.Wait()
	return res, firstErr
}

func itoa(n int) string { return strconv.Itoa(n) }
