/*
 * balstat links the operator's side of the view (mdb/view) and nothing of
 * the daemon: no balancer package, no event loop, no HTTP, no Prometheus
 * (package version, a leaf both programs share, aside).
 */

package main

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestBalstatLinksNoDaemon(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("go is not on PATH: cannot list balstat's dependencies")
		}
		t.Skip("go is not on PATH (a test binary run elsewhere): cannot list balstat's dependencies")
	}
	for _, goos := range []string{"linux", "illumos"} {
		cmd := exec.Command("go", "list", "-deps", ".")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH=amd64", "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps for %s: %v\n%s", goos, err, out)
		}
		deps := strings.Fields(string(out))
		if !slices.Contains(deps, "github.com/joyent/mname-balancer/mdb/view") {
			t.Errorf("%s: balstat does not import mdb/view; deps:\n%s", goos, out)
		}
		for _, d := range deps {
			switch {
			case d == "net/http",
				d == "github.com/joyent/mname-balancer/mdb",
				strings.HasPrefix(d, "github.com/prometheus/"),
				strings.HasPrefix(d, "github.com/rs/zerolog"),
				strings.HasPrefix(d, "github.com/joyent/mname-balancer/") &&
					!strings.HasPrefix(d, "github.com/joyent/mname-balancer/mdb/view") &&
					d != "github.com/joyent/mname-balancer/version" && // which build (-V); a leaf
					!strings.HasPrefix(d, "github.com/joyent/mname-balancer/cmd/balstat"):
				t.Errorf("%s: balstat links %s, a part of the daemon", goos, d)
			}
		}
	}
}
