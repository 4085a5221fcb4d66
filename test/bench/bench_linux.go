//go:build linux

package bench

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

/*
The bench: start every path, measure each figure on every path one after
the other, print the table and the ratios against the targets (issue 19's
on counted figures, issue 11's on timings).

Paths (all behind the same echo code, see echo_linux.go):

	reflector  one UDP echo process answering itself: the ceiling for a
	           single-threaded forwarder on this machine
	direct     the three UDP echo backends, each source address always
	           sending to the same one
	bbal       the balancer under test (BBAL) with three frame echo
	           backends on AF_UNIX
	dnsdist    dnsdist with its defaults (no cache), round-robin over the
	           three UDP echo backends of the direct path

The targets on counted figures are printed with PASS or FAIL, those on
timings as met or not met; none makes the run fail: on a machine shared with
other work they are a reading, not a test. A run fails only when a path
cannot be started or measured.
*/

// Config says what to bench and how.
type Config struct {
	BBAL     string        // the balancer binary under test
	Compare  string        // optional: a second balancer binary, measured as one more path
	Dnsdist  string        // dnsdist binary
	Dnsperf  string        // dnsperf binary
	Node     string        // node binary
	Perf     string        // perf, to count syscalls (counts_linux.go); without it they are not counted
	RepoRoot string        // for test/bench/mname-echo.js and test/node_modules
	Smoke    bool          // a second or so per path, small rates: does every path answer?
	Counts   bool          // only the counted figures (counts_linux.go), not the timed ones
	Workers  int           // generator threads for UDP loads (0: 1; see Load.Workers)
	Pin      bool          // generator and paths on CPUs of their own (cpus_linux.go)
	Poll     time.Duration // receivers poll at this interval for the overload and CPU figures (see Load.Poll); 0: they block
	Out      io.Writer     // the table
	Progress io.Writer     // a line per measurement
}

// Path names.
const (
	pathReflector = "reflector"
	pathDirect    = "direct"
	pathBBAL      = "bbal"
	pathDnsdist   = "dnsdist"
	pathCompare   = "bbal-cmp" // Config.Compare, if set
)

// Report holds every figure, by path.
type Report struct {
	Answered200, Answered250 map[string]Result
	At20k, At50k             map[string]Result
	CPU20k, CPU50k           map[string]time.Duration // balancer CPU per answered query
	PathCPU200               map[string]time.Duration // CPU per answered query of the path's processes (balancer and backends) at overload1
	RSSPerRemote             map[string]float64       // bytes
	TCPPersistent, TCPConns  map[string]tcpResult
	NodeOverload, NodeLat    map[string]Result
	Dnsperf                  map[string]dnsperfResult
	Counted                  map[int]map[string][]countRound // by rate, then path: one per round
}

func newReport() *Report {
	return &Report{
		Answered200: map[string]Result{}, Answered250: map[string]Result{},
		At20k: map[string]Result{}, At50k: map[string]Result{},
		CPU20k: map[string]time.Duration{}, CPU50k: map[string]time.Duration{},
		PathCPU200:    map[string]time.Duration{},
		RSSPerRemote:  map[string]float64{},
		TCPPersistent: map[string]tcpResult{}, TCPConns: map[string]tcpResult{},
		NodeOverload: map[string]Result{}, NodeLat: map[string]Result{},
		Dnsperf: map[string]dnsperfResult{},
		Counted: map[int]map[string][]countRound{},
	}
}

// plan is the rates and durations of a run.
type plan struct {
	overload1, overload2 int
	low, mid             int
	overloadTime         time.Duration
	lowTime, midTime     time.Duration
	remotes              int
	remoteRate           int
	tcpTime              time.Duration
	tcpConns, tcpWorkers int
	dnsperfTime          time.Duration
	nodeRate, nodeLow    int
	nodeTime             time.Duration
	grace, pause         time.Duration
	rounds               int
	countRates           []int         // the counted figures' loads (counts_linux.go)
	countTime            time.Duration // each round's load
	countRounds          int
	perfSettle           time.Duration // perf stat's time to attach before a counted load
}

