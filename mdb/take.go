/*
 * Taking a snapshot: one function posted to the loop reads everything (the
 * accessors in backend, remote, proxy and evport return plain values), and
 * the caller's goroutine then converts, and sorts the remotes and proxies.
 * The remotes, which may number millions, are read in slices on later loop
 * turns (walk.go); the first slice is read with the rest, so a table of
 * up to one slice is read at the same instant as everything else.
 * On the loop are the copying and the timers' description:
 * evport.AppendTimers names each callback and sorts the timers, and the
 * NameTimers of backend, remote and proxy build each timer's label. The
 * caller waits at most its timeout. A scrape of the metrics needs only
 * counts: it takes neither the proxies nor any timer's description
 * (Loop.NumTimers counts the timers).
 */

package mdb

import (
	"cmp"
	"errors"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/evport"
	"github.com/joyent/mname-balancer/internal/ipv4"
	"github.com/joyent/mname-balancer/mdb/view"
	"github.com/joyent/mname-balancer/proxy"
	"github.com/joyent/mname-balancer/remote"
)

// errTimeout is returned when the loop did not answer in time.
var errTimeout = errors.New("the event loop did not answer in time")

// Sources are the parts of a running balancer a snapshot reads. UDP and
// TCP may be nil (their counters are then zero).
type Sources struct {
	Loop    *evport.Loop
	Set     *backend.Set
	Table   *remote.Table
	UDP     *proxy.UDP
	TCP     *proxy.TCP
	Level   *LogLevel // may be nil
	Started time.Time // the balancer's start, on the loop's clock

	// Generation counts the processes since the last real start: 1, or
	// one more than the process that handed over (cmd/bbal handover.go).
	Generation int
}

// Inspector takes snapshots of one balancer.
type Inspector struct {
	src       Sources
	crtime    int64             // the start as an hrtime, fixed once so every snapshot agrees
	slicing   chan struct{}     // one slice of the remotes on the loop at a time (walk.go)
	spareWalk chan *walkBuffers // one set of a walk's buffers kept for the next (walk.go)

	// removedShown, per consumer (the metrics and the control socket),
	// holds each removed backend a snapshot has shown, with when it was
	// removed: a removed backend is in the consumer's first snapshot
	// after its removal, then no more (until it returns and goes again).
	// Loop goroutine only; as many entries as removed backends.
	removedShown [2]map[uintptr]time.Time
}

// NewInspector returns an inspector of src.
func NewInspector(src Sources) *Inspector {
	in := &Inspector{src: src, crtime: newHRClock(src.Started).hr(src.Started), slicing: make(chan struct{}, 1),
		spareWalk: make(chan *walkBuffers, 1)}
	for i := range in.removedShown {
		in.removedShown[i] = make(map[uintptr]time.Time)
	}
	return in
}

// Level is the inspector's log level control (nil if none).
func (in *Inspector) Level() *LogLevel { return in.src.Level }

// detail is how much of a snapshot is taken.
type detail int

const (
	takeCounts  detail = iota // the totals and the backends: Timeouts and Proxies empty
	takeLists                 // and the timeouts and proxies listed
	takeRemotes               // and the remotes listed
)

// raw is what the loop copies.
type raw struct {
	now      time.Time
	backends []backend.Info
	primary  []int // remotes whose primary each of backends is (remote.Table.RemotesOf)
	timers   []evport.TimerInfo
	proxies  []proxy.ProxyInfo
	udp      proxy.UDPStats
	tcp      proxy.TCPStats
	table    remote.TableStats
	nRemotes int
	nTimers  int
	labels   map[*evport.Timer]string
	walk     walkSlice // the remotes' first slice (takeRemotes)
	top      []remote.TopRemote
	topStart time.Time
	topTotal uint64
	hasTop   bool // top* taken (all but takeCounts)
}

// Take returns a snapshot; remotes are listed only if withRemotes (there
// may be millions: the totals count them either way), sorted by address.
// The whole list is in memory: the control socket streams it instead
// (WriteSnapshot).
func (in *Inspector) Take(withRemotes bool, timeout time.Duration) (*view.Snapshot, error) {
	if !withRemotes {
		return in.take(takeLists, timeout)
	}
	snap, w, err := in.startWalk(timeout)
	if err != nil {
		return nil, err
	}
	defer w.release()
	for {
		rs, err := w.next(timeout)
		if err != nil {
			return nil, err
		}
		if rs == nil {
			break
		}
		snap.Remotes = append(snap.Remotes, rs...)
	}
	slices.SortFunc(snap.Remotes, func(a, b view.Remote) int { return a.Addr.Compare(b.Addr) })
	return snap, nil
}

// take returns a snapshot of detail d.
func (in *Inspector) take(d detail, timeout time.Duration) (*view.Snapshot, error) {
	r, err := in.copy(d, nil, timeout)
	if err != nil {
		return nil, err
	}
	return in.build(r), nil
}

