/*
Log levels: the six names an operator may give (-l, LOG_LEVEL) and the
numbers node-bunyan writes for zerolog's levels.

	name   zerolog level   bunyan number
	trace  TraceLevel      10
	debug  DebugLevel      20
	info   InfoLevel       30
	warn   WarnLevel       40
	error  ErrorLevel      50
	fatal  FatalLevel      60

zerolog has levels bunyan lacks; they are logged at the nearest bunyan level
so that every record stays a valid bunyan record: PanicLevel as 60 (fatal),
NoLevel (Logger.Log, Logger.Write) as 30 (info), and the numeric levels
below TraceLevel as 10 (trace). ParseLevel does not accept their names: the
operator's choice is one of the six.
*/

package bunyan

import (
	"fmt"
	"strings"

	"github.com/rs/zerolog"
)

// levelNames lists the accepted names in bunyan order; used for parsing and
// for the error message.
var levelNames = [...]struct {
	name  string
	level zerolog.Level
}{
	{"trace", zerolog.TraceLevel},
	{"debug", zerolog.DebugLevel},
	{"info", zerolog.InfoLevel},
	{"warn", zerolog.WarnLevel},
	{"error", zerolog.ErrorLevel},
	{"fatal", zerolog.FatalLevel},
}

// ParseLevel accepts exactly the six names trace debug info warn error fatal,
// in any letter case, and returns the matching zerolog level. Anything else
// (including numbers, "" and surrounding spaces) is an error that names the
// accepted values.
func ParseLevel(s string) (zerolog.Level, error) {
	for _, l := range levelNames {
		if strings.EqualFold(s, l.name) {
			return l.level, nil
		}
	}
	return zerolog.NoLevel, fmt.Errorf("unknown log level %q: want one of trace, debug, info, warn, error, fatal", s)
}

// bunyanLevel returns the node-bunyan number for a zerolog level.
func bunyanLevel(l zerolog.Level) int {
	switch l {
	case zerolog.DebugLevel:
		return 20
	case zerolog.InfoLevel, zerolog.NoLevel:
		return 30
	case zerolog.WarnLevel:
		return 40
	case zerolog.ErrorLevel:
		return 50
	case zerolog.FatalLevel, zerolog.PanicLevel:
		return 60
	default: // TraceLevel and the numeric levels below it
		return 10
	}
}
