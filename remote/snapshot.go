/*
 * The table's snapshot, carried from a balancer process to its successor
 * in a handover (cmd/bbal handover.go), so that every client keeps its
 * backends (and node-mname its warm per-client caches) across a reload.
 *
 * The encoding, all integers big-endian:
 *
 *	magic      4  "BBRT"
 *	version    2  snapshotVersion
 *	backends   2  number of backend names, at most maxSnapshotBackends
 *	remotes    4  number of remotes, at most maxSnapshotRemotes
 *	names         per backend: length (1, 1..255) then the socket's file name
 *	entries       per remote, oldest first, 24 bytes: address (4), primary
 *	              and backup (2 each: 1 + index into the names, 0 for
 *	              none), first and last seen (8 each, Unix nanoseconds)
 *	crc        4  CRC-32 (IEEE) of everything before it
 *
 * Backends are named by their socket's file name, not their ID: an ID not
 * taken from a Binder port name depends on the order backends were found.
 *
 * Decoding checks everything before the table is touched: a snapshot that
 * is truncated, too long, of another version, over the bounds, with an
 * index out of range or a bad checksum is an error and nothing is
 * restored (the successor starts with an empty table, never a corrupt
 * one). What is carried: address, primary, backup, first and last seen.
 * What is not: the per-remote counters (Stats), and remotes beyond
 * maxSnapshotRemotes (the most recently seen are kept).
 */

package remote

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"path/filepath"
)

const (
	snapshotMagic       = "BBRT"
	snapshotVersion     = 1
	snapshotHeader      = 4 + 2 + 2 + 4
	snapshotEntry       = 4 + 2 + 2 + 8 + 8
	maxSnapshotBackends = 1024
	maxSnapshotRemotes  = DefaultMaxRemotes
)

// MaxSnapshotSize is the longest valid snapshot: a reader may stop there.
const MaxSnapshotSize = snapshotHeader + maxSnapshotBackends*(1+255) + maxSnapshotRemotes*snapshotEntry + 4

// ErrSnapshot is wrapped by every decoding error.
var ErrSnapshot = errors.New("bad remote table snapshot")

// snapshotRemote is one decoded entry.
type snapshotRemote struct {
	addr                uint32
	primary, backup     string // backend socket names; "" for none
	firstSeen, lastSeen int64
}

// Snapshot encodes the table (at most the maxSnapshotRemotes most recently
// seen remotes). It allocates; it runs once per handover.
func (t *Table) Snapshot() []byte {
	var order []uint32 // newest first
	for n := t.slots.head; n != none && len(order) < maxSnapshotRemotes; n = t.slots.at(n).next {
		order = append(order, n)
	}
	index := map[uint32]uint16{} // backend ID -> 1 + name index
	var names []string
	ref := func(id uint32) uint16 {
		if id == 0 {
			return 0
		}
		if i, ok := index[id]; ok {
			return i
		}
		b := t.set.Lookup(id)
		if b == nil || len(names) == maxSnapshotBackends {
			return 0
		}
		name := filepath.Base(b.Path())
		if len(name) == 0 || len(name) > 255 {
			return 0
		}
		names = append(names, name)
		index[id] = uint16(len(names))
		return index[id]
	}
	entries := make([]byte, 0, len(order)*snapshotEntry)
	for i := len(order) - 1; i >= 0; i-- {
		r := t.slots.at(order[i])
		entries = binary.BigEndian.AppendUint32(entries, r.Addr)
		entries = binary.BigEndian.AppendUint16(entries, ref(r.primary))
		entries = binary.BigEndian.AppendUint16(entries, ref(r.backup))
		entries = binary.BigEndian.AppendUint64(entries, uint64(r.firstSeen))
		entries = binary.BigEndian.AppendUint64(entries, uint64(r.lastSeen))
	}
	out := make([]byte, 0, snapshotHeader+len(names)*16+len(entries)+4)
	out = append(out, snapshotMagic...)
	out = binary.BigEndian.AppendUint16(out, snapshotVersion)
	out = binary.BigEndian.AppendUint16(out, uint16(len(names)))
	out = binary.BigEndian.AppendUint32(out, uint32(len(order)))
	for _, name := range names {
		out = append(out, byte(len(name)))
		out = append(out, name...)
	}
	out = append(out, entries...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(out))
}

