/*
Tests of the socket-directory method, smf/methods/binder-balancer-sockets,
which runs as root and makes /var/run/binder/sockets (nobody:nobody, 770).

The directory is redirected into a temporary directory with SOCKET_DIR.  As
root, the method's real chown is exercised and the owner checked; the group
is SOCKET_GROUP when this system has no group called nobody (Debian calls it
nogroup).  Separately, with a fake chown on PATH, the test checks that the
default owner the method asks for is exactly nobody:nobody, as it will be on
SmartOS; that part needs no privilege.
*/
package smftest

import (
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// defaultControlDir holds the balancer's control socket (issue 10).
const defaultControlDir = "/var/run/binder/balancer"

// socketsTimeout is the manifest's start method timeout for the companion.
const socketsTimeout = 30 * time.Second

// socketsWorld is one test's temporary world for the sockets method.
type socketsWorld struct {
	dir        string
	socketDir  string
	controlDir string
	fakeBin    string
	env        []string
}

func newSocketsWorld(t *testing.T) *socketsWorld {
	t.Helper()
	dir := t.TempDir()
	fakeBin := filepath.Join(dir, "bin")
	if err := os.Mkdir(fakeBin, 0o755); err != nil {
		t.Fatal(err)
	}
	include := filepath.Join(dir, "smf_include.sh")
	writeScript(t, include, fakeSMFInclude)
	w := &socketsWorld{
		dir:        dir,
		socketDir:  filepath.Join(dir, "var", "run", "binder", "sockets"),
		controlDir: filepath.Join(dir, "var", "run", "binder", "balancer"),
		fakeBin:    fakeBin,
	}
	w.env = []string{
		"PATH=" + hostPath(fakeBin),
		"SMF_FMRI=svc:/manta/application/binder-balancer-sockets:default",
		"SMF_METHOD=start",
		"SMF_INCLUDE=" + include,
		"SOCKET_DIR=" + w.socketDir,
		"CONTROL_DIR=" + w.controlDir,
	}
	return w
}

func (w *socketsWorld) run(t *testing.T, extraEnv ...string) methodResult {
	t.Helper()
	env := append(slices.Clone(w.env), extraEnv...)
	return runMethod(t, w.dir, methodPath(t, "binder-balancer-sockets"), env, socketsTimeout)
}

// owner is the account the directory should belong to on this machine.
type owner struct {
	uid, gid int
	env      []string // SOCKET_OWNER/SOCKET_GROUP needed here, if any
	checked  bool     // whether the ownership can be asserted (root only)
}

// expectedOwner returns nobody's uid and the gid of the group "nobody" (or
// of nobody's own group where there is no such group) when running as root.
// Not as root, chown to anyone else would fail, so the method is pointed at
// the current user and the ownership is not asserted.
func expectedOwner(t *testing.T) owner {
	t.Helper()
	if os.Geteuid() != 0 {
		me, err := user.Current()
		if err != nil {
			t.Fatalf("looking up the current user: %v", err)
		}
		group, err := user.LookupGroupId(me.Gid)
		if err != nil {
			t.Fatalf("looking up group %s: %v", me.Gid, err)
		}
		return owner{env: []string{"SOCKET_OWNER=" + me.Username, "SOCKET_GROUP=" + group.Name}}
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		missing(t, "no user nobody on this system: "+err.Error())
	}
	o := owner{checked: true}
	o.uid, _ = strconv.Atoi(nobody.Uid)
	group, err := user.LookupGroup("nobody")
	if err != nil {
		group, err = user.LookupGroupId(nobody.Gid)
		if err != nil {
			t.Fatalf("looking up nobody's group %s: %v", nobody.Gid, err)
		}
		o.env = []string{"SOCKET_GROUP=" + group.Name}
	}
	o.gid, _ = strconv.Atoi(group.Gid)
	return o
}

// assertSocketDir checks the directory's type, mode and (as root) owner.
func assertSocketDir(t *testing.T, path string, want owner) {
	t.Helper()
	assertDir(t, path, 0o770, want)
}

// assertDir checks a directory's type, mode and (as root) owner.
func assertDir(t *testing.T, path string, mode os.FileMode, want owner) {
	t.Helper()
	info, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("socket directory: %v", err)
	}
	if !info.IsDir() {
		t.Fatalf("%s is not a directory (mode %v)", path, info.Mode())
	}
	if got := info.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid | os.ModeSticky); got != mode {
		t.Errorf("%s mode %#o, want %#o", path, uint32(got), uint32(mode))
	}
	if !want.checked {
		return
	}
	st := info.Sys().(*syscall.Stat_t)
	if int(st.Uid) != want.uid || int(st.Gid) != want.gid {
		t.Errorf("%s owner %d:%d, want %d:%d (nobody)", path, st.Uid, st.Gid, want.uid, want.gid)
	}
}

