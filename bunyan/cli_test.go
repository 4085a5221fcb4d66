/*
Tests against the real node-bunyan CLI (npm bunyan, pinned in
../test/package.json and installed by `cd test && npm ci`): records written
by this package must be accepted by `bunyan --strict`, which silently drops
any line that is not a valid bunyan record, must round-trip field for field
through `-o json-0`, must be filtered by bunyan's numeric `-l`, and must be
rendered with bunyan's own level names.

When the CLI (or node) is missing the tests skip with a message saying how to
install it, except when the environment variable CI is set: then they fail.
*/

package bunyan_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/rs/zerolog"
)

// bunyanCLI returns the path of the bunyan CLI, or skips (fails under CI)
// when it cannot be run.
func bunyanCLI(t *testing.T) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("..", "test", "node_modules", ".bin", "bunyan"))
	if err != nil {
		t.Fatalf("locating the bunyan CLI: %v", err)
	}
	var missing string
	if _, err := os.Stat(path); err != nil {
		missing = fmt.Sprintf("bunyan CLI not found (%v); install it with: cd test && npm ci", err)
	} else if _, err := exec.LookPath("node"); err != nil {
		missing = fmt.Sprintf("node not found on PATH (%v); the bunyan CLI at %s needs it", err, path)
	}
	if missing != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(missing)
		}
		t.Skip(missing + " (set CI to make this a failure)")
	}
	return path
}

// runCLI feeds input to the bunyan CLI with args and returns its stdout.
func runCLI(t *testing.T, cli string, input []byte, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli, args...)
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bunyan %s: %v\nstderr:\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.Bytes()
}

