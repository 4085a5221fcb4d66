package main

import (
	"bufio"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Exports are the names each illumos library exports, by library (the
// file name up to ".so": libc, libsocket, libsendfile), with the header
// lines that say where they were read.
type Exports struct {
	names   map[string]map[string]bool
	sources map[string]string // library: its list's first line
}

// LoadExports reads dir/*.txt: one name a line, '#' lines are comments.
func LoadExports(dir string) (*Exports, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no export lists (*.txt) in %s", dir)
	}
	e := &Exports{names: map[string]map[string]bool{}, sources: map[string]string{}}
	for _, file := range files {
		lib := strings.TrimSuffix(filepath.Base(file), ".txt")
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		set := map[string]bool{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			switch {
			case strings.HasPrefix(line, "#"):
				if e.sources[lib] == "" {
					e.sources[lib] = line
				}
			case line != "":
				set[line] = true
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(set) == 0 || e.sources[lib] == "" {
			return nil, fmt.Errorf("%s: want a '# from illumos/illumos-gate ...' header and names", file)
		}
		e.names[lib] = set
	}
	return e, nil
}

// library is the export list's key for a NEEDED entry: libc.so and
// libc.so.1 are both libc.
func library(needed string) string {
	if i := strings.Index(needed, ".so"); i >= 0 {
		return needed[:i]
	}
	return needed
}

// Problem is one reason a binary would not start on illumos.
type Problem struct {
	Binary    string
	Symbol    string   // the undefined symbol, or "" for a problem of the whole binary
	Importers []string // the Go packages whose //go:cgo_import_dynamic names it, with the library asked for
	Reason    string
}

func (p Problem) String() string {
	if p.Symbol == "" {
		return fmt.Sprintf("%s: %s", p.Binary, p.Reason)
	}
	imp := "no Go package's //go:cgo_import_dynamic names it"
	if len(p.Importers) > 0 {
		imp = "imported by " + strings.Join(p.Importers, ", ")
	}
	return fmt.Sprintf("%s: symbol %s (%s): %s", p.Binary, p.Symbol, imp, p.Reason)
}

// Check reads the illumos binary at path: every library it NEEDs must have
// an export list, it must ask for no symbol versions (Go's linker writes
// none for illumos, and the lists hold none to check them against), and
// each undefined dynamic symbol must be exported by one of the NEEDED
// libraries (the run-time linker searches them all; a symbol none exports
// stops the program before main). moduleDir is where go list finds the
// packages the binary was built from, to name the importers.
func Check(path, moduleDir string, ex *Exports) ([]Problem, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 || f.Class != elf.ELFCLASS64 {
		return nil, fmt.Errorf("%s: not an amd64 ELF64 binary (%v, %v)", path, f.Machine, f.Class)
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return nil, fmt.Errorf("%s: DT_NEEDED: %w", path, err)
	}
	syms, err := f.DynamicSymbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, fmt.Errorf("%s: dynamic symbols: %w", path, err)
	}
	var problems []Problem
	if len(needed) == 0 {
		problems = append(problems, Problem{Binary: path, Reason: "no NEEDED libraries: not a dynamically linked illumos binary"})
	}
	for _, n := range needed {
		if ex.names[library(n)] == nil {
			problems = append(problems, Problem{Binary: path,
				Reason: fmt.Sprintf("NEEDED library %s has no export list in the repository", n)})
		}
	}
	if vn, _ := f.DynValue(elf.DT_VERNEED); len(vn) > 0 || f.SectionByType(elf.SHT_GNU_VERNEED) != nil {
		needs, err := f.DynamicVersionNeeds()
		if err != nil {
			return nil, fmt.Errorf("%s: version needs: %w", path, err)
		}
		problems = append(problems, versionProblems(path, needs)...)
	}

	var imports map[string][]string
	for _, s := range syms {
		if s.Section != elf.SHN_UNDEF || s.Name == "" {
			continue
		}
		if exportedBy(s.Name, needed, ex) {
			continue
		}
		if imports == nil {
			if imports, err = Importers(path, moduleDir); err != nil {
				return nil, err
			}
		}
		problems = append(problems, Problem{Binary: path, Symbol: s.Name, Importers: imports[s.Name],
			Reason: "exported by none of its NEEDED libraries (" + strings.Join(needed, ", ") + ")"})
	}
	return problems, nil
}

// versionProblems: a version need names a version the lists cannot check.
func versionProblems(path string, needs []elf.DynamicVersionNeed) []Problem {
	var problems []Problem
	for _, n := range needs {
		for _, d := range n.Needs {
			problems = append(problems, Problem{Binary: path, Reason: fmt.Sprintf(
				"asks %s for symbol version %s: the export lists hold names only, so versioned bindings are not checked", n.Name, d.Dep)})
		}
	}
	return problems
}

func exportedBy(sym string, needed []string, ex *Exports) bool {
	for _, n := range needed {
		if ex.names[library(n)][sym] {
			return true
		}
	}
	return false
}

// Importers maps each dynamic symbol name to the packages of the binary
// at path that import it, as "package (library)". The packages are the
// ones go list -deps gives, in moduleDir, for the package recorded in the
// binary's build information, with its GOOS, GOARCH, CGO_ENABLED and tags;
// for a test binary, with -test, whose variant of the tested package lists
// its _test.go files among its GoFiles.
func Importers(path, moduleDir string) (map[string][]string, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: Go build information: %w", path, err)
	}
	test, err := isTestBinary(path, bi.Path)
	if err != nil {
		return nil, err
	}
	args := []string{"list", "-deps", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \"\t\"}}"}
	if test {
		args = append(args, "-test")
	}
	env := os.Environ()
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOOS", "GOARCH", "CGO_ENABLED", "GOAMD64":
			env = append(env, s.Key+"="+s.Value)
		case "-tags":
			args = append(args, "-tags", s.Value)
		}
	}
	pkg := strings.TrimSuffix(bi.Path, ".test")
	args = append(args, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = moduleDir, env
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return nil, fmt.Errorf("%s: go list %s: %w", path, pkg, err)
	}
	imports := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Split(strings.TrimRight(line, "\n"), "\t")
		if len(fields) < 2 {
			return nil, fmt.Errorf("go list: unexpected line %q", line)
		}
		importPath, _, _ := strings.Cut(fields[0], " ") // "p [p.test]" is p's test variant
		for _, file := range fields[2:] {
			if file == "" {
				continue
			}
			if !filepath.IsAbs(file) { // a test main's file is in the build cache
				file = filepath.Join(fields[1], file)
			}
			if err := scanImports(file, importPath, imports); err != nil {
				return nil, err
			}
		}
	}
	for sym, pkgs := range imports {
		slices.Sort(pkgs)
		imports[sym] = slices.Compact(pkgs)
	}
	return imports, nil
}

// isTestBinary: go test -c records a library package's test binary as
// "p.test" but a main package's as "p"; its symbol table tells (a stripped
// binary is taken for a test binary: go list -test lists a superset).
func isTestBinary(path, mainPath string) (bool, error) {
	if strings.HasSuffix(mainPath, ".test") {
		return true, nil
	}
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if errors.Is(err, elf.ErrNoSymbols) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: symbols: %w", path, err)
	}
	return slices.ContainsFunc(syms, func(s elf.Symbol) bool { return s.Name == "testing.MainStart" }), nil
}

// scanImports records the //go:cgo_import_dynamic directives of one file:
// "//go:cgo_import_dynamic local remote "library"" imports remote.
func scanImports(file, pkg string, imports map[string][]string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	for line := range strings.Lines(string(data)) {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "//go:cgo_import_dynamic ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		remote, lib := f[0], ""
		if len(f) > 1 {
			remote = f[1]
		}
		if len(f) > 2 {
			lib = " (" + strings.Trim(f[2], `"`) + ")"
		}
		if remote != "_" {
			imports[remote] = append(imports[remote], pkg+lib)
		}
	}
	return nil
}
