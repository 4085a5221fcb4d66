/*
Symcheck proves that illumos binaries can start: that every symbol they
import from illumos's libraries is one those libraries export.

	go run ./test/illumos/symcheck [-lists dir] [-C moduledir] binary...

A Go binary for illumos (CGO_ENABLED=0) imports libc functions by name
through //go:cgo_import_dynamic, in the runtime, syscall, x/sys/unix and
this repository's own bindings. The Go linker does not check those names:
a misspelt one (x/sys v0.50.0 imports clock_gettime as "clockgettime")
links cleanly, and illumos's run-time linker then refuses to start the
program. Symcheck reads each binary's NEEDED libraries and undefined
dynamic symbols (debug/elf) and checks each symbol against the export
lists in test/illumos/symbols, taken from illumos-gate's mapfiles (see
regen.sh there). For each symbol that no NEEDED library exports it names
the binary, the symbol and the Go packages that import it (found by
scanning, for the package the binary was built from, go list -deps's files
for the directive). It exits 1 if any binary has a problem.

make illumos-tests runs it on bbal, balstat and every package's test
binary, built for illumos.
*/
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	lists := flag.String("lists", "test/illumos/symbols", "the directory of export lists (`dir`/*.txt)")
	moduleDir := flag.String("C", ".", "the module the binaries were built from, for go list")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: symcheck [-lists dir] [-C moduledir] binary...")
		os.Exit(2)
	}
	ex, err := LoadExports(*lists)
	if err != nil {
		fmt.Fprintln(os.Stderr, "symcheck:", err)
		os.Exit(2)
	}
	bad := false
	for _, path := range flag.Args() {
		problems, err := Check(path, *moduleDir, ex)
		if err != nil {
			fmt.Fprintln(os.Stderr, "symcheck:", err)
			os.Exit(2)
		}
		for _, p := range problems {
			fmt.Println(p)
			bad = true
		}
	}
	if bad {
		os.Exit(1)
	}
	fmt.Printf("symcheck: %d binaries import only names their NEEDED libraries export\n", flag.NArg())
}
