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
 * {"log_level":{...}} or {"error":"..."}.
 *
 * Who is served: the socket file is mode 0600 and inside a directory that
 * only the balancer's user may enter (SMF makes it), and the server checks
 * the peer's credentials itself as well (peercred_*.go): only root and the
 * balancer's own effective user. Everything runs off the loop, one
 * goroutine per client, at most maxControlClients at a time; each client
 * has controlTimeout for the whole exchange, so one that says nothing,
 * sends an endless line or reads slowly costs a goroutine for that long and
 * never the loop (which spends only the taking of a snapshot: see take.go).
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
	controlTimeout    = 10 * time.Second
	snapshotTimeout   = 5 * time.Second
)

// ControlServer serves the control socket.
type ControlServer struct {
	ln   *net.UnixListener
	path string
	in   *Inspector
	log  zerolog.Logger
	uid  int
	sem  chan struct{}
	full chan struct{} // one full snapshot at a time
	wg   sync.WaitGroup

	timeout time.Duration // bounds each client's whole exchange

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
	return listenControl(path, backendDir, in, log, controlTimeout)
}

// listenControl is ListenControl with the per-client timeout given: fixed
// before the first client is served, so nothing changes it concurrently.
func listenControl(path, backendDir string, in *Inspector, log zerolog.Logger, timeout time.Duration) (*ControlServer, error) {
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
		ln: ln, path: path, in: in, log: log, uid: os.Geteuid(),
		sem:     make(chan struct{}, maxControlClients),
		full:    make(chan struct{}, 1),
		timeout: timeout,
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
		select {
		case s.sem <- struct{}{}:
		default:
			c.SetDeadline(time.Now().Add(time.Second))
			writeResponse(c, view.Response{Error: fmt.Sprintf("busy: %d clients already being served", maxControlClients)})
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.sem }()
			s.handle(c)
		}()
	}
}

func writeResponse(w io.Writer, r view.Response) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func (s *ControlServer) handle(c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(s.timeout))
	uid, err := peerUID(c)
	if err != nil || (uid != 0 && uid != s.uid) {
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
	line, err := readLine(c, maxRequestLine)
	if err != nil {
		writeResponse(c, view.Response{Error: err.Error()})
		return
	}
	// A full snapshot lists every remote (there may be millions): one is
	// built, encoded and sent at a time, so memory holds one, not eight.
	if strings.TrimSpace(line) == "snapshot" {
		wait := time.NewTimer(s.timeout)
		defer wait.Stop()
		select {
		case s.full <- struct{}{}:
			defer func() { <-s.full }()
		case <-wait.C:
			writeResponse(c, view.Response{Error: "busy: another full snapshot is being sent"})
			return
		}
	}
	writeResponse(c, s.answer(line, uid))
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
	case f[0] == "snapshot" && len(f) == 1, f[0] == "summary" && len(f) == 1:
		snap, err := s.in.Take(f[0] == "snapshot", snapshotTimeout)
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
