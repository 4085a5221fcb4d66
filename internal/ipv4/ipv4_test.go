package ipv4_test

import (
	"net/netip"
	"testing"

	"github.com/joyent/mname-balancer/internal/ipv4"
)

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		addr string
		num  uint32
	}{
		{"0.0.0.0", 0},
		{"10.1.2.3", 0x0A010203},
		{"192.168.0.255", 0xC0A800FF},
		{"255.255.255.254", 0xFFFFFFFE},
	} {
		b := netip.MustParseAddr(tc.addr).As4()
		if got := ipv4.FromBytes(b); got != tc.num {
			t.Errorf("FromBytes(%s) = %#x, want %#x", tc.addr, got, tc.num)
		}
		if got := netip.AddrFrom4(ipv4.Bytes(tc.num)).String(); got != tc.addr {
			t.Errorf("Bytes(%#x) = %s, want %s", tc.num, got, tc.addr)
		}
	}
}
