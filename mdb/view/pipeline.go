/*
 * mdb-style pipelines over a snapshot, so that the pipelines operators ran
 * against the C balancer with mdb (the README's and Binder's balstat's)
 * keep working, literally:
 *
 *	g_backends::walk avl | ::print backend_t
 *	g_timeouts::walk avl | ::print timeout_t
 *	g_remotes::walk avl | ::printf "%12p %12I -> %d\n" remote_t . rem_addr.S_un.S_addr rem_backend
 *	g_backends::walk avl | ::printf "%12p %8d %4d %8d %s\n" backend_t . be_id be_ok be_remotes be_path
 *
 * The supported subset:
 *
 *	walkers   g_backends::walk avl, g_remotes::walk avl, g_timeouts::walk avl
 *	          (alone: one object handle per line)
 *	::print TYPE [MEMBER ...]   the whole object, or the members named, in
 *	          mdb's layout ("be_id = 0x14b5": integers in hex, 0 as 0,
 *	          booleans as "0x1 (B_TRUE)" and "0 (0)", strings quoted)
 *	::printf "FORMAT" TYPE ARG ...   with %d %u %x %p %s %I, optional "-"
 *	          and width (%12p, %-8s), \n and \t; ARG is "." (the object's
 *	          handle) or a member
 *
 * TYPE must be the walker's (backend_t, remote_t, timeout_t). Members are
 * the C structures' names (see Snapshot); rem_addr.S_un.S_addr is the
 * remote's address as the C in_addr held it. Object handles are the Go
 * objects' addresses: stable for the object's life, like mdb's. Anything
 * else is an error that lists what is supported.
 */

package view

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// pipelineHelp lists what RunPipeline accepts.
const pipelineHelp = `supported: WALKER [| ::print TYPE [MEMBER ...] | ::printf "FORMAT" TYPE ARG ...]
  walkers: g_backends::walk avl (backend_t), g_remotes::walk avl (remote_t), g_timeouts::walk avl (timeout_t)
  ::printf conversions: %d %u %x %p %s %I, with optional - and width; ARG is . or a member`

// valueKind says how a member prints.
type valueKind int

const (
	kindUint valueKind = iota
	kindBool
	kindString
	kindHandle // a pointer-like handle
	kindIP     // in_addr.S_addr: printf %I prints it dotted
	kindSym    // a function name (to_func)
)

// value is one member of one object, read from the snapshot's view when
// it is printed (the views are not copied into another shape).
type value struct {
	kind valueKind
	u    uint64
	s    string
	ip   netip.Addr // kindIP
}

// member is one member of a C type: its name and how to read it from a
// view of type T.
type member[T any] struct {
	name string
	get  func(*T) value
}

func uintM[T any](name string, f func(*T) uint64) member[T] {
	return member[T]{name, func(x *T) value { return value{kind: kindUint, u: f(x)} }}
}

func boolM[T any](name string, f func(*T) bool) member[T] {
	return member[T]{name, func(x *T) value { return value{kind: kindBool, u: boolNum(f(x))} }}
}

func strM[T any](name string, f func(*T) string) member[T] {
	return member[T]{name, func(x *T) value { return value{kind: kindString, s: f(x)} }}
}

// walker is one anchor: its type, and its objects' handles and members
// read from a snapshot.
type walker struct {
	anchor, typ string
	names       []string // the members, in the C structure's order
	count       func(s *Snapshot) int
	handle      func(s *Snapshot, i int) uint64
	member      func(s *Snapshot, i, m int) value // member m of object i
}

// walkerOf builds the walker over the views list(s) returns.
func walkerOf[T any](anchor, typ string, list func(*Snapshot) []T, handle func(*T) uint64, members ...member[T]) walker {
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.name
	}
	return walker{
		anchor: anchor, typ: typ, names: names,
		count:  func(s *Snapshot) int { return len(list(s)) },
		handle: func(s *Snapshot, i int) uint64 { return handle(&list(s)[i]) },
		member: func(s *Snapshot, i, m int) value { return members[m].get(&list(s)[i]) },
	}
}

// find is the index of the member called name.
func (wk *walker) find(name string) (int, bool) {
	for i, n := range wk.names {
		if n == name {
			return i, true
		}
	}
	return 0, false
}

