/*
The root logger and the hook that turns a zerolog event into a node-bunyan
record.

How a record is assembled (zerolog v1.35, see its log.go and event.go):

 1. Logger.newEvent starts the buffer with "{", would write the level as a
    string (we switch that off, below), then copies the logger's context:
    here v, name, hostname, pid, then the context of each child logger.
 2. The caller's chain appends the record's own fields.
 3. Msg/Msgf/Send run the logger's hooks before zerolog appends "msg":
    recordHook appends "level" as a bunyan number, "tid" and "time", and appends
    "msg":"" itself when the message is empty, because zerolog omits an empty
    message and bunyan requires the key.
 4. zerolog appends "msg" (when non-empty), "}" and "\n", and makes one Write.

Hence the key order is: v name hostname pid, context fields, record fields,
level tid time msg. The order of keys carries no meaning in JSON and the bunyan
CLI does not care.

Process-wide zerolog settings, made once in init so that no logger can race
with them:
  - LevelFieldName = "": zerolog writes its level only as a string
    ("info"); bunyan needs a number, and leaving zerolog's string in place
    would give every record two "level" keys. There is no per-logger switch.
  - MessageFieldName = "msg": zerolog's default is "message". There is no
    per-logger switch either.
  - ErrorFieldName = "err": so that a plain .Err(err) uses the same key as
    Errno and node-bunyan.

Everything else is per logger: the core fields are context of the root
logger, and level/time/msg come from a Hook value, so time formatting does
not depend on zerolog.TimeFieldFormat (fields a caller adds with .Time()
still use zerolog's format).

Invariants: every record carries all eight core fields exactly once; a
record whose level is disabled costs neither formatting nor allocation; an
enabled record allocates nothing of its own (zerolog pools its events); each
record reaches w in a single Write, and Writes are serialized by a mutex so
loggers may be used from several goroutines even when w is not safe for
concurrent use.
*/

package bunyan

import (
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// Core field names and fixed values of a node-bunyan record.
const (
	recordVersion = 0
	processName   = "mname-balancer"

	versionKey  = "v"
	levelKey    = "level"
	nameKey     = "name"
	hostnameKey = "hostname"
	pidKey      = "pid"
	timeKey     = "time"
	tidKey      = "tid"
	msgKey      = "msg"
	errKey      = "err"

	// timeLayout is ISO 8601 with exactly three fractional digits. The
	// trailing Z is a literal: callers format UTC times only.
	timeLayout = "2006-01-02T15:04:05.000Z"

	// unknownHostname is logged when the host's name cannot be read; bunyan
	// requires the key to be present.
	unknownHostname = "unknown"
)

func init() {
	zerolog.LevelFieldName = ""
	zerolog.MessageFieldName = msgKey
	zerolog.ErrorFieldName = errKey
}

// New returns the root logger, writing node-bunyan records to w at the given
// minimum level. Children made with With() keep every core field. Writes to w
// are serialized, one Write per record.
func New(w io.Writer, level zerolog.Level) zerolog.Logger {
	hostname, err := os.Hostname()
	if err != nil || hostname == "" {
		hostname = unknownHostname
	}
	return zerolog.New(zerolog.SyncWriter(w)).
		Level(level).
		Hook(recordHook{}).
		With().
		Int(versionKey, recordVersion).
		Str(nameKey, processName).
		Str(hostnameKey, hostname).
		Int(pidKey, os.Getpid()).
		Logger()
}

// recordHook completes each record with the fields that vary per record:
// the numeric level, the writing thread (tid, as illumos-bunyan), the time,
// and an empty msg when zerolog would omit it.
type recordHook struct{}

// Run implements zerolog.Hook. It is called once per enabled record, just
// before zerolog appends the message.
func (recordHook) Run(e *zerolog.Event, level zerolog.Level, msg string) {
	// AppendFormat writes all nine fractional digits before cutting them
	// to three, so the buffer needs room beyond len(timeLayout) to stay on
	// the stack.
	var stamp [64]byte
	e.Int(levelKey, bunyanLevel(level)).
		Int(tidKey, threadID()).
		Bytes(timeKey, time.Now().UTC().AppendFormat(stamp[:0], timeLayout))
	if msg == "" {
		e.Str(msgKey, "")
	}
}
