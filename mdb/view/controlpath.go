/*
 * Where the control socket is when nobody says (bbal without -c, balstat
 * without -c): /tmp/bbal-UID/control.PORT, UID the balancer's effective
 * user and PORT its DNS port.
 *
 * Why there: the balancer must be able to make it by itself, as whatever
 * user it runs as (Binder's manifest runs it as nobody, with no -c and no
 * writable /var/run), and it must never be inside the backend socket
 * directory, where it would be taken for a backend. /tmp is writable by
 * everyone (and sticky, so nobody may rename another's directory); it is
 * the balancer's working directory under SMF. The port in the name keeps
 * two balancers of one user apart.
 *
 * Since anyone may create /tmp/bbal-UID first, the directory is checked as
 * a secure temporary directory is (tmux's /tmp/tmux-UID): it must be a
 * directory, not a symbolic link, owned by UID, with no access for group
 * or others. Anything else is refused with the reason; nothing is removed
 * or repaired. Inside a directory only UID (and root) can enter, the
 * socket cannot be replaced by another user.
 *
 * balstat finds the socket the same way: it looks in its own user's
 * directory, and when run as root in every /tmp/bbal-UID that passes the
 * same check for its UID, at the sockets named control.PORT there.
 * One found is the one; several are narrowed to those that accept a
 * connection; otherwise balstat names them and asks for -c.
 */

package view

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// controlBase is the directory the default control directories are made
// in.
const controlBase = "/tmp"

// controlDirPrefix and controlSocketPrefix name the default directory
// (prefix + UID) and socket (prefix + PORT).
const (
	controlDirPrefix    = "bbal-"
	controlSocketPrefix = "control."
)

// DefaultControlPath is the control socket of a balancer running as uid on
// port, when -c does not name one.
func DefaultControlPath(uid int, port uint16) string {
	return defaultControlPathIn(controlBase, uid, port)
}

func defaultControlPathIn(base string, uid int, port uint16) string {
	return filepath.Join(base, controlDirPrefix+strconv.Itoa(uid), controlSocketPrefix+strconv.Itoa(int(port)))
}

// MakeControlDir makes the directory of the default control socket path
// for the effective user (mode 0700), or checks the one that is there:
// a directory, not a symbolic link, owned by that user, with no access for
// group or others.
func MakeControlDir(path string) error {
	return makeControlDir(filepath.Dir(path), os.Geteuid())
}

func makeControlDir(dir string, uid int) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("control socket directory %s: %w", dir, err)
	}
	return checkControlDir(dir, uid)
}

// checkControlDir checks that dir is a directory owned by uid that only uid
// may enter.
func checkControlDir(dir string, uid int) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("control socket directory %s: %w", dir, err)
	}
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("control socket directory %s is a symbolic link: refusing it (remove it, or give -c)", dir)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("control socket directory %s is not a directory: refusing it (remove it, or give -c)", dir)
	case int(st.Uid) != uid:
		return fmt.Errorf("control socket directory %s is owned by uid %d, not %d: refusing it (remove it, or give -c)", dir, st.Uid, uid)
	case st.Mode&0o077 != 0:
		return fmt.Errorf("control socket directory %s has mode %04o, open to others: refusing it (remove it, or give -c)", dir, st.Mode&0o7777)
	}
	return nil
}

// FindControlSocket is the control socket balstat asks when -c does not
// name one: the one default socket found (see above), or among several the
// one that accepts a connection.
func FindControlSocket() (string, error) {
	return findControlSocket(controlBase, os.Geteuid())
}

func findControlSocket(base string, euid int) (string, error) {
	found, err := controlSockets(base, euid)
	if err != nil {
		return "", err
	}
	if len(found) > 1 {
		found = slices.DeleteFunc(found, func(path string) bool {
			c, err := net.DialTimeout("unix", path, time.Second)
			if err != nil {
				return true
			}
			c.Close()
			return false
		})
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		where := filepath.Join(base, controlDirPrefix+strconv.Itoa(euid))
		if euid == 0 {
			where = filepath.Join(base, controlDirPrefix+"*")
		}
		return "", fmt.Errorf("no balancer's control socket found in %s (give -c SOCKET)", where)
	}
	return "", fmt.Errorf("several balancers are running: give -c with one of %s", strings.Join(found, ", "))
}

// controlSockets lists the default control sockets euid may ask, sorted.
func controlSockets(base string, euid int) ([]string, error) {
	dirs := []string{filepath.Join(base, controlDirPrefix+strconv.Itoa(euid))}
	if euid == 0 {
		var err error
		if dirs, err = filepath.Glob(filepath.Join(base, controlDirPrefix+"*")); err != nil {
			return nil, err
		}
	}
	var found []string
	for _, dir := range dirs {
		uid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), controlDirPrefix))
		if err != nil || uid < 0 || checkControlDir(dir, uid) != nil {
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			port, ok := strings.CutPrefix(e.Name(), controlSocketPrefix)
			if !ok || port == "" || strings.Trim(port, "0123456789") != "" {
				continue
			}
			path := filepath.Join(dir, e.Name())
			var st unix.Stat_t
			if unix.Lstat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
				continue
			}
			found = append(found, path)
		}
	}
	slices.Sort(found)
	return found, nil
}