func TestSocketsMethodCreatesDirectory(t *testing.T) {
	skipInShort(t)
	w := newSocketsWorld(t)
	o := expectedOwner(t)
	res := w.run(t, o.env...)
	if res.exitCode != exitOK {
		t.Fatalf("sockets method exited %d, want 0; stderr:\n%s", res.exitCode, res.stderr)
	}
	assertSocketDir(t, w.socketDir, o)
	// The control socket's directory: the balancer's (nobody's) alone.
	assertDir(t, w.controlDir, 0o700, o)
	parent, err := os.Stat(filepath.Dir(w.socketDir))
	if err != nil || !parent.IsDir() {
		t.Fatalf("parent directory not made: %v", err)
	}
	if parent.Mode().Perm()&0o005 != 0o005 {
		t.Errorf("parent mode %v: others (nobody) cannot pass through it", parent.Mode())
	}
}

// A second run keeps the directory and what is in it, and puts its owner and
// mode right again.
func TestSocketsMethodIsIdempotent(t *testing.T) {
	skipInShort(t)
	w := newSocketsWorld(t)
	o := expectedOwner(t)
	if res := w.run(t, o.env...); res.exitCode != exitOK {
		t.Fatalf("first run exited %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	backend := filepath.Join(w.socketDir, "5301")
	if err := os.WriteFile(backend, []byte("a backend's socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(w.socketDir, 0o700); err != nil {
		t.Fatal(err)
	}

	control := filepath.Join(w.controlDir, "control")
	if err := os.WriteFile(control, []byte("the control socket"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(w.controlDir, 0o755); err != nil {
		t.Fatal(err)
	}

	res := w.run(t, o.env...)
	if res.exitCode != exitOK {
		t.Fatalf("second run exited %d, want 0; stderr:\n%s", res.exitCode, res.stderr)
	}
	assertSocketDir(t, w.socketDir, o)
	assertDir(t, w.controlDir, 0o700, o)
	if got, err := os.ReadFile(control); err != nil || string(got) != "the control socket" {
		t.Errorf("the second run lost the control socket: %q, %v", got, err)
	}
	if got, err := os.ReadFile(backend); err != nil || string(got) != "a backend's socket" {
		t.Errorf("the second run lost what was in the directory: %q, %v", got, err)
	}
}

func TestSocketsMethodRefusesNonDirectory(t *testing.T) {
	skipInShort(t)
	for _, tc := range []struct {
		name    string
		make    func(t *testing.T, path string)
		message string
	}{
		{
			name: "plain file",
			make: func(t *testing.T, path string) {
				if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			message: "is not a directory",
		},
		{
			name: "symbolic link",
			make: func(t *testing.T, path string) {
				if err := os.Symlink(filepath.Dir(path), path); err != nil {
					t.Fatal(err)
				}
			},
			message: "symbolic link",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newSocketsWorld(t)
			o := expectedOwner(t)
			if err := os.MkdirAll(filepath.Dir(w.socketDir), 0o755); err != nil {
				t.Fatal(err)
			}
			tc.make(t, w.socketDir)
			before, err := os.Lstat(w.socketDir)
			if err != nil {
				t.Fatal(err)
			}
			res := w.run(t, o.env...)
			if res.exitCode != exitErrConfig {
				t.Fatalf("sockets method exited %d, want %d; stderr:\n%s", res.exitCode, exitErrConfig, res.stderr)
			}
			if !strings.Contains(res.stderr, w.socketDir) || !strings.Contains(res.stderr, tc.message) {
				t.Errorf("stderr should name %s and say %q:\n%s", w.socketDir, tc.message, res.stderr)
			}
			after, err := os.Lstat(w.socketDir)
			if err != nil || after.Mode() != before.Mode() {
				t.Errorf("the method changed what it refused: mode %v -> %v (%v)", before.Mode(), after.Mode(), err)
			}
		})
	}
}

// Without SOCKET_OWNER and SOCKET_GROUP the method gives the directory to
// nobody:nobody, as SPEC §11 says.  A fake chown records its arguments.
func TestSocketsMethodDefaultOwnerIsNobody(t *testing.T) {
	skipInShort(t)
	w := newSocketsWorld(t)
	record := filepath.Join(w.dir, "chown-args")
	writeScript(t, filepath.Join(w.fakeBin, "chown"), `#!/bin/sh
# fake chown: record the arguments, change nothing
printf '%s\n' "$@" >> "$FAKE_CHOWN_RECORD"
`)
	res := w.run(t, "FAKE_CHOWN_RECORD="+record)
	if res.exitCode != exitOK {
		t.Fatalf("sockets method exited %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	got := strings.Split(strings.TrimSuffix(readFile(t, record), "\n"), "\n")
	if want := []string{"nobody:nobody", w.socketDir, "nobody:nobody", w.controlDir}; !slices.Equal(got, want) {
		t.Errorf("chown %q, want %q", got, want)
	}
}

// The real directory is the default.
func TestSocketsMethodDefaultPath(t *testing.T) {
	skipInShort(t)
	w := newSocketsWorld(t)
	w.env = slices.DeleteFunc(w.env, func(kv string) bool {
		return strings.HasPrefix(kv, "SOCKET_DIR=") || strings.HasPrefix(kv, "CONTROL_DIR=")
	})
	record := filepath.Join(w.dir, "mkdir-args")
	// Fakes for every command that would touch the system's /var/run.
	for _, name := range []string{"mkdir", "chown", "chmod"} {
		writeScript(t, filepath.Join(w.fakeBin, name), `#!/bin/sh
printf '%s\n' "`+name+` $*" >> "$FAKE_RECORD"
`)
	}
	res := w.run(t, "FAKE_RECORD="+record)
	if res.exitCode != exitOK {
		// An existing non-directory at the real path would be refused.
		t.Fatalf("sockets method exited %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	want := "mkdir -p " + defaultSocketDir + "\n" +
		"chown nobody:nobody " + defaultSocketDir + "\n" +
		"chmod 770 " + defaultSocketDir + "\n" +
		"mkdir -p " + defaultControlDir + "\n" +
		"chown nobody:nobody " + defaultControlDir + "\n" +
		"chmod 700 " + defaultControlDir + "\n"
	if got := readFile(t, record); got != want {
		t.Errorf("commands run:\n%s\nwant:\n%s", got, want)
	}
}

// The control directory may not be inside the socket directory, where the
// balancer would take its own control socket for a backend.
func TestSocketsMethodRefusesControlDirInSocketDir(t *testing.T) {
	skipInShort(t)
	w := newSocketsWorld(t)
	o := expectedOwner(t)
	res := w.run(t, append(o.env, "CONTROL_DIR="+filepath.Join(w.socketDir, "balancer"))...)
	if res.exitCode != exitErrConfig || !strings.Contains(res.stderr, "is inside the socket directory") {
		t.Fatalf("sockets method exited %d, want %d; stderr:\n%s", res.exitCode, exitErrConfig, res.stderr)
	}
	if _, err := os.Stat(w.socketDir); err == nil {
		t.Errorf("the method made %s before refusing", w.socketDir)
	}
}
