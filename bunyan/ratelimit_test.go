/*
Tests of RateLimiter on a fixed clock: the burst and the sustained rate,
one summary per interval whose counts add up to what was suppressed, the
tail of a flood reported by Flush, no summary without suppression, the
summary at the kind's level, nothing admitted or counted when that level
is off (on the logger or globally), a clock stepping back, and no
allocation whether admitting or suppressing.
*/

package bunyan_test

import (
	"io"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/bunyan/bunyantest"
	"github.com/rs/zerolog"
)

var epoch = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// summaries returns the summary records in buf.
func summaries(t *testing.T, buf *bunyantest.Buffer) []bunyantest.Record {
	t.Helper()
	var out []bunyantest.Record
	for _, r := range buf.Records(t) {
		if r.Str("msg") == "log records suppressed" {
			out = append(out, r)
		}
	}
	return out
}

func TestRateLimiterBurstThenRate(t *testing.T) {
	var buf bunyantest.Buffer
	l := bunyan.NewRateLimiter(bunyan.New(&buf, zerolog.InfoLevel), zerolog.InfoLevel, "new remote peer",
		bunyan.Rate{Every: 100 * time.Millisecond, Burst: 20, SummaryEvery: time.Second})
	allowed := 0
	for i := 0; i < 100; i++ {
		if l.Allow(epoch) {
			allowed++
		}
	}
	if allowed != 20 {
		t.Fatalf("at one instant %d of 100 admitted, want the burst of 20", allowed)
	}
	if l.Allow(epoch.Add(99 * time.Millisecond)) {
		t.Errorf("admitted 99 ms after the burst, want the next one only after 100 ms")
	}
	if !l.Allow(epoch.Add(100 * time.Millisecond)) {
		t.Errorf("not admitted 100 ms after the burst")
	}
	if got := l.Suppressed(); got != 81 {
		t.Errorf("Suppressed = %d, want 81", got)
	}
}

func TestRateLimiterSustainedRate(t *testing.T) {
	l := bunyan.NewRateLimiter(bunyan.New(io.Discard, zerolog.InfoLevel), zerolog.InfoLevel, "k",
		bunyan.Rate{Every: 100 * time.Millisecond, Burst: 20, SummaryEvery: time.Second})
	// 1000 attempts a second for 10 s: the burst, then 10 a second.
	allowed, attempts := 0, 0
	for ms := 0; ms < 10000; ms++ {
		attempts++
		if l.Allow(epoch.Add(time.Duration(ms) * time.Millisecond)) {
			allowed++
		}
	}
	if lo, hi := 20+99, 20+100; allowed < lo || allowed > hi {
		t.Errorf("admitted %d in 10 s, want %d..%d (burst 20 + 10/s)", allowed, lo, hi)
	}
	if got := l.Suppressed(); got != uint64(attempts-allowed) {
		t.Errorf("Suppressed = %d, want %d", got, attempts-allowed)
	}
}

func TestRateLimiterSummaries(t *testing.T) {
	var buf bunyantest.Buffer
	l := bunyan.NewRateLimiter(bunyan.New(&buf, zerolog.InfoLevel), zerolog.WarnLevel, "oversized UDP packet",
		bunyan.Rate{Every: 100 * time.Millisecond, Burst: 5, SummaryEvery: time.Second})
	// A flood of 100 a second for 5 s, then silence.
	allowed := 0
	for ms := 0; ms < 5000; ms += 10 {
		if l.Allow(epoch.Add(time.Duration(ms) * time.Millisecond)) {
			allowed++
		}
	}
	before := len(summaries(t, &buf))
	if before < 4 || before > 5 {
		t.Errorf("%d summaries during a 5 s flood, want one a second (4 or 5)", before)
	}
	l.Flush(epoch.Add(7 * time.Second))
	sums := summaries(t, &buf)
	if len(sums) != before+1 {
		t.Fatalf("Flush after the flood: %d summaries, want %d (the tail)", len(sums), before+1)
	}
	var total float64
	for i, s := range sums {
		if s.Str("suppressed_msg") != "oversized UDP packet" {
			t.Errorf("summary %d suppressed_msg = %q", i, s.Str("suppressed_msg"))
		}
		if s.Num("level") != 40 {
			t.Errorf("summary %d at level %v, want the kind's 40", i, s.Num("level"))
		}
		if n := s.Num("suppressed"); n <= 0 {
			t.Errorf("summary %d suppressed = %v, want > 0", i, n)
		} else {
			total += n
		}
		if i < len(sums)-1 && s.Num("period_ms") < 1000 {
			t.Errorf("summary %d period_ms = %v, want >= 1000", i, s.Num("period_ms"))
		}
	}
	if want := float64(500 - allowed); total != want || uint64(total) != l.Suppressed() {
		t.Errorf("summaries count %v suppressed, want %v (Suppressed %d)", total, want, l.Suppressed())
	}
	l.Flush(epoch.Add(time.Minute))
	if got := len(summaries(t, &buf)); got != len(sums) {
		t.Errorf("a Flush with nothing suppressed wrote a summary (%d, was %d)", got, len(sums))
	}
}

