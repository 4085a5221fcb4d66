//go:build linux

package bench

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

/*
The soak (make soak, issue 12): a bounded run that mixes the hostile
conditions with normal load against bbal in front of real node-mname
backends, and prints what the balancer's descriptors, memory, log and
answers did. It reports; it asserts nothing about timings (the end-to-end
tests assert the behaviour).

Backends: three node-mname processes (test/bench/mname-echo.js), a
flapping one (a frame echo that sends an unknown frame type soon after
each hello) and a reflecting one (a frame echo that, once armed, also sends
1000 answers of 1500 bytes to an address that never asked).

Phases:

	baseline  normal load only: open loop from 1000 client addresses
	hostile   normal load continues, and at once:
	            TCP clients that connect, send 1 byte and close (2000);
	            idle TCP clients that never send (200) and trickling ones
	            that send a query at 1 byte per second (50);
	            a flood of 1M distinct source addresses at a bounded rate;
	            1000 oversized (2000-byte) datagrams;
	            one node-mname SIGSTOPped for 20 s, then SIGCONTed;
	            the reflecting backend armed;
	            one normal TCP query per second on a new connection
	recovery  normal load only, while the balancer's timeouts run out
	after     normal load only: the figures again

Descriptors, RSS and log lines are sampled every second; normal load is
measured per second, so the timeline shows a dip and how long it lasts.
*/

// soakPlan is the soak's rates and durations.
type soakPlan struct {
	normalRate                  int
	baseline, hostile, recovery time.Duration
	after                       time.Duration
	oneByte, idle, trickle      int
	flood, floodRate            int
	oversized                   int
	stopAt, stopFor             time.Duration
	spurious                    int
}

var fullSoak = soakPlan{
	normalRate: 2000,
	baseline:   10 * time.Second, hostile: 70 * time.Second, recovery: 25 * time.Second, after: 10 * time.Second,
	oneByte: 2000, idle: 200, trickle: 50,
	flood: 1_000_000, floodRate: 16_000,
	oversized: 1000,
	stopAt:    20 * time.Second, stopFor: 20 * time.Second,
	spurious: 1000,
}

// quickSoak is a short soak for trying the soak itself (-smoke -soak).
var quickSoak = soakPlan{
	normalRate: 500,
	baseline:   2 * time.Second, hostile: 8 * time.Second, recovery: 3 * time.Second, after: 2 * time.Second,
	oneByte: 100, idle: 10, trickle: 5,
	flood: 20_000, floodRate: 5_000,
	oversized: 100,
	stopAt:    2 * time.Second, stopFor: 3 * time.Second,
	spurious: 100,
}

// sample is one reading of the balancer and its node-mname backends.
type sample struct {
	at       time.Duration
	fds, rss int64
	nodeFDs  int64
	logLines int
	phase    string
	answered float64 // normal load in this second, fraction of sent
	sent     int
}

// soak is one soak in progress.
type soak struct {
	cfg     Config
	plan    soakPlan
	env     *env
	bbal    *child
	port    int
	logPath string
	nodes   []*child
	flap    *child
	reflect *child
	victim  atomic.Int64
	start   time.Time
	samples []sample
	notes   []string
	mu      sync.Mutex
}

// Soak runs the soak and prints its report on cfg.Out.
func Soak(cfg Config) error {
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	e, err := newEnv()
	if err != nil {
		return err
	}
	defer e.close()
	s := &soak{cfg: cfg, plan: fullSoak, env: e}
	if cfg.Smoke {
		s.plan = quickSoak
	}
	if err := s.startBackends(); err != nil {
		return err
	}
	return s.run()
}

func (s *soak) progress(format string, args ...any) {
	fmt.Fprintf(s.cfg.Progress, "soak: "+format+"\n", args...)
}

func (s *soak) note(format string, args ...any) {
	s.mu.Lock()
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
	s.mu.Unlock()
}

func (s *soak) startBackends() error {
	script := filepath.Join(s.cfg.RepoRoot, "test", "bench", "mname-echo.js")
	dir, err := s.env.socketDir("soak")
	if err != nil {
		return err
	}
	for i := range 3 {
		c, err := s.env.nodeMname(s.cfg.Node, script, "--socket", filepath.Join(dir, fmt.Sprintf("%d", 5301+i)))
		if err != nil {
			return err
		}
		s.nodes = append(s.nodes, c)
	}
	if s.flap, err = s.env.frameEcho(dir, "5304", flapEnv+"=300"); err != nil {
		return err
	}
	vfd, err := udpSocket([4]byte{127, 9, 9, 9}, 0, false)
	if err != nil {
		return err
	}
	sa, err := syscall.Getsockname(vfd)
	if err != nil {
		return err
	}
	vport := sa.(*syscall.SockaddrInet4).Port
	go s.countVictim(vfd)
	if s.reflect, err = s.env.frameEcho(dir, "5305", fmt.Sprintf("%s=127.9.9.9:%d", victimEnv, vport),
		fmt.Sprintf("%s=%d", spuriousEnv, s.plan.spurious)); err != nil {
		return err
	}
	bb, port, logPath, err := s.env.bbal(s.cfg.BBAL, dir, "bbal")
	if err != nil {
		return err
	}
	s.bbal, s.port, s.logPath = bb, port, logPath
	time.Sleep(2 * time.Second) // every backend's hello
	return nil
}

