//go:build linux

package bench

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

/*
The open-loop UDP load generator. It sends queries at a fixed rate whatever
happens to the answers (a closed-loop client slows down with the server and
hides overload), from many 127.0.0.0/8 source addresses through one socket:
each datagram names its source with IP_PKTINFO, so a balancer sees as many
clients as there are addresses and every backend serves. Query i leaves
from sources[i % len(sources)] towards targets[(i % len(sources)) %
len(targets)], so a source always talks to the same target (the direct path
spreads sources over the echo backends that way).

A sending thread computes how many queries are due since the start and
sends them in sendmmsg batches of up to 64, sleeping between batches; if it
falls behind (the machine is busy) it catches up in bursts, and the result
reports the rate actually achieved. On loopback the sender pays for the
whole kernel receive path of what it sends, so a load may have several
workers (Workers), each a sending and a receiving thread on its own socket,
worker k sending queries k, k+Workers, ... on the same global schedule (on
a 2-core machine more workers take CPU from the paths measured, so the
bench uses one unless told otherwise).
A receiving thread takes the sequence number out of each answer's question
and records the latency from the send time of that query (one clock reading
per received batch). It sleeps on its socket until answers come, or, with
Poll set, takes what is waiting every Poll without sleeping on the socket
(see Load.Poll). Answers arriving later than the grace period after the
last send are not counted; the wait ends as soon as every query sent has
its answer.
*/

// Load is one open-loop run.
type Load struct {
	Rate     int           // queries per second offered
	Duration time.Duration // sending time
	Grace    time.Duration // how long answers are awaited after the last send, at most
	Sources  [][4]byte     // client addresses, all in 127.0.0.0/8
	Targets  []unix.RawSockaddrInet4
	Workers  int // sending threads, each with its own socket and receiver; 0 means 1
	// Poll, if set, makes the receivers poll their sockets at this
	// interval instead of sleeping on them. A receiver asleep on its socket
	// is woken by the first answer of each batch, and on loopback that
	// wake-up is paid by the process that sends the answer: a cost remote
	// clients never put on a server. Polling delays each answer's timing
	// by up to Poll, so latency loads leave it unset.
	Poll time.Duration
}

// Result is what a Load measured.
type Result struct {
	Sent     int           // queries sent
	Answered int           // distinct queries answered in time
	SendTime time.Duration // how long sending took (Duration unless behind)
	Duration time.Duration // the nominal duration
	lat      []uint32      // microseconds, one per answer, sorted
	rounds   []Result      // the rounds merged into this one, if any
}

// AnsweredRate is answers per second of sending time: the nominal
// duration, or longer if the generator fell behind (then the rate offered
// was lower than asked, and SentRate says by how much). For merged rounds
// it is the median of the rounds' rates.
func (r Result) AnsweredRate() float64 {
	if len(r.rounds) > 1 {
		return medianOf(r.rounds, Result.AnsweredRate)
	}
	return float64(r.Answered) / max(r.Duration, r.SendTime).Seconds()
}

// SentRate is the rate the generator actually achieved (for merged rounds,
// the median of the rounds').
func (r Result) SentRate() float64 {
	if len(r.rounds) > 1 {
		return medianOf(r.rounds, Result.SentRate)
	}
	return float64(r.Sent) / r.SendTime.Seconds()
}

// Percentile returns the latency below which fraction p of answers fell;
// for merged rounds, the median of the rounds' percentiles, so that one
// round hit by a burst of other work on the machine does not decide it.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.rounds) > 1 {
		return medianOf(r.rounds, func(x Result) time.Duration { return x.Percentile(p) })
	}
	if len(r.lat) == 0 {
		return 0
	}
	i := int(p * float64(len(r.lat)))
	if i >= len(r.lat) {
		i = len(r.lat) - 1
	}
	return time.Duration(r.lat[i]) * time.Microsecond
}

// merge adds another round of the same load to r: the counts add up, the
// rates and percentiles become the median of the rounds'.
func (r Result) merge(o Result) Result {
	if r.Sent == 0 && len(r.rounds) == 0 {
		o.rounds = []Result{o}
		return o
	}
	r.Sent += o.Sent
	r.Answered += o.Answered
	r.SendTime += o.SendTime
	r.Duration += o.Duration
	r.rounds = append(r.rounds, o)
	return r
}

// medianOf is the median of f over v (the upper one of an even count).
func medianOf[T any, V cmp.Ordered](v []T, f func(T) V) V {
	vals := make([]V, len(v))
	for i, x := range v {
		vals[i] = f(x)
	}
	slices.Sort(vals)
	return vals[len(vals)/2]
}