// lines splits newline-terminated output into lines.
func lines(out []byte) []string {
	s := strings.TrimSuffix(string(out), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// writeVariedRecords logs every level, child context, both helpers and
// awkward messages, and returns the number of records written.
func writeVariedRecords(t *testing.T, log zerolog.Logger) int {
	t.Helper()
	_, enoent := openMissing(t)
	be := log.With().Uint32("be_id", 5301).Str("be_path", "/var/run/binder/sockets/5301").Logger()
	remote := log.With().Str("remote_ip", bunyan.IPv4String(0x0A4D4D05)).Logger()
	proxy := be.With().Uint32("backend", 5301).Uint64("conn_id", 42).
		Str("remote_ip", bunyan.IPv4String(0xC0A80102)).Uint32("remote_port", 53000).Logger()

	log.Trace().Msg("at trace")
	log.Debug().Msg("at debug")
	log.Info().Str("addr", "0.0.0.0").Uint32("port", 53).Msg("starting up")
	log.Warn().Int("len", 1600).Msg("dropping oversized UDP packet")
	log.Error().Msg("at error")
	log.WithLevel(zerolog.FatalLevel).Msg("at fatal")
	be.Info().Msg("new backend")
	bunyan.Errno(be.Error(), enoent).Msg("backend socket removed")
	remote.Debug().Uint32("be_id", 5301).Msg("remote assigned to new primary backend")
	bunyan.IPv4(proxy.Trace(), "src", 0x7F000001).Uint32("len", 512).Msg("inbound TCP")
	log.Info().Msg("")
	log.Warn().Str("note", "send").Send()
	log.Info().Msg(`quotes " and 'single', back\slash, tab	and` + "\nnewline\r\nCRLF \x01 control")
	log.Info().Str("field", "naïve ☃ 日本語 🙂").Msg("unicode: naïve ☃ 日本語 🙂 \u2028 separator")
	return 14
}

func TestBunyanCLIAcceptsAndRoundTripsRecords(t *testing.T) {
	cli := bunyanCLI(t)
	var out bytes.Buffer
	n := writeVariedRecords(t, bunyan.New(&out, zerolog.TraceLevel))
	input := out.Bytes()
	in := lines(input)
	if len(in) != n {
		t.Fatalf("wrote %d records but %d lines:\n%s", n, len(in), input)
	}

	got := lines(runCLI(t, cli, input, "--strict", "-o", "json-0"))
	if len(got) != len(in) {
		t.Fatalf("bunyan --strict kept %d of %d lines; input:\n%s\noutput:\n%s",
			len(got), len(in), input, strings.Join(got, "\n"))
	}
	for i := range in {
		want := decodeRecord(t, in[i])
		have := decodeRecord(t, got[i])
		if !reflect.DeepEqual(have, want) {
			t.Errorf("record %d changed in the CLI:\n in: %s\nout: %s", i, in[i], got[i])
		}
	}
}

// The --strict check above is only meaningful if the CLI drops what is not
// a bunyan record: show that it does, next to records of ours.
func TestBunyanCLIStrictDropsNonRecords(t *testing.T) {
	cli := bunyanCLI(t)
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.InfoLevel)
	log.Info().Msg("first")
	out.WriteString("plain text\n")
	out.WriteString(`{"msg":"json but not bunyan","level":30}` + "\n")
	out.WriteString(`{"v":0,"level":30,"name":"x","hostname":"h","pid":1,"time":"2026-11-25T17:09:20.123Z"}` + "\n") // no msg
	log.Info().Msg("")

	got := lines(runCLI(t, cli, out.Bytes(), "--strict", "-o", "json-0"))
	if len(got) != 2 {
		t.Fatalf("bunyan --strict kept %d lines, want our 2 records:\n%s", len(got), strings.Join(got, "\n"))
	}
	if m := decodeRecord(t, got[0]).str(t, "msg"); m != "first" {
		t.Errorf("first kept record has msg %q", m)
	}
	if m := decodeRecord(t, got[1]).str(t, "msg"); m != "" {
		t.Errorf("second kept record has msg %q, want empty", m)
	}
}

func TestBunyanCLIFiltersByNumericLevel(t *testing.T) {
	cli := bunyanCLI(t)
	var out bytes.Buffer
	writeVariedRecords(t, bunyan.New(&out, zerolog.TraceLevel))
	input := out.Bytes()

	var want []string
	for _, line := range lines(input) {
		if r := decodeRecord(t, line); r.num(t, "level") >= 40 {
			want = append(want, r.str(t, "msg"))
		}
	}
	var got []string
	for _, line := range lines(runCLI(t, cli, input, "--strict", "-l", "warn", "-o", "json-0")) {
		got = append(got, decodeRecord(t, line).str(t, "msg"))
	}
	if len(want) < 4 || !reflect.DeepEqual(got, want) {
		t.Errorf("bunyan -l warn kept %q, want %q", got, want)
	}
}

var longFormat = regexp.MustCompile(`^\[(\S+)\] +(\w+): mname-balancer/(\d+) on (\S+): (.*)$`)

func TestBunyanCLIRendersLevelNames(t *testing.T) {
	cli := bunyanCLI(t)
	var out bytes.Buffer
	log := bunyan.New(&out, zerolog.TraceLevel)
	names := []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
	for i, name := range names {
		log.WithLevel(zerolog.TraceLevel + zerolog.Level(i)).Msg("at " + name)
	}
	input := out.Bytes()
	in := lines(input)

	got := lines(runCLI(t, cli, input, "--strict", "--no-color"))
	if len(got) != len(names) {
		t.Fatalf("bunyan printed %d lines, want %d:\n%s", len(got), len(names), strings.Join(got, "\n"))
	}
	host, _ := os.Hostname()
	for i, line := range got {
		m := longFormat.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %q does not look like bunyan's long format", line)
			continue
		}
		rec := decodeRecord(t, in[i])
		// tid is not one of node-bunyan's core fields: the CLI shows it
		// after the message, as it does for illumos-bunyan's records.
		msg := fmt.Sprintf("at %s (tid=%d)", names[i], rec.num(t, "tid"))
		if m[1] != rec.str(t, "time") || m[2] != names[i] || m[3] != fmt.Sprint(os.Getpid()) ||
			m[4] != host || m[5] != msg {
			t.Errorf("bunyan rendered %q from %s", line, in[i])
		}
	}
}