var walkers = []walker{
	walkerOf("g_backends", "backend_t", func(s *Snapshot) []Backend { return s.Backends }, func(b *Backend) uint64 { return b.Object },
		uintM("be_id", func(b *Backend) uint64 { return uint64(b.ID) }),
		strM("be_path", func(b *Backend) string { return b.Path }),
		boolM("be_ok", func(b *Backend) bool { return b.OK }),
		boolM("be_reconnect", func(b *Backend) bool { return b.Reconnect }),
		boolM("be_heartbeat_outstanding", func(b *Backend) bool { return b.HeartbeatOutstanding }),
		boolM("be_removed", func(b *Backend) bool { return b.Removed }),
		uintM("be_remotes", func(b *Backend) uint64 { return uint64(b.Remotes) }),
		uintM("be_reconnect_delay", func(b *Backend) uint64 { return uint64(b.ReconnectDelay) }),
		uintM("be_stat_conn_start", func(b *Backend) uint64 { return b.StatConnStart }),
		uintM("be_stat_conn_error", func(b *Backend) uint64 { return b.StatConnError }),
		uintM("be_stat_udp", func(b *Backend) uint64 { return b.StatUDP }),
		uintM("be_stat_tcp", func(b *Backend) uint64 { return b.StatTCP }),
		uintM("be_stat_stuck", func(b *Backend) uint64 { return b.StatStuck }),
	),
	walkerOf("g_remotes", "remote_t", func(s *Snapshot) []Remote { return s.Remotes }, func(r *Remote) uint64 { return r.Object },
		member[Remote]{"rem_addr.S_un.S_addr", func(r *Remote) value {
			// The C in_addr's s_addr read on a little-endian host.
			v := value{kind: kindIP, ip: r.Addr}
			if r.Addr.Is4() {
				ip := r.Addr.As4()
				v.u = uint64(ip[0]) | uint64(ip[1])<<8 | uint64(ip[2])<<16 | uint64(ip[3])<<24
			}
			return v
		}},
		uintM("rem_backend", func(r *Remote) uint64 { return uint64(r.Backend) }),
		uintM("rem_backend_backup", func(r *Remote) uint64 { return uint64(r.BackendBackup) }),
		uintM("rem_stat_udp", func(r *Remote) uint64 { return r.StatUDP }),
		uintM("rem_stat_udp_drop", func(r *Remote) uint64 { return r.StatUDPDrop }),
		uintM("rem_stat_tcp", func(r *Remote) uint64 { return r.StatTCP }),
		uintM("rem_stat_tcp_drop", func(r *Remote) uint64 { return r.StatTCPDrop }),
		uintM("rem_first_seen", func(r *Remote) uint64 { return uint64(r.FirstSeen) }),
		uintM("rem_last_seen", func(r *Remote) uint64 { return uint64(r.LastSeen) }),
	),
	walkerOf("g_timeouts", "timeout_t", func(s *Snapshot) []Timeout { return s.Timeouts }, func(t *Timeout) uint64 { return t.Object },
		uintM("to_id", func(t *Timeout) uint64 { return t.ID }),
		uintM("to_scheduled_at", func(t *Timeout) uint64 { return uint64(t.ScheduledAt) }),
		uintM("to_expiry", func(t *Timeout) uint64 { return uint64(t.Expiry) }),
		uintM("to_period", func(t *Timeout) uint64 { return uint64(t.PeriodNS) }),
		member[Timeout]{"to_func", func(t *Timeout) value { return value{kind: kindSym, s: t.Func} }},
		strM("to_arg", func(t *Timeout) string { return t.Arg }),
		boolM("to_active", func(t *Timeout) bool { return t.Active }),
	),
}