// copy posts copyOnLoop and waits for it; dst is reused for the first
// slice of remotes (takeRemotes).
func (in *Inspector) copy(d detail, dst []remote.Info, timeout time.Duration) (*raw, error) {
	done := make(chan *raw, 1)
	in.src.Loop.Post(func() { done <- in.copyOnLoop(d, dst) })
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r, nil
	case <-t.C:
		return nil, errTimeout
	}
}

// copyOnLoop runs on the loop: copies, and describes the timers unless
// only counts are asked for (then it only counts them).
func (in *Inspector) copyOnLoop(d detail, dst []remote.Info) *raw {
	s := &in.src
	r := &raw{now: s.Loop.Now()}
	r.backends = in.dropShownRemoved(s.Set.AppendInfo(nil), d)
	r.primary = make([]int, len(r.backends))
	for i, b := range r.backends {
		r.primary[i] = s.Table.RemotesOf(b.ID)
	}
	r.nRemotes = s.Table.Len()
	r.table = s.Table.Stats()
	if d == takeRemotes {
		r.walk = walkOnLoop(s.Table, dst, 0)
	}
	if s.UDP != nil {
		r.udp = s.UDP.Stats()
	}
	if s.TCP != nil {
		r.tcp = s.TCP.Stats()
	}
	if d == takeCounts {
		r.nTimers = s.Loop.NumTimers()
		return r
	}
	r.top, r.topStart, r.topTotal = s.Table.TopRemotes(nil)
	r.hasTop = true
	r.timers = s.Loop.AppendTimers(nil)
	r.nTimers = len(r.timers)
	r.labels = make(map[*evport.Timer]string)
	name := func(t *evport.Timer, arg string) { r.labels[t] = arg }
	s.Set.NameTimers(name)
	s.Table.NameTimers(name)
	if s.TCP != nil {
		r.proxies = s.TCP.AppendProxies(nil)
		s.TCP.NameTimers(name)
	}
	return r
}

// dropShownRemoved removes from bs (in place) the removed backends an
// earlier snapshot of the same consumer as d (the metrics take counts,
// the control socket more) has shown. Loop goroutine.
func (in *Inspector) dropShownRemoved(bs []backend.Info, d detail) []backend.Info {
	consumer := 1 // the control socket
	if d == takeCounts {
		consumer = 0 // the metrics
	}
	shown := in.removedShown[consumer]
	kept := bs[:0]
	for _, b := range bs {
		if b.State != backend.StateRemoved {
			delete(shown, b.Object)
		} else if since, ok := shown[b.Object]; ok && since.Equal(b.Since) {
			continue
		} else {
			shown[b.Object] = b.Since
		}
		kept = append(kept, b)
	}
	return kept
}

// build runs on the caller's goroutine. It lists no remotes.
func (in *Inspector) build(r *raw) *view.Snapshot {
	snap, _ := in.buildClock(r)
	return snap
}

