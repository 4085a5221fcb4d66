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

package mdb

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// PipelineHelp lists what RunPipeline accepts.
const PipelineHelp = `supported: WALKER [| ::print TYPE [MEMBER ...] | ::printf "FORMAT" TYPE ARG ...]
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

type member struct {
	name string
	kind valueKind
	u    uint64
	s    string
	ip   [4]byte
}

type object struct {
	handle  uint64
	members []member
}

func (o *object) find(name string) (*member, bool) {
	for i := range o.members {
		if o.members[i].name == name {
			return &o.members[i], true
		}
	}
	return nil, false
}

func u(name string, v uint64) member   { return member{name: name, kind: kindUint, u: v} }
func bl(name string, v bool) member    { return member{name: name, kind: kindBool, u: boolNum(v)} }
func st(name, v string) member         { return member{name: name, kind: kindString, s: v} }
func hnd(name string, v uint64) member { return member{name: name, kind: kindHandle, u: v} }

// walker is one anchor: its type and its objects.
type walker struct {
	anchor, typ string
	objects     func(*Snapshot) []object
}

var walkers = []walker{
	{"g_backends", "backend_t", backendObjects},
	{"g_remotes", "remote_t", remoteObjects},
	{"g_timeouts", "timeout_t", timeoutObjects},
}

func backendObjects(s *Snapshot) []object {
	out := make([]object, 0, len(s.Backends))
	for _, b := range s.Backends {
		out = append(out, object{handle: b.Object, members: []member{
			u("be_id", uint64(b.ID)), st("be_path", b.Path),
			bl("be_ok", b.OK), bl("be_reconnect", b.Reconnect),
			bl("be_heartbeat_outstanding", b.HeartbeatOutstanding), bl("be_removed", b.Removed),
			u("be_remotes", uint64(b.Remotes)), u("be_reconnect_delay", uint64(b.ReconnectDelay)),
			u("be_stat_conn_start", b.StatConnStart), u("be_stat_conn_error", b.StatConnError),
			u("be_stat_udp", b.StatUDP), u("be_stat_tcp", b.StatTCP), u("be_stat_stuck", b.StatStuck),
		}})
	}
	return out
}

func remoteObjects(s *Snapshot) []object {
	out := make([]object, 0, len(s.Remotes))
	for _, r := range s.Remotes {
		a, _ := netip.ParseAddr(r.Addr)
		ip := a.As4()
		out = append(out, object{handle: r.Object, members: []member{
			{name: "rem_addr.S_un.S_addr", kind: kindIP, ip: ip,
				u: uint64(ip[0]) | uint64(ip[1])<<8 | uint64(ip[2])<<16 | uint64(ip[3])<<24},
			u("rem_backend", uint64(r.Backend)), u("rem_backend_backup", uint64(r.BackendBackup)),
			u("rem_stat_udp", r.StatUDP), u("rem_stat_udp_drop", r.StatUDPDrop),
			u("rem_stat_tcp", r.StatTCP), u("rem_stat_tcp_drop", r.StatTCPDrop),
			u("rem_first_seen", uint64(r.FirstSeen)), u("rem_last_seen", uint64(r.LastSeen)),
		}})
	}
	return out
}

func timeoutObjects(s *Snapshot) []object {
	out := make([]object, 0, len(s.Timeouts))
	for _, t := range s.Timeouts {
		out = append(out, object{handle: t.Object, members: []member{
			u("to_id", t.ID), u("to_scheduled_at", uint64(t.ScheduledAt)), u("to_expiry", uint64(t.Expiry)),
			u("to_period", uint64(t.PeriodNS)),
			{name: "to_func", kind: kindSym, s: t.Func}, st("to_arg", t.Arg), bl("to_active", t.Active),
		}})
	}
	return out
}

// RunPipeline evaluates an mdb-style pipeline over s and writes the result.
func RunPipeline(w io.Writer, s *Snapshot, pipeline string) error {
	stages, err := splitPipeline(pipeline)
	if err != nil {
		return err
	}
	if len(stages) == 0 || len(stages) > 2 {
		return fmt.Errorf("pipeline %q: want a walker and at most one dcmd\n%s", pipeline, PipelineHelp)
	}
	wk, err := parseWalker(stages[0])
	if err != nil {
		return err
	}
	objs := wk.objects(s)
	var out strings.Builder
	if len(stages) == 1 {
		for _, o := range objs {
			fmt.Fprintf(&out, "%x\n", o.handle)
		}
		_, err := io.WriteString(w, out.String())
		return err
	}
	words, err := tokenize(stages[1])
	if err != nil {
		return err
	}
	if len(words) < 2 {
		return fmt.Errorf("dcmd %q: want ::print TYPE or ::printf \"FORMAT\" TYPE ...\n%s", stages[1], PipelineHelp)
	}
	switch words[0] {
	case "::print":
		if err := checkType(words[1], wk); err != nil {
			return err
		}
		if err := printObjects(&out, objs, words[2:]); err != nil {
			return err
		}
	case "::printf":
		if len(words) < 3 {
			return fmt.Errorf("::printf needs a format and a type\n%s", PipelineHelp)
		}
		if err := checkType(words[2], wk); err != nil {
			return err
		}
		if err := printfObjects(&out, objs, words[1], words[3:]); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unsupported dcmd %q\n%s", words[0], PipelineHelp)
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
			return nil, fmt.Errorf("pipeline %q: empty stage\n%s", p, PipelineHelp)
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
	return nil, fmt.Errorf("unsupported walker %q\n%s", stage, PipelineHelp)
}

func checkType(typ string, wk *walker) error {
	if typ != wk.typ {
		return fmt.Errorf("%s::walk avl yields %s, not %q\n%s", wk.anchor, wk.typ, typ, PipelineHelp)
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

func printValue(m *member) string {
	switch m.kind {
	case kindBool:
		if m.u != 0 {
			return "0x1 (B_TRUE)"
		}
		return "0 (0)"
	case kindString:
		return strconv.Quote(m.s)
	case kindSym:
		return m.s
	default:
		return mdbHex(m.u)
	}
}

func printObjects(out *strings.Builder, objs []object, names []string) error {
	for _, o := range objs {
		if len(names) == 0 {
			out.WriteString("{\n")
			for i := range o.members {
				m := &o.members[i]
				if m.kind == kindIP {
					fmt.Fprintf(out, "    rem_addr = {\n        S_un = {\n            S_addr = %s\n        }\n    }\n", mdbHex(m.u))
					continue
				}
				fmt.Fprintf(out, "    %s = %s\n", m.name, printValue(m))
			}
			out.WriteString("}\n")
			continue
		}
		for _, n := range names {
			m, ok := o.find(n)
			if !ok {
				return fmt.Errorf("no member %q; members: %s", n, memberNames(&o))
			}
			fmt.Fprintf(out, "%s = %s\n", n, printValue(m))
		}
	}
	return nil
}

func memberNames(o *object) string {
	var names []string
	for _, m := range o.members {
		names = append(names, m.name)
	}
	return strings.Join(names, " ")
}

// printfObjects formats each object with an mdb ::printf format.
func printfObjects(out *strings.Builder, objs []object, format string, args []string) error {
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
	for _, o := range objs {
		a := 0
		for _, c := range convs {
			if c.verb == 0 {
				out.WriteString(c.literal)
				continue
			}
			arg := args[a]
			a++
			var m member
			if arg == "." {
				m = hnd(".", o.handle)
			} else {
				p, ok := o.find(arg)
				if !ok {
					return fmt.Errorf("no member %q; members: . %s", arg, memberNames(&o))
				}
				m = *p
			}
			s, err := c.format(&m)
			if err != nil {
				return err
			}
			out.WriteString(s)
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

func (c conversion) format(m *member) (string, error) {
	var s string
	switch c.verb {
	case 'd', 'u':
		if m.kind == kindString || m.kind == kindSym {
			return "", fmt.Errorf("%%%c of %s, a string", c.verb, m.name)
		}
		s = strconv.FormatUint(m.u, 10)
	case 'x', 'p':
		if m.kind == kindString || m.kind == kindSym {
			return "", fmt.Errorf("%%%c of %s, a string", c.verb, m.name)
		}
		s = strconv.FormatUint(m.u, 16)
	case 's':
		if m.kind != kindString && m.kind != kindSym {
			return "", fmt.Errorf("%%s of %s, which is not a string", m.name)
		}
		s = m.s
	case 'I':
		if m.kind != kindIP {
			return "", fmt.Errorf("%%I of %s, which is not an IPv4 address", m.name)
		}
		s = netip.AddrFrom4(m.ip).String()
	}
	if pad := c.width - len(s); pad > 0 {
		if c.left {
			return s + strings.Repeat(" ", pad), nil
		}
		return strings.Repeat(" ", pad) + s, nil
	}
	return s, nil
}
