/*
The Go side of the parity test: where the Go sources can emit a log
record, found by reading them (go/parser, go/ast; non-test files only).

An emission site is a zerolog chain ending in Msg or Msgf:

	b.log.Error().Uint32("frame_type", t).Msg("invalid frame type")
	bunyan.Errno(p.log.Error().Str("which", w), err).Msg("TCP error")
	e := s.log.Warn(); ...; e = e.Str("k", v); ...; e.Msg("...")

Its level is the call that starts the event (Trace ... Error, Fatal, or
WithLevel(zerolog.XLevel)); its fields are every key given to a field
method (a string literal or constant as first argument), err for Err, the
key of bunyan.IPv4, errno, strerror and err for bunyan.Errno, and the
context fields of the logger the event starts from. An event held in a
variable is followed through every assignment to it in the function.

The logger's context is found the same way: a logger field x.log, a
local variable, or an accessor method such as b.Log() (a method of any
package that returns &r.field), is followed to every assignment of a
With()...Logger() chain to it (x.log = ..., T{log: ...}), and through that
chain's own logger, recursively. Which struct x.log belongs to is worked
out from declarations (receivers, parameters, x := &T{...}, range over a
field, struct field types); when that fails, every assignment to a field
of that name in the package counts (an over-approximation: it can only
make a missing field go unnoticed, never report a present one missing).

A Msg whose argument is a local variable given only string literals or
constants counts once for each of them; so does one whose argument is a
parameter of a function literal bound to a local name, or of a plain
function, with the string arguments of every call of it. Any other argument (a message
chosen at run time) makes a dynamic site: it matches a C message if the package
declares a string constant with that exact text.
*/

package cparity

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// goSite is one place in the Go sources that emits a record.
type goSite struct {
	pos     string
	pkg     string
	msg     string // "" when dynamic
	dynamic bool
	consts  map[string]bool // a dynamic site's package's string constants
	levels  map[string]bool
	fields  map[string]bool
}

// pkgInfo is what one package (directory) declares.
type pkgInfo struct {
	dir     string
	tree    *tree
	fset    *token.FileSet
	files   []*ast.File
	consts  map[string]string            // string constants: name → value
	structs map[string]map[string]string // struct type → field → base type name
	// context assignments: "Type.field" (or "?.field") → values
	ctx    map[string][]scoped
	funcs  []*ast.FuncDecl
	scopes map[*ast.FuncDecl]*scope
}

// scoped is an expression with the function scope it appears in.
type scoped struct {
	expr ast.Expr
	sc   *scope
}

// scope is what is known of one function's identifiers.
type scope struct {
	pkg     *pkgInfo
	types   map[string]string     // identifier → struct type name
	assigns map[string][]ast.Expr // identifier → values assigned to it
}

var levelMethods = map[string]string{
	"Trace": "trace", "Debug": "debug", "Info": "info",
	"Warn": "warn", "Error": "error", "Fatal": "fatal", "Panic": "fatal",
}

var levelConsts = map[string]string{
	"TraceLevel": "trace", "DebugLevel": "debug", "InfoLevel": "info",
	"WarnLevel": "warn", "ErrorLevel": "error", "FatalLevel": "fatal", "PanicLevel": "fatal",
}

// tree is what all packages share: the logger accessors, methods such as
// func (b *Backend) Log() *zerolog.Logger { return &b.log }, by name.
type tree struct {
	accessors map[string][]accessor
}

// accessor is a method returning a struct's logger field.
type accessor struct {
	pkg *pkgInfo
	key string // "Type.field"
}

// scanTree parses every package under root, skipping test/ and build
// output, and returns their emission sites.
func scanTree(t *testing.T, root string) []goSite {
	t.Helper()
	tr := &tree{accessors: map[string][]accessor{}}
	var pkgs []*pkgInfo
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || name == "test" || name == "node_modules" ||
			name == "bin" || name == "build" || name == "testdata") {
			return filepath.SkipDir
		}
		p, err := parseDir(path)
		if err != nil {
			return err
		}
		if p != nil {
			p.dir, _ = filepath.Rel(root, path)
			p.tree = tr
			pkgs = append(pkgs, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("reading the Go sources: %v", err)
	}
	for _, p := range pkgs {
		p.declare()
	}
	var sites []goSite
	for _, p := range pkgs {
		for _, s := range p.emissions() {
			s.pkg = p.dir
			sites = append(sites, s)
		}
	}
	return sites
}