// buildClock is build, also returning the clock that converted r's times
// (which converts the remotes' too).
func (in *Inspector) buildClock(r *raw) (*view.Snapshot, hrClock) {
	clock := newHRClock(r.now)
	snap := &view.Snapshot{
		Version:  1,
		Pid:      os.Getpid(),
		Snaptime: clock.hr(r.now),
		Crtime:   in.crtime,
		Walltime: time.Now().UTC().Format(time.RFC3339Nano),

		Generation: in.src.Generation,
	}
	if in.src.Level != nil {
		snap.LogLevel = in.src.Level.Current().Level
	}
	t := &snap.Balancer
	t.UptimeNS = int64(r.now.Sub(in.src.Started))
	t.UDPReceived, t.UDPForwarded, t.UDPAnswered = r.udp.Received, r.udp.Forwarded, r.udp.Answered
	t.UDPDropOversize, t.UDPDropNoBackend = r.udp.DropOversize, r.udp.DropNoBackend
	t.UDPDropStuck, t.UDPDropSendError = r.udp.DropStuck, r.udp.DropSendError
	t.UDPDropNotClient, t.UDPDropRateCapped = r.udp.DropNotClient, r.udp.DropRateCapped
	t.UDPSpilled, t.UDPServedUntracked, t.TCPServedUntracked = r.udp.Spilled, r.udp.ServedUntracked, r.tcp.Untracked
	t.TCPAccepted, t.TCPRefused, t.TCPOpen = r.tcp.Accepted, r.tcp.Refused, uint64(r.tcp.Open)
	t.TCPRefusedMaxConns, t.TCPRefusedMaxPerClient, t.TCPRefusedFDReserve = r.tcp.RefusedFull, r.tcp.RefusedClient, r.tcp.RefusedReserve
	t.TCPRefusedNoBackend = r.tcp.NoBackend
	t.TCPRefusedBackendConnect = r.tcp.ConnectFailed
	t.TCPAcceptErrors = r.tcp.AcceptErrors
	t.TCPClosedOKTimeout, t.TCPClosedMessageTimeout = r.tcp.OKTimeouts, r.tcp.MessageTimeouts
	t.TCPClosedIdleTimeout, t.TCPClosedHalfCloseTimeout = r.tcp.IdleTimeouts, r.tcp.HalfCloseTimeouts
	t.TCPClosedError, t.TCPClosedBackendClosed = r.tcp.Errors, r.tcp.BackendClosed
	t.TCPClosedBadTCPOK, t.TCPClosedLameDuck = r.tcp.NotTCPOK, r.tcp.LameDuckClosed
	t.TCPClosedShutdownGrace = r.tcp.GraceClosed
	t.RemotesEvicted, t.RemotesExpired = r.table.Evicted, r.table.Expired
	t.Remotes, t.Timers = uint64(r.nRemotes), uint64(r.nTimers)

	snap.Backends = make([]view.Backend, 0, len(r.backends))
	for i, b := range r.backends {
		if b.OK {
			t.BackendsOK++
		}
		if !b.Removed {
			t.Backends++
		}
		snap.Backends = append(snap.Backends, view.Backend{
			Object: uint64(b.Object), ID: b.ID, Path: b.Path, Conn: b.Connected, Session: b.Session,
			OK: b.OK, Reconnect: b.Reconnecting, HeartbeatOutstanding: b.HeartbeatOutstanding,
			Removed: b.Removed, Remotes: uint32(r.primary[i]),
			ReconnectDelay: uint32(b.ReconnectDelay / time.Second), ReconnectDelayMS: b.ReconnectDelay.Milliseconds(),
			StatConnStart: b.Stats.ConnStart, StatConnError: b.Stats.ConnError,
			StatUDP: b.Stats.UDP, StatTCP: b.Stats.TCP, StatStuck: b.Stats.Stuck,
			StatSpilled: b.Stats.Spilled, StatEjections: b.Stats.Ejections, StatEjectCapped: b.Stats.EjectCapped,
			Ejected: b.Ejected, EjectedSince: ejectedSince(clock, b.EjectedSince),
			State: b.State.String(), StateSince: clock.hr(b.Since), Why: b.Why, Crtime: clock.hr(b.Created),
		})
	}
	snap.Timeouts = make([]view.Timeout, 0, len(r.timers))
	for _, x := range r.timers {
		snap.Timeouts = append(snap.Timeouts, view.Timeout{
			Object: uint64(timerHandle(x.Timer)), ID: x.Seq,
			ScheduledAt: clock.hr(x.ScheduledAt), Expiry: clock.hr(x.When), PeriodNS: int64(x.Period),
			Func: x.Func, Arg: r.labels[x.Timer], Active: true,
		})
	}
	slices.SortFunc(r.proxies, func(a, b proxy.ProxyInfo) int { return cmp.Compare(a.ID, b.ID) })
	snap.Proxies = make([]view.Proxy, 0, len(r.proxies))
	for _, p := range r.proxies {
		snap.Proxies = append(snap.Proxies, view.Proxy{
			Object: uint64(p.Object), ID: p.ID, Addr: addr4(p.Addr), Port: p.Port, Backend: p.Backend,
			State: p.State, ToBackend: p.ToBackend, ToClient: p.ToClient,
			Started: clock.hr(p.Started), AgeNS: int64(r.now.Sub(p.Started)),
		})
	}
	if r.hasTop {
		b := &view.Busiest{WindowStart: clock.hr(r.topStart), WindowNS: int64(remote.TopWindow), Contacts: r.topTotal,
			Remotes: make([]view.BusyRemote, 0, len(r.top))}
		for _, x := range r.top {
			b.Remotes = append(b.Remotes, view.BusyRemote{Addr: addr4(x.Addr), Contacts: x.Contacts, Overcount: x.Overcount, Backend: x.Backend})
		}
		snap.Busiest = b
	}
	return snap, clock
}

// remoteView converts a remote's copy.
func remoteView(clock hrClock, x *remote.Info) view.Remote {
	return view.Remote{
		Object: uint64(x.Object), Addr: addr4(x.Addr), Backend: x.Backend, BackendBackup: x.Backup,
		StatUDP: x.Stats.UDP, StatUDPDrop: x.Stats.UDPDrop, StatTCP: x.Stats.TCP, StatTCPDrop: x.Stats.TCPDrop,
		FirstSeen: clock.hr(x.FirstSeen), LastSeen: clock.hr(x.LastSeen),
	}
}

// addr4 is the IPv4 address a (most significant byte first).
func addr4(a uint32) netip.Addr {
	return netip.AddrFrom4(ipv4.Bytes(a))
}

// ejectedSince is the hrtime of a backend's last ejection, 0 for none.
func ejectedSince(clock hrClock, at time.Time) int64 {
	if at.IsZero() {
		return 0
	}
	return clock.hr(at)
}
