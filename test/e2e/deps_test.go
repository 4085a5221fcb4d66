/*
 * The production binary's dependencies (issue 8): the demo backends that
 * --demo links in answer with golang.org/x/net/dns/dnsmessage, so
 * github.com/miekg/dns, the tests' DNS client, must not be in a binary
 * built as make builds it. `go version -m` lists the modules linked in;
 * zerolog being listed shows the listing is read at all.
 */

package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

func TestProductionBinaryHasNoMiekgDNS(t *testing.T) {
	SkipInShort(t)
	out, err := exec.Command("go", "version", "-m", ProductionBinary(t)).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	mods := string(out)
	if !strings.Contains(mods, "github.com/rs/zerolog") {
		t.Fatalf("go version -m lists no zerolog; cannot judge the module list:\n%s", mods)
	}
	if strings.Contains(mods, "github.com/miekg/dns") {
		t.Errorf("the production binary links github.com/miekg/dns:\n%s", mods)
	}
}
