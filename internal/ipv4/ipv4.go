// Package ipv4 converts an IPv4 address between the balancer's number for
// it (a uint32 whose most significant byte is the first octet, as the
// remote table keys clients and the backend protocol carries them) and
// the four bytes a socket address or netip.AddrFrom4 holds.
package ipv4

// FromBytes is the number of the address whose octets are b.
func FromBytes(b [4]byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Bytes is the octets of the address numbered addr.
func Bytes(addr uint32) [4]byte {
	return [4]byte{byte(addr >> 24), byte(addr >> 16), byte(addr >> 8), byte(addr)}
}