// Run sends the load and collects the answers.
func (l Load) Run() (Result, error) {
	if len(l.Sources) == 0 || len(l.Targets) == 0 || l.Rate <= 0 {
		return Result{}, fmt.Errorf("load: need sources, targets and a rate")
	}
	workers := max(l.Workers, 1)
	total := int(int64(l.Rate) * int64(l.Duration) / int64(time.Second))
	fds := make([]int, workers)
	for k := range fds {
		fd, err := udpSocket([4]byte{}, 0, false)
		if err != nil {
			return Result{}, err
		}
		defer unix.Close(fd)
		if err := setRecvTimeout(fd, 20); err != nil {
			return Result{}, fmt.Errorf("load: %w", err)
		}
		fds[k] = fd
	}
	sendAt := make([]atomic.Int64, total)
	seen := make([]bool, total) // each element written by one receiver only
	var answered atomic.Int64   // queries with an answer, over all receivers
	start := time.Now()
	var stop atomic.Bool
	res := Result{Duration: l.Duration}
	var mu sync.Mutex
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	var recvs, sends sync.WaitGroup
	for k, fd := range fds {
		recvs.Add(1)
		go func() {
			defer recvs.Done()
			lat, err := l.receive(fd, start, sendAt, seen, &answered, &stop)
			mu.Lock()
			res.Answered += len(lat)
			res.lat = append(res.lat, lat...)
			mu.Unlock()
			if err != nil {
				fail(err)
			}
		}()
		sends.Add(1)
		go func() {
			defer sends.Done()
			n, err := l.send(fd, start, total, k, workers, sendAt)
			mu.Lock()
			res.Sent += n
			mu.Unlock()
			if err != nil {
				fail(err)
			}
		}()
	}
	sends.Wait()
	res.SendTime = time.Since(start)
	for graceEnd := time.Now().Add(l.Grace); answered.Load() < int64(res.Sent) && time.Now().Before(graceEnd); {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	recvs.Wait()
	slices.Sort(res.lat)
	return res, firstErr
}

// send sends this worker's share of the queries: numbers k, k+workers,
// k+2*workers... below total, each when the global schedule makes it due.
func (l Load) send(fd int, start time.Time, total, k, workers int, sendAt []atomic.Int64) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b := newBatch(batchSize, queryLen, true)
	nsrc := len(l.Sources)
	mine := func(n int) int { return max(0, (n-k+workers-1)/workers) } // of the first n, how many are ours
	myTotal := mine(total)
	sent := 0
	for sent < myTotal {
		elapsed := time.Since(start)
		due := mine(min(total, int(int64(l.Rate)*int64(elapsed)/int64(time.Second))))
		if due <= sent {
			time.Sleep(50 * time.Microsecond)
			continue
		}
		for sent < due {
			n := min(due-sent, batchSize)
			now := int64(time.Since(start))
			for i := range n {
				seq := (sent+i)*workers + k
				src := seq % nsrc
				b.setLen(i, writeQuery(b.bufs[i], uint32(seq)))
				b.setSource(i, l.Sources[src])
				b.names[i] = l.Targets[src%len(l.Targets)]
				sendAt[seq].Store(now)
			}
			if err := b.send(fd, n); err != nil {
				return sent, err
			}
			sent += n
		}
	}
	return sent, nil
}

func (l Load) receive(fd int, start time.Time, sendAt []atomic.Int64, seen []bool, answered *atomic.Int64, stop *atomic.Bool) ([]uint32, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b := newBatch(batchSize, 2048, false)
	lat := make([]uint32, 0, len(sendAt))
	var pause unix.Timespec
	if l.Poll > 0 {
		pause = unix.NsecToTimespec(int64(l.Poll))
	}
	for !stop.Load() {
		var n int
		var err error
		if l.Poll > 0 {
			n, err = b.poll(fd)
		} else {
			n, err = b.recv(fd)
		}
		if err == unix.EAGAIN || err == unix.EWOULDBLOCK {
			if l.Poll > 0 {
				_ = unix.Nanosleep(&pause, nil)
			}
			continue
		}
		if err != nil {
			return lat, fmt.Errorf("load: recvmmsg: %w", err)
		}
		now := int64(time.Since(start))
		for i := range n {
			seq, ok := seqOf(b.data(i))
			if !ok || int(seq) >= len(sendAt) || seen[seq] {
				continue
			}
			seen[seq] = true
			answered.Add(1)
			lat = append(lat, uint32((now-sendAt[seq].Load())/1000))
		}
	}
	return lat, nil
}
