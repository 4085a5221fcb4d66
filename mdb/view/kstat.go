/*
 * The balancer's counters as kstats, printed as kstat(1M) -p prints them:
 *
 *	module:instance:name:statistic<TAB>value
 *
 * one line per statistic; kstats in the order kstat sorts them (module,
 * then instance numerically, then name), the statistics of each kstat
 * sorted by name (byte order), "class", "crtime" and "snaptime" among them;
 * crtime and snaptime in seconds since boot with nine decimals, as kstat
 * prints hrtimes. Module "bbal":
 *
 *	bbal:0:balancer:<stat>     the balancer-wide totals (class "misc")
 *	bbal:<be_id>:backend:<stat> one per backend (class "net"): conn_start,
 *	                           conn_error, udp, tcp, stuck (the C
 *	                           be_stat_* fields), ok, remotes, path
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

// KstatValue is one statistic: a number or a string.
type KstatValue struct {
	Name  string
	Num   uint64
	Str   string
	IsStr bool
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
			num("udp_drop_oversize", t.UDPDropOversize), num("udp_drop_no_backend", t.UDPDropNoBackend),
			num("udp_drop_stuck", t.UDPDropStuck), num("udp_drop_send_error", t.UDPDropSendError),
			num("tcp_accepted", t.TCPAccepted), num("tcp_refused", t.TCPRefused), num("tcp_open", t.TCPOpen),
			num("remotes", t.Remotes), num("backends", t.Backends), num("backends_ok", t.BackendsOK),
			num("timeouts", t.Timeouts), num("uptime_ns", uint64(max(t.UptimeNS, 0))),
		},
	}}
	for _, b := range s.Backends {
		ks = append(ks, Kstat{
			Module: "bbal", Instance: int(b.ID), Name: "backend", Class: "net", Crtime: s.Crtime, Snaptime: s.Snaptime,
			Stats: []KstatValue{
				num("conn_start", b.StatConnStart), num("conn_error", b.StatConnError),
				num("udp", b.StatUDP), num("tcp", b.StatTCP), num("stuck", b.StatStuck),
				num("ok", boolNum(b.OK)), num("remotes", uint64(b.Remotes)),
				{Name: "path", Str: b.Path, IsStr: true},
			},
		})
	}
	SortKstats(ks)
	return ks
}

// SortKstats sorts as kstat does: module, instance, name.
func SortKstats(ks []Kstat) {
	slices.SortFunc(ks, func(a, b Kstat) int {
		if c := strings.Compare(a.Module, b.Module); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Instance, b.Instance); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
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

// hrSeconds prints an hrtime as kstat does: seconds, nine decimals.
func hrSeconds(hr int64) string {
	return fmt.Sprintf("%d.%09d", hr/1e9, hr%1e9)
}

// WriteKstatP prints the statistics of ks that match any of pats (all of
// them if pats is empty) in kstat -p format.
func WriteKstatP(w io.Writer, ks []Kstat, pats []KstatPattern) error {
	var b strings.Builder
	for i := range ks {
		k := &ks[i]
		stats := append([]KstatValue{
			{Name: "class", Str: k.Class, IsStr: true},
			{Name: "crtime", Str: hrSeconds(k.Crtime), IsStr: true},
			{Name: "snaptime", Str: hrSeconds(k.Snaptime), IsStr: true},
		}, k.Stats...)
		slices.SortFunc(stats, func(a, b KstatValue) int { return strings.Compare(a.Name, b.Name) })
		for _, st := range stats {
			if len(pats) > 0 && !slices.ContainsFunc(pats, func(p KstatPattern) bool { return p.match(k, st.Name) }) {
				continue
			}
			fmt.Fprintf(&b, "%s:%d:%s:%s\t", k.Module, k.Instance, k.Name, st.Name)
			if st.IsStr {
				b.WriteString(st.Str)
			} else {
				b.WriteString(strconv.FormatUint(st.Num, 10))
			}
			b.WriteByte('\n')
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
