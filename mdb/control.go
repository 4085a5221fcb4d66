/*
 * The control socket: an AF_UNIX stream socket through which balstat (or
 * anyone the peer check admits) asks for a snapshot or changes the log
 * level. One request line, one JSON response, then the connection closes.
 *
 * Requests (a line of at most maxRequestLine bytes, words separated by
 * spaces):
 *
 *	snapshot                   the whole snapshot, remotes included
 *	summary                    the snapshot without the remotes list
 *	loglevel                   the level in force and the configured one
 *	loglevel LEVEL [SECONDS]   put LEVEL in force, for SECONDS if given
 *	loglevel reset             return to the configured level now
 *
 * Responses are one JSON object and a newline: {"snapshot":{...}},
 * {"log_level":{...}} or {"error":"..."}. The whole snapshot is streamed
 * as its remotes are read, a slice per loop turn (walk.go): its remotes
 * are in no particular order (the client sorts them), and the balancer
 * never holds more than a slice of them per client.
 *
 * Who is served: the socket file is mode 0600 and inside a directory that
 * only the balancer's user may enter (by default one it makes itself:
 * controlpath.go), and the server checks
 * the peer's credentials itself as well (peercred_*.go): only root and the
 * balancer's own effective user. Everything runs off the loop, one
 * goroutine per client, at most maxControlClients at a time, one of them
 * kept for root: clients that are not root (the balancer's user, or
 * refused ones being told so) have the others. The times are
 * defaultControlTimes': a client has 1 s to send its request line, and
 * then 10 s for the rest of the exchange; a whole snapshot, which may be
 * large, has 2 minutes instead, and every write of it must finish within
 * 5 s, so a client that reads slowly or not at all is cut off with its
 * buffers (one slice and a 64 KiB writer) and never holds up another, nor
 * the loop (which spends only the taking of a snapshot: see take.go and
 * walk.go).
 *
 * The path must not be inside the backend socket directory: the balancer
 * would discover its own control socket as a backend.
 */

package mdb

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/mdb/view"
)

const (
	maxRequestLine    = 1024
	maxControlClients = 8
	snapshotTimeout   = 5 * time.Second
)

// controlTimes bound each client's exchange (see the file comment).
type controlTimes struct {
	requestLine time.Duration // to send the request line
	exchange    time.Duration // the whole exchange but a full snapshot
	full        time.Duration // the whole exchange of a full snapshot
	write       time.Duration // each write of a full snapshot
}

var defaultControlTimes = controlTimes{
	requestLine: time.Second,
	exchange:    10 * time.Second,
	full:        2 * time.Minute,
	write:       5 * time.Second,
}

// ControlServer serves the control socket.
type ControlServer struct {
	ln      *net.UnixListener
	path    string
	in      *Inspector
	log     zerolog.Logger
	uid     int
	all     chan struct{} // a slot for every client being served
	nonRoot chan struct{} // and one of these too for a client not root
	wg      sync.WaitGroup

	times controlTimes
	peer  func(*net.UnixConn) (int, error) // peerUID; tests replace it

	refusedMu sync.Mutex
	refused   *bunyan.RateLimiter
}

// CheckControlPath refuses a control socket path inside the backend socket
// directory (either given relative or through symbolic links).
func CheckControlPath(path, backendDir string) error {
	if path == "" {
		return errors.New("control socket path is empty")
	}
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			return filepath.Clean(p)
		}
		if r, err := filepath.EvalSymlinks(a); err == nil {
			return r
		}
		return a
	}
	dir := abs(backendDir)
	parent := abs(filepath.Dir(path))
	rel, err := filepath.Rel(dir, parent)
	if err == nil && (rel == "." || !strings.HasPrefix(rel, "..")) {
		return fmt.Errorf("control socket %s is inside the backend socket directory %s, where it would be taken for a backend", path, backendDir)
	}
	return nil
}

