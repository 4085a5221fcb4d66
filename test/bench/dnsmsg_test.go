/*
The generator's query and the echo's answer: a query's sequence number
survives the round trip, and anything that is not an answer to one of our
queries is refused.
*/

package bench

import "testing"

func TestQuerySequenceRoundTrip(t *testing.T) {
	for _, seq := range []uint32{0, 1, 0xabcdef, 0xffffffff} {
		buf := make([]byte, queryLen)
		msg := buf[:writeQuery(buf, seq)]
		if len(msg) != queryLen {
			t.Fatalf("query is %d bytes, want %d", len(msg), queryLen)
		}
		if _, ok := seqOf(msg); ok {
			t.Fatalf("seq %#x: a query (QR clear) was taken for an answer", seq)
		}
		echoAnswer(msg)
		got, ok := seqOf(msg)
		if !ok || got != seq {
			t.Fatalf("seq %#x: answer gives %#x, %v", seq, got, ok)
		}
	}
	bad := appendQuery(nil, 7)
	echoAnswer(bad)
	bad[dnsHeaderLen+3] = 'z'
	if _, ok := seqOf(bad); ok {
		t.Fatal("a label that is not hex was accepted")
	}
	if _, ok := seqOf(bad[:10]); ok {
		t.Fatal("a short message was accepted")
	}
}