func TestRateLimiterNoSummaryWithinRate(t *testing.T) {
	var buf bunyantest.Buffer
	l := bunyan.NewRateLimiter(bunyan.New(&buf, zerolog.InfoLevel), zerolog.InfoLevel, "k", bunyan.DefaultRate)
	for ms := 0; ms < 60000; ms += 100 { // exactly the rate
		if !l.Allow(epoch.Add(time.Duration(ms) * time.Millisecond)) {
			t.Fatalf("suppressed at %d ms within the rate", ms)
		}
		l.Flush(epoch.Add(time.Duration(ms) * time.Millisecond))
	}
	if n := len(buf.Records(t)); n != 0 {
		t.Errorf("%d records written within the rate, want none", n)
	}
}

func TestRateLimiterLevelOff(t *testing.T) {
	var buf bunyantest.Buffer
	l := bunyan.NewRateLimiter(bunyan.New(&buf, zerolog.WarnLevel), zerolog.InfoLevel, "k",
		bunyan.Rate{Every: time.Second, Burst: 1, SummaryEvery: time.Second})
	for s := 0; s < 10; s++ {
		if l.Allow(epoch.Add(time.Duration(s) * 100 * time.Millisecond)) {
			t.Errorf("admitted an info record with the logger at warn")
		}
	}
	l.Flush(epoch.Add(time.Hour))
	if n := len(buf.Records(t)); n != 0 {
		t.Errorf("%d records at info with the logger at warn, want none", n)
	}
	if l.Suppressed() != 0 {
		t.Errorf("Suppressed = %d with the level off, want 0 (nothing would have been written)", l.Suppressed())
	}
	// The global level (the run-time level) counts the same way.
	on := bunyan.NewRateLimiter(bunyan.New(&buf, zerolog.TraceLevel), zerolog.InfoLevel, "k", bunyan.DefaultRate)
	prev := zerolog.GlobalLevel()
	zerolog.SetGlobalLevel(zerolog.ErrorLevel)
	allowed := on.Allow(epoch)
	zerolog.SetGlobalLevel(prev)
	if allowed || on.Suppressed() != 0 {
		t.Errorf("global level error: Allow %v, Suppressed %d; want false, 0", allowed, on.Suppressed())
	}
	if !on.Allow(epoch) {
		t.Errorf("global level back: not admitted")
	}
}

func TestRateLimiterClockStepsBack(t *testing.T) {
	l := bunyan.NewRateLimiter(bunyan.New(io.Discard, zerolog.InfoLevel), zerolog.InfoLevel, "k",
		bunyan.Rate{Every: 100 * time.Millisecond, Burst: 3, SummaryEvery: time.Second})
	later := epoch.Add(time.Hour)
	n := 0
	for i := 0; i < 10; i++ {
		if l.Allow(later) {
			n++
		}
	}
	for i := 0; i < 10; i++ {
		if l.Allow(epoch) {
			n++
		}
	}
	if n != 3 {
		t.Errorf("admitted %d with the clock stepping back an hour, want the burst of 3", n)
	}
}

func TestRateLimiterDoesNotAllocate(t *testing.T) {
	l := bunyan.NewRateLimiter(bunyan.New(io.Discard, zerolog.InfoLevel), zerolog.InfoLevel, "k",
		bunyan.Rate{Every: 100 * time.Millisecond, Burst: 1, SummaryEvery: time.Second})
	now := epoch
	l.Allow(now)
	if n := testing.AllocsPerRun(1000, func() {
		if l.Allow(now) {
			t.Fatal("admitted while suppressing")
		}
	}); n != 0 {
		t.Errorf("suppressing: %v allocations per call, want 0", n)
	}
	if raceEnabled {
		return // under -race sync.Pool drops zerolog's pooled events on purpose
	}
	// Each run: a second later, one admitted record (after the summary of
	// the previous run's suppression), then one suppressed.
	if n := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Second)
		if !l.Allow(now) || l.Allow(now) {
			t.Fatal("want one admitted, then one suppressed")
		}
	}); n != 0 {
		t.Errorf("admitting and writing a summary: %v allocations per run, want 0", n)
	}
}

// Limits.Flush writes the due summary of every limiter in the group, and
// only the due ones.
func TestLimitsFlushesEveryMember(t *testing.T) {
	var buf bunyantest.Buffer
	log := bunyan.New(&buf, zerolog.InfoLevel)
	var g bunyan.Limits
	one := bunyan.Rate{Every: time.Second, Burst: 1, SummaryEvery: time.Second}
	a := g.New(log, zerolog.InfoLevel, "a", one)
	b := g.New(log, zerolog.WarnLevel, "b", one)
	c := g.New(log, zerolog.InfoLevel, "c", bunyan.Rate{Every: time.Second, Burst: 1, SummaryEvery: 10 * time.Second})
	for _, l := range []*bunyan.RateLimiter{a, b, c} {
		l.Allow(epoch)
		l.Allow(epoch)
	}
	g.Flush(epoch.Add(time.Second))
	got := map[string]float64{}
	for _, r := range summaries(t, &buf) {
		got[r.Str("suppressed_msg")] = r.Num("suppressed")
	}
	if len(got) != 2 || got["a"] != 1 || got["b"] != 1 {
		t.Errorf("summaries after one Flush %v, want a and b with 1 each (c's period is not over)", got)
	}
}
