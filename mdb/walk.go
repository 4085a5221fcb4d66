/*
 * The remotes of a snapshot, read in slices across loop turns and streamed
 * (issue 20): a table of a million remotes copied in one turn stalled DNS
 * for a quarter of a second, and marshalled whole it took a gigabyte.
 *
 * A slice is at most remoteSpan slots of the remote table, copied by one
 * posted function: 0.14 ms for 4096 remotes on a busy 2-core machine
 * (remote's BenchmarkAppendInfoFrom, ns/slice), well under a millisecond;
 * the walk's cursor is the next slot number (remote.Table.AppendInfoFrom),
 * so the walk sees every remote that is in the table for the whole walk
 * exactly once, and a remote created or forgotten meanwhile at most once
 * per life. The first slice is copied in the same turn as the rest of the
 * snapshot (take.go): a table of up to one slice is read at one instant.
 * Every remote is converted with the snapshot's clock, as it was when its
 * slice was read.
 *
 * One slice is on the loop at a time, whoever asks (Inspector.slicing),
 * so a loop turn runs at most one however many clients are reading. The
 * walk is paced by its reader: the next slice is asked for only when the
 * previous one has been encoded and written, so the memory of a walk is
 * one slice (copied and converted) and the writer's buffer, whatever the
 * table's size; the slice's buffers (0.8 MB) are kept for the next walk
 * (Inspector.spareWalk), so a whole snapshot allocates a few hundred KB.
 *
 * WriteSnapshot writes the control socket's answer, {"snapshot":{...}},
 * with the remotes list written as the walk goes: the snapshot without
 * remotes is marshalled, and the remotes are written, one JSON object
 * each (remotejson.go, which allocates nothing), where its empty list
 * ("remotes":[]) was. The bytes are those of the whole snapshot marshalled
 * at once, so any JSON reader reads it as before.
 */

package mdb

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"time"

	"github.com/joyent/mname-balancer/mdb/view"
	"github.com/joyent/mname-balancer/remote"
)

// remoteSpan is the most slots of the remote table one slice looks at.
const remoteSpan = 4096

// walkSlice is one slice's copy and where the walk goes on.
type walkSlice struct {
	infos []remote.Info
	next  uint32
	done  bool
}

// walkOnLoop copies one slice from cursor into dst (reused); on the loop.
func walkOnLoop(t *remote.Table, dst []remote.Info, cursor uint32) walkSlice {
	infos, next, done := t.AppendInfoFrom(dst[:0], cursor, remoteSpan)
	return walkSlice{infos: infos, next: next, done: done}
}

// walkBuffers are a walk's memory: one slice copied and converted. One
// set is kept for the next walk (Inspector.spareWalk), so a snapshot
// allocates next to nothing however large the table. (Not a sync.Pool:
// a pool may drop what it is given, at any GC, when taken on another P,
// and at random under the race detector; then each walk made its 0.8 MB.)
type walkBuffers struct {
	infos []remote.Info
	views []view.Remote
}

// takeWalkBuffers returns the kept set of walk buffers, or new ones if a
// walk has it.
func (in *Inspector) takeWalkBuffers() *walkBuffers {
	select {
	case b := <-in.spareWalk:
		return b
	default:
		return &walkBuffers{infos: make([]remote.Info, 0, remoteSpan), views: make([]view.Remote, 0, remoteSpan)}
	}
}

// keepWalkBuffers keeps b for the next walk, unless a set is kept
// already (concurrent walks): then b is left to the garbage collector.
func (in *Inspector) keepWalkBuffers(b *walkBuffers) {
	select {
	case in.spareWalk <- b:
	default:
	}
}

// walker is one walk of the remote table in progress.
type walker struct {
	in        *Inspector
	clock     hrClock
	pending   walkSlice // read but not yet returned (the first slice)
	first     bool      // pending holds the first slice
	done      bool      // no slice is left to read
	buf       *walkBuffers
	abandoned bool // a slice timed out: the loop may still write buf
}

