//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

/*
Starting and stopping what the bench measures. Every process is a child
of the runner, killed with it (Pdeathsig, and the echo roles and node
scripts also exit when their stdin closes), and stopped by env.close: a
bench that fails half-way leaves nothing behind. Everything listens on
127.0.0.1 on ports picked free at start; sockets live under one temporary
directory.
*/

// readyTimeout bounds how long a child may take to say "ready".
const readyTimeout = 30 * time.Second

// child is one process the bench started.
type child struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	hellos atomic.Int32
	ready  chan struct{}
	exited chan struct{}
	stderr *tail
}

// Pid returns the child's process ID.
func (c *child) Pid() int { return c.cmd.Process.Pid }

// signal sends sig to the child.
func (c *child) signal(sig syscall.Signal) { _ = c.cmd.Process.Signal(sig) }

// stop ends the child: stdin closed and SIGTERM, SIGKILL after 3 s.
func (c *child) stop() {
	select {
	case <-c.exited:
		return
	default:
	}
	c.stdin.Close()
	c.signal(syscall.SIGCONT)
	c.signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(3 * time.Second):
		c.signal(syscall.SIGKILL)
		<-c.exited
	}
}

// tail keeps the last 4 KiB written to it.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = append(t.b[:0], t.b[len(t.b)-4096:]...)
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// env is one bench run's processes and directory.
type env struct {
	dir      string
	self     string
	children []*child
	pathCPUs *unix.CPUSet // where children run (cpus_linux.go); nil: anywhere
}

func newEnv() (*env, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	// Short, so that socket paths fit in sun_path.
	dir, err := os.MkdirTemp("/tmp", "bbench")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return &env{dir: dir, self: self}, nil
}

// close stops every child and removes the directory.
func (e *env) close() {
	for i := len(e.children) - 1; i >= 0; i-- {
		e.children[i].stop()
	}
	os.RemoveAll(e.dir)
}

// start runs cmd as a child. With logTo set, stdout goes to that file;
// otherwise its lines are watched for "ready" and "hello", and start
// waits for "ready".
func (e *env) start(name string, cmd *exec.Cmd, logTo string) (*child, error) {
	c := &child{name: name, cmd: cmd, ready: make(chan struct{}), exited: make(chan struct{}), stderr: &tail{}}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = c.stderr
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	var out io.ReadCloser
	if logTo != "" {
		f, err := os.Create(logTo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		defer f.Close()
		cmd.Stdout = f
		close(c.ready)
	} else if out, err = cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if err := startOn(cmd, e.pathCPUs); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	e.children = append(e.children, c)
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	if out != nil {
		go func() {
			sc := bufio.NewScanner(out)
			readied := false
			for sc.Scan() {
				switch sc.Text() {
				case "ready":
					if !readied {
						readied = true
						close(c.ready)
					}
				case "hello":
					c.hellos.Add(1)
				}
			}
		}()
	}
	select {
	case <-c.ready:
		return c, nil
	case <-c.exited:
		return nil, fmt.Errorf("%s exited at start: %s", name, c.stderr)
	case <-time.After(readyTimeout):
		return nil, fmt.Errorf("%s not ready within %v: %s", name, readyTimeout, c.stderr)
	}
}

// freePort returns a port free for both UDP and TCP on 127.0.0.1.
func freePort() (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port")
}

// udpEcho starts a UDP (and TCP) echo backend.
func (e *env) udpEcho(name string) (*child, int, error) {
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(e.self)
	cmd.Env = append(os.Environ(), roleEnv+"="+roleUDPEcho, addrEnv+"=127.0.0.1:"+strconv.Itoa(port))
	c, err := e.start(name, cmd, "")
	return c, port, err
}

// frameEcho starts a backend-protocol echo at dir/name; extraEnv may ask
// for the soak's misbehaviours (see roles_linux.go).
func (e *env) frameEcho(dir, name string, extraEnv ...string) (*child, error) {
	cmd := exec.Command(e.self)
	cmd.Env = append(os.Environ(), roleEnv+"="+roleFrameEcho, addrEnv+"="+filepath.Join(dir, name))
	cmd.Env = append(cmd.Env, extraEnv...)
	return e.start("frame echo "+name, cmd, "")
}

// socketDir makes an empty backend socket directory.
func (e *env) socketDir(name string) (string, error) {
	dir := filepath.Join(e.dir, name)
	return dir, os.Mkdir(dir, 0o755)
}

// bbal starts the balancer binary bin on the backends in sockDir, logging
// at info (as operators run it) to a file in the run directory.
func (e *env) bbal(bin, sockDir, name string, extra ...string) (*child, int, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, 0, "", err
	}
	logPath := filepath.Join(e.dir, name+".log")
	args := append([]string{"-b", "127.0.0.1", "-p", strconv.Itoa(port), "-s", sockDir, "-l", "info"}, extra...)
	if hasOption(bin, "c") {
		// The control socket (newer binaries) in the run directory, not
		// the system's default path.
		args = append(args, "-c", filepath.Join(e.dir, name+".ctl"))
	}
	if hasLongOption(bin, "--udp-client-rate") {
		// No per-client cap (issue 20): the bench's few sources each
		// send far more than a client does, and what is measured is
		// the path, not the cap.
		args = append(args, "--udp-client-rate=0")
	}
	c, err := e.start(name, exec.Command(bin, args...), logPath)
	if err != nil {
		return nil, 0, "", err
	}
	if err := probe(port, 10*time.Second); err != nil {
		return nil, 0, "", fmt.Errorf("%s: %w (stderr: %s)", name, err, c.stderr)
	}
	return c, port, logPath, nil
}

