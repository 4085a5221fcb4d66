/*
The balancer as Binder's own manifest starts it: "balancer -s
/var/run/binder/sockets", nothing else, as nobody with net_privaddr (here
Linux's CAP_NET_BIND_SERVICE, as an ambient capability) and no writable
/var/run. DNS must be served on 0.0.0.0:53, nothing logged at error or
above, and balstat with no argument must find the control socket the
balancer made for itself, as root (the operator) and as nobody.

Port 53 is one per machine: the test holds a lock file while it uses it, so
that two runs (two worktrees) take turns, and needs root (to become nobody
with the capability). Linux only, for the ambient capability.
*/
package e2e

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// nobodyUID is Linux's nobody (and nogroup).
const nobodyUID = 65534

// needRoot fails t under CI, which runs as root, and skips it elsewhere
// when not root, saying what needs it (a process run as nobody).
func needRoot(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("this test %s and needs root", what)
	}
	t.Skipf("needs root: this test %s", what)
}

// port53Lock serialises the tests that bind port 53 on this machine.
const port53Lock = "/tmp/bbal-e2e-port53.lock"

// holdPort53 takes the machine-wide lock on port 53 for the test and checks
// that the port is free for UDP and TCP on 0.0.0.0.
func holdPort53(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(port53Lock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatalf("locking %s: %v", port53Lock, err)
	}
	for _, network := range []string{"tcp4", "udp4"} {
		var c interface{ Close() error }
		var err error
		if network == "tcp4" {
			c, err = net.Listen(network, "0.0.0.0:53")
		} else {
			c, err = net.ListenPacket(network, "0.0.0.0:53")
		}
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("port 53 (%s) is taken on this machine: %v", network, err)
			}
			t.Skipf("port 53 (%s) is taken on this machine: %v", network, err)
		}
		c.Close()
	}
}

func TestBindersCommandLineAsNobody(t *testing.T) {
	SkipInShort(t)
	needRoot(t, "runs bbal as nobody")
	holdPort53(t)

	// Binder's socket directory: nobody:nobody, 770 (binder-mksockdir's).
	dir, err := os.MkdirTemp("/tmp", "bbn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chown(dir, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o770); err != nil {
		t.Fatal(err)
	}
	// The backends run as root here; their sockets are given to nobody,
	// as Binder's (which run as nobody) are its.
	for _, name := range []string{"5301", "5302"} {
		p := StartMnameBackend(t, dir, name)
		if err := os.Chown(p.Path, nobodyUID, nobodyUID); err != nil {
			t.Fatal(err)
		}
	}
	// nobody may not write /var/run: the old default control directory
	// could not be made.
	if err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"mkdir", "/var/run/bbal-e2e-probe").Run(); err == nil {
		os.Remove("/var/run/bbal-e2e-probe")
		t.Fatal("nobody can write /var/run here; the test would not show what it means to")
	}

	// The control directory nobody's balancer makes, made fresh.
	ctlDir := filepath.Join("/tmp", "bbal-65534")
	os.RemoveAll(ctlDir)

	bal := StartBalancer(t, BalancerConfig{
		SocketDir:     dir,
		OnlySocketDir: true,
		SysProcAttr: &syscall.SysProcAttr{
			Credential:  &syscall.Credential{Uid: nobodyUID, Gid: nobodyUID},
			AmbientCaps: []uintptr{unix.CAP_NET_BIND_SERVICE},
		},
	})
	bal.WaitLog("control socket listening", map[string]any{"path": "/tmp/bbal-65534/control.53"}, 10*time.Second)
	for _, name := range []string{"5301", "5302"} {
		bal.WaitLog("backend socket established", map[string]any{"be_id": name}, 10*time.Second)
	}

	// DNS is served, on 0.0.0.0:53.
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		if id := newUDPClient(t, bal, ip).mustWhoami(""); id != "5301" && id != "5302" {
			t.Errorf("client %s answered by %q", ip, id)
		}
	}
	info, err := os.Lstat(ctlDir)
	if err != nil || info.Mode().Perm() != 0o700 || info.Sys().(*syscall.Stat_t).Uid != nobodyUID {
		t.Errorf("control directory %s: %v, %v; want nobody's, 0700", ctlDir, info.Mode(), err)
	}

	// balstat with no argument finds it, as root and as nobody.
	for _, cred := range []*syscall.Credential{nil, {Uid: nobodyUID, Gid: nobodyUID}} {
		cmd := exec.Command(balstatBinary(t))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := cmd.CombinedOutput()
		who := "root"
		if cred != nil {
			who = "nobody"
		}
		if err != nil || !strings.HasPrefix(string(out), "BACKENDS:") ||
			!strings.Contains(string(out), filepath.Join(dir, "5301")) || !strings.Contains(string(out), filepath.Join(dir, "5302")) {
			t.Errorf("balstat (no argument) as %s: %v\n%s", who, err, out)
		}
	}

	for _, r := range bal.Records() {
		if r.Num("level") >= 50 {
			t.Errorf("a record at error or above: %v", r)
		}
	}
	if start := bal.Find("starting up", nil); len(start) != 1 || start[0].Str("port") != "53" || start[0].Str("address") != "0.0.0.0" {
		t.Errorf("starting up: %v, want one on 0.0.0.0 port 53", start)
	}
}

// Without the privilege, port 53 fails at once, and stderr says why and
// what to do (the manifest's net_privaddr, or root): one line.
func TestPort53WithoutPrivilegeSaysWhy(t *testing.T) {
	SkipInShort(t)
	needRoot(t, "runs bbal as nobody")
	dir, err := os.MkdirTemp("/tmp", "bbn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	cmd := exec.Command(BalancerBinary(t), "-s", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID, Gid: nobodyUID}}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("bbal -s as nobody: %v, exit %d; want 1", err, code)
	}
	want := "bbal: failed to create TCP listen socket 0.0.0.0:53: "
	if s := stderr.String(); !strings.HasPrefix(s, want) || strings.Count(s, "\n") != 1 ||
		!strings.Contains(s, "permission denied") || !strings.Contains(s, "net_privaddr") {
		t.Errorf("stderr %q, want one line starting %q with the cause and the net_privaddr hint", s, want)
	}
	if !strings.Contains(stdout.String(), `"msg":"failed to create TCP listen socket"`) {
		t.Errorf("no fatal record on stdout:\n%s", stdout.String())
	}
}
