/*
Static checks of the SMF files with the tools operators and CI use: every
manifest validates against the SMF service bundle DTD (xmllint --dtdvalid),
and every method script is shellcheck clean.

The manifests' DOCTYPE names the DTD where illumos keeps it
(/usr/share/lib/xml/dtd/service_bundle.dtd.1).  A temporary XML catalog maps
that name to the shared copy so xmllint has nothing to warn about, and the
test demands empty output as well as a zero exit status.  A deliberately
broken copy of a manifest must fail, which shows the DTD is really applied.
*/
package smftest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// smfDTDSystemID is the DTD path written in the manifests' DOCTYPE.
const smfDTDSystemID = "/usr/share/lib/xml/dtd/service_bundle.dtd.1"

// manifestNames are the manifests that ship.
var manifestNames = []string{"binder-balancer.xml"}

// methodNames are the method scripts that ship.
var methodNames = []string{"binder-balancer"}

// xmllintValidate runs xmllint against the DTD and returns its combined
// output and exit error.
func xmllintValidate(t *testing.T, xmllint, dtd, file string) (string, error) {
	t.Helper()
	catalog := filepath.Join(t.TempDir(), "catalog.xml")
	catalogText := `<?xml version="1.0"?>
<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <system systemId="` + smfDTDSystemID + `" uri="file://` + dtd + `"/>
</catalog>
`
	if err := os.WriteFile(catalog, []byte(catalogText), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(xmllint, "--noout", "--nonet", "--dtdvalid", dtd, file)
	cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+catalog)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

func TestManifestsValidateAgainstDTD(t *testing.T) {
	skipInShort(t)
	xmllint := requireTool(t, "xmllint", "apt-get install libxml2-utils")
	dtd := smfDTD(t)
	for _, name := range manifestNames {
		t.Run(name, func(t *testing.T) {
			out, err := xmllintValidate(t, xmllint, dtd, manifestPath(t, name))
			if err != nil || out != "" {
				t.Errorf("xmllint --dtdvalid %s: %v\n%s", name, err, out)
			}
		})
	}
}

// A manifest with an attribute value the DTD does not allow must fail: the
// check above would be worthless if xmllint were not validating.
func TestBrokenManifestFailsValidation(t *testing.T) {
	skipInShort(t)
	xmllint := requireTool(t, "xmllint", "apt-get install libxml2-utils")
	dtd := smfDTD(t)
	text := readFile(t, manifestPath(t, "binder-balancer.xml"))
	broken := strings.Replace(text, `grouping="optional_all"`, `grouping="optional_some"`, 1)
	if broken == text {
		t.Fatal("the manifest has no optional_all dependency to break")
	}
	path := filepath.Join(t.TempDir(), "broken.xml")
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := xmllintValidate(t, xmllint, dtd, path)
	if err == nil || !strings.Contains(out, "optional_some") {
		t.Errorf("xmllint accepted a manifest the DTD forbids: %v\n%s", err, out)
	}
}

func TestMethodsAreShellcheckClean(t *testing.T) {
	skipInShort(t)
	shellcheck := requireTool(t, "shellcheck", "apt-get install shellcheck")
	for _, name := range methodNames {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command(shellcheck, methodPath(t, name)).CombinedOutput()
			if err != nil {
				t.Errorf("shellcheck %s: %v\n%s", name, err, out)
			}
		})
	}
}

// The methods are POSIX sh (SmartOS runs them with ksh93, Linux with dash or
// bash): the shebang says so, and the files are executable.
func TestMethodsArePOSIXShellScripts(t *testing.T) {
	skipInShort(t)
	for _, name := range methodNames {
		path := methodPath(t, name)
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm()&0o111 != 0o111 {
			t.Errorf("%s mode %v: not executable by all", name, info.Mode())
		}
		if first, _, _ := strings.Cut(readFile(t, path), "\n"); first != "#!/bin/sh" {
			t.Errorf("%s starts %q, want #!/bin/sh", name, first)
		}
	}
}
