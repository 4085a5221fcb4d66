//go:build linux

package bench

import (
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

/*
The inspection measurement (bench -inspect, issue 20): what one `balstat -j`
of a table of a million remotes costs the balancer and DNS.

Three node-mname backends behind bbal with room for the table (-r); one
query from each of Remotes distinct source addresses (127.64.0.0 and up,
through IP_PKTINFO on one socket) fills the table; then a DNS load from
1000 other clients runs in windows of inspectWindow, two staggered series
so that one is always sending, first with nothing else (idle), then while
one `balstat -j` runs with its output discarded. It prints the idle and
the during figures (p99, largest latency, queries lost: not answered
within inspectGrace), how long balstat took and the balancer's RSS before,
at its peak while balstat ran (sampled every 50 ms) and 5 s after. It
reports; it asserts nothing.
*/

// InspectConfig is one inspection measurement.
type InspectConfig struct {
	BBAL, Balstat, Node, RepoRoot string
	Remotes                       int // source addresses to fill the table with
	Out, Progress                 io.Writer
}

const (
	inspectWindow = 3 * time.Second
	inspectGrace  = time.Second
	inspectRate   = 1000 // per series: 1000-2000 q/s in all
	inspectFill   = 25_000
)

// window is one load window's result and when it sent.
type window struct {
	from, to time.Time
	res      Result
}

// Inspect runs the measurement and prints its figures.
func Inspect(cfg InspectConfig) error {
	progress := func(format string, args ...any) { fmt.Fprintf(cfg.Progress, "inspect: "+format+"\n", args...) }
	e, err := newEnv()
	if err != nil {
		return err
	}
	defer e.close()
	dir, err := e.socketDir("inspect")
	if err != nil {
		return err
	}
	script := filepath.Join(cfg.RepoRoot, "test", "bench", "mname-echo.js")
	for i := range 3 {
		if _, err := e.nodeMname(cfg.Node, script, "--socket", filepath.Join(dir, strconv.Itoa(5301+i))); err != nil {
			return err
		}
	}
	bb, port, _, err := e.bbal(cfg.BBAL, dir, "bbal", "-r", strconv.Itoa(cfg.Remotes+100_000))
	if err != nil {
		return err
	}
	ctl := filepath.Join(e.dir, "bbal.ctl")
	time.Sleep(2 * time.Second) // every backend's hello
	target := []unix.RawSockaddrInet4{local(port)}

	// On a busy machine some of the fill's datagrams are dropped before
	// the balancer reads them: the fill is sent again (remotes already in
	// the table are only seen again) until 98% of the addresses are in.
	var remotes int
	for round := 1; round <= 5 && remotes < cfg.Remotes*98/100; round++ {
		progress("filling the table (round %d): %d source addresses at %d/s", round, cfg.Remotes, inspectFill)
		fill := Load{Rate: inspectFill, Duration: time.Duration(int64(cfg.Remotes) * int64(time.Second) / inspectFill),
			Grace: time.Second, Sources: sourceAddrs(64, cfg.Remotes), Targets: target}
		if _, err := fill.Run(); err != nil {
			return err
		}
		if remotes, err = balstatRemotes(cfg.Balstat, ctl); err != nil {
			return err
		}
		progress("%d remotes in the table", remotes)
	}

	// The DNS load: two series of windows, the second started half a
	// window's period later, until stop.
	sources := sourceAddrs(1, 1000)
	var mu sync.Mutex
	var windows []window
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for s := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(s) * (inspectWindow + inspectGrace) / 2)
			for {
				select {
				case <-stop:
					return
				default:
				}
				from := time.Now()
				res, err := Load{Rate: inspectRate, Duration: inspectWindow, Grace: inspectGrace, Sources: sources, Targets: target}.Run()
				if err != nil {
					progress("load: %v", err)
				}
				mu.Lock()
				windows = append(windows, window{from: from, to: from.Add(res.SendTime), res: res})
				mu.Unlock()
			}
		}()
	}
	rssIdle, _ := rssBytes(bb.Pid())
	idleFrom := time.Now()
	time.Sleep(4 * (inspectWindow + inspectGrace))
	idleTo := time.Now()

	progress("balstat -j")
	var peak int64
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if r, err := rssBytes(bb.Pid()); err == nil {
				peak = max(peak, r)
			}
			select {
			case <-sampling:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	rssBefore, _ := rssBytes(bb.Pid())
	bsFrom := time.Now()
	out, berr := countOutput(exec.Command(cfg.Balstat, "-c", ctl, "-j"))
	bsTo := time.Now()
	close(sampling)
	<-sampled
	time.Sleep(5 * time.Second)
	rssAfter, _ := rssBytes(bb.Pid())
	close(stop)
	wg.Wait()

	idle := windowsIn(windows, idleFrom, idleTo)
	during := windowsIn(windows, bsFrom, bsTo)
	fmt.Fprintf(cfg.Out, "inspection of %d remotes (bbal %s, balstat %s)\n", remotes, cfg.BBAL, cfg.Balstat)
	fmt.Fprintf(cfg.Out, "  balstat -j: %v, %d bytes of output, error: %v\n", bsTo.Sub(bsFrom).Round(time.Millisecond), out, berr)
	fmt.Fprintf(cfg.Out, "  bbal RSS: idle %s MiB, before %s MiB, peak while balstat ran %s MiB (+%.1f%%), 5 s after %s MiB\n",
		mib(rssIdle), mib(rssBefore), mib(peak), 100*float64(peak-rssBefore)/float64(max(rssBefore, 1)), mib(rssAfter))
	fmt.Fprintf(cfg.Out, "  DNS idle:            %s\n", idle)
	fmt.Fprintf(cfg.Out, "  DNS while balstat:   %s\n", during)
	if idle.p99 > 0 {
		fmt.Fprintf(cfg.Out, "  p99 while balstat / idle: %.2f\n", float64(during.p99)/float64(idle.p99))
	}
	return nil
}

