/*
Tests of the record format: the eight core fields with their JSON types on
every level, on child loggers and on zerolog's extra levels; the minimum
level; the empty message; and serialized writes from several goroutines.
*/

package bunyan_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/rs/zerolog"
)

var timeFormat = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

// checkCore asserts the eight core fields of rec, with the wanted level and
// message, and that its time lies within [before, after].
func checkCore(t *testing.T, rec record, level int64, msg string, before, after time.Time) {
	t.Helper()
	if _, ok := rec["v"]; !ok {
		t.Errorf("no v in %v", rec)
	} else if v := rec.num(t, "v"); v != 0 {
		t.Errorf("v = %d, want 0", v)
	}
	if got := rec.num(t, "level"); got != level {
		t.Errorf("level = %d, want %d (record %v)", got, level, rec)
	}
	if got := rec.str(t, "name"); got != "mname-balancer" {
		t.Errorf("name = %q, want mname-balancer", got)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatalf("os.Hostname: %v", err)
	}
	if got := rec.str(t, "hostname"); got != host {
		t.Errorf("hostname = %q, want %q", got, host)
	}
	if got := rec.num(t, "pid"); got != int64(os.Getpid()) {
		t.Errorf("pid = %d, want %d", got, os.Getpid())
	}
	if got := rec.num(t, "tid"); got <= 0 {
		t.Errorf("tid = %d, want a thread ID", got)
	}
	stamp := rec.str(t, "time")
	if !timeFormat.MatchString(stamp) {
		t.Errorf("time = %q, want ISO 8601 UTC with 3 fractional digits", stamp)
	}
	when, err := time.Parse(time.RFC3339Nano, stamp)
	if err != nil {
		t.Errorf("time %q does not parse: %v", stamp, err)
	} else {
		if when.Location() != time.UTC {
			t.Errorf("time %q is not UTC", stamp)
		}
		if when.Before(before.Truncate(time.Millisecond)) || when.After(after) {
			t.Errorf("time %s outside [%s, %s]", when, before.UTC(), after.UTC())
		}
	}
	if got := rec.str(t, "msg"); got != msg {
		t.Errorf("msg = %q, want %q", got, msg)
	}
}

// checkKeys asserts that rec holds exactly the core keys plus extra.
func checkKeys(t *testing.T, rec record, extra ...string) {
	t.Helper()
	want := append([]string{"v", "level", "name", "hostname", "pid", "tid", "time", "msg"}, extra...)
	var got []string
	for k := range rec {
		got = append(got, k)
	}
	sort.Strings(want)
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("keys = %v, want %v", got, want)
	}
}

func TestEveryLevelCarriesCoreFields(t *testing.T) {
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.TraceLevel)
	before := time.Now()
	log.Trace().Msg("at trace")
	log.Debug().Msg("at debug")
	log.Info().Msg("at info")
	log.Warn().Msg("at warn")
	log.Error().Msg("at error")
	log.WithLevel(zerolog.FatalLevel).Msg("at fatal")
	after := time.Now()

	recs := decodeRecords(t, out.Bytes())
	want := []struct {
		level int64
		msg   string
	}{{10, "at trace"}, {20, "at debug"}, {30, "at info"}, {40, "at warn"}, {50, "at error"}, {60, "at fatal"}}
	if len(recs) != len(want) {
		t.Fatalf("got %d records, want %d:\n%s", len(recs), len(want), out.Bytes())
	}
	for i, w := range want {
		checkCore(t, recs[i], w.level, w.msg, before, after)
		checkKeys(t, recs[i])
	}
}

func TestRecordFieldsAndTypes(t *testing.T) {
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.InfoLevel)
	before := time.Now()
	log.Info().Uint32("port", 53).Str("addr", "0.0.0.0").Bool("ok", true).
		Err(errors.New("plain")).Msg("listening for UDP packets")
	after := time.Now()

	recs := decodeRecords(t, out.Bytes())
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1:\n%s", len(recs), out.Bytes())
	}
	r := recs[0]
	checkCore(t, r, 30, "listening for UDP packets", before, after)
	checkKeys(t, r, "port", "addr", "ok", "err")
	if r.num(t, "port") != 53 || r.str(t, "addr") != "0.0.0.0" || r["ok"] != true || r.str(t, "err") != "plain" {
		t.Errorf("record fields wrong: %v", r)
	}
}

func TestMinimumLevel(t *testing.T) {
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.WarnLevel)
	log.Trace().Msg("no")
	log.Debug().Msg("no")
	log.Info().Msg("no")
	log.Warn().Msg("yes warn")
	log.Error().Msg("yes error")
	child := log.With().Str("k", "v").Logger()
	child.Info().Msg("no")
	child.Warn().Msg("yes child")

	var got []string
	for _, r := range decodeRecords(t, out.Bytes()) {
		got = append(got, r.str(t, "msg"))
	}
	if want := "[yes warn yes error yes child]"; fmt.Sprint(got) != want {
		t.Errorf("messages = %v, want %s", got, want)
	}
}

