package view

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestDefaultControlPath(t *testing.T) {
	if got := DefaultControlPath(60001, 53); got != "/tmp/bbal-60001/control.53" {
		t.Errorf("DefaultControlPath(60001, 53) = %q", got)
	}
}

// shortBase is a base directory short enough for sun_path.
func shortBase(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "cp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func TestMakeControlDir(t *testing.T) {
	base := shortBase(t)
	uid := os.Geteuid()
	dir := filepath.Join(base, "bbal-"+strconv.Itoa(uid))
	if err := makeControlDir(dir, uid); err != nil {
		t.Fatalf("making %s: %v", dir, err)
	}
	info, err := os.Lstat(dir)
	if err != nil || !info.IsDir() || info.Mode().Perm()&0o077 != 0 {
		t.Fatalf("%s: %v %v, want a directory closed to others", dir, info.Mode(), err)
	}
	if err := makeControlDir(dir, uid); err != nil {
		t.Errorf("an existing good directory is refused: %v", err)
	}

	for _, tc := range []struct {
		name string
		make func(path string) error
		uid  int
		want string
	}{
		{"symbolic link", func(p string) error { return os.Symlink(base, p) }, uid, "is a symbolic link"},
		{"plain file", func(p string) error { return os.WriteFile(p, nil, 0o600) }, uid, "is not a directory"},
		{"open to others", func(p string) error {
			if err := os.Mkdir(p, 0o700); err != nil {
				return err
			}
			return os.Chmod(p, 0o755)
		}, uid, "has mode 0755, open to others"},
		// Made first by another user: here, a directory whose owner is not
		// the uid asked for.
		{"another user's", func(p string) error { return os.Mkdir(p, 0o700) }, uid + 1, "is owned by uid " + strconv.Itoa(uid)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(base, strings.ReplaceAll(tc.name, " ", "-"))
			if err := tc.make(path); err != nil {
				t.Fatal(err)
			}
			err := makeControlDir(path, tc.uid)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "give -c") {
				t.Errorf("makeControlDir(%s): %v, want an error with %q", path, err, tc.want)
			}
		})
	}
}

// listenAt listens on a unix socket at path until the test ends.
func listenAt(t *testing.T, path string) *net.UnixListener {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestFindControlSocket(t *testing.T) {
	uid := os.Geteuid()
	base := shortBase(t)
	dir := filepath.Join(base, "bbal-"+strconv.Itoa(uid))

	// Nothing there.
	if _, err := findControlSocket(base, uid); err == nil || !strings.Contains(err.Error(), "no balancer's control socket found in "+base+"/bbal-") {
		t.Errorf("no directory: %v", err)
	}
	if err := makeControlDir(dir, uid); err != nil {
		t.Fatal(err)
	}
	// Not sockets, or not named control.PORT: ignored.
	os.WriteFile(filepath.Join(dir, "control.54"), nil, 0o600)
	listenAt(t, filepath.Join(dir, "other"))
	listenAt(t, filepath.Join(dir, "control.x"))
	if _, err := findControlSocket(base, uid); err == nil || !strings.Contains(err.Error(), "no balancer's control socket") {
		t.Errorf("no control.PORT socket: %v", err)
	}

	// One: found, by its user and by root.
	want := filepath.Join(dir, "control.53")
	listenAt(t, want)
	for _, euid := range []int{uid, 0} {
		if got, err := findControlSocket(base, euid); got != want || err != nil {
			t.Errorf("findControlSocket as %d = %q, %v; want %q", euid, got, err, want)
		}
	}

	// A stale one beside it: the live one is chosen.
	stale := listenAt(t, filepath.Join(dir, "control.5300"))
	stale.SetUnlinkOnClose(false)
	stale.Close()
	if got, err := findControlSocket(base, uid); got != want || err != nil {
		t.Errorf("with a stale socket: %q, %v; want %q", got, err, want)
	}

	// Two live ones: ask for -c, naming both.
	listenAt(t, filepath.Join(dir, "control.5301"))
	_, err := findControlSocket(base, uid)
	if err == nil || !strings.Contains(err.Error(), "give -c with one of "+want+", "+filepath.Join(dir, "control.5301")) {
		t.Errorf("two balancers: %v", err)
	}
}

// Root looks in every user's directory, but only in those that pass the
// check for the user the name says.
func TestFindControlSocketSkipsUnsafeDirectories(t *testing.T) {
	uid := os.Geteuid()
	base := shortBase(t)
	// Named for another user but owned by us: not that user's.
	impostor := filepath.Join(base, "bbal-"+strconv.Itoa(uid+1))
	// Ours, but open to others.
	open := filepath.Join(base, "bbal-"+strconv.Itoa(uid))
	for _, d := range []string{impostor, open} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		listenAt(t, filepath.Join(d, "control.53"))
	}
	if err := os.Chmod(open, 0o711); err != nil {
		t.Fatal(err)
	}
	if got, err := findControlSocket(base, 0); err == nil {
		t.Errorf("root found %q in a directory that fails the check", got)
	}
	if err := os.Chmod(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if got, err := findControlSocket(base, 0); got != filepath.Join(open, "control.53") || err != nil {
		t.Errorf("root found %q, %v; want the socket in %s only", got, err, open)
	}
}