// loadFigures are the merged figures of some windows.
type loadFigures struct {
	windows, sent, answered int
	p99, max                time.Duration
}

func (f loadFigures) String() string {
	lost := f.sent - f.answered
	return fmt.Sprintf("%d windows, %d sent, %d lost (%.3f%%), p99 %v, max %v", f.windows, f.sent, lost,
		100*float64(lost)/float64(max(f.sent, 1)), f.p99, f.max)
}

// windowsIn merges the windows whose sending overlapped [from, to].
func windowsIn(ws []window, from, to time.Time) loadFigures {
	var f loadFigures
	var lat []uint32
	for _, w := range ws {
		if w.to.Before(from) || w.from.After(to) {
			continue
		}
		f.windows++
		f.sent += w.res.Sent
		f.answered += w.res.Answered
		lat = append(lat, w.res.lat...)
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		f.p99 = time.Duration(lat[min(len(lat)-1, len(lat)*99/100)]) * time.Microsecond
		f.max = time.Duration(lat[len(lat)-1]) * time.Microsecond
	}
	return f
}

// balstatRemotes asks the balancer how many remotes it holds.
func balstatRemotes(balstat, ctl string) (int, error) {
	out, err := exec.Command(balstat, "-c", ctl, "-p", "bbal:0:balancer:remotes").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("balstat -p: %v: %s", err, out)
	}
	_, v, _ := strings.Cut(strings.TrimSpace(string(out)), "\t")
	return strconv.Atoi(v)
}

// countOutput runs cmd and counts the bytes it writes to stdout.
func countOutput(cmd *exec.Cmd) (int64, error) {
	var n countWriter
	cmd.Stdout = &n
	var stderr tail
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return int64(n), fmt.Errorf("%v: %s", err, stderr.String())
	}
	return int64(n), nil
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
