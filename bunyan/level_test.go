/*
Tests of ParseLevel: the six accepted names in any case, and refusal of
everything else with an error that names the accepted values.
*/

package bunyan_test

import (
	"strings"
	"testing"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/rs/zerolog"
)

func TestParseLevelAcceptsTheSixNames(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want zerolog.Level
	}{
		{"trace", zerolog.TraceLevel},
		{"debug", zerolog.DebugLevel},
		{"info", zerolog.InfoLevel},
		{"warn", zerolog.WarnLevel},
		{"error", zerolog.ErrorLevel},
		{"fatal", zerolog.FatalLevel},
		{"TRACE", zerolog.TraceLevel},
		{"Info", zerolog.InfoLevel},
		{"wArN", zerolog.WarnLevel},
	} {
		got, err := bunyan.ParseLevel(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v, nil", tc.in, got, err, tc.want)
		}
	}
}

func TestParseLevelRejectsOthers(t *testing.T) {
	for _, in := range []string{
		"verbose", "", "30", "10", "-1", "0", "panic", "disabled", "warning", "err",
		"information", " info", "info ", "in fo", "trace\n",
	} {
		got, err := bunyan.ParseLevel(in)
		if err == nil {
			t.Errorf("ParseLevel(%q) = %v, nil; want an error", in, got)
			continue
		}
		msg := err.Error()
		for _, name := range []string{"trace", "debug", "info", "warn", "error", "fatal"} {
			if !strings.Contains(msg, name) {
				t.Errorf("ParseLevel(%q) error %q does not name %q", in, msg, name)
			}
		}
		if !strings.Contains(msg, `"`+strings.ReplaceAll(in, "\n", `\n`)+`"`) {
			t.Errorf("ParseLevel(%q) error %q does not quote the input", in, msg)
		}
	}
}
