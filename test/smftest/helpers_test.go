/*
Helpers shared by the SMF and release tests: where the repository and the
shared DTD are, how a missing tool is treated (skip on a workstation, fail
under CI=true), and how a method script is run the way svc.startd runs it (a
clean environment, stdout and stderr into files, a deadline).

Method output goes to files rather than pipes on purpose: the balancer's start
method leaves a background process holding its stdout and stderr, and
exec.Cmd would wait for a pipe's last writer, that is for the balancer, before
Wait returned.  svc.startd also hands methods a log file, not a pipe.
*/
package smftest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoRoot returns the repository's top directory (this package is
// test/smftest inside it).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatalf("locating the repository: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("locating the repository: no go.mod in %s: %v", root, err)
	}
	return root
}

// inCI reports whether the tests run under CI, where a missing tool or
// fixture is a failure rather than a reason to skip.
func inCI() bool {
	return os.Getenv("CI") == "true"
}

// missing skips the test, or fails it under CI, because what names is absent.
func missing(t *testing.T, what string) {
	t.Helper()
	if inCI() {
		t.Fatalf("%s (required when CI=true)", what)
	}
	t.Skip(what)
}

// requireTool returns the path of the named program, or skips (fails under
// CI) when it is not installed.
func requireTool(t *testing.T, name, hint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		missing(t, name+" is not installed ("+hint+")")
	}
	return path
}

// smfDTDEnv overrides where the DTD is looked for, as make's SMF_DTD does.
const smfDTDEnv = "SMF_DTD"

// smfDTD returns the path of the SMF service bundle DTD ($SMF_DTD, or the
// shared folder beside the repository), or skips (fails under CI) when it is
// absent.
func smfDTD(t *testing.T) string {
	t.Helper()
	path := os.Getenv(smfDTDEnv)
	switch {
	case path == "":
		path = filepath.Join(repoRoot(t), "..", "shared", "smf", "service_bundle.dtd.1")
	case !filepath.IsAbs(path): // relative to the repository, as for make
		path = filepath.Join(repoRoot(t), path)
	}
	if _, err := os.Stat(path); err != nil {
		missing(t, "SMF DTD not found: "+err.Error())
	}
	return path
}

// methodPath returns the path of a method script in smf/methods.
func methodPath(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(repoRoot(t), "smf", "methods", name)
}

// manifestPath returns the path of a manifest in smf/manifests.
func manifestPath(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(repoRoot(t), "smf", "manifests", name)
}

// writeScript writes an executable shell script.
func writeScript(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
		t.Fatalf("writing %s: %v", path, err)
	}
}

// fakeSMFInclude is a stand-in for /lib/svc/share/smf_include.sh with the
// exit codes illumos defines.
const fakeSMFInclude = `# fake smf_include.sh for the tests: the illumos exit codes
SMF_EXIT_OK=0
SMF_EXIT_NODAEMON=94
SMF_EXIT_ERR_FATAL=95
SMF_EXIT_ERR_CONFIG=96
SMF_EXIT_MON_DEGRADE=97
SMF_EXIT_MON_OFFLINE=98
SMF_EXIT_ERR_NOSMF=99
SMF_EXIT_ERR_PERM=100
`

// The exit codes the methods must use (from illumos smf_include.sh).
const (
	exitOK        = 0
	exitErrFatal  = 95
	exitErrConfig = 96
	exitErrNoSMF  = 99
)

// methodResult is what one run of a method script gave.
type methodResult struct {
	exitCode int
	pid      int // the method's own process ID
	stdout   string
	stderr   string
}

// runMethod runs script with exactly the environment env (like svc.startd,
// nothing is inherited) from dir, and waits for it to exit for at most
// timeout.  A method still running at the deadline fails the test.
func runMethod(t *testing.T, dir, script string, env []string, timeout time.Duration) methodResult {
	t.Helper()
	stdout, err := os.CreateTemp(dir, "stdout-*")
	if err != nil {
		t.Fatalf("creating the method's stdout: %v", err)
	}
	defer stdout.Close()
	stderr, err := os.CreateTemp(dir, "stderr-*")
	if err != nil {
		t.Fatalf("creating the method's stderr: %v", err)
	}
	defer stderr.Close()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, script)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", script, err)
	}
	waitErr := cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("%s did not return within %v", filepath.Base(script), timeout)
	}
	res := methodResult{pid: cmd.Process.Pid, exitCode: exitOK}
	var exitErr *exec.ExitError
	switch {
	case errors.As(waitErr, &exitErr):
		res.exitCode = exitErr.ExitCode()
	case waitErr != nil:
		t.Fatalf("running %s: %v", script, waitErr)
	}
	res.stdout = readFile(t, stdout.Name())
	res.stderr = readFile(t, stderr.Name())
	return res
}

// readFile returns a file's contents as a string.
func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return string(data)
}

// hostPath is the PATH the methods get: the test's fakes first, then the
// system's directories (never the caller's PATH).
func hostPath(fakeBin string) string {
	return strings.Join([]string{fakeBin, "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"}, ":")
}

// skipInShort skips t under go test -short, saying so: these tests run the
// shipped scripts, xmllint, shellcheck and make release. The quick run
// (go test -short ./...) leaves them to make test and CI, which never pass
// -short.
func skipInShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("SMF and release test skipped under -short (make test runs it)")
	}
}
