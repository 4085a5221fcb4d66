/*
A rate limit for records that client input can trigger (a new client, an
oversized datagram, a refused connection): past a rate, records of one kind
are suppressed and counted, and one summary record per interval says how
many were suppressed, so a flood of clients cannot flood the log.

	var limits bunyan.Limits // one per process: every limiter, one flush
	newPeer := limits.New(log, zerolog.InfoLevel, "new remote peer", bunyan.DefaultRate)

	if newPeer.Allow(now) {
		bunyan.IPv4(log.Info(), "remote_ip", addr).Msg("new remote peer")
	}
	...
	limits.Flush(now) // from one periodic timer: reports the tail of every flood

The rate is a token bucket (a GCRA, kept as one time value): one record
per Rate.Every on average, up to Rate.Burst in a row after a quiet spell.
A record that does not fit is suppressed: Allow returns false and the
caller writes nothing. The first suppression opens a summary period of
Rate.SummaryEvery; the first Allow or Flush at or after its end writes
the summary, at the kind's level:

	{"msg":"log records suppressed","suppressed_msg":"new remote peer",
	 "suppressed":1234,"period_ms":1000,...}

suppressed_msg names the kind (the msg of the records not written),
suppressed how many were not written, and period_ms the milliseconds from
the first of them to this summary. The summary is a separate message so
that a count of "new remote peer" lines still counts written records;
an operator greps for the kind's msg in suppressed_msg too.

The limiter is driven by the caller's clock: every method takes the time as
an argument (the event loop's Now, or a test's fixed times), so tests are
deterministic. It allocates nothing, whether a record is admitted or
suppressed, and the summary is an ordinary pooled zerolog record. It is not
safe for concurrent use: one limiter belongs to one goroutine (the loop).
A clock that steps back admits no extra records and loses no count.
*/

package bunyan

import (
	"time"

	"github.com/rs/zerolog"
)

// Keys and message of the summary record.
const (
	suppressedMsg      = "log records suppressed"
	suppressedKey      = "suppressed"
	suppressedMsgKey   = "suppressed_msg"
	suppressedPeriodMs = "period_ms"
)

// Rate says how many records of one kind may be written.
type Rate struct {
	Every        time.Duration // sustained: one record per Every (> 0)
	Burst        int           // records in a row after a quiet spell (>= 1)
	SummaryEvery time.Duration // at most one summary record per this interval (> 0)
}

// DefaultRate is the rate for records client input can trigger: 10 a
// second with a burst of 20, and a summary at most once a second.
var DefaultRate = Rate{Every: 100 * time.Millisecond, Burst: 20, SummaryEvery: time.Second}

// RateLimiter limits the records of one kind; see the file comment.
type RateLimiter struct {
	log   zerolog.Logger
	level zerolog.Level
	msg   string

	interval  time.Duration // Rate.Every: the cost of one record
	tolerance time.Duration // interval * (Burst-1): how far ahead tat may run
	every     time.Duration // summary interval

	tat   time.Time // theoretical arrival time of the next admitted record
	start time.Time // first suppression of the open summary period
	count uint64    // suppressed in the open period (0: no period open)
	total uint64    // suppressed since creation
}

// NewRateLimiter returns a limiter for records with message msg at level,
// writing its summaries to log. A Burst below 1 is raised to 1; an Every
// or SummaryEvery of 0 or less takes DefaultRate's.
func NewRateLimiter(log zerolog.Logger, level zerolog.Level, msg string, r Rate) *RateLimiter {
	if r.Every <= 0 {
		r.Every = DefaultRate.Every
	}
	if r.Burst < 1 {
		r.Burst = 1
	}
	if r.SummaryEvery <= 0 {
		r.SummaryEvery = DefaultRate.SummaryEvery
	}
	interval := r.Every
	return &RateLimiter{
		log:       log,
		level:     level,
		msg:       msg,
		interval:  interval,
		tolerance: interval * time.Duration(r.Burst-1),
		every:     r.SummaryEvery,
	}
}

// Allow reports whether a record of this kind may be written at now. When
// it returns false the record is counted as suppressed (unless the kind's
// level is off, on the logger or globally: then nothing is counted); the
// caller writes nothing. A due summary is written first either way.
func (l *RateLimiter) Allow(now time.Time) bool {
	if l.level < l.log.GetLevel() || l.level < zerolog.GlobalLevel() {
		return false // the record would not be written: nothing to count
	}
	l.Flush(now)
	tat := l.tat
	if tat.Before(now) {
		tat = now
	}
	if tat.Sub(now) > l.tolerance {
		if l.count == 0 {
			l.start = now
		}
		l.count++
		l.total++
		return false
	}
	l.tat = tat.Add(l.interval)
	return true
}

// Flush writes the summary of the open period if it has lasted
// Rate.SummaryEvery by now. Call it periodically (Limits.Flush, from one
// timer) so that the end of a flood is reported without a further record.
func (l *RateLimiter) Flush(now time.Time) {
	if l.count == 0 {
		return
	}
	period := now.Sub(l.start)
	if period < l.every {
		return
	}
	l.log.WithLevel(l.level).
		Str(suppressedMsgKey, l.msg).
		Uint64(suppressedKey, l.count).
		Int64(suppressedPeriodMs, period.Milliseconds()).
		Msg(suppressedMsg)
	l.count = 0
}

// Suppressed is the number of records suppressed since the limiter was
// made (for counters).
func (l *RateLimiter) Suppressed() uint64 { return l.total }

// Limits is a group of limiters flushed together: the process keeps one,
// and one periodic timer calls Flush for every rate-limited record. The
// zero value is an empty group. Like a RateLimiter it belongs to one
// goroutine (the loop).
type Limits struct{ all []*RateLimiter }

// New makes a limiter (as NewRateLimiter) that the group flushes.
func (g *Limits) New(log zerolog.Logger, level zerolog.Level, msg string, r Rate) *RateLimiter {
	l := NewRateLimiter(log, level, msg, r)
	g.all = append(g.all, l)
	return l
}

// Flush writes every due summary (RateLimiter.Flush of each limiter).
func (g *Limits) Flush(now time.Time) {
	for _, l := range g.all {
		l.Flush(now)
	}
}
