/*
 * The control socket's client side, for balstat: send one request line,
 * read one JSON response. The requests and the answer's shape are the
 * server's (package mdb, control.go); Response and LevelState are here so
 * that both ends share them without the client linking the server.
 */

package view

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"time"
)

// maxResponse bounds what a client reads (a snapshot of a very large
// remote table is big, but not unbounded).
const maxResponse = 1 << 30

// Response is the control socket's answer.
type Response struct {
	Snapshot *Snapshot   `json:"snapshot,omitempty"`
	LogLevel *LevelState `json:"log_level,omitempty"`
	Error    string      `json:"error,omitempty"`
}

// LevelState is the log level in force, as the control socket reports it.
type LevelState struct {
	Level      string `json:"level"`
	Configured string `json:"configured"`
	Until      string `json:"until,omitempty"` // RFC 3339; empty: no revert pending
}

// Request sends line to the control socket at path and decodes the answer;
// an answer that reports an error is returned as one.
func Request(path, line string, timeout time.Duration) (*Response, error) {
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	// A server that refuses us answers at once and closes, so a failed
	// write may still be followed by an answer worth reading.
	_, werr := io.WriteString(c, line+"\n")
	var r Response
	dec := json.NewDecoder(io.LimitReader(c, maxResponse))
	if err := dec.Decode(&r); err != nil {
		if werr != nil {
			return nil, fmt.Errorf("control socket %s: %w", path, werr)
		}
		return nil, fmt.Errorf("control socket %s: reading the answer: %w", path, err)
	}
	if r.Error != "" {
		return &r, errors.New(r.Error)
	}
	return &r, nil
}

// FetchSnapshot asks for a snapshot (with the remotes list if
// withRemotes, sorted by address). The balancer streams the remotes as it
// walks its table, in no particular order, and a client forgotten and
// heard from again during the walk may come twice: the list is sorted
// here and such an address kept once, as last seen.
func FetchSnapshot(path string, withRemotes bool, timeout time.Duration) (*Snapshot, error) {
	req := "summary"
	if withRemotes {
		req = "snapshot"
	}
	r, err := Request(path, req, timeout)
	if err != nil {
		return nil, err
	}
	if r.Snapshot == nil {
		return nil, fmt.Errorf("control socket %s: the answer has no snapshot", path)
	}
	r.Snapshot.Remotes = SortRemotes(r.Snapshot.Remotes)
	return r.Snapshot, nil
}

// SortRemotes sorts rs by address, keeping of each address the one last
// seen (in place: it returns rs shortened).
func SortRemotes(rs []Remote) []Remote {
	slices.SortFunc(rs, func(a, b Remote) int {
		if c := a.Addr.Compare(b.Addr); c != 0 {
			return c
		}
		return cmp.Compare(a.LastSeen, b.LastSeen)
	})
	out := rs[:0]
	for i := range rs {
		if i+1 < len(rs) && rs[i+1].Addr == rs[i].Addr {
			continue
		}
		out = append(out, rs[i])
	}
	return out
}
