package bench

import "encoding/binary"

/*
The query the generator sends: a DNS query for "SSSSSSSS.example. IN A" where
SSSSSSSS is the query's sequence number in hex, so that an answer (which
echoes the question) names the query it answers, whatever the DNS ID. Every
answerer in the bench (the echo backends, the reflector, node-mname,
dnsdist) copies the question, so seqOf works on all their answers.
*/

const (
	dnsHeaderLen = 12
	seqLabelLen  = 8
	queryLen     = dnsHeaderLen + 1 + seqLabelLen + 1 + len("example") + 1 + 4
	flagQR       = 0x80 // in byte 2 of the header
)

const hexDigits = "0123456789abcdef"

// appendQuery appends the query numbered seq to dst.
func appendQuery(dst []byte, seq uint32) []byte {
	var hdr [dnsHeaderLen]byte
	binary.BigEndian.PutUint16(hdr[0:], uint16(seq))
	hdr[2] = 0x01 // RD
	binary.BigEndian.PutUint16(hdr[4:], 1)
	dst = append(dst, hdr[:]...)
	dst = append(dst, seqLabelLen)
	for i := 28; i >= 0; i -= 4 {
		dst = append(dst, hexDigits[(seq>>uint(i))&0xf])
	}
	dst = append(dst, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0)
	return append(dst, 0, 1, 0, 1) // A, IN
}

// writeQuery writes the query numbered seq into buf (at least queryLen
// bytes) without allocating and returns its length.
func writeQuery(buf []byte, seq uint32) int {
	return len(appendQuery(buf[:0], seq))
}

// seqOf returns the sequence number named by an answer, and false if msg is
// not an answer (QR clear) to one of the generator's queries.
func seqOf(msg []byte) (uint32, bool) {
	if len(msg) < dnsHeaderLen+1+seqLabelLen || msg[2]&flagQR == 0 || msg[dnsHeaderLen] != seqLabelLen {
		return 0, false
	}
	var seq uint32
	for _, c := range msg[dnsHeaderLen+1 : dnsHeaderLen+1+seqLabelLen] {
		switch {
		case c >= '0' && c <= '9':
			seq = seq<<4 | uint32(c-'0')
		case c >= 'a' && c <= 'f':
			seq = seq<<4 | uint32(c-'a'+10)
		default:
			return 0, false
		}
	}
	return seq, true
}

// echoAnswer turns the query in msg into its answer in place: the echo
// backends' whole work per query, identical on every path.
func echoAnswer(msg []byte) {
	if len(msg) > 2 {
		msg[2] |= flagQR
	}
}