func TestEmptyMessageIsPresent(t *testing.T) {
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.InfoLevel)
	before := time.Now()
	log.Info().Str("k", "v").Msg("")
	log.Warn().Send()
	log.Error().Msgf("%s", "")
	after := time.Now()

	recs := decodeRecords(t, out.Bytes())
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3:\n%s", len(recs), out.Bytes())
	}
	checkCore(t, recs[0], 30, "", before, after)
	checkKeys(t, recs[0], "k")
	checkCore(t, recs[1], 40, "", before, after)
	checkKeys(t, recs[1])
	checkCore(t, recs[2], 50, "", before, after)
	checkKeys(t, recs[2])
}

func TestChildLoggersKeepCoreFields(t *testing.T) {
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.InfoLevel)
	be := log.With().Uint32("be_id", 5301).Str("be_path", "/var/run/binder/sockets/5301").Logger()
	proxy := be.With().Uint32("backend", 5301).Uint64("conn_id", 7).
		Str("remote_ip", bunyan.IPv4String(0x0A4D4D05)).Uint32("remote_port", 40000).Logger()
	verbose := be.Level(zerolog.DebugLevel)

	before := time.Now()
	log.Info().Msg("root")
	be.Info().Msg("new backend")
	proxy.Warn().Int("n", 3).Msg("proxy")
	verbose.Debug().Msg("child debug")
	be.Debug().Msg("not shown: be is still at info")
	after := time.Now()

	recs := decodeRecords(t, out.Bytes())
	if len(recs) != 4 {
		t.Fatalf("got %d records, want 4:\n%s", len(recs), out.Bytes())
	}
	checkCore(t, recs[0], 30, "root", before, after)
	checkKeys(t, recs[0])

	checkCore(t, recs[1], 30, "new backend", before, after)
	checkKeys(t, recs[1], "be_id", "be_path")
	if recs[1].num(t, "be_id") != 5301 || recs[1].str(t, "be_path") != "/var/run/binder/sockets/5301" {
		t.Errorf("backend context wrong: %v", recs[1])
	}

	checkCore(t, recs[2], 40, "proxy", before, after)
	checkKeys(t, recs[2], "be_id", "be_path", "backend", "conn_id", "remote_ip", "remote_port", "n")
	if recs[2].str(t, "remote_ip") != "10.77.77.5" || recs[2].num(t, "conn_id") != 7 ||
		recs[2].num(t, "remote_port") != 40000 || recs[2].num(t, "n") != 3 || recs[2].num(t, "be_id") != 5301 {
		t.Errorf("proxy context wrong: %v", recs[2])
	}

	checkCore(t, recs[3], 20, "child debug", before, after)
	checkKeys(t, recs[3], "be_id", "be_path")
}

// zerolog levels that bunyan lacks still produce valid bunyan records.
func TestZerologOnlyLevels(t *testing.T) {
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.TraceLevel)
	before := time.Now()
	log.WithLevel(zerolog.PanicLevel).Msg("panic level")
	log.Log().Msg("no level")
	fmt.Fprintln(log, "via Write") // io.Writer adapter, used by the standard log package
	after := time.Now()

	recs := decodeRecords(t, out.Bytes())
	if len(recs) != 3 {
		t.Fatalf("got %d records, want 3:\n%s", len(recs), out.Bytes())
	}
	checkCore(t, recs[0], 60, "panic level", before, after)
	checkCore(t, recs[1], 30, "no level", before, after)
	checkCore(t, recs[2], 30, "via Write", before, after)
	for _, r := range recs {
		checkKeys(t, r)
	}
}

// Writes from several goroutines, some sharing a child logger, reach a
// writer that is not safe for concurrent use one whole record at a time.
// (Under -race, unserialized writes to the bytes.Buffer would be reported.)
func TestConcurrentWritesAreWholeRecords(t *testing.T) {
	const writers, each = 4, 50
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.InfoLevel)
	shared := log.With().Str("shared", "yes").Logger()
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				shared.Info().Int("g", g).Int("i", i).Msg("concurrent")
			}
		}()
	}
	wg.Wait()

	recs := decodeRecords(t, out.Bytes())
	if len(recs) != writers*each {
		t.Fatalf("got %d records, want %d", len(recs), writers*each)
	}
	seen := map[[2]int64]bool{}
	for _, r := range recs {
		checkKeys(t, r, "shared", "g", "i")
		seen[[2]int64{r.num(t, "g"), r.num(t, "i")}] = true
	}
	if len(seen) != writers*each {
		t.Errorf("got %d distinct records, want %d", len(seen), writers*each)
	}
}
