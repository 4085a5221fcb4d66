/*
The rule for the SMF DTD (issue 8): a test that needs it skips on a
workstation where ../shared/smf/service_bundle.dtd.1 is absent, and fails
under CI=true. The DTD test is run in a child process (this test binary,
re-run on TestManifestsValidateAgainstDTD alone) with SMF_DTD naming a file
that does not exist, once without CI and once with it.
*/
package smftest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runDTDTestWithout runs TestManifestsValidateAgainstDTD in a child with the
// DTD missing and CI set to ci; it returns the child's -v output and error.
func runDTDTestWithout(t *testing.T, ci string) (string, error) {
	t.Helper()
	requireTool(t, "xmllint", "apt-get install libxml2-utils") // the DTD is looked for after xmllint
	cmd := exec.Command(os.Args[0], "-test.run", "^TestManifestsValidateAgainstDTD$", "-test.v", "-test.count=1")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, smfDTDEnv+"=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "CI="+ci, smfDTDEnv+"="+filepath.Join(t.TempDir(), "no-such.dtd"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestMissingDTDSkipsOutsideCI(t *testing.T) {
	skipInShort(t)
	out, err := runDTDTestWithout(t, "")
	if err != nil || !strings.Contains(out, "--- SKIP: TestManifestsValidateAgainstDTD") ||
		!strings.Contains(out, "SMF DTD not found") {
		t.Errorf("without CI, a missing DTD should skip the test saying why; got %v:\n%s", err, out)
	}
}

func TestMissingDTDFailsInCI(t *testing.T) {
	skipInShort(t)
	out, err := runDTDTestWithout(t, "true")
	if err == nil || !strings.Contains(out, "--- FAIL: TestManifestsValidateAgainstDTD") ||
		!strings.Contains(out, "required when CI=true") {
		t.Errorf("under CI=true, a missing DTD should fail the test; got %v:\n%s", err, out)
	}
}