// parseDir parses the non-test Go files of dir (nil if there are none).
func parseDir(dir string) (*pkgInfo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	p := &pkgInfo{dir: dir, fset: token.NewFileSet(), consts: map[string]string{},
		structs: map[string]map[string]string{}, ctx: map[string][]scoped{}}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(p.fset, filepath.Join(dir, n), nil, 0)
		if err != nil {
			return nil, err
		}
		p.files = append(p.files, f)
	}
	if len(p.files) == 0 {
		return nil, nil
	}
	return p, nil
}

// baseType names the struct type behind a type expression: T, *T, []T,
// map[K]T all give T; other packages' types give "".
func baseType(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.StarExpr:
		return baseType(x.X)
	case *ast.ArrayType:
		return baseType(x.Elt)
	case *ast.MapType:
		return baseType(x.Value)
	case *ast.ParenExpr:
		return baseType(x.X)
	}
	return ""
}

// stringValue is a string literal's or a package constant's value.
func (p *pkgInfo) stringValue(e ast.Expr) (string, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind == token.STRING {
			s, err := strconv.Unquote(x.Value)
			return s, err == nil
		}
	case *ast.Ident:
		s, ok := p.consts[x.Name]
		return s, ok
	case *ast.BinaryExpr:
		if x.Op == token.ADD {
			a, ok1 := p.stringValue(x.X)
			b, ok2 := p.stringValue(x.Y)
			return a + b, ok1 && ok2
		}
	}
	return "", false
}

// analyze returns the emission sites of a package on its own.
func (p *pkgInfo) analyze() []goSite {
	p.tree = &tree{accessors: map[string][]accessor{}}
	p.declare()
	return p.emissions()
}

// declare gathers what the package declares: constants, struct fields,
// function scopes, values given to struct fields, logger accessors.
func (p *pkgInfo) declare() {
	// Constants and struct fields.
	for _, f := range p.files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range g.Specs {
				switch s := spec.(type) {
				case *ast.ValueSpec:
					if g.Tok != token.CONST {
						continue
					}
					for i, n := range s.Names {
						if i < len(s.Values) {
							if v, ok := p.stringValue(s.Values[i]); ok {
								p.consts[n.Name] = v
							}
						}
					}
				case *ast.TypeSpec:
					st, ok := s.Type.(*ast.StructType)
					if !ok {
						continue
					}
					fields := map[string]string{}
					for _, fl := range st.Fields.List {
						for _, n := range fl.Names {
							fields[n.Name] = baseType(fl.Type)
						}
					}
					p.structs[s.Name.Name] = fields
				}
			}
		}
	}
	// Then each function's scope and the context assignments in it.
	p.scopes = map[*ast.FuncDecl]*scope{}
	for _, f := range p.files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			p.funcs = append(p.funcs, fd)
			p.scopes[fd] = p.newScope(fd)
			if name, key := loggerAccessor(fd); key != "" {
				p.tree.accessors[name] = append(p.tree.accessors[name], accessor{p, key})
			}
		}
	}
	for _, fd := range p.funcs {
		p.collectContext(fd, p.scopes[fd])
	}
}

// loggerAccessor recognises func (r *T) M() ...Logger { return &r.f } (or
// r.f) and returns M and "T.f".
func loggerAccessor(fd *ast.FuncDecl) (string, string) {
	if fd.Recv == nil || len(fd.Recv.List) != 1 || len(fd.Recv.List[0].Names) != 1 ||
		fd.Type.Params.NumFields() != 0 || fd.Type.Results.NumFields() != 1 || len(fd.Body.List) != 1 {
		return "", ""
	}
	res := fd.Type.Results.List[0].Type
	if st, ok := res.(*ast.StarExpr); ok {
		res = st.X
	}
	if sel, ok := res.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Logger" {
		return "", ""
	}
	ret, ok := fd.Body.List[0].(*ast.ReturnStmt)
	if !ok || len(ret.Results) != 1 {
		return "", ""
	}
	e := ret.Results[0]
	if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.AND {
		e = u.X
	}
	sel, ok := e.(*ast.SelectorExpr)
	if !ok {
		return "", ""
	}
	if id, ok := sel.X.(*ast.Ident); !ok || id.Name != fd.Recv.List[0].Names[0].Name {
		return "", ""
	}
	return fd.Name.Name, baseType(fd.Recv.List[0].Type) + "." + sel.Sel.Name
}

