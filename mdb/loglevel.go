/*
 * The log level at run time. The balancer's root logger is created at
 * trace and the level in force is zerolog's global level, one atomic word
 * that every record's level check reads (so a disabled record stays free).
 * An operator raises or lowers it through the control socket, for good or
 * for a number of seconds, after which it returns to the configured level
 * (-l, LOG_LEVEL). Each change is a log record, written whatever the level
 * (zerolog's NoLevel, which bunyan numbers 30, info).
 */

package mdb

import (
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/mdb/view"
)

// maxLevelDuration bounds a temporary change.
const maxLevelDuration = 7 * 24 * time.Hour

// LogLevel controls the process's log level; safe for any goroutine.
type LogLevel struct {
	log        zerolog.Logger
	configured zerolog.Level

	// now and after are time.Now and time.AfterFunc (returning the
	// timer's Stop); tests drive them by hand.
	now   func() time.Time
	after func(d time.Duration, f func()) (stop func() bool)

	mu         sync.Mutex
	until      time.Time   // zero: the current level holds until changed
	stopRevert func() bool // stops the pending revert of a temporary change
	gen        uint64      // counts changes, so a stale revert does nothing
}

// NewLogLevel installs configured as the level in force. log must have been
// created at zerolog.TraceLevel, so that the global level alone decides.
func NewLogLevel(log zerolog.Logger, configured zerolog.Level) *LogLevel {
	zerolog.SetGlobalLevel(configured)
	return &LogLevel{log: log, configured: configured, now: time.Now, after: afterFunc}
}

func afterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// Current reports the level in force.
func (l *LogLevel) Current() view.LevelState {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := view.LevelState{Level: zerolog.GlobalLevel().String(), Configured: l.configured.String()}
	if !l.until.IsZero() {
		st.Until = l.until.UTC().Format(time.RFC3339)
	}
	return st
}

// Set puts level in force; if d > 0, only for d, after which the
// configured level returns. who names the requester in the record.
func (l *LogLevel) Set(level zerolog.Level, d time.Duration, who string) error {
	if d < 0 || d > maxLevelDuration {
		return fmt.Errorf("duration %v out of range (0 to %v)", d, maxLevelDuration)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	prev := zerolog.GlobalLevel()
	zerolog.SetGlobalLevel(level)
	l.gen++
	if l.stopRevert != nil {
		l.stopRevert()
		l.stopRevert = nil
	}
	l.until = time.Time{}
	e := l.log.Log().Str("level_name", level.String()).Str("previous", prev.String()).Str("by", who)
	if d > 0 {
		l.until = l.now().Add(d)
		gen := l.gen
		l.stopRevert = l.after(d, func() { l.revert(gen) })
		e = e.Int64("duration_s", int64(d/time.Second))
	}
	e.Msg("log level changed")
	return nil
}

// Reset returns to the configured level at once.
func (l *LogLevel) Reset(who string) error { return l.Set(l.configured, 0, who) }

func (l *LogLevel) revert(gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen {
		return
	}
	prev := zerolog.GlobalLevel()
	zerolog.SetGlobalLevel(l.configured)
	l.until, l.stopRevert = time.Time{}, nil
	l.gen++
	l.log.Log().Str("level_name", l.configured.String()).Str("previous", prev.String()).
		Str("by", "timer").Msg("log level restored to the configured level")
}