var fullPlan = plan{
	overload1: 200_000, overload2: 250_000, low: 20_000, mid: 50_000,
	overloadTime: 3 * time.Second, lowTime: 6 * time.Second, midTime: 3 * time.Second,
	remotes: 100_000, remoteRate: 25_000,
	tcpTime: 3 * time.Second, tcpConns: 32, tcpWorkers: 8,
	dnsperfTime: 4 * time.Second,
	nodeRate:    15_000, nodeLow: 2_000, nodeTime: 3 * time.Second,
	grace: 500 * time.Millisecond, pause: 200 * time.Millisecond,
	rounds:     3,
	countRates: []int{20_000, 100_000}, countTime: 1500 * time.Millisecond, countRounds: 5,
	perfSettle: 300 * time.Millisecond,
}

var smokePlan = plan{
	overload1: 4_000, overload2: 5_000, low: 2_000, mid: 3_000,
	overloadTime: 300 * time.Millisecond, lowTime: 300 * time.Millisecond, midTime: 300 * time.Millisecond,
	remotes: 2_000, remoteRate: 10_000,
	tcpTime: 300 * time.Millisecond, tcpConns: 4, tcpWorkers: 2,
	dnsperfTime: time.Second,
	nodeRate:    1_000, nodeLow: 500, nodeTime: 300 * time.Millisecond,
	grace: 700 * time.Millisecond, pause: 20 * time.Millisecond, // generous: make test loads the machine
	rounds:     1,
	countRates: []int{3_000}, countTime: 300 * time.Millisecond, countRounds: 1,
	perfSettle: 200 * time.Millisecond,
}

// sourceAddrs returns n distinct addresses in 127.base.0.0 and up, none
// ending in .0 or .255.
func sourceAddrs(base, n int) [][4]byte {
	out := make([][4]byte, n)
	for i := range out {
		out[i] = [4]byte{127, byte(base + i/62500), byte(i / 250 % 250), byte(1 + i%250)}
	}
	return out
}

func local(port int) unix.RawSockaddrInet4 { return rawAddr([4]byte{127, 0, 0, 1}, port) }

// bench is one run in progress.
type bench struct {
	cfg  Config
	plan plan
	env  *env
	rep  *Report

	targets  map[string][]unix.RawSockaddrInet4 // UDP targets per path
	pids     map[string]int                     // balancer processes
	backends map[string][]int                   // each path's backend processes
	tcp      map[string]int                     // TCP port per path
	echo     []int                              // the UDP echo backends' ports
	sources  [][4]byte

	placement string // where the generator and the paths run, for the header
	perfErr   error  // why syscalls are not counted, if they are not
}

// Run runs the bench and prints its table.
func Run(cfg Config) (*Report, error) {
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	for _, tool := range []struct{ name, path string }{
		{"bbal (BBAL)", cfg.BBAL}, {"the balancer to compare", cmpOr(cfg.Compare, cfg.BBAL)}, {"dnsdist", cfg.Dnsdist}, {"dnsperf", cfg.Dnsperf}, {"node", cfg.Node},
	} {
		if _, err := exec.LookPath(tool.path); err != nil {
			return nil, fmt.Errorf("bench needs %s: %w", tool.name, err)
		}
	}
	e, err := newEnv()
	if err != nil {
		return nil, err
	}
	defer e.close()
	placement, err := place(cfg, e)
	if err != nil {
		return nil, err
	}
	b := &bench{cfg: cfg, placement: placement, plan: fullPlan, env: e, rep: newReport(),
		targets: map[string][]unix.RawSockaddrInet4{}, pids: map[string]int{}, tcp: map[string]int{},
		backends: map[string][]int{},
		sources:  sourceAddrs(1, 1000)}
	if cfg.Smoke {
		b.plan = smokePlan
	}
	start := time.Now()
	load0 := loadAvg()
	if err := b.startPaths(); err != nil {
		return nil, err
	}
	steps := []func() error{b.countFigures, b.udpFigures, b.tcpFigures, b.dnsperfFigures, b.nodeFigures, b.rssFigures}
	if cfg.Counts {
		steps = steps[:1]
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return b.rep, err
		}
	}
	b.print(start, load0)
	return b.rep, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.cfg.Progress, "bench: "+format+"\n", args...)
}