// countVictim counts datagrams arriving at the address that never asked.
func (s *soak) countVictim(fd int) {
	b := newBatch(batchSize, 2048, false)
	for {
		n, err := b.recv(fd)
		if err != nil && err != syscall.EAGAIN && err != syscall.EINTR {
			return
		}
		s.victim.Add(int64(n))
	}
}

// read takes one sample of the balancer and the node-mname backends.
func (s *soak) read(phase string) sample {
	sm := sample{at: time.Since(s.start), phase: phase}
	if n, err := fdCount(s.bbal.Pid()); err == nil {
		sm.fds = int64(n)
	}
	if r, err := rssBytes(s.bbal.Pid()); err == nil {
		sm.rss = r
	}
	for _, c := range s.nodes {
		if n, err := fdCount(c.Pid()); err == nil {
			sm.nodeFDs += int64(n)
		}
	}
	sm.logLines = countLines(s.logPath)
	return sm
}

// normal runs the normal load for d in one-second windows, sampling after
// each, until d is up or stop is closed.
func (s *soak) normal(phase string, d time.Duration) {
	sources := sourceAddrs(1, 1000)
	target := local(s.port)
	for end := time.Now().Add(d); time.Now().Before(end); {
		res, err := Load{Rate: s.plan.normalRate, Duration: time.Second, Grace: 300 * time.Millisecond,
			Sources: sources, Targets: []unix.RawSockaddrInet4{target}}.Run()
		sm := s.read(phase)
		if err == nil && res.Sent > 0 {
			sm.answered = float64(res.Answered) / float64(res.Sent)
			sm.sent = res.Sent
		}
		s.mu.Lock()
		s.samples = append(s.samples, sm)
		s.mu.Unlock()
	}
}

func (s *soak) run() error {
	s.start = time.Now()
	p := s.plan
	first := s.read("start")
	s.progress("start: bbal pid %d, %d descriptors, RSS %d KiB; baseline %v", s.bbal.Pid(), first.fds, first.rss>>10, p.baseline)
	s.normal("baseline", p.baseline)

	s.progress("hostile phase, %v", p.hostile)
	hostileStart := time.Now()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	run := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	run(func() { s.oneByteClients(p.oneByte) })
	var idle, trickle tcpHeld
	run(func() { idle = s.heldClients(p.idle, false, stop) })
	run(func() { trickle = s.heldClients(p.trickle, true, stop) })
	run(func() { s.flood(p.flood, p.floodRate) })
	run(func() { s.oversized(p.oversized) })
	run(func() { s.stopBackend(p.stopAt, p.stopFor) })
	run(func() { s.tcpProbe(p.hostile, stop) })
	s.reflect.signal(syscall.SIGUSR1)
	s.normal("hostile", p.hostile)
	close(stop)
	wg.Wait()
	s.note("hostile phase took %v", time.Since(hostileStart).Round(time.Second))
	s.note("idle TCP clients: %s", idle)
	s.note("trickling TCP clients (a 36-byte query at 1 byte/s): %s", trickle)

	s.progress("recovery, %v", p.recovery)
	s.normal("recovery", p.recovery)
	s.progress("after, %v", p.after)
	s.normal("after", p.after)
	for i, c := range s.nodes {
		n, _ := fdCount(c.Pid())
		s.note("node-mname %d (pid %d) at the end: %d descriptors, %d of them sockets", i+1, c.Pid(), n, socketCount(c.Pid()))
	}
	s.note("flapping backend: %d sessions (hellos) in %v", s.flap.hellos.Load(), time.Since(s.start).Round(time.Second))
	s.note("reflecting backend: %d answers to 127.9.9.9, which never asked, arrived there (the backend sent up to %d)",
		s.victim.Load(), p.spurious)
	s.print(first)
	return nil
}

// oneByteClients makes n TCP connections that each send 1 byte and close.
func (s *soak) oneByteClients(n int) {
	srcs := sourceAddrs(40, n)
	t0 := time.Now()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := tcpDial(srcs, i, s.port)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = c.Write([]byte{0})
				c.Close()
			}
		}()
	}
	wg.Wait()
	s.note("1-byte TCP clients: %d connected, sent 1 byte and closed in %v (%d failed to connect)",
		n, time.Since(t0).Round(time.Millisecond), failed.Load())
}

