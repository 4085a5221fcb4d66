package illumos

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// moduleDir is the repository's root.
const moduleDir = "../.."

// packedPackages are the packages whose test binaries the tarball carries:
// every package outside test/ with tests, from go list, as the Makefile
// chooses them.
func packedPackages(t *testing.T) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{if or .TestGoFiles .XTestGoFiles}}{{.Dir}}{{end}}", "./...")
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "GOOS=illumos", "GOARCH=amd64", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	root, err := filepath.Abs(moduleDir)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		if rel != "test" && !strings.HasPrefix(rel, "test/") {
			dirs = append(dirs, filepath.ToSlash(rel))
		}
	}
	return dirs
}

type entry struct {
	mode os.FileMode
	data []byte
}

// TestIllumosTestsTarball runs make illumos-tests (which also runs
// symcheck over bbal, balstat and every test binary: a failure there fails
// this test) and checks the tarball: run-tests.sh, executable; each packed
// package's test binary, an illumos amd64 executable, at the package's
// path with its testdata; nothing from test/, whose tests need Go, node
// or the source tree.
func TestIllumosTestsTarball(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every test binary for illumos: skipped under -short (make test runs it)")
	}
	build := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "illumos-tests", "BUILD="+build)
	cmd.Dir = moduleDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make illumos-tests: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("symcheck: ")) || !bytes.Contains(out, []byte("import only names their NEEDED libraries export")) {
		t.Errorf("make illumos-tests did not report symcheck's pass:\n%s", out)
	}
	entries := readTarball(t, filepath.Join(build, "illumos-tests.tar.gz"))

	script, ok := entries["illumos-tests/run-tests.sh"]
	if !ok || script.mode&0o111 == 0 {
		t.Errorf("run-tests.sh missing or not executable (%v)", script.mode)
	}
	if src, err := os.ReadFile("run-tests.sh"); err != nil || !bytes.Equal(src, script.data) {
		t.Errorf("the tarball's run-tests.sh is not test/illumos/run-tests.sh (%v)", err)
	}
	want := map[string]bool{"illumos-tests/run-tests.sh": true}
	pkgs := packedPackages(t)
	for _, must := range []string{"evport", "bunyan", "backend", "proxy", "remote", "mdb", "cmd/bbal", "cmd/balstat"} {
		if !slices.Contains(pkgs, must) {
			t.Errorf("go list gives no tests for %s", must)
		}
	}
	for _, dir := range pkgs {
		name := "illumos-tests/" + dir + "/" + filepath.Base(dir) + ".test"
		want[name] = true
		e, ok := entries[name]
		if !ok {
			t.Errorf("%s: missing", name)
			continue
		}
		checkIllumosExecutable(t, name, e)
		testdata := filepath.Join(moduleDir, dir, "testdata")
		filepath.WalkDir(testdata, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(filepath.Join(moduleDir, dir), path)
			name := "illumos-tests/" + dir + "/" + filepath.ToSlash(rel)
			want[name] = true
			if src, _ := os.ReadFile(path); !bytes.Equal(src, entries[name].data) {
				t.Errorf("%s: not %s", name, path)
			}
			return nil
		})
	}
	for name := range entries {
		if !want[name] {
			t.Errorf("unexpected entry %s", name)
		}
	}
}

// readTarball returns the regular files of a .tar.gz by name.
func readTarball(t *testing.T, path string) map[string]entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	entries := map[string]entry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			t.Errorf("%s: not a regular file (type %c)", h.Name, h.Typeflag)
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries[strings.TrimPrefix(h.Name, "./")] = entry{mode: h.FileInfo().Mode(), data: data}
	}
}

// checkIllumosExecutable: an executable x86-64 ELF asking for illumos's
// run-time linker.
func checkIllumosExecutable(t *testing.T, name string, e entry) {
	t.Helper()
	if e.mode&0o111 == 0 {
		t.Errorf("%s: mode %v, not executable", name, e.mode)
	}
	f, err := elf.NewFile(bytes.NewReader(e.data))
	if err != nil {
		t.Errorf("%s: %v", name, err)
		return
	}
	defer f.Close()
	var interp string
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, _ := io.ReadAll(p.Open())
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC || interp != "/lib/amd64/ld.so.1" {
		t.Errorf("%s: %v %v interpreter %q, want an x86-64 executable for /lib/amd64/ld.so.1", name, f.Machine, f.Type, interp)
	}
}

// run-tests.sh passes shellcheck (which CI installs).
func TestRunTestsShellcheck(t *testing.T) {
	path, err := exec.LookPath("shellcheck")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("shellcheck is not installed (apt-get install shellcheck)")
		}
		t.Skip("shellcheck is not installed; CI installs it")
	}
	if out, err := exec.Command(path, "run-tests.sh").CombinedOutput(); err != nil {
		t.Errorf("shellcheck run-tests.sh: %v\n%s", err, out)
	}
}

// run-tests.sh runs every *.test from its own directory with the given
// arguments, and exits 0 only when all passed and there was one at least.
func TestRunTestsExitStatus(t *testing.T) {
	script, err := filepath.Abs("run-tests.sh")
	if err != nil {
		t.Fatal(err)
	}
	tree := func(binaries map[string]int) string {
		dir := t.TempDir()
		data, err := os.ReadFile(script)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "run-tests.sh"), data, 0o755); err != nil {
			t.Fatal(err)
		}
		for path, status := range binaries {
			full := filepath.Join(dir, path)
			os.MkdirAll(filepath.Dir(full), 0o755)
			// A stand-in test binary: records where it ran and with what.
			body := "#!/bin/sh\necho \"ran in $(pwd) with $*\"\nexit " + strconv.Itoa(status) + "\n"
			if err := os.WriteFile(full, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	run := func(dir string) (string, int) {
		cmd := exec.Command("sh", filepath.Join(dir, "run-tests.sh"), "-test.v", "-test.run", "Alloc")
		cmd.Dir = t.TempDir() // the script finds its tests wherever it is called from
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}

	dir := tree(map[string]int{"evport/evport.test": 0, "cmd/bbal/bbal.test": 0})
	out, status := run(dir)
	if status != 0 {
		t.Errorf("all passing: exit %d\n%s", status, out)
	}
	for _, pkg := range []string{"evport", "cmd/bbal"} {
		if !strings.Contains(out, "ran in "+filepath.Join(dir, pkg)+" with -test.v -test.run Alloc") {
			t.Errorf("%s did not run in its directory with the arguments:\n%s", pkg, out)
		}
	}

	out, status = run(tree(map[string]int{"evport/evport.test": 0, "proxy/proxy.test": 1, "mdb/mdb.test": 0}))
	if status != 1 || !strings.Contains(out, "FAIL: proxy") || !strings.Contains(out, "mdb") {
		t.Errorf("one failing: exit %d, want 1 naming proxy after running all\n%s", status, out)
	}

	out, status = run(tree(nil))
	if status != 1 {
		t.Errorf("no test binaries: exit %d, want 1\n%s", status, out)
	}
}