// hasOption reports whether the balancer binary bin knows the option
// -letter (binaries from before it was added refuse it as unknown).
func hasOption(bin, letter string) bool {
	out, _ := exec.Command(bin, "-"+letter, "x").CombinedOutput()
	return !strings.Contains(string(out), "unknown option -"+letter)
}

// hasLongOption reports whether the balancer binary bin knows the long
// option opt (older builds say "unknown option").
func hasLongOption(bin, opt string) bool {
	out, _ := exec.Command(bin, opt+"=x").CombinedOutput()
	return !strings.Contains(string(out), "unknown option")
}

// dnsdistConfig is dnsdist's configuration: its defaults (no packet
// cache), round-robin over the echo backends, which are always up.
func dnsdistConfig(port int, backends []int) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "setLocal(\"127.0.0.1:%d\")\n", port)
	fmt.Fprintf(&b, "setACL({\"127.0.0.0/8\"})\n")
	for i, p := range backends {
		fmt.Fprintf(&b, "newServer({address=\"127.0.0.1:%d\", name=\"echo%d\"})\n", p, i+1)
	}
	fmt.Fprintf(&b, "setServerPolicy(roundrobin)\n")
	return b.String()
}

// dnsdist starts dnsdist in front of the UDP echo backends on ports.
func (e *env) dnsdist(bin string, backends []int) (*child, int, error) {
	port, err := freePort()
	if err != nil {
		return nil, 0, err
	}
	conf := filepath.Join(e.dir, "dnsdist.conf")
	if err := os.WriteFile(conf, []byte(dnsdistConfig(port, backends)), 0o644); err != nil {
		return nil, 0, err
	}
	c, err := e.start("dnsdist", exec.Command(bin, "--supervised", "--disable-syslog", "-C", conf),
		filepath.Join(e.dir, "dnsdist.log"))
	if err != nil {
		return nil, 0, err
	}
	if err := probe(port, 10*time.Second); err != nil {
		return nil, 0, fmt.Errorf("dnsdist: %w (stderr: %s)", err, c.stderr)
	}
	return c, port, nil
}

// nodeMname starts test/bench/mname-echo.js in mode --socket or --udp.
func (e *env) nodeMname(node, script, mode, where string) (*child, error) {
	return e.start("node-mname "+where, exec.Command(node, script, mode, where), "")
}

// probe sends queries to 127.0.0.1:port until one is answered.
func probe(port int, timeout time.Duration) error {
	conn, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		return err
	}
	defer conn.Close()
	q := appendQuery(nil, 0)
	buf := make([]byte, 2048)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := conn.Write(q); err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, err := conn.Read(buf)
		if err == nil {
			if _, ok := seqOf(buf[:n]); ok {
				return nil
			}
		}
	}
	return fmt.Errorf("no answer on 127.0.0.1:%d within %v", port, timeout)
}

// waitHellos waits until each echo has accepted at least one control
// session.
func waitHellos(echos []*child, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, c := range echos {
		for c.hellos.Load() == 0 {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: no CLIENT_HELLO within %v", c.name, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}
