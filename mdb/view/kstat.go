/*
 * The balancer's counters as kstats, printed as kstat(1M) -p prints them
 * (illumos usr/src/cmd/stat/kstat/kstat.c):
 *
 *	module:instance:name:statistic<TAB>value
 *
 * one line per statistic; kstats in the order kstat sorts them (module,
 * then instance numerically, then name, the names compared without regard
 * to case), the statistics of each kstat sorted by name without regard to
 * case, "class", "crtime" and "snaptime" among them; crtime and snaptime
 * in seconds since boot with nine decimals (0 as "0"), as kstat prints
 * hrtimes. With several patterns kstat prints, pattern by pattern, what
 * each one matches. With an interval, rounds are separated by a blank
 * line; kstat exits 1 when nothing matched. Module "bbal":
 *
 *	bbal:0:balancer:<stat>     the balancer-wide totals (class "misc"),
 *	                           a counter per cause (Causes) among them
 *	bbal:<be_id>:backend:<stat> one per backend (class "net"): conn_start,
 *	                           conn_error, udp, tcp, stuck (the C
 *	                           be_stat_* fields), ok, remotes, path,
 *	                           state (the index in BackendStates),
 *	                           state_since (an hrtime), why (the last
 *	                           fault while not ok); crtime is the
 *	                           backend's creation
 *
 * Patterns are kstat's: module[:instance[:name[:statistic]]], each field a
 * shell glob (path.Match) or a regular expression between slashes; an
 * empty or missing field matches everything.
 */

package view

import (
	"cmp"
	"fmt"
	"io"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// KstatValue is one statistic: a number, a string or an hrtime.
type KstatValue struct {
	Name  string
	Num   uint64
	Str   string
	IsStr bool
	IsHR  bool // Num is an hrtime, printed as crtime is
}

// Kstat is one kstat (module:instance:name) and its statistics.
type Kstat struct {
	Module   string
	Instance int
	Name     string
	Class    string
	Crtime   int64 // hrtime
	Snaptime int64 // hrtime
	Stats    []KstatValue
}

func num(name string, v uint64) KstatValue { return KstatValue{Name: name, Num: v} }

func boolNum(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// Kstats turns a snapshot into kstats, sorted as kstat sorts them.
func Kstats(s *Snapshot) []Kstat {
	t := s.Balancer
	ks := []Kstat{{
		Module: "bbal", Instance: 0, Name: "balancer", Class: "misc", Crtime: s.Crtime, Snaptime: s.Snaptime,
		Stats: []KstatValue{
			num("udp_received", t.UDPReceived), num("udp_forwarded", t.UDPForwarded), num("udp_answered", t.UDPAnswered),
			num("tcp_accepted", t.TCPAccepted), num("tcp_refused", t.TCPRefused), num("tcp_open", t.TCPOpen),
			num("remotes", t.Remotes), num("backends", t.Backends), num("backends_ok", t.BackendsOK),
			num("timers", t.Timers), num("uptime_ns", uint64(max(t.UptimeNS, 0))),
		},
	}}
	for _, c := range Causes {
		ks[0].Stats = append(ks[0].Stats, num(c.Stat, c.Count(&t)))
	}
	for _, b := range s.Backends {
		ks = append(ks, Kstat{
			Module: "bbal", Instance: int(b.ID), Name: "backend", Class: "net", Crtime: b.Crtime, Snaptime: s.Snaptime,
			Stats: []KstatValue{
				num("conn_start", b.StatConnStart), num("conn_error", b.StatConnError),
				num("udp", b.StatUDP), num("tcp", b.StatTCP), num("stuck", b.StatStuck),
				num("spilled", b.StatSpilled), num("ejections", b.StatEjections), num("eject_capped", b.StatEjectCapped),
				num("ejected", boolNum(b.Ejected)),
				num("ok", boolNum(b.OK)), num("remotes", uint64(b.Remotes)),
				{Name: "path", Str: b.Path, IsStr: true},
				num("state", uint64(StateNumber(b.State))),
				{Name: "state_since", Num: uint64(max(b.StateSince, 0)), IsHR: true},
				{Name: "why", Str: b.Why, IsStr: true},
			},
		})
	}
	SortKstats(ks)
	return ks
}

// SortKstats sorts as kstat does: module, instance, name, the names
// compared without regard to case (strcasecmp).
func SortKstats(ks []Kstat) {
	slices.SortStableFunc(ks, func(a, b Kstat) int {
		if c := compareFold(a.Module, b.Module); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Instance, b.Instance); c != 0 {
			return c
		}
		return compareFold(a.Name, b.Name)
	})
}

// compareFold compares as strcasecmp does in the C locale: byte by byte,
// ASCII upper case folded to lower.
func compareFold(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := cmp.Compare(lower(a[i]), lower(b[i])); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a), len(b))
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// KstatPattern selects statistics, as kstat's operands do.
type KstatPattern struct {
	fields [4]func(string) bool
}