// tcpHeld is what happened to held TCP clients.
type tcpHeld struct {
	opened, failed, answered, closed int
	closedAfter                      []time.Duration
}

func (h tcpHeld) String() string {
	slices.Sort(h.closedAfter)
	med := "-"
	if len(h.closedAfter) > 0 {
		med = h.closedAfter[len(h.closedAfter)/2].Round(100 * time.Millisecond).String()
	}
	return fmt.Sprintf("%d opened (%d failed), %d answered, %d closed by the balancer side (median %s after opening), %d still open at the end of the phase",
		h.opened, h.failed, h.answered, h.closed, med, h.opened-h.closed-h.answered)
}

// heldClients opens n TCP connections that send nothing (trickle false)
// or a query at one byte per second, and watches for the balancer closing
// them, until stop.
func (s *soak) heldClients(n int, trickle bool, stop <-chan struct{}) tcpHeld {
	base := 44
	if trickle {
		base = 45
	}
	srcs := sourceAddrs(base, n)
	var mu sync.Mutex
	var h tcpHeld
	var wg sync.WaitGroup
	for i := range n {
		c, err := tcpDial(srcs, i, s.port)
		if err != nil {
			h.failed++
			continue
		}
		h.opened++
		opened := time.Now()
		wg.Add(2)
		done := make(chan struct{})
		go func() { // reader: an answer, or the balancer closing
			defer wg.Done()
			defer close(done)
			buf := make([]byte, 512)
			got := 0
			for {
				_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
				k, err := c.Read(buf[got:])
				got += k
				if got >= 2 && got >= 2+int(binary.BigEndian.Uint16(buf)) {
					mu.Lock()
					h.answered++
					mu.Unlock()
					return
				}
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					select {
					case <-stop:
						return
					default:
						continue
					}
				}
				if err != nil {
					select {
					case <-stop:
						return // our own close at the end of the phase
					default:
					}
					mu.Lock()
					h.closed++
					h.closedAfter = append(h.closedAfter, time.Since(opened))
					mu.Unlock()
					return
				}
			}
		}()
		go func() { // writer
			defer wg.Done()
			defer c.Close()
			if trickle {
				msg := make([]byte, 2+queryLen)
				binary.BigEndian.PutUint16(msg, uint16(queryLen))
				writeQuery(msg[2:], uint32(i))
				for _, b := range msg {
					if _, err := c.Write([]byte{b}); err != nil {
						break
					}
					select {
					case <-time.After(time.Second):
					case <-stop:
						return
					case <-done:
						return
					}
				}
			}
			select {
			case <-stop:
			case <-done:
			}
		}()
	}
	wg.Wait()
	return h
}

// flood sends one query from each of n distinct source addresses at rate.
func (s *soak) flood(n, rate int) {
	srcs := sourceAddrs(64, n)
	d := time.Duration(int64(n) * int64(time.Second) / int64(rate))
	res, err := Load{Rate: rate, Duration: d, Grace: time.Second, Sources: srcs, Targets: []unix.RawSockaddrInet4{local(s.port)}}.Run()
	if err != nil {
		s.note("flood: %v", err)
		return
	}
	s.note("flood: %d distinct source addresses at %d q/s (%.0f achieved): %.1f%% answered", n, rate, res.SentRate(),
		100*float64(res.Answered)/float64(max(res.Sent, 1)))
}

// oversized sends n datagrams of 2000 bytes over ten seconds.
func (s *soak) oversized(n int) {
	conn, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 8, 0, 1)}, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: s.port})
	if err != nil {
		s.note("oversized datagrams: %v", err)
		return
	}
	defer conn.Close()
	big := make([]byte, 2000)
	for i := range n {
		_, _ = conn.Write(big)
		if i%100 == 99 {
			time.Sleep(time.Second)
		}
	}
	s.note("oversized datagrams: %d of 2000 bytes sent from 127.8.0.1", n)
}

// stopBackend SIGSTOPs the first node-mname at `at` into the phase and
// SIGCONTs it `for` later.
func (s *soak) stopBackend(at, d time.Duration) {
	time.Sleep(at)
	s.nodes[0].signal(syscall.SIGSTOP)
	t := time.Since(s.start)
	s.note("node-mname 1 (pid %d) SIGSTOPped at t=%v, SIGCONTed at t=%v", s.nodes[0].Pid(), t.Round(time.Second), (t + d).Round(time.Second))
	time.Sleep(d)
	s.nodes[0].signal(syscall.SIGCONT)
}

