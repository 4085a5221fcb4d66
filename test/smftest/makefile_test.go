/*
Tests of the Makefile: "make" builds the program for this machine and
"make release" builds the SmartOS tarball, reproducibly.

The builds write only under directories the test passes as BIN and BUILD, so
the tree is left alone.  The release test builds twice, the second time under
umask 077 into another directory, and demands byte-identical tarballs; it
then opens the tarball and checks the exact entry list, every entry's mode,
owner and time, that the SMF files are the ones in smf/, that each manifest's
start method is in it, and that the program is an illumos/amd64 executable:
64-bit x86-64 ELF asking for illumos's run-time linker (/lib/amd64/ld.so.1)
and libc, stripped, without a build ID or VCS stamp, built with -trimpath and
CGO_ENABLED=0.

On ELF OSABI: the Go linker writes ELFOSABI_NONE (0) for illumos, as
illumos's own linker does by default; ELFOSABI_SOLARIS would also be
accepted, but it is the interpreter that marks the binary as illumos's.

Others may be editing the tree while the tests run; a digest of the build's
inputs is taken before and after the two builds, and if it moved they are
done again (three tries, then skip, or fail under CI).

The tests need ./cmd/bbal: with no such directory they skip; if it exists
and does not build, they fail.
*/
package smftest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// releaseEntries is the exact content of the release tarball, in its order.
var releaseEntries = []string{
	"opt/",
	"opt/smartdc/",
	"opt/smartdc/binder/",
	"opt/smartdc/binder/bin/",
	"opt/smartdc/binder/bin/balstat",
	"opt/smartdc/binder/lib/",
	"opt/smartdc/binder/lib/balancer",
	"opt/smartdc/binder/smf/",
	"opt/smartdc/binder/smf/manifests/",
	"opt/smartdc/binder/smf/manifests/binder-balancer.xml",
	"opt/smartdc/binder/smf/methods/",
	"opt/smartdc/binder/smf/methods/binder-balancer",
}

// releaseSources maps tarball files to the repository files they copy.
var releaseSources = map[string]string{
	"opt/smartdc/binder/smf/manifests/binder-balancer.xml": "smf/manifests/binder-balancer.xml",
	"opt/smartdc/binder/smf/methods/binder-balancer":       "smf/methods/binder-balancer",
}

const balancerEntry = "opt/smartdc/binder/lib/balancer"

// balstatEntry is the operator's tool (issue 10), beside Binder's other tools.
const balstatEntry = "opt/smartdc/binder/bin/balstat"

// wantMode is the permission an entry must have.
func wantMode(name string) fs.FileMode {
	if strings.HasSuffix(name, "/") || name == balancerEntry || name == balstatEntry || strings.Contains(name, "/smf/methods/") {
		return 0o755
	}
	return 0o644
}

// requireBuildTools skips (fails under CI) when a tool is missing.
func requireBuildTools(t *testing.T) {
	t.Helper()
	requireTool(t, "make", "GNU make")
	requireTool(t, "tar", "GNU tar")
	requireTool(t, "gzip", "gzip")
	requireTool(t, "go", "the Go toolchain")
}

// runMake runs make in the repository with the arguments, under the umask,
// with the caller's environment minus anything an outer make passed down.
func runMake(t *testing.T, umask string, args ...string) {
	t.Helper()
	shArgs := append([]string{"-c", `umask "$1" && shift && exec make "$@"`, "sh", umask, "-C", repoRoot(t)}, args...)
	cmd := exec.Command("/bin/sh", shArgs...)
	cmd.Env = makeEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// makeEnv is the caller's environment minus anything an outer make passed
// down, and GOOS and GOARCH.
func makeEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == "MAKEFLAGS" || name == "MFLAGS" || name == "MAKELEVEL" || name == "GOOS" || name == "GOARCH"
	})
}

