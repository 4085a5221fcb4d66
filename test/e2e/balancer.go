/*
Balancer harness for the end-to-end tests: builds the real bbal binary once
per test binary and runs it as a child process, the way SMF would, against
a socket directory of real node-mname peers.

A Balancer owns one bbal process, its port (UDP and TCP, on 127.0.0.1) and
every line it logs. Each stdout line is parsed as JSON as it arrives, kept
in order, and can be waited for by message and fields (WaitLog). At
cleanup the process gets SIGTERM, its whole log is piped through the real
bunyan CLI with --strict, and the test fails if bunyan dropped any line or
if bbal did not exit 0.

Intervals are shortened with BBAL_TEST_TIME_SCALE, which exists only in a
binary built with the bbaltest tag: BalancerBinary builds one (with -race),
ProductionBinary builds ./cmd/bbal as make does, without the tag. The scale
is a field of BalancerConfig, 1 meaning the default timings.
*/
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binaryBuild is one go build of a command, done at most once per test
// binary.
type binaryBuild struct {
	once sync.Once
	path string
	err  error
}

var testBuild, productionBuild binaryBuild

// build runs go build with flags of pkg (./cmd/NAME) into a temporary
// directory, once. The directory is one every user may read and search:
// the nobody test runs balstat too.
func (b *binaryBuild) build(t testing.TB, pkg string, flags ...string) string {
	t.Helper()
	b.once.Do(func() {
		name := filepath.Base(pkg)
		dir, err := os.MkdirTemp("", name+"-e2e-bin-")
		if err != nil {
			b.err = err
			return
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, name)
		args := append(append([]string{"build"}, flags...), "-o", b.path, pkg)
		cmd := exec.Command("go", args...)
		cmd.Dir = RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// BalancerBinary builds ./cmd/bbal for the tests (-race, and the bbaltest
// tag that adds BBAL_TEST_TIME_SCALE) once per test binary and returns its
// path.
func BalancerBinary(t testing.TB) string {
	t.Helper()
	return testBuild.build(t, "./cmd/bbal", "-race", "-tags", "bbaltest")
}

// ProductionBinary builds ./cmd/bbal as make and go build do (no tags, no
// -race) once per test binary and returns its path.
func ProductionBinary(t testing.TB) string {
	t.Helper()
	return productionBuild.build(t, "./cmd/bbal")
}

// BalancerConfig describes one bbal run.
type BalancerConfig struct {
	Binary    string // "" means BalancerBinary's
	SocketDir string
	TimeScale float64  // divides every interval; 0 or 1 means the defaults
	LogLevel  string   // -l; "" means debug
	Env       []string // extra environment
	Control   string   // -c; "" means a fresh path in a temporary directory
	Metrics   string   // -m IP:PORT; "" means none
	Remotes   int      // -r; 0 means the default cap
	Args      []string // extra command-line arguments (--tcp-max N, say)

	// OnlySocketDir runs "bbal -s SocketDir" and nothing else, as Binder's
	// manifest does: 0.0.0.0:53, the default control socket (Control is
	// then ""), level and everything; the fields above but SocketDir,
	// Binary, TimeScale and Env are ignored.
	OnlySocketDir bool
	// SysProcAttr, if set, is the process's (its user, say).
	SysProcAttr *syscall.SysProcAttr
}

// LogRecord is one parsed log line.
type LogRecord map[string]any

// Msg is the record's message.
func (r LogRecord) Msg() string { s, _ := r["msg"].(string); return s }

// Num returns a numeric field (JSON numbers decode as float64).
func (r LogRecord) Num(key string) float64 { f, _ := r[key].(float64); return f }

// Str returns a string field.
func (r LogRecord) Str(key string) string { s, _ := r[key].(string); return s }

// Balancer is one running bbal process.
type Balancer struct {
	Port    int
	Control string // the control socket's path

	t      testing.TB
	cmd    *exec.Cmd
	pid    int           // the process serving now: cmd's, or its successor's after a handover
	exited chan struct{} // closed when cmd has exited and every process writing its log (a successor's too)
	err    error

	mu      sync.Mutex
	lines   []string
	records []LogRecord
	stderr  bytes.Buffer
	changed chan struct{}
}

// FreePort finds a port free for both UDP and TCP on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	for i := 0; i < 50; i++ {
		tl, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := tl.Addr().(*net.TCPAddr).Port
		ul, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(port))
		tl.Close()
		if err != nil {
			continue
		}
		ul.Close()
		return port
	}
	t.Fatal("no free port for UDP and TCP")
	return 0
}