func (b *bench) startPaths() error {
	refl, rport, err := b.env.udpEcho("reflector")
	if err != nil {
		return err
	}
	b.targets[pathReflector] = []unix.RawSockaddrInet4{local(rport)}
	b.pids[pathReflector] = refl.Pid()
	for i := range 3 {
		c, port, err := b.env.udpEcho(fmt.Sprintf("udp echo %d", i+1))
		if err != nil {
			return err
		}
		b.backends[pathDirect] = append(b.backends[pathDirect], c.Pid())
		b.backends[pathDnsdist] = append(b.backends[pathDnsdist], c.Pid())
		b.echo = append(b.echo, port)
		b.targets[pathDirect] = append(b.targets[pathDirect], local(port))
	}
	b.tcp[pathDirect] = b.echo[0]

	bins := map[string]string{pathBBAL: b.cfg.BBAL}
	if b.cfg.Compare != "" {
		bins[pathCompare] = b.cfg.Compare
	}
	for _, path := range []string{pathBBAL, pathCompare} {
		if bins[path] == "" {
			continue
		}
		dir, err := b.env.socketDir("echo-" + path)
		if err != nil {
			return err
		}
		var echos []*child
		for i := range 3 {
			c, err := b.env.frameEcho(dir, fmt.Sprintf("%d", 5301+i))
			if err != nil {
				return err
			}
			echos = append(echos, c)
			b.backends[path] = append(b.backends[path], c.Pid())
		}
		bb, bport, _, err := b.env.bbal(bins[path], dir, path)
		if err != nil {
			return err
		}
		if err := waitHellos(echos, 10*time.Second); err != nil {
			return err
		}
		b.targets[path] = []unix.RawSockaddrInet4{local(bport)}
		b.pids[path] = bb.Pid()
		b.tcp[path] = bport
		b.progress("%s :%d (pid %d): %s", path, bport, bb.Pid(), bins[path])
	}

	dd, dport, err := b.env.dnsdist(b.cfg.Dnsdist, b.echo)
	if err != nil {
		return err
	}
	b.targets[pathDnsdist] = []unix.RawSockaddrInet4{local(dport)}
	b.pids[pathDnsdist] = dd.Pid()
	b.tcp[pathDnsdist] = dport
	b.progress("paths up: reflector :%d, echo %v, dnsdist :%d (pid %d)", rport, b.echo, dport, dd.Pid())
	return nil
}

// udpPaths is the order paths are measured in (pathCompare, if any, comes
// right after bbal); the balancer paths are those of the TCP, dnsperf and
// RSS figures.
var udpPaths = []string{pathReflector, pathDirect, pathBBAL, pathDnsdist}

func (b *bench) udpPaths() []string {
	if b.cfg.Compare == "" {
		return udpPaths
	}
	return []string{pathReflector, pathDirect, pathBBAL, pathCompare, pathDnsdist}
}

func (b *bench) balancerPaths() []string {
	if b.cfg.Compare == "" {
		return []string{pathBBAL, pathDnsdist}
	}
	return []string{pathBBAL, pathCompare, pathDnsdist}
}

// tcpPaths are the balancers and the direct path.
func (b *bench) tcpPaths() []string { return append([]string{pathDirect}, b.balancerPaths()...) }

// cpuPerAnswer is what a load cost per answered query: CPU of the
// balancer process (reflector, bbal, dnsdist; none on the direct path) and
// of the whole path (that process and its backends).
type cpuPerAnswer struct {
	proc, path time.Duration
}

// load runs one open-loop load on path, measuring the CPU of its processes.
func (b *bench) load(path string, rate int, d time.Duration, sources [][4]byte, poll time.Duration) (Result, cpuPerAnswer, error) {
	pid := b.pids[path]
	proc0, path0 := cpuTimes([]int{pid}), cpuTimes(b.backends[path])
	res, err := Load{Rate: rate, Duration: d, Grace: b.plan.grace, Sources: sources, Targets: b.targets[path],
		Workers: b.cfg.Workers, Poll: poll}.Run()
	proc1, path1 := cpuTimes([]int{pid}), cpuTimes(b.backends[path])
	if err != nil {
		return res, cpuPerAnswer{}, fmt.Errorf("%s at %d q/s: %w", path, rate, err)
	}
	var c cpuPerAnswer
	if res.Answered > 0 {
		c.proc = (proc1 - proc0) / time.Duration(res.Answered)
		c.path = c.proc + (path1-path0)/time.Duration(res.Answered)
	}
	mode := "blocking"
	if poll > 0 {
		mode = "polling"
	}
	b.progress("%-9s %7d q/s offered, %s (%.0f sent/s): answered %.0f/s, p50 %v p99 %v, cpu %v (%v/query; %v with its backends)",
		path, rate, mode, res.SentRate(), res.AnsweredRate(), res.Percentile(0.5), res.Percentile(0.99), proc1-proc0, c.proc, c.path)
	time.Sleep(b.plan.pause)
	return res, c, nil
}