// startWalk takes a snapshot (with timeouts and proxies, without
// remotes) and the first slice of the remotes in the same loop turn, and
// returns the snapshot and the walk of the remotes; release the walk when
// done with it.
func (in *Inspector) startWalk(timeout time.Duration) (*view.Snapshot, *walker, error) {
	buf := in.takeWalkBuffers()
	r, err := in.copy(takeRemotes, buf.infos, timeout)
	if err != nil {
		return nil, nil, err // buf dropped: the loop may still write it
	}
	snap, clock := in.buildClock(r)
	buf.infos = r.walk.infos
	return snap, &walker{in: in, clock: clock, pending: r.walk, first: true, buf: buf}, nil
}

// release returns the walk's buffers for the next walk.
func (w *walker) release() {
	if !w.abandoned && w.buf != nil {
		w.in.keepWalkBuffers(w.buf)
	}
	w.buf = nil
}

// next returns the next slice's remotes (valid until the following call;
// possibly empty), or nil when the walk is over.
func (w *walker) next(timeout time.Duration) ([]view.Remote, error) {
	if !w.first {
		if w.done {
			return nil, nil
		}
		s, err := w.in.slice(w.buf.infos, w.pending.next, timeout)
		if err != nil {
			w.abandoned = true
			return nil, err
		}
		w.pending = s
	}
	w.first = false
	w.done = w.pending.done
	b := w.buf
	b.infos = w.pending.infos
	b.views = b.views[:0]
	for i := range b.infos {
		b.views = append(b.views, remoteView(w.clock, &b.infos[i]))
	}
	return b.views, nil
}

// slice copies one slice on the loop, one slice at a time for all walks.
func (in *Inspector) slice(dst []remote.Info, cursor uint32, timeout time.Duration) (walkSlice, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case in.slicing <- struct{}{}:
	case <-t.C:
		return walkSlice{}, errTimeout
	}
	done := make(chan walkSlice, 1)
	table := in.src.Table
	in.src.Loop.Post(func() { done <- walkOnLoop(table, dst, cursor) })
	select {
	case s := <-done:
		<-in.slicing
		return s, nil
	case <-t.C:
		// The slice may still run later, into dst: the caller drops the
		// walk and dst with it. The next slice waits for the loop all the
		// same (it would be posted behind this one).
		<-in.slicing
		return walkSlice{}, errTimeout
	}
}

// yieldEvery is how many remotes are encoded between yields of the
// processor. Encoding is CPU-bound, and the scheduler takes the processor
// from a running goroutine only at the end of its 10 ms time slice: the
// event loop, back from waiting with no processor free (GOMAXPROCS 2: the
// encoder and, say, the collector), would wait that long. 256 remotes are
// some 0.1 ms of encoding.
const yieldEvery = 256

// remotesKey is where a marshalled snapshot's (empty) remotes list is.
var remotesKey = []byte(`"remotes":[]`)

// WriteSnapshot writes the control socket's answer with the whole
// snapshot, {"snapshot":{...}} and a newline, the remotes streamed (see
// the file comment); timeout bounds each wait for the loop.
func (in *Inspector) WriteSnapshot(w io.Writer, timeout time.Duration) error {
	snap, walk, err := in.startWalk(timeout)
	if err != nil {
		return err
	}
	defer walk.release()
	snap.Remotes = []view.Remote{}
	b, err := json.Marshal(view.Response{Snapshot: snap})
	if err != nil {
		return err
	}
	// Inside the JSON every quote in a string is escaped, so the key with
	// its quotes is the list's and nothing else's.
	i := bytes.Index(b, remotesKey)
	if i < 0 {
		return errors.New("snapshot: no remotes list in the marshalled snapshot")
	}
	i += len(remotesKey) - 1 // at the closing bracket
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(b[:i])
	var one []byte // a remote's JSON, reused
	first := true
	for {
		rs, err := walk.next(timeout)
		if err != nil {
			return err
		}
		if rs == nil {
			break
		}
		for j := range rs {
			if j%yieldEvery == yieldEvery-1 {
				runtime.Gosched() // the loop first: see yieldEvery
			}
			one = one[:0]
			if !first {
				one = append(one, ',')
			}
			first = false
			one = appendRemoteJSON(one, &rs[j])
			bw.Write(one)
		}
		if err := bw.Flush(); err != nil { // paced by the reader
			return err
		}
	}
	bw.Write(b[i:])
	bw.WriteByte('\n')
	return bw.Flush()
}