// StartBalancer runs bbal on 127.0.0.1 and a free port and waits until it
// listens on TCP and UDP.
func StartBalancer(t testing.TB, cfg BalancerConfig) *Balancer {
	t.Helper()
	bin := cfg.Binary
	if bin == "" {
		bin = BalancerBinary(t)
	}
	level := cfg.LogLevel
	if level == "" {
		level = "debug"
	}
	b := &Balancer{t: t, exited: make(chan struct{}), changed: make(chan struct{})}
	var args []string
	if cfg.OnlySocketDir {
		b.Port = 53
		args = []string{"-s", cfg.SocketDir}
	} else {
		b.Port = FreePort(t)
		args = b.args(t, cfg, level)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = cfg.SysProcAttr
	b.startProcess(t, cmd, cfg)
	t.Cleanup(func() { b.shutdown() })
	// bbal sets up TCP, then UDP: ready once both are listening.
	b.WaitLog("listening for TCP packets", nil, 10*time.Second)
	b.WaitLog("listening for UDP packets", nil, 10*time.Second)
	return b
}

// args is bbal's command line for cfg; it sets b.Control.
func (b *Balancer) args(t testing.TB, cfg BalancerConfig, level string) []string {
	t.Helper()
	b.Control = cfg.Control
	if b.Control == "" {
		dir, err := os.MkdirTemp("", "bbal-ctl-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		b.Control = filepath.Join(dir, "control")
	}
	args := []string{"-b", "127.0.0.1", "-p", strconv.Itoa(b.Port), "-s", cfg.SocketDir, "-l", level, "-c", b.Control}
	if cfg.Metrics != "" {
		args = append(args, "-m", cfg.Metrics)
	}
	if cfg.Remotes > 0 {
		args = append(args, "-r", strconv.Itoa(cfg.Remotes))
	}
	if !slices.ContainsFunc(cfg.Args, func(a string) bool { return strings.HasPrefix(a, "--udp-client-rate") }) {
		// No per-client cap unless the test sets one: many tests send
		// bursts from one client far above a client's fair share.
		args = append(args, "--udp-client-rate=0")
	}
	return append(args, cfg.Args...)
}

// startProcess starts bbal and follows its output.
func (b *Balancer) startProcess(t testing.TB, cmd *exec.Cmd, cfg BalancerConfig) {
	t.Helper()
	cmd.Env = append(os.Environ(), cfg.Env...)
	if cfg.TimeScale > 0 && cfg.TimeScale != 1 {
		cmd.Env = append(cmd.Env, "BBAL_TEST_TIME_SCALE="+strconv.FormatFloat(cfg.TimeScale, 'f', -1, 64))
	}
	cmd.Stderr = &lockedWriter{mu: &b.mu, w: &b.stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting bbal: %v", err)
	}
	b.cmd, b.pid = cmd, cmd.Process.Pid
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var rec LogRecord
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				rec = LogRecord{"msg": "UNPARSEABLE: " + line}
			}
			b.mu.Lock()
			b.lines = append(b.lines, line)
			b.records = append(b.records, rec)
			close(b.changed)
			b.changed = make(chan struct{})
			b.mu.Unlock()
		}
		b.err = cmd.Wait()
		close(b.exited)
	}()
}

// Pid is the serving balancer's process ID (a successor's after a
// handover, see Adopt).
func (b *Balancer) Pid() int { return b.pid }

// Adopt makes pid, a successor the balancer handed over to (it logs to
// the same stdout), the process that Signal and the cleanup's SIGTERM go to.
func (b *Balancer) Adopt(pid int) { b.pid = pid }

// Records returns a copy of every log record so far.
func (b *Balancer) Records() []LogRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]LogRecord(nil), b.records...)
}

// Find returns the records with message msg whose fields match want (values
// compared as fmt %v strings).
func (b *Balancer) Find(msg string, want map[string]any) []LogRecord {
	var out []LogRecord
	for _, r := range b.Records() {
		if r.Msg() == msg && matches(r, want) {
			out = append(out, r)
		}
	}
	return out
}

