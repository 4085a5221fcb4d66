package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const lists = "../symbols"

// moduleDir is the repository's root, where go list finds the packages.
const moduleDir = "../../.."

// buildIllumos builds pkg (relative to this directory) for illumos/amd64
// without cgo, as the release and make illumos-tests do.
func buildIllumos(t *testing.T, pkg string) string {
	t.Helper()
	return goIllumos(t, filepath.Base(pkg), "build", pkg)
}

// goIllumos runs go build or go test -c for illumos, writing out.
func goIllumos(t *testing.T, out string, args ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds illumos binaries: skipped under -short (make test runs it)")
	}
	out = filepath.Join(t.TempDir(), out)
	cmd := exec.Command("go", append([]string{args[0], "-o", out}, args[1:]...)...)
	cmd.Env = append(os.Environ(), "GOOS=illumos", "GOARCH=amd64", "GOAMD64=v1", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v for illumos: %v\n%s", args, err, b)
	}
	return out
}

func loadExports(t *testing.T) *Exports {
	t.Helper()
	ex, err := LoadExports(lists)
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// The bug this check exists for: x/sys's ClockGettime imports libc's
// "clockgettime" on illumos. The check names the symbol, the binary and
// the package that imports it.
func TestClockgettimeIsCaught(t *testing.T) {
	bin := buildIllumos(t, "./testdata/clockgettime")
	problems, err := Check(bin, moduleDir, loadExports(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 {
		t.Fatalf("problems %v, want one, for clockgettime", problems)
	}
	p := problems[0]
	if p.Symbol != "clockgettime" || !slices.Equal(p.Importers, []string{"golang.org/x/sys/unix (libc.so)"}) {
		t.Errorf("problem %+v, want symbol clockgettime imported by golang.org/x/sys/unix (libc.so)", p)
	}
	msg := p.String()
	for _, want := range []string{bin, "clockgettime", "golang.org/x/sys/unix", "libc.so"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not name %s", msg, want)
		}
	}
}

// A binary that reads the clock through evport passes, and every symbol
// it imports is attributed to a package (so the attribution a failure
// prints is not guesswork).
func TestMonotonicClockBinaryPasses(t *testing.T) {
	bin := buildIllumos(t, "./testdata/monotonic")
	problems, err := Check(bin, moduleDir, loadExports(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	imports, err := Importers(bin, moduleDir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	undefined := 0
	for _, s := range syms {
		if s.Section == elf.SHN_UNDEF && s.Name != "" {
			undefined++
			if len(imports[s.Name]) == 0 {
				t.Errorf("%s: no package found that imports it", s.Name)
			}
		}
	}
	if undefined < 20 || !slices.Contains(imports["gethrtime"], "github.com/joyent/mname-balancer/evport (libc.so)") {
		t.Errorf("%d undefined symbols, gethrtime imported by %v: want the runtime's and evport's", undefined, imports["gethrtime"])
	}
}

// A test binary's imports include its test files': the check reads the
// tested package's test files too.
func TestTestBinaryImportsAreAttributed(t *testing.T) {
	bin := goIllumos(t, "monotonic.test", "test", "-c", "./testdata/monotonic")
	problems, err := Check(bin, moduleDir, loadExports(t))
	if err != nil {
		t.Fatal(err)
	}
	pkg := "github.com/joyent/mname-balancer/test/illumos/symcheck/testdata/monotonic (libc.so)"
	if len(problems) != 1 || problems[0].Symbol != "symcheck_missing" || !slices.Equal(problems[0].Importers, []string{pkg}) {
		t.Fatalf("problems %v, want symcheck_missing imported by %s", problems, pkg)
	}
}

// The lists say where they were read, and hold what the binding needs and
// not what illumos lacks.
func TestExportLists(t *testing.T) {
	ex := loadExports(t)
	header := regexp.MustCompile(`^# from illumos/illumos-gate usr/src/lib/\S+/mapfile-vers at [0-9a-f]{40}$`)
	for _, lib := range []string{"libc", "libsocket", "libsendfile"} {
		if !header.MatchString(ex.sources[lib]) {
			t.Errorf("%s: header %q, want the mapfile and the illumos-gate commit", lib, ex.sources[lib])
		}
	}
	for lib, names := range map[string][]string{
		"libc":        {"clock_gettime", "gethrtime", "port_associate", "port_getn", "thr_self", "getpeerucred"},
		"libsocket":   {"recvfrom", "__xnet_sendto", "accept4"},
		"libsendfile": {"sendfile"},
	} {
		for _, n := range names {
			if !ex.names[lib][n] {
				t.Errorf("%s does not list %s", lib, n)
			}
		}
	}
	for _, n := range []string{"clockgettime", "*", "aio_cancel64", "SISCD_2.3"} {
		if ex.names["libc"][n] {
			t.Errorf("libc lists %s, which amd64 libc does not export", n)
		}
	}
}

// regen.sh reads a mapfile as the amd64 link-editor does: $if, $elif,
// $else and $add evaluated, attribute blocks skipped, local names dropped.
func TestRegenReadsMapfiles(t *testing.T) {
	out, err := exec.Command("sh", "../symbols/regen.sh", "-f", "testdata/mapfile-vers").Output()
	if err != nil {
		t.Fatalf("regen.sh: %v", err)
	}
	want, err := os.ReadFile("testdata/mapfile-vers.names")
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(want) {
		t.Errorf("regen.sh -f testdata/mapfile-vers:\n%s\nwant:\n%s", out, want)
	}
}

// A binary asking for symbol versions is a problem the names cannot settle.
func TestVersionNeedsAreProblems(t *testing.T) {
	if p := versionProblems("b", nil); len(p) != 0 {
		t.Errorf("no needs: %v", p)
	}
	p := versionProblems("b", []elf.DynamicVersionNeed{{Name: "libc.so.1", Needs: []elf.DynamicVersionDep{{Dep: "SUNW_1.23"}}}})
	if len(p) != 1 || !strings.Contains(p[0].String(), "SUNW_1.23") || !strings.Contains(p[0].String(), "libc.so.1") {
		t.Errorf("problems %v, want one naming libc.so.1 and SUNW_1.23", p)
	}
}