// emissions returns the package's emission sites (after declare).
func (p *pkgInfo) emissions() []goSite {
	var sites []goSite
	for _, fd := range p.funcs {
		sc := p.scopes[fd]
		var stack []ast.Node // from fd.Body down to n
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			stack = append(stack, n)
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Msg" && sel.Sel.Name != "Msgf") || len(call.Args) == 0 {
				return true
			}
			site := goSite{pos: p.fset.Position(call.Pos()).String(), levels: map[string]bool{}, fields: map[string]bool{}}
			msgs := sc.messages(call.Args[0])
			if msgs == nil {
				msgs = p.paramMessages(fd, stack, call.Args[0])
			}
			if len(msgs) > 0 {
				site.msg = msgs[0]
			} else {
				site.dynamic = true
				site.consts = map[string]bool{}
				for _, v := range p.consts {
					site.consts[v] = true
				}
			}
			var roots []ast.Expr
			sc.event(sel.X, site.levels, site.fields, &roots, map[string]bool{})
			for _, r := range roots {
				sc.loggerContext(r, site.fields, 0)
			}
			if len(site.levels) > 0 {
				sites = append(sites, site)
				for _, m := range msgs[min(1, len(msgs)):] { // the other values of a message variable
					other := site
					other.msg = m
					sites = append(sites, other)
				}
			}
			return true
		})
	}
	return sites
}

// messages are the values a Msg argument can have: a literal's or a
// constant's, or each string assigned to a local variable; nil when any is
// unknown.
func (sc *scope) messages(e ast.Expr) []string {
	if v, ok := sc.pkg.stringValue(e); ok {
		return []string{v}
	}
	id, ok := e.(*ast.Ident)
	if !ok || len(sc.assigns[id.Name]) == 0 {
		return nil
	}
	var out []string
	for _, v := range sc.assigns[id.Name] {
		s, ok := sc.pkg.stringValue(v)
		if !ok {
			return nil
		}
		out = append(out, s)
	}
	return out
}

// paramMessages resolves a message that is a parameter of the function it
// is logged in: of a function literal bound to a local name (logErr :=
// func(msg string, ...) {...}), from the calls of that name in fd; of fd
// itself, from the calls of fd in the package. nil when a value is unknown.
func (p *pkgInfo) paramMessages(fd *ast.FuncDecl, stack []ast.Node, arg ast.Expr) []string {
	id, ok := arg.(*ast.Ident)
	if !ok {
		return nil
	}
	var params *ast.FieldList
	var callee string
	var where []ast.Node
	for i := len(stack) - 1; i >= 0 && params == nil; i-- {
		lit, ok := stack[i].(*ast.FuncLit)
		if !ok {
			continue
		}
		params = lit.Type.Params
		// The name it is bound to, in fd.
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
				for j, r := range as.Rhs {
					if r == lit {
						if name, ok := as.Lhs[j].(*ast.Ident); ok {
							callee = name.Name
						}
					}
				}
			}
			return true
		})
		where = []ast.Node{fd.Body}
	}
	if params == nil { // fd's own parameter; fd must be a plain function
		if fd.Recv != nil {
			return nil
		}
		params, callee = fd.Type.Params, fd.Name.Name
		for _, f := range p.files {
			where = append(where, f)
		}
	}
	index, i := -1, 0
	for _, f := range params.List {
		for _, n := range f.Names {
			if n.Name == id.Name {
				index = i
			}
			i++
		}
	}
	if index < 0 || callee == "" {
		return nil
	}
	var out []string
	unknown := false
	for _, w := range where {
		ast.Inspect(w, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if f, ok := call.Fun.(*ast.Ident); ok && f.Name == callee && index < len(call.Args) {
				if v, ok := p.stringValue(call.Args[index]); ok {
					out = append(out, v)
				} else {
					unknown = true
				}
			}
			return true
		})
	}
	if unknown {
		return nil
	}
	return out
}