func matches(r LogRecord, want map[string]any) bool {
	for k, v := range want {
		got, ok := r[k]
		if !ok || fmt.Sprint(got) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

// WaitLog waits until a record with message msg and the given fields has
// been logged (at any time since start) and returns it; fails the test on
// timeout or if the balancer exits.
func (b *Balancer) WaitLog(msg string, want map[string]any, timeout time.Duration) LogRecord {
	b.t.Helper()
	return b.WaitLogCount(msg, want, 1, timeout)
}

// WaitLogCount waits until at least n matching records exist and returns the nth.
func (b *Balancer) WaitLogCount(msg string, want map[string]any, n int, timeout time.Duration) LogRecord {
	b.t.Helper()
	deadline := time.After(timeout)
	for {
		b.mu.Lock()
		changed := b.changed
		count := 0
		for _, r := range b.records {
			if r.Msg() == msg && matches(r, want) {
				count++
				if count == n {
					b.mu.Unlock()
					return r
				}
			}
		}
		b.mu.Unlock()
		select {
		case <-changed:
		case <-b.exited:
			b.t.Fatalf("bbal exited (%v) while waiting for %q %v; log:\n%s", b.err, msg, want, b.logText())
		case <-deadline:
			b.t.Fatalf("bbal did not log %q %v x%d within %v; log:\n%s", msg, want, n, timeout, b.logText())
		}
	}
}

func (b *Balancer) logText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n") + "\nstderr:\n" + b.stderr.String()
}

// Signal sends sig to the balancer.
func (b *Balancer) Signal(sig syscall.Signal) {
	if err := syscall.Kill(b.pid, sig); err != nil {
		b.t.Fatalf("signal bbal (pid %d): %v", b.pid, err)
	}
}

// Wait waits for the process to exit and returns its error (nil: exit 0).
func (b *Balancer) Wait(timeout time.Duration) error {
	select {
	case <-b.exited:
		return b.err
	case <-time.After(timeout):
		return fmt.Errorf("bbal did not exit within %v", timeout)
	}
}

// shutdown stops bbal with SIGTERM and checks its exit and its whole log.
func (b *Balancer) shutdown() {
	t := b.t
	select {
	case <-b.exited:
	default:
		_ = syscall.Kill(b.pid, syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(b.pid, syscall.SIGKILL)
			_ = b.cmd.Process.Kill()
			<-b.exited
			t.Errorf("bbal did not exit within 15 s of SIGTERM")
		}
		if b.err != nil {
			t.Errorf("bbal exited with %v after SIGTERM", b.err)
		}
		if b.pid != b.cmd.Process.Pid && len(b.Find("exiting", map[string]any{"pid": b.pid})) == 0 {
			t.Errorf("successor %d did not log \"exiting\" after SIGTERM", b.pid)
		}
	}
	b.mu.Lock()
	lines := append([]string(nil), b.lines...)
	b.mu.Unlock()
	CheckBunyanStrict(t, lines)
	if t.Failed() {
		t.Logf("bbal log:\n%s", b.logText())
	}
}

// CheckBunyanStrict pipes lines through `bunyan --strict -o json-0` and
// fails the test if any line is dropped. bunyan's output goes to a file,
// not a pipe: the CLI calls process.exit once stdin ends without draining
// stdout, so output still queued for a pipe the reader has not emptied yet
// is lost (1.8.15; seen with a thousand lines under load).
func CheckBunyanStrict(t testing.TB, lines []string) {
	t.Helper()
	if len(lines) == 0 {
		return
	}
	outFile, err := os.CreateTemp("", "bunyan-strict-")
	if err != nil {
		t.Errorf("bunyan --strict: %v", err)
		return
	}
	defer os.Remove(outFile.Name())
	defer outFile.Close()
	cli := filepath.Join(NodeModules(t), ".bin", "bunyan")
	cmd := exec.Command(NodeBinary(t), cli, "--strict", "-o", "json-0")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	cmd.Stdout = outFile
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Errorf("bunyan --strict: %v\n%s", err, stderr.String())
		return
	}
	out, err := os.ReadFile(outFile.Name())
	if err != nil {
		t.Errorf("bunyan --strict: %v", err)
		return
	}
	got := strings.Count(string(out), "\n")
	if got != len(lines) {
		t.Errorf("bunyan --strict kept %d of %d log lines", got, len(lines))
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
