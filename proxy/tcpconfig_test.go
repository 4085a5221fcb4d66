package proxy

import (
	"strings"
	"testing"
)

// MaxConns stays below what the event port can hold (two associations a
// proxy), so that no accept pushes port_associate into EAGAIN.
func TestTCPConfigCapsConnsBelowPortMaxEvents(t *testing.T) {
	cfg := DefaultTCPConfig(1 << 20)
	if cfg.MaxConns > MaxTCPConns {
		t.Fatalf("default MaxConns %d above MaxTCPConns %d", cfg.MaxConns, MaxTCPConns)
	}
	cfg.MaxConns = MaxTCPConns
	if err := cfg.validate(); err != nil {
		t.Fatalf("MaxConns %d: %v", cfg.MaxConns, err)
	}
	if 2*MaxTCPConns >= 65536 {
		t.Fatalf("MaxTCPConns %d: two descriptors each reach the port's 65,536 associations", MaxTCPConns)
	}
	cfg.MaxConns = MaxTCPConns + 1
	if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "32001") {
		t.Fatalf("MaxConns %d: error %v, want one naming it", cfg.MaxConns, err)
	}
}