func TestMakeAllBuildsHostProgram(t *testing.T) {
	skipInShort(t)
	requireBuildTools(t)
	bin := filepath.Join(t.TempDir(), "bin")
	runMake(t, "022", "all", "BIN="+bin)
	program := filepath.Join(bin, "bbal")
	info, err := os.Stat(program)
	if err != nil {
		t.Fatalf("make all: %v", err)
	}
	if info.Mode().Perm()&0o111 == 0 {
		t.Errorf("%s is not executable (mode %v)", program, info.Mode())
	}
	bi, err := buildinfo.ReadFile(program)
	if err != nil {
		t.Fatalf("reading build info of %s: %v", program, err)
	}
	if bi.Path != "github.com/joyent/mname-balancer/cmd/bbal" {
		t.Errorf("built %s, want github.com/joyent/mname-balancer/cmd/bbal", bi.Path)
	}
	if got := buildSetting(bi, "GOOS"); got != runtime.GOOS {
		t.Errorf("make all built for GOOS=%s, want this machine's %s", got, runtime.GOOS)
	}
	// bbal -V says which build, as the README promises of make's builds.
	assertVersionStamped(t, readFileBytes(t, program))
	assertVersionStamped(t, readFileBytes(t, filepath.Join(bin, "balstat")))

	runMake(t, "022", "clean", "BIN="+bin, "BUILD="+filepath.Join(t.TempDir(), "build"))
	if _, err := os.Stat(bin); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("make clean left %s: %v", bin, err)
	}
}

func TestMakeReleaseIsReproducible(t *testing.T) {
	skipInShort(t)
	requireBuildTools(t)
	var first string
	var tarball, again []byte
	// Two builds from the same sources must agree.  In a tree that others
	// are editing the sources may change between the builds; then build
	// again rather than blame the Makefile.
	for attempt := 1; ; attempt++ {
		before := sourceDigest(t)
		first = filepath.Join(t.TempDir(), "build")
		second := filepath.Join(t.TempDir(), "other-build")
		runMake(t, "022", "release", "BUILD="+first)
		runMake(t, "077", "release", "BUILD="+second)
		tarball = readFileBytes(t, filepath.Join(first, "mname-balancer.tar.gz"))
		again = readFileBytes(t, filepath.Join(second, "mname-balancer.tar.gz"))
		if bytes.Equal(sourceDigest(t), before) {
			break
		}
		if attempt == 3 {
			missing(t, "the sources kept changing during the release builds")
		}
		t.Logf("the sources changed during the release builds; building again")
	}
	if !bytes.Equal(tarball, again) {
		t.Errorf("two release builds differ (%d and %d bytes); the second ran under umask 077 in another directory",
			len(tarball), len(again))
	}

	entries, contents := readRelease(t, tarball)
	if !slices.Equal(entries, releaseEntries) {
		t.Errorf("tarball entries:\n got %q\nwant %q", entries, releaseEntries)
	}
	for name, source := range releaseSources {
		if !bytes.Equal(contents[name], readFileBytes(t, filepath.Join(repoRoot(t), source))) {
			t.Errorf("%s in the tarball is not %s", name, source)
		}
	}
	for _, manifest := range manifestNames {
		start := loadService(t, manifest).method(t, "start").Exec
		if _, ok := contents[strings.TrimPrefix(start, "/")]; !ok {
			t.Errorf("%s starts %s, which the tarball does not hold", manifest, start)
		}
	}
	assertProtoTree(t, filepath.Join(first, "proto"), contents)
	assertIllumosProgram(t, contents[balancerEntry], "github.com/joyent/mname-balancer/cmd/bbal")
	assertIllumosProgram(t, contents[balstatEntry], "github.com/joyent/mname-balancer/cmd/balstat")
	assertVersionStamped(t, contents[balancerEntry])
	assertVersionStamped(t, contents[balstatEntry])
}

// TestBinderBuildCommand runs Binder's own build of the balancer (Binder's
// Makefile, target "balancer") exactly, with a temporary ROOT: an illumos
// program must appear at $(PROG), built as the release's is.
func TestBinderBuildCommand(t *testing.T) {
	skipInShort(t)
	requireBuildTools(t)
	root := t.TempDir()
	// Binder's recipe, with its make variables filled in: ROOT, CTFCONVERT
	// (its CTF tools, which we must not need) and MAKE.
	recipe := `mkdir -p "$ROOT"/tmp/balancer.obj && cd "$REPO" && make PROG="$ROOT"/balancer 	    OBJ_DIR="$ROOT"/tmp/balancer.obj 	    CTFCONVERT="$ROOT"/no-ctf-tools/ctfconvert 	    "$ROOT"/balancer`
	cmd := exec.Command("/bin/sh", "-c", recipe)
	cmd.Env = append(makeEnv(), "ROOT="+root, "REPO="+repoRoot(t))
	out, err := cmd.CombinedOutput()
	t.Logf("Binder's build command:\n%s", out)
	if err != nil {
		t.Fatalf("Binder's build command: %v", err)
	}
	program := readFileBytes(t, filepath.Join(root, "balancer"))
	info, err := os.Stat(filepath.Join(root, "balancer"))
	if err != nil || info.Mode().Perm()&0o111 == 0 {
		t.Errorf("$(PROG) is not executable: %v %v", info.Mode(), err)
	}
	assertIllumosProgram(t, program, "github.com/joyent/mname-balancer/cmd/bbal")
	assertVersionStamped(t, program)

	// The line docs/binder.md adds for balstat, to ship over Binder's
	// bin/balstat.
	cmd = exec.Command("/bin/sh", "-c", `cd "$REPO" && make BALSTAT_PROG="$ROOT"/balstat "$ROOT"/balstat`)
	cmd.Env = append(makeEnv(), "ROOT="+root, "REPO="+repoRoot(t))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make BALSTAT_PROG=...: %v\n%s", err, out)
	}
	balstat := readFileBytes(t, filepath.Join(root, "balstat"))
	assertIllumosProgram(t, balstat, "github.com/joyent/mname-balancer/cmd/balstat")
	assertVersionStamped(t, balstat)
}

