/*
Peer harness for the end-to-end tests: starts the real node peers that live
in test/peers (a node-mname backend, a misbehaving backend) as child
processes and controls them from a test.

It owns, per started peer, one node process and its socket path. A Peer is
created only once the script has printed "ready" on stdout, i.e. once its
socket is listening; it is then running, may be paused (SIGSTOP) and resumed
(SIGCONT), and ends stopped (SIGTERM, the script closes and unlinks its
socket) or killed (SIGKILL, the socket file stays behind, as after a crash).
Every Peer is stopped by t.Cleanup, so a test cannot leak a node process;
the scripts are also started with --exit-with-stdin and exit when the test
binary dies and their stdin pipe closes. Everything a peer writes on stderr
(bunyan JSON for mname-backend.js, plain lines for bad-backend.js) is kept
and copied into the test log if the test fails.

The node modules come from test/node_modules (npm mname@1.5.1, bunyan);
when they are missing the harness fails the test with the command that
installs them (`cd test && npm ci`) rather than skipping silently.

Socket paths must fit in sockaddr_un.sun_path (107 bytes plus NUL);
SocketDir gives a directory short enough for that.
*/
package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Module is the module path that marks the repository root's go.mod.
const Module = "github.com/joyent/mname-balancer"

// MaxSocketPath is the longest socket path AF_UNIX accepts (sun_path less
// its terminating NUL).
const MaxSocketPath = 107

// PeerReadyTimeout bounds how long a peer may take to print "ready".
const PeerReadyTimeout = 30 * time.Second

// peerStopTimeout bounds how long Stop waits for a clean exit before it
// resorts to SIGKILL.
const peerStopTimeout = 10 * time.Second

// RepoRoot returns the repository root: the nearest directory, from the
// working directory upwards, whose go.mod declares Module.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("repo root: %v", err)
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(mod), []byte("module "+Module)) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("repo root: no go.mod for module %s above the working directory", Module)
		}
		dir = parent
	}
}

// NodeModules returns test/node_modules, failing the test with the install
// command if mname or bunyan is not installed there.
func NodeModules(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(RepoRoot(t), "test", "node_modules")
	for _, pkg := range []string{"mname", "bunyan"} {
		if _, err := os.Stat(filepath.Join(dir, pkg, "package.json")); err != nil {
			t.Fatalf("node module %s is not installed in %s (%v); run `cd %s && npm ci` first",
				pkg, dir, err, filepath.Dir(dir))
		}
	}
	return dir
}

// NodeBinary returns the path of the node executable, failing the test if
// there is none on $PATH.
func NodeBinary(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("the end-to-end peers need node on $PATH: %v", err)
	}
	return node
}