// decodeSnapshot checks and decodes a snapshot.
func decodeSnapshot(b []byte) ([]snapshotRemote, error) {
	bad := func(format string, args ...any) ([]snapshotRemote, error) {
		return nil, fmt.Errorf("%w: "+format, append([]any{ErrSnapshot}, args...)...)
	}
	if len(b) > MaxSnapshotSize {
		return bad("%d bytes, over the %d a snapshot can have", len(b), MaxSnapshotSize)
	}
	if len(b) < snapshotHeader+4 {
		return bad("truncated: %d bytes", len(b))
	}
	if string(b[:4]) != snapshotMagic {
		return bad("magic %q, want %q", b[:4], snapshotMagic)
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != snapshotVersion {
		return bad("version %d, want %d", v, snapshotVersion)
	}
	nb, nr := int(binary.BigEndian.Uint16(b[6:])), int64(binary.BigEndian.Uint32(b[8:]))
	if nb > maxSnapshotBackends {
		return bad("%d backends, over %d", nb, maxSnapshotBackends)
	}
	if nr > maxSnapshotRemotes {
		return bad("%d remotes, over %d", nr, maxSnapshotRemotes)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	rest := body[snapshotHeader:]
	names := make([]string, 0, nb)
	for i := 0; i < nb; i++ {
		if len(rest) < 1 || int(rest[0]) == 0 || len(rest) < 1+int(rest[0]) {
			return bad("truncated or empty backend name %d", i)
		}
		names = append(names, string(rest[1:1+int(rest[0])]))
		rest = rest[1+int(rest[0]):]
	}
	if int64(len(rest)) != nr*snapshotEntry {
		return bad("%d bytes of entries for %d remotes, want %d", len(rest), nr, nr*snapshotEntry)
	}
	if got := crc32.ChecksumIEEE(body); got != sum {
		return bad("checksum %#08x, want %#08x", got, sum)
	}
	name := func(ref uint16) (string, bool) {
		if ref == 0 {
			return "", true
		}
		if int(ref) > len(names) {
			return "", false
		}
		return names[ref-1], true
	}
	out := make([]snapshotRemote, nr)
	for i := range out {
		e := rest[i*snapshotEntry:]
		p, okP := name(binary.BigEndian.Uint16(e[4:]))
		k, okB := name(binary.BigEndian.Uint16(e[6:]))
		if !okP || !okB {
			return bad("remote %d names a backend beyond the %d given", i, len(names))
		}
		out[i] = snapshotRemote{addr: binary.BigEndian.Uint32(e), primary: p, backup: k,
			firstSeen: int64(binary.BigEndian.Uint64(e[8:])), lastSeen: int64(binary.BigEndian.Uint64(e[16:]))}
	}
	return out, nil
}

// Restore fills an empty table from a snapshot made by Snapshot, after the
// backend Set's first scan (backends are matched by socket name; a remote
// whose backend is not known keeps none and chooses again). It returns the
// number of remotes restored; a bad snapshot is an error and restores
// nothing. Remotes beyond the table's cap are dropped, oldest first; times
// in the future are taken as now.
func (t *Table) Restore(b []byte) (int, error) {
	entries, err := decodeSnapshot(b)
	if err != nil {
		return 0, err
	}
	if len(t.byAddr) != 0 {
		return 0, fmt.Errorf("restore: the table already holds %d remotes", len(t.byAddr))
	}
	byName := map[string]uint32{}
	for _, be := range t.set.Backends() {
		if !be.Removed() {
			byName[filepath.Base(be.Path())] = be.ID()
		}
	}
	now := t.loop.Now().UnixNano()
	if skip := len(entries) - t.max; skip > 0 {
		entries = entries[skip:]
	}
	restored := 0
	for _, e := range entries {
		if _, dup := t.byAddr[e.addr]; dup {
			continue
		}
		n := t.slots.alloc()
		r := t.slots.at(n)
		*r = Remote{Addr: e.addr, firstSeen: min(e.firstSeen, now), lastSeen: min(e.lastSeen, now), inUse: true}
		t.slots.pushNewest(n)
		t.byAddr[e.addr] = n
		if id := byName[e.primary]; e.primary != "" && id != 0 {
			t.setPrimary(r, id)
			if e.backup != "" {
				r.backup = byName[e.backup]
			}
		}
		restored++
	}
	return restored, nil
}
