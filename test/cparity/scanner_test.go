/*
The scanner's own test: on testdata/sample, a small package written for
it, each emission site must come out with exactly the levels and fields
its code gives it, through an event variable, a logger field set in a
composite literal, a range variable, an accessor method, a message variable, a message parameter of a local function and a run-time
message; and a C
record that asks for one field more, or another level, must not match.
*/

package cparity

import (
	"reflect"
	"sort"
	"testing"
)

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestScannerFindsLevelsAndFields(t *testing.T) {
	p, err := parseDir("testdata/sample")
	if err != nil || p == nil {
		t.Fatalf("parsing testdata/sample: %v", err)
	}
	sites := p.analyze()
	want := map[string]struct{ levels, fields []string }{
		"variable event":                 {[]string{"error", "warn"}, []string{"be_id", "be_path", "err", "errno", "reason", "strerror"}},
		"through a range variable":       {[]string{"info"}, []string{"be_id", "be_path", "remote_ip"}},
		"table record":                   {[]string{"debug"}, []string{"n"}},
		"":                               {[]string{"fatal"}, []string{"address"}}, // the dynamic one
		"connect(3SOCKET) failed":        {[]string{"error"}, []string{"be_id", "be_path", "err", "errno", "strerror"}},
		"socket(2) failed":               {[]string{"error"}, []string{"be_id", "be_path", "err", "errno", "strerror"}},
		"through an accessor":            {[]string{"trace"}, []string{"be_id", "be_path", "len"}},
		"error opening socket directory": {[]string{"error"}, []string{"err", "errno", "socket_dir", "strerror"}},
		"error reading socket directory": {[]string{"error"}, []string{"err", "errno", "socket_dir", "strerror"}},
	}
	if len(sites) != len(want) {
		t.Fatalf("found %d sites, want %d: %v", len(sites), len(want), sites)
	}
	for _, s := range sites {
		w, ok := want[s.msg]
		if !ok {
			t.Errorf("unexpected site %q at %s", s.msg, s.pos)
			continue
		}
		if got := keys(s.levels); !reflect.DeepEqual(got, w.levels) {
			t.Errorf("%q: levels %v, want %v", s.msg, got, w.levels)
		}
		if got := keys(s.fields); !reflect.DeepEqual(got, w.fields) {
			t.Errorf("%q: fields %v, want %v", s.msg, got, w.fields)
		}
	}

	for _, tc := range []struct {
		c    cRecord
		want bool
	}{
		{cRecord{"x", "error", "variable event", []string{"reason", "errno", "be_id"}}, true},
		{cRecord{"x", "error", "variable event", []string{"reason", "cause"}}, false},
		{cRecord{"x", "info", "variable event", nil}, false},
		{cRecord{"x", "info", "through a range variable", []string{"remote_ip", "be_path"}}, true},
		{cRecord{"x", "debug", "table record", []string{"be_id"}}, false},
		{cRecord{"x", "fatal", "chosen at run time", []string{"address"}}, true},
		{cRecord{"x", "fatal", "not a constant here", []string{"address"}}, false},
	} {
		if got, _ := emitted(tc.c, sites); got != tc.want {
			t.Errorf("emitted(%v) = %v, want %v", tc.c, got, tc.want)
		}
	}
}