// tcpProbe is a normal TCP client: one query per second on a new
// connection, until stop.
func (s *soak) tcpProbe(d time.Duration, stop <-chan struct{}) {
	ok, failed := 0, 0
	buf := make([]byte, 4096)
	srcs := sourceAddrs(46, 1000)
	for i := 0; ; i++ {
		select {
		case <-stop:
			s.note("normal TCP client during the hostile phase: %d of %d queries answered", ok, ok+failed)
			return
		case <-time.After(time.Second):
		}
		c, err := tcpDial(srcs, i, s.port)
		if err != nil {
			failed++
			continue
		}
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		if tcpExchange(c, buf, uint32(i)) == nil {
			ok++
		} else {
			failed++
		}
		c.Close()
	}
}

func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
	}
	return n
}

// topMessages counts the log's records by level and msg.
func topMessages(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec struct {
			Level int    `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			counts["(not JSON)"]++
			continue
		}
		counts[fmt.Sprintf("%d %q", rec.Level, rec.Msg)]++
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return counts[keys[i]] > counts[keys[j]] })
	var out []string
	for i, k := range keys {
		if i == n {
			break
		}
		out = append(out, fmt.Sprintf("%8d  %s", counts[k], k))
	}
	return out
}

func (s *soak) print(first sample) {
	out := s.cfg.Out
	if out == nil {
		return
	}
	p := s.plan
	fmt.Fprintf(out, "mname-balancer soak, %s\n", s.start.UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "bbal:      %s\n", fileID(s.cfg.BBAL))
	fmt.Fprintf(out, "backends:  3 node-mname, 1 flapping (unknown frame 300 ms after each hello), 1 reflecting\n")
	fmt.Fprintf(out, "normal:    open loop %d q/s from 1000 client addresses, measured per second\n", p.normalRate)
	fmt.Fprintf(out, "machine:   %d CPUs, load average %s at the end (shared: figures are noisy)\n\n", cpus(), loadAvg())

	phases := []string{"baseline", "hostile", "recovery", "after"}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-34s\tstart\t%s\t\n", "", strings.Join(phases, "\t"))
	type agg struct {
		fds, nodeFDs, rss, maxRSS, maxFDs int64
		lines                             int
		ans                               float64
		n                                 int
	}
	by := map[string]*agg{}
	for _, ph := range phases {
		by[ph] = &agg{}
	}
	for _, sm := range s.samples {
		a := by[sm.phase]
		a.fds, a.nodeFDs, a.rss, a.lines = sm.fds, sm.nodeFDs, sm.rss, sm.logLines // the last sample
		a.maxRSS = max(a.maxRSS, sm.rss)
		a.maxFDs = max(a.maxFDs, sm.fds)
		a.ans += sm.answered
		a.n++
	}
	row := func(label string, startV string, f func(*agg) string) {
		cells := []string{fmt.Sprintf("%-34s", label), startV}
		for _, ph := range phases {
			cells = append(cells, f(by[ph]))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	row("bbal descriptors (end of phase)", fmt.Sprint(first.fds), func(a *agg) string { return fmt.Sprint(a.fds) })
	row("bbal descriptors (peak)", "", func(a *agg) string { return fmt.Sprint(a.maxFDs) })
	row("node-mname descriptors (3, end)", fmt.Sprint(first.nodeFDs), func(a *agg) string { return fmt.Sprint(a.nodeFDs) })
	row("bbal RSS MiB (end of phase)", mib(first.rss), func(a *agg) string { return mib(a.rss) })
	row("bbal RSS MiB (peak)", "", func(a *agg) string { return mib(a.maxRSS) })
	row("bbal log lines (total so far)", fmt.Sprint(first.logLines), func(a *agg) string { return fmt.Sprint(a.lines) })
	row("normal load answered (mean)", "", func(a *agg) string {
		if a.n == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f%%", 100*a.ans/float64(a.n))
	})
	tw.Flush()

	fmt.Fprintf(out, "\nnormal load answered, %% per second:\n")
	for _, ph := range phases {
		col := 0
		for _, sm := range s.samples {
			if sm.phase != ph {
				continue
			}
			if col%15 == 0 {
				if col > 0 {
					fmt.Fprintln(out)
				}
				fmt.Fprintf(out, "  %-8s t=%3.0fs ", ph, sm.at.Seconds())
			}
			fmt.Fprintf(out, " %5.1f", 100*sm.answered)
			col++
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "\nevents:\n")
	for _, n := range s.notes {
		fmt.Fprintf(out, "  %s\n", n)
	}
	fmt.Fprintf(out, "\nbbal log, most frequent records (level msg):\n")
	for _, l := range topMessages(s.logPath, 12) {
		fmt.Fprintf(out, "  %s\n", l)
	}
}

func mib(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