// ListenControl creates the control socket at path (replacing a stale one)
// and starts serving in. It refuses a path inside backendDir.
func ListenControl(path, backendDir string, in *Inspector, log zerolog.Logger) (*ControlServer, error) {
	return listenControl(path, backendDir, in, log, defaultControlTimes, peerUID, os.Geteuid())
}

// listenControl is ListenControl with the per-client times, the peer
// check and the balancer's user given: fixed before the first client is
// served, so nothing changes them concurrently.
func listenControl(path, backendDir string, in *Inspector, log zerolog.Logger, times controlTimes, peer func(*net.UnixConn) (int, error), self int) (*ControlServer, error) {
	if err := CheckControlPath(path, backendDir); err != nil {
		return nil, err
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	s := &ControlServer{
		ln: ln, path: path, in: in, log: log, uid: self,
		all:     make(chan struct{}, maxControlClients),
		nonRoot: make(chan struct{}, maxControlClients-1),
		times:   times,
		peer:    peer,
		refused: bunyan.NewRateLimiter(log, zerolog.WarnLevel, "control socket client refused", bunyan.DefaultRate),
	}
	s.wg.Add(1)
	go s.serve()
	log.Info().Str("path", path).Msg("control socket listening")
	return s, nil
}

// removeStaleSocket removes a socket file nobody serves; it refuses to
// remove anything else, or a socket another process still serves.
func removeStaleSocket(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fmt.Errorf("control socket %s: a file that is not a socket is in the way", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("control socket %s: another process is serving it", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("control socket %s: %w", path, err)
	}
	return nil
}

// Path is the socket's path.
func (s *ControlServer) Path() string { return s.path }

// Close stops listening, removes the socket and waits for the clients
// being served (each bounded by its timeout).
func (s *ControlServer) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// admitted is the peer check: a client whose effective user ID (peerUID's
// answer, uid and err) is root's or the balancer's own (self) is served;
// any other, or one whose credentials could not be read, is refused.
func admitted(uid int, err error, self int) bool {
	return err == nil && (uid == 0 || uid == self)
}

func (s *ControlServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			bunyan.Errno(s.log.Warn(), err).Msg("control socket accept failed")
			time.Sleep(100 * time.Millisecond) // EMFILE and the like: don't spin
			continue
		}
		uid, err := s.peer(c)
		root := uid == 0 && err == nil
		release, ok := s.admit(root)
		if !ok {
			msg := fmt.Sprintf("busy: %d clients already being served", len(s.all))
			if !root {
				msg += fmt.Sprintf(" (of %d, one kept for root)", maxControlClients)
			}
			c.SetDeadline(time.Now().Add(time.Second))
			writeResponse(c, view.Response{Error: msg})
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer release()
			s.handle(c, uid, err)
		}()
	}
}

// admit takes a slot for a client, if one is free: any of them for root,
// any but the last for anyone else.
func (s *ControlServer) admit(root bool) (release func(), ok bool) {
	if !root {
		select {
		case s.nonRoot <- struct{}{}:
		default:
			return nil, false
		}
	}
	select {
	case s.all <- struct{}{}:
	default:
		if !root {
			<-s.nonRoot
		}
		return nil, false
	}
	return func() {
		<-s.all
		if !root {
			<-s.nonRoot
		}
	}, true
}

func writeResponse(w io.Writer, r view.Response) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func (s *ControlServer) handle(c *net.UnixConn, uid int, err error) {
	defer c.Close()
	start := time.Now()
	c.SetDeadline(start.Add(s.times.exchange))
	if !admitted(uid, err, s.uid) {
		s.refusedMu.Lock()
		if s.refused.Allow(time.Now()) {
			e := s.log.Warn().Int("uid", uid)
			if err != nil {
				e = bunyan.Errno(e, err)
			}
			e.Msg("control socket client refused")
		}
		s.refusedMu.Unlock()
		writeResponse(c, view.Response{Error: "permission denied: only root and the balancer's user are served"})
		return
	}
	c.SetReadDeadline(start.Add(s.times.requestLine))
	line, err := readLine(c, maxRequestLine)
	if err != nil {
		writeResponse(c, view.Response{Error: err.Error()})
		return
	}
	// A full snapshot lists every remote (there may be millions): it is
	// streamed, each write bounded by its own deadline.
	if strings.TrimSpace(line) == "snapshot" {
		end := start.Add(s.times.full)
		c.SetDeadline(end)
		w := &deadlineWriter{c: c, each: s.times.write, end: end}
		if err := s.in.WriteSnapshot(w, snapshotTimeout); err != nil && !w.failed {
			writeResponse(c, view.Response{Error: err.Error()})
		}
		return
	}
	writeResponse(c, s.answer(line, uid))
}