// newScope types the function's identifiers and gathers its assignments.
func (p *pkgInfo) newScope(fd *ast.FuncDecl) *scope {
	sc := &scope{pkg: p, types: map[string]string{}, assigns: map[string][]ast.Expr{}}
	params := func(fl *ast.FieldList) {
		if fl == nil {
			return
		}
		for _, f := range fl.List {
			for _, n := range f.Names {
				sc.types[n.Name] = baseType(f.Type)
			}
		}
	}
	params(fd.Recv)
	params(fd.Type.Params)
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.FuncLit:
			params(x.Type.Params)
		case *ast.AssignStmt:
			if len(x.Lhs) != len(x.Rhs) {
				return true
			}
			for i, lhs := range x.Lhs {
				id, ok := lhs.(*ast.Ident)
				if !ok {
					continue
				}
				sc.assigns[id.Name] = append(sc.assigns[id.Name], x.Rhs[i])
				if t := constructedType(x.Rhs[i]); t != "" {
					sc.types[id.Name] = t
				}
			}
		case *ast.ValueSpec:
			for i, n := range x.Names {
				if x.Type != nil {
					sc.types[n.Name] = baseType(x.Type)
				}
				if i < len(x.Values) {
					sc.assigns[n.Name] = append(sc.assigns[n.Name], x.Values[i])
					if t := constructedType(x.Values[i]); t != "" {
						sc.types[n.Name] = t
					}
				}
			}
		}
		return true
	})
	// Range variables, once the ranged-over expressions can be typed.
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		if r, ok := n.(*ast.RangeStmt); ok {
			if id, ok := r.Value.(*ast.Ident); ok {
				if t := sc.typeOf(r.X); t != "" {
					sc.types[id.Name] = t
				}
			}
		}
		return true
	})
	return sc
}

// constructedType is T for &T{...}, T{...} and new(T).
func constructedType(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.UnaryExpr:
		if x.Op == token.AND {
			return constructedType(x.X)
		}
	case *ast.CompositeLit:
		if id, ok := x.Type.(*ast.Ident); ok {
			return id.Name
		}
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok && id.Name == "new" && len(x.Args) == 1 {
			return baseType(x.Args[0])
		}
	}
	return ""
}

// typeOf is the struct type an expression holds, "" when unknown.
func (sc *scope) typeOf(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return sc.types[x.Name]
	case *ast.ParenExpr:
		return sc.typeOf(x.X)
	case *ast.StarExpr:
		return sc.typeOf(x.X)
	case *ast.IndexExpr:
		return sc.typeOf(x.X)
	case *ast.SelectorExpr:
		if t := sc.typeOf(x.X); t != "" {
			return sc.pkg.structs[t][x.Sel.Name]
		}
	}
	return ""
}

// collectContext records every value given to a struct field in fd:
// x.f = v and T{f: v}.
func (p *pkgInfo) collectContext(fd *ast.FuncDecl, sc *scope) {
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.AssignStmt:
			if len(x.Lhs) != len(x.Rhs) {
				return true
			}
			for i, lhs := range x.Lhs {
				if sel, ok := lhs.(*ast.SelectorExpr); ok {
					key := sc.typeOf(sel.X) + "." + sel.Sel.Name
					p.ctx[key] = append(p.ctx[key], scoped{x.Rhs[i], sc})
				}
			}
		case *ast.CompositeLit:
			id, ok := x.Type.(*ast.Ident)
			if !ok {
				return true
			}
			for _, el := range x.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok {
					if k, ok := kv.Key.(*ast.Ident); ok {
						key := id.Name + "." + k.Name
						p.ctx[key] = append(p.ctx[key], scoped{kv.Value, sc})
					}
				}
			}
		}
		return true
	})
}

