/*
Tests of the field helpers: IPv4 and IPv4String against net/netip as the
reference, and Errno on a real failing system call, on wrapped errors, on
errors without an errno, and on nil events and errors.
*/

package bunyan_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// referenceIPv4 is the dotted quad of addr computed by net/netip.
func referenceIPv4(addr uint32) string {
	return netip.AddrFrom4([4]byte{byte(addr >> 24), byte(addr >> 16), byte(addr >> 8), byte(addr)}).String()
}

func ipv4Samples() []uint32 {
	samples := []uint32{0, 0x0A4D4D05, 0x7F000001, 0xFFFFFFFF, 0x01020304, 0xC0A80001, 0x00FF00FF, 0x64000A09}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		samples = append(samples, rng.Uint32())
	}
	return samples
}

func TestIPv4StringKnownValues(t *testing.T) {
	for addr, want := range map[uint32]string{
		0x0A4D4D05: "10.77.77.5",
		0x7F000001: "127.0.0.1",
		0:          "0.0.0.0",
		0xFFFFFFFF: "255.255.255.255",
		0x01020304: "1.2.3.4",
	} {
		if got := bunyan.IPv4String(addr); got != want {
			t.Errorf("IPv4String(%#08x) = %q, want %q", addr, got, want)
		}
	}
	for _, addr := range ipv4Samples() {
		if got, want := bunyan.IPv4String(addr), referenceIPv4(addr); got != want {
			t.Errorf("IPv4String(%#08x) = %q, want %q", addr, got, want)
		}
	}
}

func TestIPv4Field(t *testing.T) {
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.InfoLevel)
	samples := ipv4Samples()
	for _, addr := range samples {
		bunyan.IPv4(log.Info(), "remote_ip", addr).Uint32("raw", addr).Msg("addr")
	}
	bunyan.IPv4(log.Debug(), "remote_ip", 1).Msg("disabled: not written")
	if got := bunyan.IPv4(nil, "k", 1); got != nil {
		t.Errorf("IPv4(nil, ...) = %v, want nil", got)
	}

	recs := decodeRecords(t, out.Bytes())
	if len(recs) != len(samples) {
		t.Fatalf("got %d records, want %d", len(recs), len(samples))
	}
	for i, r := range recs {
		checkKeys(t, r, "remote_ip", "raw")
		if got, want := r.str(t, "remote_ip"), referenceIPv4(samples[i]); got != want {
			t.Errorf("remote_ip = %q, want %q (raw %d)", got, want, r.num(t, "raw"))
		}
	}
}

// openMissing makes a real open(2) fail with ENOENT.
func openMissing(t *testing.T) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "no-such-socket")
	fd, err := unix.Open(path, unix.O_RDONLY, 0)
	if err == nil {
		unix.Close(fd)
		t.Fatalf("open %s succeeded", path)
	}
	return path, err
}

func TestErrnoFromFailedSyscall(t *testing.T) {
	path, raw := openMissing(t)
	_, pathErr := os.Open(path)
	wrapped := fmt.Errorf("connecting to backend %s: %w", path, raw)
	doubly := fmt.Errorf("backend 5301: %w", fmt.Errorf("scan: %w", pathErr))

	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.InfoLevel)
	before := time.Now()
	for _, err := range []error{raw, pathErr, wrapped, doubly} {
		bunyan.Errno(log.Error(), err).Str("path", path).Msg("open failed")
	}
	after := time.Now()

	recs := decodeRecords(t, out.Bytes())
	if len(recs) != 4 {
		t.Fatalf("got %d records, want 4:\n%s", len(recs), out.Bytes())
	}
	for i, err := range []error{raw, pathErr, wrapped, doubly} {
		r := recs[i]
		checkCore(t, r, 50, "open failed", before, after)
		checkKeys(t, r, "errno", "strerror", "err", "path")
		if got := r.num(t, "errno"); got != 2 { // ENOENT on Linux and illumos
			t.Errorf("record %d: errno = %d, want ENOENT (2)", i, got)
		}
		if got := r.str(t, "strerror"); got != "no such file or directory" {
			t.Errorf("record %d: strerror = %q, want %q", i, got, "no such file or directory")
		}
		if got := r.str(t, "err"); got != err.Error() {
			t.Errorf("record %d: err = %q, want %q", i, got, err.Error())
		}
	}
}

func TestErrnoWithoutSyscallError(t *testing.T) {
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.InfoLevel)
	plain := fmt.Errorf("backend 5301: %w", errors.New("protocol fault: second SERVER_HELLO"))
	bunyan.Errno(log.Warn(), plain).Msg("backend faulted (reset and reconnect)")
	bunyan.Errno(log.Warn(), nil).Msg("nil error adds nothing")

	recs := decodeRecords(t, out.Bytes())
	if len(recs) != 2 {
		t.Fatalf("got %d records, want 2:\n%s", len(recs), out.Bytes())
	}
	checkKeys(t, recs[0], "err")
	if got := recs[0].str(t, "err"); got != plain.Error() {
		t.Errorf("err = %q, want %q", got, plain.Error())
	}
	checkKeys(t, recs[1])
}

func TestErrnoOnDisabledEvent(t *testing.T) {
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.InfoLevel)
	_, err := openMissing(t)
	if got := bunyan.Errno(log.Debug(), err); got != nil {
		t.Errorf("Errno(disabled event) = %v, want nil", got)
	}
	bunyan.Errno(nil, err).Msg("nothing")
	if out.Len() != 0 {
		t.Errorf("disabled event wrote %q", out.Bytes())
	}
}