// deadlineWriter gives each write its own deadline (each from now, never
// past end); failed records that a write failed.
type deadlineWriter struct {
	c      *net.UnixConn
	each   time.Duration
	end    time.Time
	failed bool
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	d := time.Now().Add(w.each)
	if d.After(w.end) {
		d = w.end
	}
	w.c.SetWriteDeadline(d)
	n, err := w.c.Write(p)
	if err != nil {
		w.failed = true
		err = fmt.Errorf("control socket client: %w", err)
	}
	return n, err
}

// readLine reads one line of at most max bytes (without its newline; a
// last line without one is accepted).
func readLine(r io.Reader, max int) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, int64(max)+1), 256)
	line := make([]byte, 0, 64)
	for {
		c, err := br.ReadByte()
		switch {
		case err == nil && c == '\n':
			return strings.TrimRight(string(line), "\r"), nil
		case err == nil:
			if len(line) == max {
				return "", fmt.Errorf("request line longer than %d bytes", max)
			}
			line = append(line, c)
		case errors.Is(err, io.EOF) && len(line) > 0:
			return strings.TrimRight(string(line), "\r"), nil
		case errors.Is(err, io.EOF):
			return "", errors.New("no request")
		default:
			return "", fmt.Errorf("reading request: %w", err)
		}
	}
}

const requestHelp = "requests: snapshot | summary | loglevel | loglevel LEVEL [SECONDS] | loglevel reset"

func (s *ControlServer) answer(line string, uid int) view.Response {
	f := strings.Fields(line)
	if len(f) == 0 {
		return view.Response{Error: "empty request; " + requestHelp}
	}
	who := "control socket (uid " + strconv.Itoa(uid) + ")"
	switch {
	case f[0] == "summary" && len(f) == 1:
		snap, err := s.in.Take(false, snapshotTimeout)
		if err != nil {
			return view.Response{Error: err.Error()}
		}
		return view.Response{Snapshot: snap}
	case f[0] == "loglevel" && s.in.Level() == nil:
		return view.Response{Error: "this balancer has no run-time log level"}
	case f[0] == "loglevel" && len(f) == 1:
		st := s.in.Level().Current()
		return view.Response{LogLevel: &st}
	case f[0] == "loglevel" && len(f) == 2 && f[1] == "reset":
		if err := s.in.Level().Reset(who); err != nil {
			return view.Response{Error: err.Error()}
		}
		st := s.in.Level().Current()
		return view.Response{LogLevel: &st}
	case f[0] == "loglevel" && len(f) <= 3:
		lvl, err := bunyan.ParseLevel(f[1])
		if err != nil {
			return view.Response{Error: err.Error()}
		}
		var d time.Duration
		if len(f) == 3 {
			n, err := strconv.ParseUint(f[2], 10, 32)
			if err != nil || n == 0 {
				return view.Response{Error: fmt.Sprintf("%q is not a number of seconds (1 or more)", f[2])}
			}
			d = time.Duration(n) * time.Second
		}
		if err := s.in.Level().Set(lvl, d, who); err != nil {
			return view.Response{Error: err.Error()}
		}
		st := s.in.Level().Current()
		return view.Response{LogLevel: &st}
	}
	return view.Response{Error: fmt.Sprintf("unknown request %q; %s", truncate(line, 64), requestHelp)}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
