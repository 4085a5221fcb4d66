package e2e

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryTestSkipsInShort keeps go test -short quick: every other test
// in this package must begin with SkipInShort(t). It is the one test here
// that runs under -short, and fails naming a test that would not skip.
func TestEveryTestSkipsInShort(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") ||
				fn.Name.Name == "TestMain" || fn.Name.Name == "TestEveryTestSkipsInShort" {
				continue
			}
			if !startsWithCall(fn, "SkipInShort") {
				t.Errorf("%s: %s does not begin with SkipInShort(t)", name, fn.Name.Name)
			}
		}
	}
}

// startsWithCall reports whether fn's first statement is a call of name.
func startsWithCall(fn *ast.FuncDecl, name string) bool {
	if fn.Body == nil || len(fn.Body.List) == 0 {
		return false
	}
	es, ok := fn.Body.List[0].(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := es.X.(*ast.CallExpr)
	if !ok {
		return false
	}
	id, ok := call.Fun.(*ast.Ident)
	return ok && id.Name == name
}
