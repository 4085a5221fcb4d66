/*
Tests of the balancer's start method, smf/methods/binder-balancer.

Each test builds a small world in a temporary directory and runs the real
script in it, with a clean environment as svc.startd would give:

  - a fake svcprop on PATH that answers "svcprop -p config/NAME FMRI" from a
    file of NAME=VALUE lines, for our FMRI only, and exits 1 (as svcprop
    does) for a property that is absent;
  - a fake smf_include.sh (SMF_INCLUDE) with the illumos exit codes;
  - a fake balancer (BALANCER_BIN) that writes its PID, its GOMAXPROCS and
    then its arguments, one per line, to a record file (atomically, by
    rename), and then either exits or, for the duration-model test, stays
    running.

The assertions are on the exact argv the balancer received, the method's exit
status, and its stderr.  The start method backgrounds the balancer and
returns (the contract model), so the record is awaited after the method
exits.
*/
package smftest

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// balancerFMRI is the instance the start method runs for.
const balancerFMRI = "svc:/manta/application/binder-balancer:default"

// defaultSocketDir is Binder's socket directory.
const defaultSocketDir = "/var/run/binder/sockets"

// defaultMetrics is the -m the method gives by default, for port 53:
// Binder's convention, port + 1000 on 0.0.0.0.
const defaultMetrics = "0.0.0.0:1053"

// startTimeout is the manifest's start method timeout: the method must have
// returned by then.
const startTimeout = 10 * time.Second

// recordWait bounds the wait for the backgrounded fake balancer's record.
const recordWait = 10 * time.Second

const fakeSvcprop = `#!/bin/sh
# fake svcprop: "svcprop -p config/NAME FMRI" answered from $FAKE_SVCPROP_FILE
if [ $# -ne 3 ] || [ "$1" != -p ]; then
	echo "fake svcprop: unexpected arguments: $*" >&2
	exit 2
fi
if [ "$3" != "$FAKE_SVCPROP_FMRI" ]; then
	echo "svcprop: Pattern '$3' doesn't match any entities" >&2
	exit 1
fi
while IFS= read -r line; do
	case $line in
	"$2="*) printf '%s\n' "${line#*=}"; exit 0 ;;
	esac
done < "$FAKE_SVCPROP_FILE"
echo "svcprop: Couldn't find property '$2' for instance '$3'." >&2
exit 1
`

const fakeBalancer = `#!/bin/sh
# fake balancer: record PID, GOMAXPROCS and argv, then exit or
# (FAKE_BALANCER_HOLD) stay
{
	echo "$$"
	echo "GOMAXPROCS=${GOMAXPROCS-unset}"
	for arg in "$@"; do
		printf '%s\n' "$arg"
	done
} > "$FAKE_BALANCER_RECORD.tmp"
printf '%s\n' "${BBAL_SUCCESSOR:-}" > "$FAKE_BALANCER_RECORD.successor"
mv "$FAKE_BALANCER_RECORD.tmp" "$FAKE_BALANCER_RECORD"
if [ -n "$FAKE_BALANCER_HOLD" ]; then
	exec sleep 120
fi
exit 0
`

// startWorld is one test's temporary SMF world for the start method.
type startWorld struct {
	dir        string
	propsFile  string
	recordFile string
	balancer   string
	env        []string
}

func newStartWorld(t *testing.T) *startWorld {
	t.Helper()
	dir := t.TempDir()
	fakeBin := filepath.Join(dir, "bin")
	if err := os.Mkdir(fakeBin, 0o755); err != nil {
		t.Fatal(err)
	}
	writeScript(t, filepath.Join(fakeBin, "svcprop"), fakeSvcprop)
	include := filepath.Join(dir, "smf_include.sh")
	writeScript(t, include, fakeSMFInclude)
	w := &startWorld{
		dir:        dir,
		propsFile:  filepath.Join(dir, "properties"),
		recordFile: filepath.Join(dir, "balancer-record"),
		balancer:   filepath.Join(dir, "balancer"),
	}
	writeScript(t, w.balancer, fakeBalancer)
	w.setProps(t)
	w.env = []string{
		"PATH=" + hostPath(fakeBin),
		"SMF_FMRI=" + balancerFMRI,
		"SMF_METHOD=start",
		"SMF_INCLUDE=" + include,
		"BALANCER_BIN=" + w.balancer,
		"FAKE_SVCPROP_FILE=" + w.propsFile,
		"FAKE_SVCPROP_FMRI=" + balancerFMRI,
		"FAKE_BALANCER_RECORD=" + w.recordFile,
	}
	return w
}

