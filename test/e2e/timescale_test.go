/*
 * The end-to-end tests' interval divisor, BBAL_TEST_TIME_SCALE, exists
 * only in the binary the tests build with the bbaltest tag (issue 9): a
 * production balancer built as make and go build build it must run with
 * the default timings whatever its environment says.
 *
 * Both binaries are run with the variable set; their "timings" start-up
 * record must show the defaults for the production build and the divided
 * intervals for the tests' build (the control that shows the variable is
 * read at all). The production binary must not even contain the name.
 */

package e2e

import (
	"bytes"
	"os"
	"testing"

	"github.com/joyent/mname-balancer/backend"
	"github.com/joyent/mname-balancer/internal/timescale"
	"github.com/joyent/mname-balancer/proxy"
	"github.com/joyent/mname-balancer/remote"
)

const timeScaleVar = "BBAL_TEST_TIME_SCALE"

// wantTimings is the "timings" record's fields for intervals divided by scale.
func wantTimings(scale float64) map[string]any {
	bt, rt := timescale.Scale(backend.DefaultTimings(), scale), timescale.Scale(remote.DefaultTimings(), scale)
	ms := func(d interface{ Milliseconds() int64 }) int64 { return d.Milliseconds() }
	return map[string]any{
		"scan_ms":               ms(bt.Scan),
		"connect_timeout_ms":    ms(bt.ConnectTimeout),
		"heartbeat_interval_ms": ms(bt.HeartbeatInterval),
		"heartbeat_timeout_ms":  ms(bt.HeartbeatTimeout),
		"reconnect_first_ms":    ms(bt.ReconnectFirst),
		"reconnect_max_ms":      ms(bt.ReconnectMax),
		"probe_after_ms":        ms(bt.ProbeAfter),
		"probe_timeout_ms":      ms(bt.ProbeTimeout),
		"stable_after_ms":       ms(bt.StableAfter),
		"remote_expiry_ms":      ms(rt.Expiry),
		"rebalance_ms":          ms(rt.Rebalance),
		"remote_evict_after_ms": ms(rt.EvictAfter),
		"tcp_ok_timeout_ms":     int64(float64(proxy.TCPOKTimeout.Milliseconds()) / scale),
	}
}

func TestProductionBinaryIgnoresTimeScale(t *testing.T) {
	SkipInShort(t)
	bin := ProductionBinary(t)
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(timeScaleVar)) {
		t.Errorf("the production binary contains %q", timeScaleVar)
	}

	b := StartBalancer(t, BalancerConfig{Binary: bin, SocketDir: SocketDir(t), Env: []string{timeScaleVar + "=1000"}})
	rec := b.WaitLog("timings", nil, 0)
	want := wantTimings(1)
	if want["scan_ms"] != int64(5000) || want["heartbeat_timeout_ms"] != int64(15000) {
		t.Fatalf("defaults changed? %v", want) // the comparison below would be meaningless
	}
	if !matches(rec, want) {
		t.Errorf("production binary with %s=1000 logged timings %v, want the defaults %v", timeScaleVar, rec, want)
	}
	if got := b.Find("intervals shortened for testing", nil); len(got) != 0 {
		t.Errorf("production binary shortened its intervals: %v", got)
	}
}

// The control: the tests' binary reads the variable.
func TestTestBinaryHonoursTimeScale(t *testing.T) {
	SkipInShort(t)
	b := StartBalancer(t, BalancerConfig{SocketDir: SocketDir(t), TimeScale: 1000})
	rec := b.WaitLog("timings", nil, 0)
	if want := wantTimings(1000); !matches(rec, want) {
		t.Errorf("tests' binary with %s=1000 logged timings %v, want %v", timeScaleVar, rec, want)
	}
	b.WaitLog("intervals shortened for testing", map[string]any{"scale": 1000}, 0)
}