// assertVersionStamped checks that the program carries the version "git
// describe" gives for this commit (the -dirty suffix aside: others may be
// editing the tree), which package version prints.
func assertVersionStamped(t *testing.T, program []byte) {
	t.Helper()
	cmd := exec.Command("git", "describe", "--tags", "--always", "--abbrev=12")
	cmd.Dir = repoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		missing(t, "git describe: "+err.Error())
	}
	v := strings.TrimSpace(string(out))
	if !bytes.Contains(program, []byte(v)) {
		t.Errorf("the program does not carry its version %q (make's -X version.stamped)", v)
	}
}

// sourceDigest hashes every file a release build reads: the Go sources,
// go.mod and go.sum, smf/ and the Makefile (not .git, build outputs or
// node_modules).
func sourceDigest(t *testing.T) []byte {
	t.Helper()
	root := repoRoot(t)
	h := sha256.New()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while we walk: the digest will differ anyway
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch rel {
			case ".git", "bin", "build", filepath.Join("test", "node_modules"):
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if !strings.HasSuffix(rel, ".go") && rel != "go.mod" && rel != "go.sum" && rel != "Makefile" &&
			!strings.HasPrefix(rel, "smf"+string(filepath.Separator)) {
			return nil
		}
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(data))
		h.Write(data)
		return nil
	})
	if err != nil {
		t.Fatalf("hashing the sources: %v", err)
	}
	return h.Sum(nil)
}

func readFileBytes(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// readRelease checks the gzip and tar metadata of the tarball and returns
// its entry names in order and the contents of its regular files.
func readRelease(t *testing.T, tarball []byte) ([]string, map[string][]byte) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(tarball))
	if err != nil {
		t.Fatalf("tarball is not gzip: %v", err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header stores name %q and time %v; want neither (gzip -n)", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var names []string
	contents := make(map[string][]byte)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the tarball: %v", err)
		}
		names = append(names, hdr.Name)
		isDir := strings.HasSuffix(hdr.Name, "/")
		switch {
		case isDir && hdr.Typeflag != tar.TypeDir, !isDir && hdr.Typeflag != tar.TypeReg:
			t.Errorf("%s: tar type %q", hdr.Name, hdr.Typeflag)
		}
		if got, want := fs.FileMode(hdr.Mode), wantMode(hdr.Name); got != want {
			t.Errorf("%s: mode %#o, want %#o", hdr.Name, got, want)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" {
			t.Errorf("%s: owner %d(%q):%d(%q), want 0:0 without names", hdr.Name, hdr.Uid, hdr.Uname, hdr.Gid, hdr.Gname)
		}
		if hdr.ModTime.Unix() != 0 {
			t.Errorf("%s: mtime %v, want the epoch", hdr.Name, hdr.ModTime)
		}
		if !isDir {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatalf("reading %s from the tarball: %v", hdr.Name, err)
			}
			contents[hdr.Name] = data
		}
	}
	return names, contents
}

