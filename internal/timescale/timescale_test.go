package timescale_test

import (
	"testing"
	"time"

	"github.com/joyent/mname-balancer/internal/timescale"
)

type config struct {
	A, B  time.Duration
	Fixed time.Duration `timescale:"fixed"`
	N     int
}

func TestScale(t *testing.T) {
	in := config{A: time.Second, B: 3 * time.Millisecond, Fixed: time.Second, N: 7}
	got := timescale.Scale(in, 10)
	want := config{A: 100 * time.Millisecond, B: 300 * time.Microsecond, Fixed: time.Second, N: 7}
	if got != want {
		t.Errorf("Scale(%+v, 10) = %+v, want %+v", in, got, want)
	}
	if in.A != time.Second {
		t.Errorf("Scale changed its argument: %+v", in)
	}
}