// RunPipeline evaluates an mdb-style pipeline over s and writes the result.
func RunPipeline(w io.Writer, s *Snapshot, pipeline string) error {
	stages, err := splitPipeline(pipeline)
	if err != nil {
		return err
	}
	if len(stages) == 0 || len(stages) > 2 {
		return fmt.Errorf("pipeline %q: want a walker and at most one dcmd\n%s", pipeline, pipelineHelp)
	}
	wk, err := parseWalker(stages[0])
	if err != nil {
		return err
	}
	var out strings.Builder
	if len(stages) == 1 {
		for i := range wk.count(s) {
			fmt.Fprintf(&out, "%x\n", wk.handle(s, i))
		}
		_, err := io.WriteString(w, out.String())
		return err
	}
	words, err := tokenize(stages[1])
	if err != nil {
		return err
	}
	if len(words) < 2 {
		return fmt.Errorf("dcmd %q: want ::print TYPE or ::printf \"FORMAT\" TYPE ...\n%s", stages[1], pipelineHelp)
	}
	switch words[0] {
	case "::print":
		if err := checkType(words[1], wk); err != nil {
			return err
		}
		if err := printObjects(&out, s, wk, words[2:]); err != nil {
			return err
		}
	case "::printf":
		if len(words) < 3 {
			return fmt.Errorf("::printf needs a format and a type\n%s", pipelineHelp)
		}
		if err := checkType(words[2], wk); err != nil {
			return err
		}
		if err := printfObjects(&out, s, wk, words[1], words[3:]); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unsupported dcmd %q\n%s", words[0], pipelineHelp)
	}
	_, err = io.WriteString(w, out.String())
	return err
}

func splitPipeline(p string) ([]string, error) {
	var stages []string
	var cur strings.Builder
	inQuote := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\' && inQuote && i+1 < len(p):
			cur.WriteByte(c)
			i++
			cur.WriteByte(p[i])
		case c == '"':
			inQuote = !inQuote
			cur.WriteByte(c)
		case c == '|' && !inQuote:
			stages = append(stages, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if inQuote {
		return nil, fmt.Errorf("pipeline %q: unterminated quote", p)
	}
	stages = append(stages, strings.TrimSpace(cur.String()))
	for _, s := range stages {
		if s == "" {
			return nil, fmt.Errorf("pipeline %q: empty stage\n%s", p, pipelineHelp)
		}
	}
	return stages, nil
}

func parseWalker(stage string) (*walker, error) {
	f := strings.Fields(stage)
	if len(f) == 2 && f[1] == "avl" && strings.HasSuffix(f[0], "::walk") {
		anchor := strings.TrimSuffix(f[0], "::walk")
		for i := range walkers {
			if walkers[i].anchor == anchor {
				return &walkers[i], nil
			}
		}
	}
	return nil, fmt.Errorf("unsupported walker %q\n%s", stage, pipelineHelp)
}

func checkType(typ string, wk *walker) error {
	if typ != wk.typ {
		return fmt.Errorf("%s::walk avl yields %s, not %q\n%s", wk.anchor, wk.typ, typ, pipelineHelp)
	}
	return nil
}

// tokenize splits a dcmd into words; a double-quoted word keeps its
// spaces, and \n, \t, \\ and \" inside it are unescaped.
func tokenize(s string) ([]string, error) {
	var words []string
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			break
		}
		var w strings.Builder
		if s[i] == '"' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '"' {
					closed = true
					i++
					break
				}
				if c == '\\' && i+1 < len(s) {
					i++
					switch s[i] {
					case 'n':
						w.WriteByte('\n')
					case 't':
						w.WriteByte('\t')
					default:
						w.WriteByte(s[i])
					}
					i++
					continue
				}
				w.WriteByte(c)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quote in %q", s)
			}
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' {
				w.WriteByte(s[i])
				i++
			}
		}
		words = append(words, w.String())
	}
	return words, nil
}

// mdbHex prints an integer as mdb's ::print does: 0, or hex with 0x.
func mdbHex(v uint64) string {
	if v == 0 {
		return "0"
	}
	return "0x" + strconv.FormatUint(v, 16)
}

func printValue(v value) string {
	switch v.kind {
	case kindBool:
		if v.u != 0 {
			return "0x1 (B_TRUE)"
		}
		return "0 (0)"
	case kindString:
		return strconv.Quote(v.s)
	case kindSym:
		return v.s
	default:
		return mdbHex(v.u)
	}
}

