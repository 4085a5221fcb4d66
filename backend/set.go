/*
 * Set: every backend the balancer knows, found by scanning the socket
 * directory, and round-robin selection among them.
 *
 * Discovery reads the directory at Start and every Timings.Scan (and when
 * Rescan is called, on SIGHUP). Each entry other than . and .. whose name
 * fits in sun_path (107 bytes) and which is a socket becomes a backend the
 * first time it is seen; anything else is skipped with one warning per
 * name (not one per scan). A backend's ID is its file name when that is an
 * integer from 5300 to 5399 not already taken, else the highest ID in use
 * plus one; 0 is never an ID. Backends are never forgotten: a socket file
 * that disappears marks its backend removed (once its session is gone), and
 * a later scan that finds it again reconnects at once.
 *
 * A directory that cannot be read logs "error opening socket directory"
 * (error); a name too long for sun_path logs "backend socket path is too
 * long" (error, once per name rather than once per scan as in C).
 *
 * Selection is round-robin in ID order, starting after the backend chosen
 * last and skipping those not usable (ok and not ejected, health.go); with
 * none usable Select returns nil and logs "no backends available" (error)
 * at most once per Timings.NoBackendsLog (a bunyan.RateLimiter with a
 * burst of one: the summary of the records it suppressed follows, as for
 * every rate-limited record). SelectWithRoom, for a spill, also skips the
 * full backend and any other whose session could not take the query, and
 * logs nothing; PickByHash, for a client the remote table serves
 * untracked, picks by a hash instead of in turn.
 *
 * OUTBOUND_UDP answers from any backend go to the sink the caller installs
 * with SetAnswerSink (the UDP proxy); this package never imports the proxy.
 * The Set is owned by the loop.
 */

package backend

import (
	"cmp"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/evport"
)

// msgNoBackends is backend.c's record when Select finds no backend ok.
const msgNoBackends = "no backends available"

// maxSocketPath is the longest path that fits sockaddr_un.sun_path with its NUL.
const maxSocketPath = 107

// Binder names each socket after the port its instance serves.
const (
	portIDFirst = 5300
	portIDLast  = 5399
)

// AnswerSink receives each OUTBOUND_UDP answer: the backend that sent it
// (whose logger a failure to send it is logged on, as C's "outbound UDP
// packet error" was), the client address and port and the DNS message
// (valid only during the call).
type AnswerSink func(from *Backend, addr uint32, port uint16, msg []byte)

// Set is the table of backends; see the file comment.
type Set struct {
	loop    *evport.Loop
	log     zerolog.Logger
	dir     string
	timings Timings

	byID    []*Backend // sorted by ID
	byPath  map[string]*Backend
	skipped map[string]bool // non-backend entries already warned about
	last    uint32          // ID chosen most recently

	sink      AnswerSink
	noneLog   *bunyan.RateLimiter // "no backends available"
	scanTimer *evport.Timer
	stopped   bool

	// dial starts a session: evport.Dial, replaced by tests that need a
	// connect to fail in ways a socket directory cannot arrange.
	dial func(*evport.Loop, unix.Sockaddr, evport.ConnHandler, evport.ConnConfig) (*evport.Conn, error)
}

// NewSet creates the set for the socket directory dir; its rate-limited
// record joins limits. Nothing happens until Start.
func NewSet(loop *evport.Loop, log zerolog.Logger, limits *bunyan.Limits, dir string, t Timings) *Set {
	return &Set{
		loop:    loop,
		log:     log,
		dir:     dir,
		timings: t,
		byPath:  make(map[string]*Backend),
		skipped: make(map[string]bool),
		sink:    func(*Backend, uint32, uint16, []byte) {},
		noneLog: limits.New(log, zerolog.ErrorLevel, msgNoBackends,
			bunyan.Rate{Every: t.NoBackendsLog, Burst: 1, SummaryEvery: t.NoBackendsLog}),
		dial: evport.Dial,
	}
}

// SetAnswerSink installs the receiver of OUTBOUND_UDP answers.
func (s *Set) SetAnswerSink(sink AnswerSink) { s.sink = sink }

func (s *Set) answer(from *Backend, addr uint32, port uint16, msg []byte) {
	s.sink(from, addr, port, msg)
}

// Timings returns the set's intervals.
func (s *Set) Timings() Timings { return s.timings }

// Start scans the directory now and every Timings.Scan from then on.
func (s *Set) Start() {
	s.Rescan()
	s.scanTimer = s.loop.Every(s.timings.Scan, s.Rescan)
}

// Stop closes every session and stops all timers (shutdown).
func (s *Set) Stop() {
	s.stopped = true
	if s.scanTimer != nil {
		s.scanTimer.Stop()
	}
	for _, b := range s.byID {
		b.stop()
	}
}

// Backends returns the backends in ID order. The slice is the set's own:
// read it, don't keep or change it.
func (s *Set) Backends() []*Backend { return s.byID }

// compareID orders backends against an ID (the binary searches of byID).
func compareID(b *Backend, id uint32) int { return cmp.Compare(b.id, id) }