// assertProtoTree checks that BUILD/proto holds what the tarball holds, with
// the same modes.
func assertProtoTree(t *testing.T, proto string, contents map[string][]byte) {
	t.Helper()
	var names []string
	err := filepath.WalkDir(proto, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == proto {
			return err
		}
		rel, err := filepath.Rel(proto, path)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if d.IsDir() {
			name += "/"
		}
		names = append(names, name)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm() != wantMode(name) {
			t.Errorf("proto %s: mode %v, want %v", name, info.Mode().Perm(), wantMode(name))
		}
		if !d.IsDir() {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if !bytes.Equal(data, contents[name]) {
				t.Errorf("proto %s differs from the tarball's", name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", proto, err)
	}
	slices.Sort(names)
	want := slices.Sorted(slices.Values(releaseEntries))
	if !slices.Equal(names, want) {
		t.Errorf("proto tree:\n got %q\nwant %q", names, want)
	}
}

// assertIllumosProgram checks that the program is a stripped, reproducible
// illumos/amd64 build of the package pkg.
func assertIllumosProgram(t *testing.T, program []byte, pkg string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(program))
	if err != nil {
		t.Fatalf("the balancer is not ELF: %v", err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		t.Errorf("ELF %v %v %v, want ELFCLASS64 EM_X86_64 ET_EXEC", f.Class, f.Machine, f.Type)
	}
	if f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_SOLARIS {
		t.Errorf("ELF OSABI %v, want ELFOSABI_NONE (Go's, and illumos ld's, default) or ELFOSABI_SOLARIS", f.OSABI)
	}
	if interp := elfInterpreter(t, f); interp != "/lib/amd64/ld.so.1" {
		t.Errorf("ELF interpreter %q, want illumos's /lib/amd64/ld.so.1", interp)
	}
	libs, err := f.ImportedLibraries()
	if err != nil || !slices.ContainsFunc(libs, func(l string) bool { return strings.HasPrefix(l, "libc.so") }) {
		t.Errorf("imported libraries %q (%v), want illumos libc", libs, err)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("the balancer has a symbol table: not stripped (-s)")
	}
	if f.Section(".note.go.buildid") != nil {
		t.Errorf("the balancer carries a Go build ID note: want -buildid=")
	}

	bi, err := buildinfo.Read(bytes.NewReader(program))
	if err != nil {
		t.Fatalf("reading the balancer's build info: %v", err)
	}
	if bi.Path != pkg {
		t.Errorf("the program is %s, want %s", bi.Path, pkg)
	}
	for key, want := range map[string]string{
		"GOOS": "illumos", "GOARCH": "amd64", "GOAMD64": "v1", "CGO_ENABLED": "0", "-trimpath": "true",
	} {
		if got := buildSetting(bi, key); got != want {
			t.Errorf("build setting %s=%q, want %q", key, got, want)
		}
	}
	for _, s := range bi.Settings {
		if strings.HasPrefix(s.Key, "vcs") {
			t.Errorf("build setting %s=%q: want no VCS stamp (-buildvcs=false)", s.Key, s.Value)
		}
	}
}

// elfInterpreter returns the program's PT_INTERP path.
func elfInterpreter(t *testing.T, f *elf.File) string {
	t.Helper()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			data, err := io.ReadAll(p.Open())
			if err != nil {
				t.Fatalf("reading PT_INTERP: %v", err)
			}
			return strings.TrimRight(string(data), "\x00")
		}
	}
	return ""
}

// buildSetting returns a build setting's value, or "" without it.
func buildSetting(bi *buildinfo.BuildInfo, key string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return ""
}

// TestCheckNoELF: make check-no-elf fails when git tracks an ELF file (a
// built program committed by mistake) and passes when it tracks none; an
// ignored build output does not count.
func TestCheckNoELF(t *testing.T) {
	skipInShort(t)
	requireBuildTools(t)
	requireTool(t, "git", "git")
	dir := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %q: %v\n%s", args, err, out)
		}
	}
	checkNoELF := func() (string, error) {
		cmd := exec.Command("make", "-f", filepath.Join(repoRoot(t), "Makefile"), "check-no-elf")
		cmd.Dir = dir
		cmd.Env = makeEnv()
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	git("init", "-q")
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "elfish.txt"), []byte("\x7fEL not quite\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("/bin/\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "bin"), 0o755)
	elf := []byte("\x7fELF\x02\x01\x01\x00rest of a program")
	os.WriteFile(filepath.Join(dir, "bin", "bbal"), elf, 0o755)
	git("add", ".")
	git("commit", "-q", "-m", "sources")
	if out, err := checkNoELF(); err != nil {
		t.Errorf("check-no-elf fails with no ELF tracked: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "my tool"), elf, 0o755)
	git("add", "my tool")
	out, err := checkNoELF()
	if err == nil || !strings.Contains(out, "ELF files are tracked by git") || !strings.Contains(out, "my tool") {
		t.Errorf("check-no-elf with an ELF file tracked: %v\n%s", err, out)
	}
}