// SocketDir returns an empty directory, removed after the test, in which a
// socket named with up to 16 bytes fits in sun_path: t.TempDir() when it is
// short enough, otherwise a directory made under /tmp.
func SocketDir(t testing.TB) string {
	t.Helper()
	const room = 1 + 16 // separator and a short socket name
	if dir := t.TempDir(); len(dir)+room <= MaxSocketPath {
		return dir
	}
	dir, err := os.MkdirTemp("/tmp", "bb")
	if err != nil {
		t.Fatalf("socket dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Peer is one running node peer process.
type Peer struct {
	Name string // the name given to the peer (mname: its --id)
	Path string // the socket it listens on

	t      testing.TB
	cmd    *exec.Cmd
	output *peerOutput
	exited chan struct{} // closed once the process has been waited for
	err    error         // the process's exit status; valid once exited is closed
	killed bool          // Kill was called: a SIGKILL exit is expected
}

// StartMnameBackend starts test/peers/mname-backend.js on dir/name with
// --id name, plus any extra arguments (such as "--big-records", "100"), and
// returns once it is listening.
func StartMnameBackend(t testing.TB, dir, name string, args ...string) *Peer {
	t.Helper()
	path := filepath.Join(dir, name)
	return startPeer(t, name, path, "mname-backend.js",
		append([]string{"--socket", path, "--id", name}, args...))
}

// StartBadBackend starts test/peers/bad-backend.js on path in the given mode
// (garbage, double-hello, oversized, no-tcp-ok, silent, reflect), with any
// extra arguments (such as "--victim", "127.0.0.250:5000"), and returns
// once it is listening.
func StartBadBackend(t testing.TB, path, mode string, args ...string) *Peer {
	t.Helper()
	return startPeer(t, "bad-"+mode, path, "bad-backend.js", append([]string{"--socket", path, "--mode", mode}, args...))
}

func startPeer(t testing.TB, name, path, script string, args []string) *Peer {
	t.Helper()
	if len(path) > MaxSocketPath {
		t.Fatalf("peer %s: socket path %q is %d bytes, over the %d that fit in sun_path; use SocketDir",
			name, path, len(path), MaxSocketPath)
	}
	node := NodeBinary(t)
	testDir := filepath.Dir(NodeModules(t))
	scriptPath := filepath.Join(testDir, "peers", script)

	cmd := exec.Command(node, append([]string{scriptPath, "--exit-with-stdin"}, args...)...)
	cmd.Dir = testDir
	out := &peerOutput{}
	cmd.Stderr = out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("peer %s: %v", name, err)
	}
	// The peer exits when this pipe closes, which happens when the test
	// binary dies; exec closes it after Wait.
	if _, err := cmd.StdinPipe(); err != nil {
		t.Fatalf("peer %s: %v", name, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("peer %s: starting %s: %v", name, script, err)
	}
	p := &Peer{Name: name, Path: path, t: t, cmd: cmd, output: out, exited: make(chan struct{})}

	ready := make(chan struct{})
	go func() {
		// Stdout carries "ready" and nothing else we need; anything more
		// joins the captured output. The pipe must be drained before Wait.
		sc := bufio.NewScanner(stdout)
		signalled := false
		for sc.Scan() {
			if !signalled && sc.Text() == "ready" {
				signalled = true
				close(ready)
				continue
			}
			fmt.Fprintf(out, "stdout: %s\n", sc.Text())
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()

	t.Cleanup(func() {
		p.Resume() // a stopped process would not handle SIGTERM
		if err := p.Stop(); err != nil {
			t.Errorf("peer %s: %v", p.Name, err)
		}
		if t.Failed() {
			t.Logf("peer %s (pid %d) output:\n%s", p.Name, p.Pid(), p.Output())
		}
	})

	select {
	case <-ready:
		return p
	case <-p.exited:
		t.Fatalf("peer %s exited before it was ready (%v); output:\n%s", name, p.err, out.String())
	case <-time.After(PeerReadyTimeout):
		t.Fatalf("peer %s did not print \"ready\" within %v; output:\n%s", name, PeerReadyTimeout, out.String())
	}
	return nil
}

// Pid returns the peer's process ID.
func (p *Peer) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the peer has written to stderr (and to stdout
// after "ready") so far.
func (p *Peer) Output() string { return p.output.String() }

// Exited reports whether the peer's process has ended.
func (p *Peer) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits for the peer to exit. It returns nil if the
// peer exited with status 0, now or earlier, or was killed by Kill; an
// error if it died any other way (a crash the test should hear about) or
// had to be killed because it ignored SIGTERM. Safe to call repeatedly.
func (p *Peer) Stop() error {
	if p.Exited() {
		return p.exitError()
	}
	if err := p.signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping peer %s: %w", p.Name, err)
	}
	select {
	case <-p.exited:
		return p.exitError()
	case <-time.After(peerStopTimeout):
		p.Kill()
		p.killed = false
		return fmt.Errorf("peer %s ignored SIGTERM for %v and was killed", p.Name, peerStopTimeout)
	}
}

// exitError describes an exit other than a clean status 0.
func (p *Peer) exitError() error {
	if p.err != nil && !p.killed {
		return fmt.Errorf("peer %s exited: %w", p.Name, p.err)
	}
	return nil
}

// Kill sends SIGKILL and waits for the process to end. The socket file is
// left behind, as after a crash.
func (p *Peer) Kill() {
	p.t.Helper()
	if p.Exited() {
		return
	}
	p.killed = true
	if err := p.signal(syscall.SIGKILL); err != nil {
		p.t.Errorf("killing peer %s: %v", p.Name, err)
		return
	}
	<-p.exited
}

// Pause stops the process (SIGSTOP): its socket stays connected and
// accepting, but nothing is read or answered until Resume.
func (p *Peer) Pause() {
	p.t.Helper()
	if err := p.signal(syscall.SIGSTOP); err != nil {
		p.t.Fatalf("pausing peer %s: %v", p.Name, err)
	}
}

// Resume continues a paused process (SIGCONT). It does nothing to a peer
// that has exited.
func (p *Peer) Resume() {
	p.t.Helper()
	if err := p.signal(syscall.SIGCONT); err != nil {
		p.t.Errorf("resuming peer %s: %v", p.Name, err)
	}
}

// ToggleMute mutes an mname peer's DNS handler, or unmutes it: muted, it
// answers no query while its frame parser still answers heartbeats.
func (p *Peer) ToggleMute() {
	p.t.Helper()
	if err := p.signal(syscall.SIGUSR2); err != nil {
		p.t.Fatalf("peer %s: mute: %v", p.Name, err)
	}
}

// signal delivers sig; signalling a process that has already ended is not
// an error (callers then find p.exited closed).
func (p *Peer) signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

// peerOutput collects a peer's output; exec copies into it from its own
// goroutine while the test may read it.
type peerOutput struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (o *peerOutput) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(b)
}

func (o *peerOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}