// Lookup finds a backend by ID.
func (s *Set) Lookup(id uint32) *Backend {
	i, found := slices.BinarySearchFunc(s.byID, id, compareID)
	if !found {
		return nil
	}
	return s.byID[i]
}

// Select picks the next usable backend round-robin; nil if none is.
func (s *Set) Select() *Backend {
	if b := s.next(nil, -1); b != nil {
		return b
	}
	if s.noneLog.Allow(s.loop.Now()) {
		s.log.Error().Int("backends", len(s.byID)).Msg(msgNoBackends)
	}
	return nil
}

// SelectWithRoom picks the next usable backend round-robin, other than
// except, whose session can take a query of n bytes now; nil if none can.
// It logs nothing: the caller (a spill) has a backend, only a full one.
func (s *Set) SelectWithRoom(except *Backend, n int) *Backend {
	return s.next(except, n)
}

// next is the round-robin: the first usable backend after the one chosen
// last, other than except and, for n >= 0, with room for a query of n
// bytes; it becomes the one chosen last. Nil if there is none.
func (s *Set) next(except *Backend, n int) *Backend {
	count := len(s.byID)
	start, _ := slices.BinarySearchFunc(s.byID, s.last+1, compareID)
	for i := 0; i < count; i++ {
		b := s.byID[(start+i)%count]
		if b != except && b.Usable() && (n < 0 || !b.Full(n)) {
			s.last = b.id
			return b
		}
	}
	return nil
}

// PickByHash picks a usable backend for h, the same while the usable
// backends stay the same (h modulo their number, in ID order); nil if none
// is usable. It logs nothing.
func (s *Set) PickByHash(h uint32) *Backend {
	n := 0
	for _, b := range s.byID {
		if b.Usable() {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	k := int(h % uint32(n))
	for _, b := range s.byID {
		if b.Usable() {
			if k == 0 {
				return b
			}
			k--
		}
	}
	return nil
}

// Rescan reads the socket directory now (nothing once the Set is stopped:
// a late SIGHUP must not start sessions during shutdown).
func (s *Set) Rescan() {
	if s.stopped {
		return
	}
	entries, err := s.readDir()
	if err != nil {
		return
	}
	present := make(map[string]bool, len(entries))
	for _, ent := range entries {
		path := filepath.Join(s.dir, ent.Name())
		present[path] = true
		if b := s.byPath[path]; b != nil {
			if b.Removed() {
				b.returned()
			}
			continue
		}
		if len(path) > maxSocketPath {
			if !s.skipped[path] {
				s.skipped[path] = true
				s.log.Error().Str("socket_path", path).Msg("backend socket path is too long")
			}
			continue
		}
		if reason := unusable(path); reason != "" {
			if !s.skipped[path] {
				s.skipped[path] = true
				s.log.Warn().Str("path", path).Str("reason", reason).Msg("skipping entry in backend socket directory")
			}
			continue
		}
		delete(s.skipped, path)
		s.add(ent.Name(), path)
	}
	for path, b := range s.byPath {
		if !present[path] {
			b.vanished()
		}
	}
	for path := range s.skipped {
		if !present[path] {
			delete(s.skipped, path)
		}
	}
}

// readDir lists the socket directory, logging a failure as backends_refresh
// does: "error opening socket directory" or "error reading socket
// directory" (error), with socket_dir, errno and error (the strerror text).
func (s *Set) readDir() ([]os.DirEntry, error) {
	logErr := func(msg string, err error) {
		e := s.log.Error().Str("socket_dir", s.dir)
		if errno := unix.Errno(0); errors.As(err, &errno) {
			e = e.Int("errno", int(errno)).Str("error", errno.Error())
		} else {
			e = e.Str("error", err.Error())
		}
		e.Msg(msg)
	}
	d, err := os.Open(s.dir)
	if err != nil {
		logErr("error opening socket directory", err)
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		logErr("error reading socket directory", err)
		return nil, err
	}
	// In name order, as os.ReadDir: IDs assigned beyond 5399 follow it.
	slices.SortFunc(entries, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// unusable says why the directory entry at path, short enough for sun_path,
// cannot be a backend ("" if it can).
func unusable(path string) string {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "stat: " + err.Error()
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return "not a socket"
	}
	return ""
}

func (s *Set) add(name, path string) {
	b := newBackend(s, s.nextID(name), path)
	i, _ := slices.BinarySearchFunc(s.byID, b.id, compareID)
	s.byID = slices.Insert(s.byID, i, b)
	s.byPath[path] = b
	b.log.Info().Msg("new backend")
	b.connectFresh()
}

// nextID applies the naming rule: the port number in the name if free,
// else one more than the highest ID in use.
func (s *Set) nextID(name string) uint32 {
	if n, err := strconv.ParseUint(name, 10, 32); err == nil && n >= portIDFirst && n <= portIDLast {
		if s.Lookup(uint32(n)) == nil {
			return uint32(n)
		}
	}
	if len(s.byID) == 0 {
		return 1
	}
	return s.byID[len(s.byID)-1].id + 1
}