// udpFigures measures every UDP figure. Loads whose answers are counted or
// whose CPU is measured have the generator's receivers poll (Config.Poll):
// a receiver asleep on its socket is woken by each send that finds it
// asleep, and on loopback that wake-up is charged to the path's sending
// process, a cost clients on other machines never put on a balancer.
// Latency loads have them block, so that each answer is timed as it
// arrives; at 20k and 50k q/s the bench runs both.
func (b *bench) udpFigures() error {
	p := b.plan
	for _, f := range []struct {
		rate    int
		d       time.Duration
		poll    time.Duration
		into    map[string]Result        // answers and latencies
		cpu     map[string]time.Duration // the balancer process's CPU per answer
		pathCPU map[string]time.Duration // the path's
	}{
		{p.overload1, p.overloadTime, b.cfg.Poll, b.rep.Answered200, nil, b.rep.PathCPU200},
		{p.overload2, p.overloadTime, b.cfg.Poll, b.rep.Answered250, nil, nil},
		{p.low, p.lowTime, 0, b.rep.At20k, nil, nil},
		{p.low, p.lowTime, b.cfg.Poll, map[string]Result{}, b.rep.CPU20k, nil},
		{p.mid, p.midTime, 0, b.rep.At50k, nil, nil},
		{p.mid, p.midTime, b.cfg.Poll, map[string]Result{}, b.rep.CPU50k, nil},
	} {
		// Rounds: every path gets a slice of the duration in turn, so
		// that a burst of other work on the machine hits all paths alike.
		cpuRounds := map[string][]cpuPerAnswer{}
		for range p.rounds {
			for _, path := range b.udpPaths() {
				res, cpu, err := b.load(path, f.rate, f.d/time.Duration(p.rounds), b.sources, f.poll)
				if err != nil {
					return err
				}
				f.into[path] = f.into[path].merge(res)
				cpuRounds[path] = append(cpuRounds[path], cpu)
			}
		}
		// The median round, as for the rates.
		for path, v := range cpuRounds {
			if f.cpu != nil {
				f.cpu[path] = medianOf(v, func(c cpuPerAnswer) time.Duration { return c.proc })
			}
			if f.pathCPU != nil {
				f.pathCPU[path] = medianOf(v, func(c cpuPerAnswer) time.Duration { return c.path })
			}
		}
	}
	return nil
}

func (b *bench) tcpFigures() error {
	p := b.plan
	srcs := sourceAddrs(5, 20000)
	for _, path := range b.tcpPaths() {
		r := tcpPersistent(b.tcp[path], p.tcpConns, p.tcpTime, b.sources)
		b.rep.TCPPersistent[path] = r
		b.progress("%-9s TCP persistent: %.0f q/s (%d errors)", path, r.Rate(), r.Errors)
		time.Sleep(b.plan.pause)
		c := tcpConnRate(b.tcp[path], p.tcpWorkers, p.tcpTime, srcs)
		b.rep.TCPConns[path] = c
		b.progress("%-9s TCP connections: %.0f/s (%d errors)", path, c.Rate(), c.Errors)
		time.Sleep(b.plan.pause)
		srcs = srcs[len(srcs)/4:] // fresh addresses for the next path
	}
	return nil
}

func (b *bench) dnsperfFigures() error {
	for _, path := range b.tcpPaths() {
		ports := b.echo
		if path != pathDirect {
			p := b.tcp[path]
			ports = []int{p, p, p}
		}
		r, err := runDnsperf(b.cfg.Dnsperf, b.env.dir, ports, b.plan.dnsperfTime)
		if err != nil {
			return err
		}
		b.rep.Dnsperf[path] = r
		b.progress("%-9s dnsperf: %.0f q/s, average latency %v, %d lost", path, r.QPS, r.Latency, r.Lost)
		time.Sleep(b.plan.pause)
	}
	return nil
}

