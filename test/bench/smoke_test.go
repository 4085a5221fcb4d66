//go:build linux

/*
The bench's smoke run, part of make test: every path of `make bench` (the
reflector, the echo backends direct, bbal, dnsdist, node-mname direct and
behind bbal, TCP, dnsperf) is started and driven at a tiny rate for a
fraction of a second, and each must answer. No timing is asserted: speed
targets live only in the printed ratios of `make bench`.

dnsdist, dnsperf and node are needed; in CI (CI set) a missing one fails
the test (.ci/run installs them), elsewhere the test is skipped with the
install command. perf is optional: where it cannot count (not installed,
as in CI, or not allowed to trace), the syscall counts are not asserted and
the test logs why; the context switches and CPU, from /proc, always are.
*/

package bench

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/test/e2e"
)

func TestMain(m *testing.M) {
	RunRole() // the echo backends are this test binary, re-executed
	os.Exit(m.Run())
}

func needTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (%s)", name, install)
		}
		t.Skipf("%s is not installed (%s); CI installs it", name, install)
	}
	return p
}

func TestSmokeEveryPathAnswers(t *testing.T) {
	e2e.SkipInShort(t)
	dnsdist := needTool(t, "dnsdist", "apt-get install dnsdist")
	dnsperf := needTool(t, "dnsperf", "apt-get install dnsperf")
	node := e2e.NodeBinary(t)
	e2e.NodeModules(t)
	root := e2e.RepoRoot(t)
	bbal := filepath.Join(t.TempDir(), "bbal")
	build := exec.Command("go", "build", "-o", bbal, "./cmd/bbal")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/bbal: %v\n%s", err, out)
	}
	var table, progress bytes.Buffer
	perfErr := perfCheck("perf")
	if perfErr != nil {
		t.Logf("syscall counts not asserted: perf cannot count here: %v", perfErr)
	}
	rep, err := Run(Config{BBAL: bbal, Dnsdist: dnsdist, Dnsperf: dnsperf, Node: node, Perf: "perf",
		RepoRoot: root, Smoke: true, Workers: 2, Pin: true, Poll: 200 * time.Microsecond, Out: &table, Progress: &progress})
	t.Logf("progress:\n%s\ntable:\n%s", progress.String(), table.String())
	if err != nil {
		t.Fatalf("bench smoke: %v", err)
	}
	for name, m := range map[string]map[string]Result{
		"overload 1": rep.Answered200, "overload 2": rep.Answered250,
		"low rate": rep.At20k, "mid rate": rep.At50k,
	} {
		for _, path := range udpPaths {
			if r := m[path]; r.Answered == 0 || r.Sent == 0 {
				t.Errorf("%s, %s: %d of %d queries answered", name, path, r.Answered, r.Sent)
			}
		}
	}
	for _, rate := range smokePlan.countRates {
		for _, path := range []string{pathReflector, pathBBAL, pathDnsdist} {
			rounds := rep.Counted[rate][path]
			if len(rounds) != smokePlan.countRounds {
				t.Errorf("counted at %d q/s, %s: %d rounds, want %d", rate, path, len(rounds), smokePlan.countRounds)
				continue
			}
			for _, r := range rounds {
				if r.answered == 0 || r.front.cpu <= 0 || r.front.voluntary+r.front.involuntary == 0 {
					t.Errorf("counted at %d q/s, %s: %d answered, front CPU %v, %d+%d context switches",
						rate, path, r.answered, r.front.cpu, r.front.voluntary, r.front.involuntary)
				}
				if path != pathReflector && (r.whole.cpu <= r.front.cpu || r.whole.voluntary <= r.front.voluntary) {
					t.Errorf("counted at %d q/s, %s: the whole path (CPU %v, %d voluntary switches) counts no more than the front (%v, %d)",
						rate, path, r.whole.cpu, r.whole.voluntary, r.front.cpu, r.front.voluntary)
				}
				if perfErr == nil && (r.front.syscalls == 0 || r.whole.syscalls <= r.front.syscalls && path != pathReflector) {
					t.Errorf("counted at %d q/s, %s: %d front syscalls, %d on the whole path", rate, path, r.front.syscalls, r.whole.syscalls)
				}
			}
		}
	}
	for _, path := range []string{pathBBAL, pathDnsdist} {
		if rep.CPU20k[path] <= 0 && rep.CPU50k[path] <= 0 {
			t.Errorf("%s: no CPU time measured", path)
		}
		if _, ok := rep.RSSPerRemote[path]; !ok {
			t.Errorf("%s: no RSS per remote", path)
		}
	}
	for _, path := range []string{pathDirect, pathBBAL, pathDnsdist} {
		if r := rep.TCPPersistent[path]; r.Done == 0 {
			t.Errorf("%s: no TCP query answered on persistent connections (%d errors)", path, r.Errors)
		}
		if r := rep.TCPConns[path]; r.Done == 0 {
			t.Errorf("%s: no TCP connection completed (%d errors)", path, r.Errors)
		}
		if r := rep.Dnsperf[path]; r.QPS == 0 {
			t.Errorf("%s: dnsperf completed no query", path)
		}
	}
	for _, path := range []string{"mname direct", "mname bbal"} {
		if r := rep.NodeLat[path]; r.Answered == 0 {
			t.Errorf("%s: no answer", path)
		}
		if r := rep.NodeOverload[path]; r.Answered == 0 {
			t.Errorf("%s: no answer", path)
		}
	}
	for _, want := range []string{"reflector", "dnsperf", "node-mname", "targets on counted figures", "front context switches"} {
		if !bytes.Contains(table.Bytes(), []byte(want)) {
			t.Errorf("table lacks %q", want)
		}
	}
}