// event walks an event expression back to the call that started it,
// adding levels and fields, and the logger expressions it started from.
func (sc *scope) event(e ast.Expr, levels, fields map[string]bool, roots *[]ast.Expr, seen map[string]bool) {
	switch x := e.(type) {
	case *ast.ParenExpr:
		sc.event(x.X, levels, fields, roots, seen)
	case *ast.Ident:
		if seen[x.Name] {
			return
		}
		seen[x.Name] = true
		for _, v := range sc.assigns[x.Name] {
			sc.event(v, levels, fields, roots, seen)
		}
	case *ast.CallExpr:
		sel, isSel := x.Fun.(*ast.SelectorExpr)
		if !isSel {
			// An unknown helper taking the event first.
			if len(x.Args) > 0 {
				sc.event(x.Args[0], levels, fields, roots, seen)
			}
			return
		}
		if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "bunyan" {
			switch sel.Sel.Name {
			case "IPv4":
				if len(x.Args) >= 2 {
					if k, ok := sc.pkg.stringValue(x.Args[1]); ok {
						fields[k] = true
					}
				}
			case "Errno":
				fields["errno"], fields["strerror"], fields["err"] = true, true, true
			}
			if len(x.Args) > 0 {
				sc.event(x.Args[0], levels, fields, roots, seen)
			}
			return
		}
		name := sel.Sel.Name
		if lvl, ok := levelMethods[name]; ok && len(x.Args) == 0 {
			levels[lvl] = true
			*roots = append(*roots, sel.X)
			return
		}
		if name == "WithLevel" && len(x.Args) == 1 {
			if ls, ok := x.Args[0].(*ast.SelectorExpr); ok {
				if lvl, ok := levelConsts[ls.Sel.Name]; ok {
					levels[lvl] = true
				}
			}
			*roots = append(*roots, sel.X)
			return
		}
		if name == "Err" && len(x.Args) == 1 {
			fields["err"] = true
		} else if len(x.Args) > 0 {
			if k, ok := sc.pkg.stringValue(x.Args[0]); ok {
				fields[k] = true
			}
		}
		sc.event(sel.X, levels, fields, roots, seen)
	}
}

// loggerContext adds the context fields of a logger expression.
func (sc *scope) loggerContext(e ast.Expr, fields map[string]bool, depth int) {
	if depth > 8 {
		return
	}
	switch x := e.(type) {
	case *ast.ParenExpr:
		sc.loggerContext(x.X, fields, depth)
	case *ast.StarExpr:
		sc.loggerContext(x.X, fields, depth)
	case *ast.CallExpr: // an accessor, such as b.Log()
		sel, ok := x.Fun.(*ast.SelectorExpr)
		if !ok || len(x.Args) != 0 {
			return
		}
		for _, a := range sc.pkg.tree.accessors[sel.Sel.Name] {
			for _, v := range a.pkg.ctx[a.key] {
				v.sc.loggerChain(v.expr, fields, depth+1)
			}
		}
	case *ast.Ident:
		for _, v := range sc.assigns[x.Name] {
			sc.loggerChain(v, fields, depth+1)
		}
	case *ast.SelectorExpr:
		t := sc.typeOf(x.X)
		vals := sc.pkg.ctx[t+"."+x.Sel.Name]
		if t == "" {
			for key, vs := range sc.pkg.ctx {
				if strings.HasSuffix(key, "."+x.Sel.Name) {
					vals = append(vals, vs...)
				}
			}
		}
		for _, v := range vals {
			v.sc.loggerChain(v.expr, fields, depth+1)
		}
	}
}

// loggerChain adds the fields of a logger-valued expression:
// l.With().Str("k", v)...Logger() adds k and l's own context.
func (sc *scope) loggerChain(e ast.Expr, fields map[string]bool, depth int) {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		sc.loggerContext(e, fields, depth)
		return
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return
	}
	switch sel.Sel.Name {
	case "Logger":
		sc.loggerChain(sel.X, fields, depth)
	case "With":
		sc.loggerContext(sel.X, fields, depth)
	default:
		if len(call.Args) > 0 {
			if k, ok := sc.pkg.stringValue(call.Args[0]); ok {
				fields[k] = true
			}
		}
		sc.loggerChain(sel.X, fields, depth)
	}
}

// describe lists a site's levels and fields, for failure messages.
func (s goSite) describe() string {
	var lv, fl []string
	for l := range s.levels {
		lv = append(lv, l)
	}
	for f := range s.fields {
		fl = append(fl, f)
	}
	sort.Strings(lv)
	sort.Strings(fl)
	return s.pos + " level " + strings.Join(lv, "/") + " fields " + strings.Join(fl, ",")
}