// ParseKstatPattern parses module[:instance[:name[:statistic]]].
func ParseKstatPattern(s string) (KstatPattern, error) {
	var p KstatPattern
	parts := strings.Split(s, ":")
	if len(parts) > 4 {
		return p, fmt.Errorf("kstat pattern %q has more than four fields (module:instance:name:statistic)", s)
	}
	for i := range p.fields {
		p.fields[i] = func(string) bool { return true }
		if i >= len(parts) || parts[i] == "" {
			continue
		}
		f := parts[i]
		if len(f) >= 2 && f[0] == '/' && f[len(f)-1] == '/' {
			re, err := regexp.Compile(f[1 : len(f)-1])
			if err != nil {
				return p, fmt.Errorf("kstat pattern %q: %w", s, err)
			}
			p.fields[i] = re.MatchString
			continue
		}
		if _, err := path.Match(f, ""); err != nil {
			return p, fmt.Errorf("kstat pattern %q: bad glob %q", s, f)
		}
		p.fields[i] = func(v string) bool { ok, _ := path.Match(f, v); return ok }
	}
	return p, nil
}

func (p KstatPattern) match(k *Kstat, stat string) bool {
	return p.fields[0](k.Module) && p.fields[1](strconv.Itoa(k.Instance)) && p.fields[2](k.Name) && p.fields[3](stat)
}

// hrSeconds prints an hrtime as kstat does: 0 as "0", any other as
// seconds with nine decimals (printf's %.9f of the seconds as a double).
func hrSeconds(hr int64) string {
	if hr == 0 {
		return "0"
	}
	return strconv.FormatFloat(float64(hr)/1e9, 'f', 9, 64)
}

// statsOf is k's statistics in the order kstat prints them: crtime,
// snaptime and class first, then the kstat's own, each inserted before
// the first name greater without regard to case (kstat's nvpair_insert).
func statsOf(k *Kstat) []KstatValue {
	stats := append([]KstatValue{
		{Name: "crtime", Str: hrSeconds(k.Crtime), IsStr: true},
		{Name: "snaptime", Str: hrSeconds(k.Snaptime), IsStr: true},
		{Name: "class", Str: k.Class, IsStr: true},
	}, k.Stats...)
	sorted := make([]KstatValue, 0, len(stats))
	for _, st := range stats {
		i := 0
		for i < len(sorted) && compareFold(st.Name, sorted[i].Name) > 0 {
			i++
		}
		sorted = slices.Insert(sorted, i, st)
	}
	return sorted
}

// WriteKstatP prints one round of kstat -p: for each pattern in turn (one
// that matches everything if pats is empty), every statistic of ks that
// it matches, so that a statistic two patterns match is printed twice, as
// kstat prints it. It returns the number of lines printed (kstat exits 1
// when no statistic matched).
func WriteKstatP(w io.Writer, ks []Kstat, pats []KstatPattern) (int, error) {
	if len(pats) == 0 {
		pats = []KstatPattern{matchAll}
	}
	var b strings.Builder
	n := 0
	for _, p := range pats {
		for i := range ks {
			k := &ks[i]
			for _, st := range statsOf(k) {
				if !p.match(k, st.Name) {
					continue
				}
				n++
				fmt.Fprintf(&b, "%s:%d:%s:%s\t", k.Module, k.Instance, k.Name, st.Name)
				switch {
				case st.IsStr:
					b.WriteString(st.Str)
				case st.IsHR:
					b.WriteString(hrSeconds(int64(st.Num)))
				default:
					b.WriteString(strconv.FormatUint(st.Num, 10))
				}
				b.WriteByte('\n')
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return n, err
}

// matchAll is the pattern "" (every field empty).
var matchAll, _ = ParseKstatPattern("")

// KstatRounds prints count rounds (0: until next fails) of kstat -p, as
// kstat does with an interval: wait before every round but the first,
// and a blank line between rounds (printed after the wait, none after the
// last). next gives each round's kstats. It reports whether any
// statistic matched in any round: kstat's exit status is 0 if so, 1 if
// not.
func KstatRounds(w io.Writer, pats []KstatPattern, count int, wait func(), next func() ([]Kstat, error)) (matched bool, err error) {
	for i := 0; count == 0 || i < count; i++ {
		if i > 0 {
			wait()
			if _, err := io.WriteString(w, "\n"); err != nil {
				return matched, err
			}
		}
		ks, err := next()
		if err != nil {
			return matched, err
		}
		n, err := WriteKstatP(w, ks, pats)
		matched = matched || n > 0
		if err != nil {
			return matched, err
		}
	}
	return matched, nil
}