// setProps replaces the instance's properties; each is "config/NAME=VALUE",
// VALUE as svcprop would print it.
func (w *startWorld) setProps(t *testing.T, props ...string) {
	t.Helper()
	text := strings.Join(props, "\n")
	if text != "" {
		text += "\n"
	}
	if err := os.WriteFile(w.propsFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// socketDir makes a socket directory for the test and returns its path.
func (w *startWorld) socketDir(t *testing.T) string {
	t.Helper()
	path := filepath.Join(w.dir, "run", "binder", "sockets")
	if err := os.MkdirAll(path, 0o770); err != nil {
		t.Fatal(err)
	}
	return path
}

func (w *startWorld) run(t *testing.T, extraEnv ...string) methodResult {
	t.Helper()
	env := append(slices.Clone(w.env), extraEnv...)
	return runMethod(t, w.dir, methodPath(t, "binder-balancer"), env, startTimeout)
}

// balancerRun is what the fake balancer recorded.
type balancerRun struct {
	pid        int
	gomaxprocs string // "GOMAXPROCS=N" or "GOMAXPROCS=unset"
	args       []string
}

// awaitBalancer waits for the fake balancer's record and returns it.
func (w *startWorld) awaitBalancer(t *testing.T) balancerRun {
	t.Helper()
	deadline := time.Now().Add(recordWait)
	for {
		data, err := os.ReadFile(w.recordFile)
		if err == nil {
			lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
			pid, err := strconv.Atoi(lines[0])
			if err != nil {
				t.Fatalf("fake balancer record %q: bad PID: %v", data, err)
			}
			return balancerRun{pid: pid, gomaxprocs: lines[1], args: lines[2:]}
		}
		if !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("reading the fake balancer's record: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the balancer was not started within %v", recordWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assertNotStarted checks that the fake balancer left no record.
func (w *startWorld) assertNotStarted(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(w.recordFile); err == nil {
		t.Errorf("the balancer was started despite the error")
	}
}

// startOK runs the method, expects success, and returns the balancer's argv.
func (w *startWorld) startOK(t *testing.T) []string {
	t.Helper()
	return w.startRun(t).args
}

// startRun runs the method, expects success, and returns what the balancer
// recorded.
func (w *startWorld) startRun(t *testing.T) balancerRun {
	t.Helper()
	res := w.run(t)
	if res.exitCode != exitOK {
		t.Fatalf("start method exited %d, want %d; stderr:\n%s", res.exitCode, exitOK, res.stderr)
	}
	return w.awaitBalancer(t)
}

func assertArgv(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("balancer argv:\n got %q\nwant %q", got, want)
	}
}

func TestStartMethodAllDefaults(t *testing.T) {
	skipInShort(t)
	w := newStartWorld(t)
	// No properties at all: every value comes from the method's defaults.
	// The default socket directory is a real system path; what the method
	// must do depends on whether this machine has it.
	info, err := os.Stat(defaultSocketDir)
	if err == nil && info.IsDir() {
		assertArgv(t, w.startOK(t), []string{"-b", "0.0.0.0", "-p", "53", "-s", defaultSocketDir, "-l", "info", "-m", defaultMetrics})
		return
	}
	res := w.run(t)
	if res.exitCode != exitErrConfig {
		t.Fatalf("with no %s on this machine, start exited %d, want %d; stderr:\n%s",
			defaultSocketDir, res.exitCode, exitErrConfig, res.stderr)
	}
	if !strings.Contains(res.stderr, defaultSocketDir) {
		t.Errorf("stderr does not name the default socket directory %s:\n%s", defaultSocketDir, res.stderr)
	}
	w.assertNotStarted(t)
}

func TestStartMethodDefaultsBesideSocketDir(t *testing.T) {
	skipInShort(t)
	w := newStartWorld(t)
	dir := w.socketDir(t)
	w.setProps(t, "config/socket_dir="+dir)
	assertArgv(t, w.startOK(t), []string{"-b", "0.0.0.0", "-p", "53", "-s", dir, "-l", "info", "-m", defaultMetrics})
}

func TestStartMethodEveryProperty(t *testing.T) {
	skipInShort(t)
	w := newStartWorld(t)
	dir := w.socketDir(t)
	w.setProps(t,
		"config/address=127.0.0.2",
		"config/port=5353",
		"config/socket_dir="+dir,
		"config/log_level=debug",
	)
	assertArgv(t, w.startOK(t), []string{"-b", "127.0.0.2", "-p", "5353", "-s", dir, "-l", "debug", "-m", "0.0.0.0:6353"})
}

func TestStartMethodLimitsOfValidValues(t *testing.T) {
	skipInShort(t)
	for _, tc := range []struct {
		name, address, port, level, metricsPort, metrics string
	}{
		{"lowest", "0.0.0.0", "1", "trace", "", "0.0.0.0:1001"},
		{"highest", "255.255.255.255", "65535", "fatal", "1", "0.0.0.0:1"},
		{"highest default metrics port", "10.0.0.1", "64535", "warn", "", "0.0.0.0:65535"},
		{"error", "192.168.1.10", "8053", "error", "65535", "0.0.0.0:65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newStartWorld(t)
			dir := w.socketDir(t)
			w.setProps(t, "config/address="+tc.address, "config/port="+tc.port,
				"config/socket_dir="+dir, "config/log_level="+tc.level, "config/metrics_port="+tc.metricsPort)
			assertArgv(t, w.startOK(t), []string{"-b", tc.address, "-p", tc.port, "-s", dir, "-l", tc.level, "-m", tc.metrics})
		})
	}
}

// The control socket's path and the metrics endpoint: -c only when
// config/control_socket is set (else the balancer's own default, which
// balstat finds); -m on config/metrics_port, by default config/port + 1000,
// on config/metrics_address, by default 0.0.0.0 whatever config/address is
// (Binder's metrics servers listen there); metrics_port 0 turns it off.
func TestStartMethodControlSocketAndMetrics(t *testing.T) {
	skipInShort(t)
	w := newStartWorld(t)
	dir := w.socketDir(t)
	w.setProps(t, "config/address=10.1.2.3", "config/socket_dir="+dir, "config/control_socket=/run/bbal/ctl",
		"config/metrics_port=9153")
	assertArgv(t, w.startOK(t), []string{"-b", "10.1.2.3", "-p", "53", "-s", dir, "-l", "info",
		"-c", "/run/bbal/ctl", "-m", "0.0.0.0:9153"})

	w = newStartWorld(t)
	dir = w.socketDir(t)
	w.setProps(t, "config/address=10.1.2.3", "config/port=5301", "config/socket_dir="+dir, "config/metrics_address=127.0.0.1")
	assertArgv(t, w.startOK(t), []string{"-b", "10.1.2.3", "-p", "5301", "-s", dir, "-l", "info", "-m", "127.0.0.1:6301"})

	w = newStartWorld(t)
	dir = w.socketDir(t)
	w.setProps(t, "config/socket_dir="+dir, "config/metrics_port=0", "config/metrics_address=127.0.0.1")
	assertArgv(t, w.startOK(t), []string{"-b", "0.0.0.0", "-p", "53", "-s", dir, "-l", "info"})

	// An empty value is the default.
	w = newStartWorld(t)
	dir = w.socketDir(t)
	w.setProps(t, "config/socket_dir="+dir, `config/metrics_port=""`, `config/control_socket=""`)
	assertArgv(t, w.startOK(t), []string{"-b", "0.0.0.0", "-p", "53", "-s", dir, "-l", "info", "-m", defaultMetrics})
}

// GOMAXPROCS comes from config/gomaxprocs, 2 by default, whatever the
// method's environment had.
func TestStartMethodGOMAXPROCS(t *testing.T) {
	skipInShort(t)
	w := newStartWorld(t)
	w.setProps(t, "config/socket_dir="+w.socketDir(t))
	if got := w.startRun(t).gomaxprocs; got != "GOMAXPROCS=2" {
		t.Errorf("balancer environment has %s by default, want GOMAXPROCS=2", got)
	}
	w = newStartWorld(t)
	w.setProps(t, "config/socket_dir="+w.socketDir(t), "config/gomaxprocs=6")
	w.env = append(w.env, "GOMAXPROCS=48")
	if got := w.startRun(t).gomaxprocs; got != "GOMAXPROCS=6" {
		t.Errorf("balancer environment has %s with config/gomaxprocs=6, want GOMAXPROCS=6", got)
	}
}

// An empty astring value (svcprop prints it as "") counts as absent.
func TestStartMethodEmptyValueMeansDefault(t *testing.T) {
	skipInShort(t)
	w := newStartWorld(t)
	dir := w.socketDir(t)
	w.setProps(t, `config/address=""`, "config/port=5300", "config/socket_dir="+dir, `config/log_level=""`)
	assertArgv(t, w.startOK(t), []string{"-b", "0.0.0.0", "-p", "5300", "-s", dir, "-l", "info", "-m", "0.0.0.0:6300"})
}

// Only our own instance's properties count: the same file of properties
// answered for another FMRI leaves the method on its defaults.
func TestStartMethodReadsItsOwnInstance(t *testing.T) {
	skipInShort(t)
	w := newStartWorld(t)
	dir := w.socketDir(t)
	w.setProps(t, "config/port=5353", "config/socket_dir="+dir)
	w.env = append(w.env, "FAKE_SVCPROP_FMRI=svc:/some/other:default")
	res := w.run(t)
	// socket_dir falls back to the default, which is absent here or, if
	// present, must be the one used.
	if res.exitCode == exitOK {
		assertArgv(t, w.awaitBalancer(t).args, []string{"-b", "0.0.0.0", "-p", "53", "-s", defaultSocketDir, "-l", "info", "-m", defaultMetrics})
		return
	}
	if res.exitCode != exitErrConfig || !strings.Contains(res.stderr, defaultSocketDir) {
		t.Fatalf("start exited %d, stderr:\n%s\nwant the defaults, not another instance's properties", res.exitCode, res.stderr)
	}
}

func TestStartMethodRejectsBadConfiguration(t *testing.T) {
	skipInShort(t)
	for _, tc := range []struct {
		name    string
		props   func(t *testing.T, w *startWorld) []string
		message string // expected in stderr
	}{
		{
			name: "missing socket dir",
			props: func(t *testing.T, w *startWorld) []string {
				return []string{"config/socket_dir=" + filepath.Join(w.dir, "no", "such", "dir")}
			},
			message: "does not exist",
		},
		{
			name: "socket dir is a file",
			props: func(t *testing.T, w *startWorld) []string {
				file := filepath.Join(w.dir, "plain-file")
				if err := os.WriteFile(file, nil, 0o644); err != nil {
					t.Fatal(err)
				}
				return []string{"config/socket_dir=" + file}
			},
			message: "is not a directory",
		},
		{
			name:    "relative socket dir",
			props:   withProp("config/socket_dir=run/binder/sockets"),
			message: "is not an absolute path",
		},
		{name: "port zero", props: withProp("config/port=0"), message: "config/port"},
		{name: "port too big", props: withProp("config/port=65536"), message: "out of range 1-65535"},
		{name: "port huge", props: withProp("config/port=999999"), message: "config/port"},
		{name: "port not a number", props: withProp("config/port=domain"), message: "is not a port number"},
		{name: "port negative", props: withProp("config/port=-53"), message: "config/port"},
		{name: "port leading zero", props: withProp("config/port=053"), message: "config/port"},
		{name: "port two values", props: withProp("config/port=53 54"), message: "config/port"},
		{name: "unknown level", props: withProp("config/log_level=verbose"), message: "config/log_level"},
		{name: "upper-case level", props: withProp("config/log_level=INFO"), message: "config/log_level"},
		{name: "address octet too big", props: withProp("config/address=256.0.0.1"), message: "config/address"},
		{name: "address host name", props: withProp("config/address=localhost"), message: "config/address"},
		{name: "address three parts", props: withProp("config/address=10.0.1"), message: "config/address"},
		{name: "address five parts", props: withProp("config/address=10.0.0.1.5"), message: "config/address"},
		{name: "address empty part", props: withProp("config/address=10..0.1"), message: "config/address"},
		{name: "address IPv6", props: withProp("config/address=::1"), message: "config/address"},
		{name: "metrics port leading zero", props: withProp("config/metrics_port=053"), message: "config/metrics_port"},
		{name: "default metrics port out of range", props: withProp("config/port=64536"),
			message: "config/metrics_port defaults to config/port + 1000 = 65536, out of range"},
		{name: "gomaxprocs zero", props: withProp("config/gomaxprocs=0"), message: "config/gomaxprocs"},
		{name: "gomaxprocs too big", props: withProp("config/gomaxprocs=1025"), message: "config/gomaxprocs 1025 is out of range 1-1024"},
		{name: "gomaxprocs not a number", props: withProp("config/gomaxprocs=all"), message: "config/gomaxprocs"},
		{name: "metrics port too big", props: withProp("config/metrics_port=70000"), message: "config/metrics_port 70000 is out of range"},
		{name: "metrics port not a number", props: withProp("config/metrics_port=http"), message: "config/metrics_port"},
		{
			name: "metrics address host name",
			props: func(*testing.T, *startWorld) []string {
				return []string{"config/metrics_address=localhost"}
			},
			message: "config/metrics_address",
		},
		{name: "relative control socket", props: withProp("config/control_socket=run/control"), message: "is not an absolute path"},
		{
			name: "control socket in the socket directory",
			props: func(t *testing.T, w *startWorld) []string {
				dir := w.socketDir(t)
				return []string{"config/socket_dir=" + dir, "config/control_socket=" + filepath.Join(dir, "control")}
			},
			message: "where it would be taken for a backend",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newStartWorld(t)
			dir := w.socketDir(t)
			props := tc.props(t, w)
			if !slices.ContainsFunc(props, func(p string) bool { return strings.HasPrefix(p, "config/socket_dir=") }) {
				props = append(props, "config/socket_dir="+dir)
			}
			w.setProps(t, props...)
			res := w.run(t)
			if res.exitCode != exitErrConfig {
				t.Fatalf("start exited %d, want %d (SMF_EXIT_ERR_CONFIG); stderr:\n%s", res.exitCode, exitErrConfig, res.stderr)
			}
			if !strings.Contains(res.stderr, tc.message) {
				t.Errorf("stderr lacks %q:\n%s", tc.message, res.stderr)
			}
			if !strings.HasPrefix(res.stderr, "binder-balancer: ") || strings.Count(res.stderr, "\n") != 1 {
				t.Errorf("want one line starting \"binder-balancer: \", got:\n%s", res.stderr)
			}
			w.assertNotStarted(t)
		})
	}
}

// withProp returns a property list of one property, for the table above.
func withProp(prop string) func(*testing.T, *startWorld) []string {
	return func(*testing.T, *startWorld) []string { return []string{prop} }
}

// A start tells the balancer to run this method for a handover
// (BBAL_SUCCESSOR); run so (BBAL_HANDOVER=1), the method checks the
// properties as for a start and execs the balancer in the foreground,
// keeping its process (and so its inherited descriptors); a bad property
// fails it before anything is run.
func TestStartMethodHandover(t *testing.T) {
	skipInShort(t)
	w := newStartWorld(t)
	dir := w.socketDir(t)
	w.setProps(t, "config/socket_dir="+dir)
	want := []string{"-b", "0.0.0.0", "-p", "53", "-s", dir, "-l", "info", "-m", defaultMetrics}
	assertArgv(t, w.startOK(t), want)
	successor, err := os.ReadFile(w.recordFile + ".successor")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(successor)); got != methodPath(t, "binder-balancer") {
		t.Errorf("BBAL_SUCCESSOR %q, want the method %s", got, methodPath(t, "binder-balancer"))
	}

	os.Remove(w.recordFile)
	res := w.run(t, "BBAL_HANDOVER=1")
	if res.exitCode != exitOK {
		t.Fatalf("handover run exited %d; stderr:\n%s", res.exitCode, res.stderr)
	}
	run := w.awaitBalancer(t)
	if run.pid != res.pid {
		t.Errorf("handover: balancer ran as pid %d, not in the method's process %d (exec)", run.pid, res.pid)
	}
	assertArgv(t, run.args, want)

	os.Remove(w.recordFile)
	w.setProps(t, "config/socket_dir="+dir, "config/port=99999")
	res = w.run(t, "BBAL_HANDOVER=1")
	if res.exitCode != exitErrConfig {
		t.Fatalf("handover with a bad port exited %d, want %d; stderr:\n%s", res.exitCode, exitErrConfig, res.stderr)
	}
	w.assertNotStarted(t)
}

func TestStartMethodOutsideSMF(t *testing.T) {
	skipInShort(t)
	w := newStartWorld(t)
	w.setProps(t, "config/socket_dir="+w.socketDir(t))
	w.env = slices.DeleteFunc(w.env, func(kv string) bool { return strings.HasPrefix(kv, "SMF_FMRI=") })
	res := w.run(t)
	if res.exitCode != exitErrNoSMF {
		t.Fatalf("without SMF_FMRI start exited %d, want %d (SMF_EXIT_ERR_NOSMF); stderr:\n%s", res.exitCode, exitErrNoSMF, res.stderr)
	}
	w.assertNotStarted(t)
}

func TestStartMethodMissingBalancer(t *testing.T) {
	skipInShort(t)
	w := newStartWorld(t)
	w.setProps(t, "config/socket_dir="+w.socketDir(t))
	res := w.run(t, "BALANCER_BIN="+filepath.Join(w.dir, "no-such-balancer"))
	if res.exitCode != exitErrFatal {
		t.Fatalf("with no balancer program start exited %d, want %d (SMF_EXIT_ERR_FATAL); stderr:\n%s", res.exitCode, exitErrFatal, res.stderr)
	}
	if !strings.Contains(res.stderr, "no-such-balancer") {
		t.Errorf("stderr does not name the missing program:\n%s", res.stderr)
	}
}

func TestStartMethodMissingSMFInclude(t *testing.T) {
	skipInShort(t)
	w := newStartWorld(t)
	w.setProps(t, "config/socket_dir="+w.socketDir(t))
	res := w.run(t, "SMF_INCLUDE="+filepath.Join(w.dir, "no-such-include.sh"))
	if res.exitCode != exitErrFatal {
		t.Fatalf("without smf_include.sh start exited %d, want %d; stderr:\n%s", res.exitCode, exitErrFatal, res.stderr)
	}
	w.assertNotStarted(t)
}

// The manifest chooses the contract duration model: the start method must
// return SMF_EXIT_OK within its timeout while the balancer, a separate
// process, goes on running in the background.
func TestStartMethodContractModel(t *testing.T) {
	skipInShort(t)
	w := newStartWorld(t)
	w.setProps(t, "config/socket_dir="+w.socketDir(t))
	w.env = append(w.env, "FAKE_BALANCER_HOLD=1")

	res := w.run(t)
	if res.exitCode != exitOK {
		t.Fatalf("start exited %d, want %d; stderr:\n%s", res.exitCode, exitOK, res.stderr)
	}
	run := w.awaitBalancer(t)
	t.Cleanup(func() { _ = syscall.Kill(run.pid, syscall.SIGKILL) })

	if run.pid == res.pid {
		t.Errorf("the balancer has the start method's PID %d: the method exec'd it, but the contract model needs it backgrounded", res.pid)
	}
	if err := syscall.Kill(run.pid, 0); err != nil {
		t.Errorf("the balancer (PID %d) is not running after the start method returned: %v", run.pid, err)
	}
}
