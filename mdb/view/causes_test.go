/*
 * Tests of the table of causes: each cause reads its own counter, named as
 * the JSON field it is sent in, and every view prints each one.
 */

package view

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// TestEachCauseReadsItsOwnCounter: the JSON field named by a cause's Stat,
// set alone, moves that cause's count and no other.
func TestEachCauseReadsItsOwnCounter(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Causes {
		if seen[c.Stat] || seen[c.Kind.Name+"/"+c.Reason] {
			t.Errorf("cause %s (%s/%s) listed twice", c.Stat, c.Kind.Name, c.Reason)
		}
		seen[c.Stat], seen[c.Kind.Name+"/"+c.Reason] = true, true
		var tot Totals
		if err := json.Unmarshal([]byte(fmt.Sprintf(`{%q: 7}`, c.Stat)), &tot); err != nil {
			t.Fatal(err)
		}
		for _, o := range Causes {
			want := uint64(0)
			if o.Stat == c.Stat {
				want = 7
			}
			if got := o.Count(&tot); got != want {
				t.Errorf("JSON field %s = 7: cause %s counts %d, want %d", c.Stat, o.Stat, got, want)
			}
		}
	}
}

// TestEveryViewShowsEveryCause: -v's third table, -p's balancer kstat and
// the kinds' help texts each name every cause.
func TestEveryViewShowsEveryCause(t *testing.T) {
	snap := &Snapshot{}
	for i, c := range Causes {
		b, _ := json.Marshal(map[string]int{c.Stat: 100 + i})
		json.Unmarshal(b, &snap.Balancer)
	}
	var v, p bytes.Buffer
	if err := WriteTables(&v, snap, true); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteKstatP(&p, Kstats(snap), nil); err != nil {
		t.Fatal(err)
	}
	for i, c := range Causes {
		row := fmt.Sprintf("%-18s %-17s %12d\n", c.Kind.Name, c.Reason, 100+i)
		if !strings.Contains(v.String(), row) {
			t.Errorf("-v lacks %q", row)
		}
		line := fmt.Sprintf("bbal:0:balancer:%s\t%d\n", c.Stat, 100+i)
		if !strings.Contains(p.String(), line) {
			t.Errorf("-p lacks %q", line)
		}
		if !strings.Contains(KindHelp(c.Kind), " "+c.Reason+" (") {
			t.Errorf("%s's help does not list %s: %s", c.Kind.Metric, c.Reason, KindHelp(c.Kind))
		}
	}
	var plain bytes.Buffer
	WriteTables(&plain, snap, false)
	if strings.Contains(plain.String(), "CAUSE") {
		t.Errorf("the default tables (Binder's) grew the causes:\n%s", plain.String())
	}
}
