/*
 * The demo's DNS answers (answer, on golang.org/x/net/dns/dnsmessage),
 * read back with miekg/dns as dig would: the reply header (ID, opcode,
 * RD and CD copied, QR and AA set), the echoed question, whoami's TXT for
 * TXT and ANY in any letter case, REFUSED with no answer for anything else,
 * a query with an EDNS OPT record (dig sends one) answered, and no reply
 * at all for what is not a one-question DNS message.
 */

package demo

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestAnswer(t *testing.T) {
	s := &Server{id: "5302"}
	const client = "backend=5302 client=192.0.2.7:5353"
	query := func(name string, qtype uint16, edit func(*dns.Msg)) []byte {
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		q.Id = 0xBEEF
		if edit != nil {
			edit(q)
		}
		wire, err := q.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return wire
	}
	tests := []struct {
		name     string
		query    []byte
		rcode    int
		txt      string // "" means no answer
		rd, cd   bool
		question string
	}{
		{"whoami TXT", query("whoami.", dns.TypeTXT, nil), dns.RcodeSuccess, client, true, false, "whoami."},
		{"upper case, RD off, CD on", query("WhoAmI.", dns.TypeTXT, func(q *dns.Msg) {
			q.RecursionDesired, q.CheckingDisabled = false, true
		}), dns.RcodeSuccess, client, false, true, "WhoAmI."},
		{"ANY", query("whoami.", dns.TypeANY, nil), dns.RcodeSuccess, client, true, false, "whoami."},
		{"with EDNS", query("whoami.", dns.TypeTXT, func(q *dns.Msg) { q.SetEdns0(1232, false) }),
			dns.RcodeSuccess, client, true, false, "whoami."},
		{"other type", query("whoami.", dns.TypeA, nil), dns.RcodeRefused, "", true, false, "whoami."},
		{"other name", query("example.com.", dns.TypeTXT, nil), dns.RcodeRefused, "", true, false, "example.com."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wire := s.answer(tc.query, 0xC0000207, 5353)
			if wire == nil {
				t.Fatal("no reply")
			}
			var m dns.Msg
			if err := m.Unpack(wire); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
			if m.Id != 0xBEEF || !m.Response || !m.Authoritative || m.Opcode != dns.OpcodeQuery ||
				m.RecursionDesired != tc.rd || m.CheckingDisabled != tc.cd || m.Rcode != tc.rcode {
				t.Errorf("header %+v, want ID beef, QR, AA, RD %v, CD %v, rcode %d", m.MsgHdr, tc.rd, tc.cd, tc.rcode)
			}
			if len(m.Question) != 1 || m.Question[0].Name != tc.question {
				t.Errorf("question %v, want %s echoed", m.Question, tc.question)
			}
			if tc.txt == "" {
				if len(m.Answer) != 0 {
					t.Errorf("answers %v, want none", m.Answer)
				}
				return
			}
			if len(m.Answer) != 1 {
				t.Fatalf("answers %v, want one TXT", m.Answer)
			}
			rr, ok := m.Answer[0].(*dns.TXT)
			if !ok || !strings.EqualFold(rr.Hdr.Name, "whoami.") || rr.Hdr.Class != dns.ClassINET {
				t.Fatalf("answer %v, want whoami. IN TXT", m.Answer[0])
			}
			if got := strings.Join(rr.Txt, ""); got != tc.txt {
				t.Errorf("TXT %q, want %q", got, tc.txt)
			}
		})
	}

	two := new(dns.Msg)
	two.SetQuestion("whoami.", dns.TypeTXT)
	two.Question = append(two.Question, two.Question[0])
	twoWire, err := two.Pack()
	if err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string][]byte{
		"empty":           nil,
		"short header":    {0xBE, 0xEF, 0x01},
		"two questions":   twoWire,
		"truncated query": query("whoami.", dns.TypeTXT, nil)[:15],
	} {
		if got := s.answer(q, 1, 1); got != nil {
			t.Errorf("%s: reply %x, want none", name, got)
		}
	}
}
