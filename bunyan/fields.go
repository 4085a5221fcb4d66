/*
Field helpers for values the balancer logs often and zerolog has no fitting
method for.

IPv4 addresses are held as a uint32 whose most significant byte is the first
octet (as the backend protocol carries it). IPv4 formats the dotted quad into a stack
buffer and hands it to zerolog, so neither a disabled nor an enabled record
allocates for it; IPv4String returns a string for child-logger context, where
one allocation per logger is fine.

Errno reports a failed system call the way the C balancer did: errno (the
number) and strerror (its text, Go's wording, e.g. "no such file or
directory"), found anywhere in the error's chain with errors.As, and always
err, the whole message with its context.
*/

package bunyan

import (
	"errors"
	"strconv"
	"syscall"

	"github.com/rs/zerolog"
)

// Keys written by Errno (err is errKey, shared with zerolog's Err).
const (
	errnoKey    = "errno"
	strerrorKey = "strerror"
)

// maxIPv4Len is the length of the longest dotted quad, "255.255.255.255".
const maxIPv4Len = len("255.255.255.255")

// IPv4 adds key: "a.b.c.d" for an IPv4 address held as uint32 (most
// significant byte = first octet), without allocating. It is a no-op on a
// nil (disabled) event.
func IPv4(e *zerolog.Event, key string, addr uint32) *zerolog.Event {
	if e == nil {
		return nil
	}
	var buf [maxIPv4Len]byte
	return e.Bytes(key, appendIPv4(buf[:0], addr))
}

// IPv4String formats an IPv4 address held as uint32 (most significant byte =
// first octet) as "a.b.c.d".
func IPv4String(addr uint32) string {
	var buf [maxIPv4Len]byte
	return string(appendIPv4(buf[:0], addr))
}

// appendIPv4 appends the dotted quad of addr to dst.
func appendIPv4(dst []byte, addr uint32) []byte {
	for shift := 24; shift >= 0; shift -= 8 {
		if shift != 24 {
			dst = append(dst, '.')
		}
		dst = strconv.AppendUint(dst, uint64(addr>>shift&0xff), 10)
	}
	return dst
}

// Errno adds errno (number) and strerror (text) when err wraps a
// syscall.Errno, and err (err.Error()) in every case. A nil err adds nothing;
// a nil (disabled) event stays nil and err is not inspected.
func Errno(e *zerolog.Event, err error) *zerolog.Event {
	if e == nil || err == nil {
		return e
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		e = e.Uint64(errnoKey, uint64(errno)).Str(strerrorKey, errno.Error())
	}
	return e.Str(errKey, err.Error())
}