func (b *bench) nodeFigures() error {
	script := filepath.Join(b.cfg.RepoRoot, "test", "bench", "mname-echo.js")
	if _, err := os.Stat(filepath.Join(b.cfg.RepoRoot, "test", "node_modules", "mname", "package.json")); err != nil {
		return fmt.Errorf("node-mname is not installed (cd test && npm ci): %w", err)
	}
	dir, err := b.env.socketDir("mname")
	if err != nil {
		return err
	}
	var direct []unix.RawSockaddrInet4
	var nodes []*child
	for i := range 3 {
		port, err := freePort()
		if err != nil {
			return err
		}
		c, err := b.env.nodeMname(b.cfg.Node, script, "--udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			return err
		}
		nodes = append(nodes, c)
		direct = append(direct, local(port))
		c, err = b.env.nodeMname(b.cfg.Node, script, "--socket", filepath.Join(dir, fmt.Sprintf("%d", 5301+i)))
		if err != nil {
			return err
		}
		nodes = append(nodes, c)
	}
	bb, bport, _, err := b.env.bbal(b.cfg.BBAL, dir, "bbal-mname")
	if err != nil {
		return err
	}
	defer func() {
		bb.stop()
		for _, c := range nodes {
			c.stop()
		}
	}()
	time.Sleep(time.Second) // every backend's hello
	b.targets["mname direct"] = direct
	b.targets["mname bbal"] = []unix.RawSockaddrInet4{local(bport)}
	b.pids["mname bbal"] = bb.Pid()
	for range b.plan.rounds {
		for _, path := range []string{"mname direct", "mname bbal"} {
			res, _, err := b.load(path, b.plan.nodeLow, b.plan.nodeTime/time.Duration(b.plan.rounds), b.sources, 0)
			if err != nil {
				return err
			}
			b.rep.NodeLat[path] = b.rep.NodeLat[path].merge(res)
		}
	}
	for range b.plan.rounds {
		for _, path := range []string{"mname direct", "mname bbal"} {
			res, _, err := b.load(path, b.plan.nodeRate, b.plan.nodeTime/time.Duration(b.plan.rounds), b.sources, b.cfg.Poll)
			if err != nil {
				return err
			}
			b.rep.NodeOverload[path] = b.rep.NodeOverload[path].merge(res)
		}
	}
	return nil
}

// rssFigures measures resident memory per client address: one query from
// each of many new addresses, RSS before and after. The addresses are sent
// twice (the second pass creates nothing new), so that datagrams the
// kernel dropped in the first pass still create their remote: the second
// pass's answered count shows how complete the table is.
func (b *bench) rssFigures() error {
	p := b.plan
	srcs := sourceAddrs(16, p.remotes)
	for _, path := range b.balancerPaths() {
		pid := b.pids[path]
		before, err := rssBytes(pid)
		if err != nil {
			return err
		}
		d := time.Duration(int64(p.remotes) * int64(time.Second) / int64(p.remoteRate))
		var res Result
		for range 2 {
			res, err = Load{Rate: p.remoteRate, Duration: d, Grace: time.Second, Sources: srcs, Targets: b.targets[path],
				Workers: b.cfg.Workers, Poll: b.cfg.Poll}.Run()
			if err != nil {
				return err
			}
		}
		after, err := rssBytes(pid)
		if err != nil {
			return err
		}
		per := float64(after-before) / float64(p.remotes)
		b.rep.RSSPerRemote[path] = per
		b.progress("%-9s RSS %d -> %d bytes over %d new remotes (second pass: %d answered): %.0f bytes per remote",
			path, before, after, p.remotes, res.Answered, per)
	}
	return nil
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func fileID(path string) string {
	p, err := exec.LookPath(path)
	if err != nil {
		return path
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return p
	}
	sum := sha256.Sum256(b)
	return p + " (sha256 " + hex.EncodeToString(sum[:6]) + ")"
}

func dnsdistVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return "dnsdist"
	}
	return strings.SplitN(strings.TrimSpace(string(out)), " (", 2)[0]
}

// GOMAXPROCS of the runner, for the header.
func cpus() int { return runtime.NumCPU() }