// printObjects prints each object of wk in s as mdb's ::print does: the
// whole object, or the members named.
func printObjects(out *strings.Builder, s *Snapshot, wk *walker, names []string) error {
	idx := make([]int, len(names))
	for j, n := range names {
		m, ok := wk.find(n)
		if !ok {
			return fmt.Errorf("no member %q; members: %s", n, strings.Join(wk.names, " "))
		}
		idx[j] = m
	}
	for i := range wk.count(s) {
		if len(names) == 0 {
			out.WriteString("{\n")
			for m, name := range wk.names {
				v := wk.member(s, i, m)
				if v.kind == kindIP {
					fmt.Fprintf(out, "    rem_addr = {\n        S_un = {\n            S_addr = %s\n        }\n    }\n", mdbHex(v.u))
					continue
				}
				fmt.Fprintf(out, "    %s = %s\n", name, printValue(v))
			}
			out.WriteString("}\n")
			continue
		}
		for j, m := range idx {
			fmt.Fprintf(out, "%s = %s\n", names[j], printValue(wk.member(s, i, m)))
		}
	}
	return nil
}

// printfObjects formats each object of wk in s with an mdb ::printf format.
func printfObjects(out *strings.Builder, s *Snapshot, wk *walker, format string, args []string) error {
	convs, err := parseFormat(format)
	if err != nil {
		return err
	}
	n := 0
	for _, c := range convs {
		if c.verb != 0 {
			n++
		}
	}
	if n != len(args) {
		return fmt.Errorf("::printf format %q has %d conversions but %d arguments were given", format, n, len(args))
	}
	idx := make([]int, len(args)) // -1: "." (the object's handle)
	for j, arg := range args {
		if arg == "." {
			idx[j] = -1
			continue
		}
		m, ok := wk.find(arg)
		if !ok {
			return fmt.Errorf("no member %q; members: . %s", arg, strings.Join(wk.names, " "))
		}
		idx[j] = m
	}
	for i := range wk.count(s) {
		a := 0
		for _, c := range convs {
			if c.verb == 0 {
				out.WriteString(c.literal)
				continue
			}
			name, v := ".", value{kind: kindHandle, u: wk.handle(s, i)}
			if m := idx[a]; m >= 0 {
				name, v = wk.names[m], wk.member(s, i, m)
			}
			a++
			str, err := c.format(name, v)
			if err != nil {
				return err
			}
			out.WriteString(str)
		}
	}
	return nil
}

type conversion struct {
	literal string
	verb    byte // 0: literal
	left    bool
	width   int
}

func parseFormat(f string) ([]conversion, error) {
	var out []conversion
	var lit strings.Builder
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			lit.WriteByte(f[i])
			continue
		}
		if i+1 < len(f) && f[i+1] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		if lit.Len() > 0 {
			out = append(out, conversion{literal: lit.String()})
			lit.Reset()
		}
		c := conversion{}
		i++
		if i < len(f) && f[i] == '-' {
			c.left = true
			i++
		}
		for i < len(f) && f[i] >= '0' && f[i] <= '9' {
			c.width = c.width*10 + int(f[i]-'0')
			i++
		}
		if i >= len(f) || !strings.ContainsRune("duxpsI", rune(f[i])) {
			return nil, fmt.Errorf("::printf format %q: unsupported conversion (supported: %%d %%u %%x %%p %%s %%I with optional - and width)", f)
		}
		c.verb = f[i]
		out = append(out, c)
	}
	if lit.Len() > 0 {
		out = append(out, conversion{literal: lit.String()})
	}
	return out, nil
}

func (c conversion) format(name string, v value) (string, error) {
	var s string
	switch c.verb {
	case 'd', 'u':
		if v.kind == kindString || v.kind == kindSym {
			return "", fmt.Errorf("%%%c of %s, a string", c.verb, name)
		}
		s = strconv.FormatUint(v.u, 10)
	case 'x', 'p':
		if v.kind == kindString || v.kind == kindSym {
			return "", fmt.Errorf("%%%c of %s, a string", c.verb, name)
		}
		s = strconv.FormatUint(v.u, 16)
	case 's':
		if v.kind != kindString && v.kind != kindSym {
			return "", fmt.Errorf("%%s of %s, which is not a string", name)
		}
		s = v.s
	case 'I':
		if v.kind != kindIP {
			return "", fmt.Errorf("%%I of %s, which is not an IPv4 address", name)
		}
		s = v.ip.String()
	}
	if pad := c.width - len(s); pad > 0 {
		if c.left {
			return s + strings.Repeat(" ", pad), nil
		}
		return strings.Repeat(" ", pad) + s, nil
	}
	return s, nil
}
