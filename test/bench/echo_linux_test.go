//go:build linux

package bench

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// watchedByNetpoller reports whether fd is among the descriptors an epoll
// instance of this process watches (the Go runtime's netpoller is one):
// /proc/self/fdinfo of an epoll fd lists each watched one as "tfd: N".
func watchedByNetpoller(t *testing.T, fd int) bool {
	t.Helper()
	links, err := filepath.Glob("/proc/self/fd/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if target, _ := os.Readlink(l); target != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + filepath.Base(l))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "tfd:" && f[1] == strconv.Itoa(fd) {
				return true
			}
		}
	}
	return false
}

// The frame echo's session descriptor is blocking and not on the
// netpoller, where each frame would also wake a runtime thread; c.File(),
// which it used before, is on it (the check can tell).
func TestRawDupIsBlockingAndUnwatched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	uc := server.(*net.UnixConn)

	viaFile, err := uc.File()
	if err != nil {
		t.Fatal(err)
	}
	defer viaFile.Close()
	if !watchedByNetpoller(t, int(viaFile.Fd())) {
		t.Fatalf("c.File()'s fd %d is not on the netpoller: the check cannot tell", viaFile.Fd())
	}

	fd, err := rawDup(uc)
	if err != nil {
		t.Fatalf("rawDup: %v", err)
	}
	// As session wraps it: os.NewFile of the blocking fd stays off too.
	f := os.NewFile(uintptr(fd), "session")
	defer f.Close()
	if watchedByNetpoller(t, fd) {
		t.Errorf("rawDup's fd %d, wrapped by os.NewFile, is on the netpoller", fd)
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.O_NONBLOCK != 0 {
		t.Errorf("rawDup's fd %d is non-blocking", fd)
	}
}
