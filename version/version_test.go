package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	for _, c := range []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"module version", debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, "v1.2.3"},
		{"devel without VCS", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, Unknown},
		{"nothing", debug.BuildInfo{}, Unknown},
		{"clean revision", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "162e38f0123456789abcdef"}, {Key: "vcs.modified", Value: "false"}}}, "162e38f01234"},
		{"modified revision", debug.BuildInfo{Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}}, "abc-dirty"},
	} {
		if got := fromBuildInfo(&c.bi); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestStampedWins(t *testing.T) {
	old := stamped
	defer func() { stamped = old }()
	stamped = "v9.9.9-3-gabcdef"
	if got := String(); got != stamped {
		t.Errorf("String() = %q with %q stamped", got, stamped)
	}
	if got := Line("bbal"); !strings.HasPrefix(got, "bbal v9.9.9-3-gabcdef (go") {
		t.Errorf("Line = %q", got)
	}
}
