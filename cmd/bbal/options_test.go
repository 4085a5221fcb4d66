/*
 * Tests of bbal's command line (options.go, main.go).
 *
 * TestParseOptions is a table of invocations and what parseOptions must
 * make of them: the defaults, each option given separately ("-p 53") and
 * joined ("-p53"), options in any order, "--", LOG_LEVEL overriding -l, the
 * --demo defaults, and every kind of mistake, each of which must be one
 * line naming the problem.
 *
 * TestUsageErrorsExit runs the real main() in a child process (this test
 * binary re-executed with bbalRunMainEnv set, see TestMain) for a few bad
 * invocations and checks what an operator or SMF sees: exit status 1, the
 * error line and the usage line on stderr and nothing else, nothing on
 * stdout. "Nothing bound" is checked by holding the port the bad
 * invocation names: a bbal that bound its sockets before validating would
 * fail to bind and log a fatal record on stdout. A control case with valid
 * options shows that this detection works.
 */

package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/joyent/mname-balancer/mdb/view"
	"github.com/joyent/mname-balancer/remote"
	"github.com/joyent/mname-balancer/version"
)

// bbalRunMainEnv makes the test binary run main() instead of the tests.
const bbalRunMainEnv = "BBAL_OPTIONS_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(bbalRunMainEnv) == "1" {
		os.Args = append([]string{"bbal"}, os.Args[1:]...)
		main()
		os.Exit(0) // main returns only through os.Exit; be safe
	}
	os.Exit(m.Run())
}

func TestParseOptions(t *testing.T) {
	ip := netip.MustParseAddr
	any4 := netip.IPv4Unspecified()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    options
		wantErr string // substring of the error; "" means success
	}{
		{name: "defaults", args: []string{"-s", "/sock"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.InfoLevel}},
		{name: "all separate", args: []string{"-b", "10.1.2.3", "-p", "5353", "-s", "/sock", "-l", "debug"},
			want: options{addr: ip("10.1.2.3"), port: 5353, dir: "/sock", level: zerolog.DebugLevel}},
		{name: "all joined", args: []string{"-b10.1.2.3", "-p5353", "-s/sock", "-ltrace"},
			want: options{addr: ip("10.1.2.3"), port: 5353, dir: "/sock", level: zerolog.TraceLevel}},
		{name: "other order", args: []string{"-l", "warn", "-s", "/sock", "-p", "1", "-b", "127.0.0.1"},
			want: options{addr: ip("127.0.0.1"), port: 1, dir: "/sock", level: zerolog.WarnLevel}},
		{name: "mixed joined and separate", args: []string{"-p65535", "-s", "/sock", "-lerror"},
			want: options{addr: any4, port: 65535, dir: "/sock", level: zerolog.ErrorLevel}},
		{name: "last of a repeated option wins", args: []string{"-p", "1", "-s", "/a", "-p", "2", "-s", "/b"},
			want: options{addr: any4, port: 2, dir: "/b", level: zerolog.InfoLevel}},
		{name: "level in capitals", args: []string{"-s", "/sock", "-l", "FATAL"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.FatalLevel}},
		{name: "value that looks like an option", args: []string{"-s", "-p"},
			want: options{addr: any4, port: 53, dir: "-p", level: zerolog.InfoLevel}},
		{name: "double dash ends options", args: []string{"-s", "/sock", "--"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.InfoLevel}},
		{name: "operand after double dash", args: []string{"-s", "/sock", "--", "-p", "5"},
			wantErr: `unexpected argument "-p"`},
		{name: "LOG_LEVEL overrides -l", args: []string{"-s", "/sock", "-l", "error"},
			env:  map[string]string{"LOG_LEVEL": "debug"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.DebugLevel}},
		{name: "LOG_LEVEL without -l", args: []string{"-s", "/sock"},
			env:  map[string]string{"LOG_LEVEL": "trace"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.TraceLevel}},
		{name: "bad LOG_LEVEL", args: []string{"-s", "/sock", "-l", "info"},
			env: map[string]string{"LOG_LEVEL": "verbose"}, wantErr: "LOG_LEVEL"},
		{name: "bad -l is an error even with LOG_LEVEL set", args: []string{"-s", "/sock", "-l", "verbose"},
			env: map[string]string{"LOG_LEVEL": "debug"}, wantErr: "-l"},
		{name: "missing -s", args: []string{"-p", "53"}, wantErr: "-s SOCKET_DIR is required"},
		{name: "no arguments", args: nil, wantErr: "-s SOCKET_DIR is required"},
		{name: "empty -s", args: []string{"-s", ""}, wantErr: "-s SOCKET_DIR is required"},
		{name: "unknown option", args: []string{"-s", "/sock", "-x", "1"}, wantErr: "unknown option -x"},
		{name: "unknown long option", args: []string{"-s", "/sock", "--verbose"}, wantErr: `unknown option "--verbose"`},
		{name: "-s without value", args: []string{"-s"}, wantErr: "option -s needs a value"},
		{name: "-p without value", args: []string{"-s", "/sock", "-p"}, wantErr: "option -p needs a value"},
		{name: "-b without value", args: []string{"-s", "/sock", "-b"}, wantErr: "option -b needs a value"},
		{name: "-l without value", args: []string{"-s", "/sock", "-l"}, wantErr: "option -l needs a value"},
		{name: "bad level", args: []string{"-s", "/sock", "-l", "verbose"}, wantErr: `unknown log level "verbose"`},
		{name: "numeric level", args: []string{"-s", "/sock", "-l", "30"}, wantErr: "unknown log level"},
		{name: "hostname address", args: []string{"-s", "/sock", "-b", "localhost"}, wantErr: `-b "localhost" is not an IPv4 address`},
		{name: "IPv6 address", args: []string{"-s", "/sock", "-b", "::1"}, wantErr: `-b "::1" is not an IPv4 address`},
		{name: "IPv4-mapped IPv6 address", args: []string{"-s", "/sock", "-b", "::ffff:10.0.0.1"}, wantErr: "is not an IPv4 address"},
		{name: "octet out of range", args: []string{"-s", "/sock", "-b", "256.1.1.1"}, wantErr: `-b "256.1.1.1" is not an IPv4 address`},
		{name: "short address", args: []string{"-s", "/sock", "-b", "10.1.2"}, wantErr: "is not an IPv4 address"},
		{name: "port 0", args: []string{"-s", "/sock", "-p", "0"}, wantErr: `-p "0" is not a port number`},
		{name: "port 65536", args: []string{"-s", "/sock", "-p", "65536"}, wantErr: `-p "65536" is not a port number`},
		{name: "port abc", args: []string{"-s", "/sock", "-pabc"}, wantErr: `-p "abc" is not a port number`},
		{name: "negative port", args: []string{"-s", "/sock", "-p", "-1"}, wantErr: "is not a port number"},
		{name: "extra operand", args: []string{"-s", "/sock", "extra"}, wantErr: `unexpected argument "extra"`},
		{name: "operand before options", args: []string{"extra", "-s", "/sock"}, wantErr: `unexpected argument "extra"`},
		{name: "lone dash is an operand", args: []string{"-s", "/sock", "-"}, wantErr: `unexpected argument "-"`},
		{name: "demo defaults", args: []string{"--demo"},
			want: options{addr: ip("127.0.0.1"), port: 5353, level: zerolog.InfoLevel, demo: true}},
		{name: "demo with address and port", args: []string{"-b", "127.0.0.2", "--demo", "-p", "5454", "-l", "debug"},
			want: options{addr: ip("127.0.0.2"), port: 5454, level: zerolog.DebugLevel, demo: true}},
		{name: "demo with explicit 0.0.0.0", args: []string{"--demo", "-b", "0.0.0.0"},
			want: options{addr: any4, port: 5353, level: zerolog.InfoLevel, demo: true}},
		{name: "demo with -s", args: []string{"--demo", "-s", "/sock"}, wantErr: "--demo makes its own socket directory"},
		{name: "control socket and metrics", args: []string{"-s", "/sock", "-c", "/run/ctl", "-m127.0.0.1:9153"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.InfoLevel, control: "/run/ctl",
				metrics: netip.MustParseAddrPort("127.0.0.1:9153")}},
		{name: "control socket in the socket directory", args: []string{"-s", "/sock", "-c", "/sock/control"},
			wantErr: "-c: control socket /sock/control is inside the backend socket directory /sock"},
		{name: "control socket in the socket directory, relative", args: []string{"-s", "/sock/", "-c", "/sock/x/../ctl"},
			wantErr: "inside the backend socket directory"},
		{name: "default control socket in the socket directory", args: []string{"-s", "/tmp", "-p", "5300"},
			wantErr: fmt.Sprintf("the default control socket: control socket /tmp/bbal-%d/control.5300 is inside the backend socket directory /tmp", os.Geteuid())},
		{name: "-m without port", args: []string{"-s", "/sock", "-m", "127.0.0.1"}, wantErr: `-m "127.0.0.1" is not IP:PORT`},
		{name: "-m port 0", args: []string{"-s", "/sock", "-m", "127.0.0.1:0"}, wantErr: `-m "127.0.0.1:0" is not IP:PORT`},
		{name: "cap on remotes", args: []string{"-s", "/sock", "-r", "5000"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.InfoLevel, remotes: 5000}},
		{name: "cap on remotes joined", args: []string{"-r1", "-s", "/sock"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.InfoLevel, remotes: 1}},
		{name: "-r 0", args: []string{"-s", "/sock", "-r", "0"}, wantErr: `-r "0" is not a number of remotes`},
		{name: "-r negative", args: []string{"-s", "/sock", "-r", "-5"}, wantErr: `-r "-5" is not a number of remotes`},
		{name: "-r too large", args: []string{"-s", "/sock", "-r", "2147483648"}, wantErr: `is not a number of remotes (1-2147483647)`},
		{name: "TCP limits", args: []string{"--tcp-max", "100", "-s", "/sock", "--tcp-max-per-client=7"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.InfoLevel, tcpMax: 100, tcpMaxPerClient: 7}},
		{name: "TCP limit joined", args: []string{"-s", "/sock", "--tcp-max=5"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.InfoLevel, tcpMax: 5}},
		{name: "TCP limit zero", args: []string{"-s", "/sock", "--tcp-max", "0"}, wantErr: `--tcp-max "0" is not a positive number`},
		{name: "TCP limit at the event port's", args: []string{"-s", "/sock", "--tcp-max=32000"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.InfoLevel, tcpMax: 32000}},
		{name: "TCP limit above the event port's", args: []string{"-s", "/sock", "--tcp-max=32001"},
			wantErr: "--tcp-max 32001 is above 32000, the most the event port's associations allow"},
		{name: "TCP limit not a number", args: []string{"-s", "/sock", "--tcp-max-per-client=x"},
			wantErr: `--tcp-max-per-client "x" is not a positive number`},
		{name: "TCP limit without value", args: []string{"-s", "/sock", "--tcp-max"}, wantErr: "option --tcp-max needs a value"},
		{name: "TCP limit misspelt", args: []string{"-s", "/sock", "--tcp-maximum=3"}, wantErr: `unknown option "--tcp-maximum=3"`},
		{name: "UDP client rate", args: []string{"-s", "/sock", "--udp-client-rate", "500"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.InfoLevel, udpClientRate: 500}},
		{name: "UDP client rate off", args: []string{"--udp-client-rate", "0", "-s", "/sock"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.InfoLevel, udpClientRate: -1}},
		{name: "UDP client rate off joined", args: []string{"-s", "/sock", "--udp-client-rate=0"},
			want: options{addr: any4, port: 53, dir: "/sock", level: zerolog.InfoLevel, udpClientRate: -1}},
		{name: "UDP client rate negative", args: []string{"-s", "/sock", "--udp-client-rate=-3"},
			wantErr: `--udp-client-rate "-3" is not a positive number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			got, err := parseOptions(tc.args, getenv)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("parseOptions(%q) = %+v, want an error containing %q", tc.args, got, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("parseOptions(%q) error %q, want it to contain %q", tc.args, err, tc.wantErr)
				}
				if strings.ContainsAny(err.Error(), "\r\n") {
					t.Errorf("error %q is not a single line", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseOptions(%q): %v", tc.args, err)
			}
			if tc.want.control == "" && !tc.want.demo {
				tc.want.control, tc.want.controlDefault = view.DefaultControlPath(os.Geteuid(), tc.want.port), true
			}
			if tc.want.remotes == 0 {
				tc.want.remotes = remote.DefaultMaxRemotes
			}
			switch tc.want.udpClientRate {
			case 0:
				tc.want.udpClientRate = remote.DefaultClientRate
			case -1: // off
				tc.want.udpClientRate = 0
			}
			if got != tc.want {
				t.Errorf("parseOptions(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}

// TestParseOptionsReadsOnlyLogLevel checks that the environment is consulted
// for LOG_LEVEL and nothing else.
func TestParseOptionsReadsOnlyLogLevel(t *testing.T) {
	var asked []string
	getenv := func(k string) string { asked = append(asked, k); return "" }
	if _, err := parseOptions([]string{"-s", "/sock"}, getenv); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 || asked[0] != "LOG_LEVEL" {
		t.Errorf("parseOptions looked up %q in the environment, want only LOG_LEVEL", asked)
	}
}

// holdPort binds UDP and TCP on 127.0.0.1 at one free port, without
// SO_REUSEADDR on the UDP side, so that bbal cannot bind the same port.
func holdPort(t *testing.T) int {
	t.Helper()
	for range 20 {
		udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			udp.Close()
			continue
		}
		t.Cleanup(func() { udp.Close(); tcp.Close() })
		return port
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

// runBbal runs main() in a child process with args and env added.
func runBbal(t *testing.T, env []string, args ...string) (status int, stdout, stderr string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), bbalRunMainEnv+"=1", "LOG_LEVEL=")
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		status = 0
	case errors.As(err, &exit):
		status = exit.ExitCode()
	default:
		t.Fatalf("running bbal %q: %v", args, err)
	}
	return status, out.String(), errb.String()
}

func TestUsageErrorsExit(t *testing.T) {
	port := strconv.Itoa(holdPort(t))
	dir := t.TempDir()
	tests := []struct {
		name    string
		env     []string
		args    []string
		wantErr string
	}{
		{"missing -s", nil, []string{"-b", "127.0.0.1", "-p", port}, "-s SOCKET_DIR is required"},
		{"bad port", nil, []string{"-b", "127.0.0.1", "-s", dir, "-p", "65536"}, `-p "65536" is not a port number`},
		{"bad LOG_LEVEL", []string{"LOG_LEVEL=loud"}, []string{"-b", "127.0.0.1", "-p", port, "-s", dir}, "LOG_LEVEL"},
		{"extra operand", nil, []string{"-b", "127.0.0.1", "-p", port, "-s", dir, "now"}, `unexpected argument "now"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, stdout, stderr := runBbal(t, tc.env, tc.args...)
			if status != 1 {
				t.Errorf("exit status %d, want 1", status)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing (no log record, nothing bound)", stdout)
			}
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasSuffix(stderr, "\n") {
				t.Fatalf("stderr %q, want exactly one line", stderr)
			}
			if !strings.HasPrefix(lines[0], "bbal: ") || !strings.Contains(lines[0], tc.wantErr) ||
				!strings.HasSuffix(lines[0], "("+usage+")") {
				t.Errorf("error line %q, want \"bbal: ...%s... (%s)\"", lines[0], tc.wantErr, usage)
			}
		})
	}

	// Control: valid options on the held port get as far as binding, fail,
	// and say so on stdout (and in one line on stderr, not the usage). This is what the cases above would show if
	// they bound anything before rejecting their options.
	t.Run("valid options reach bind", func(t *testing.T) {
		status, stdout, stderr := runBbal(t, nil, "-b", "127.0.0.1", "-p", port, "-s", dir)
		if status != 1 {
			t.Errorf("exit status %d, want 1 (port %s is held by the test)", status, port)
		}
		if !strings.Contains(stdout, msgTCPListen) || !strings.Contains(stdout, `"level":60`) {
			t.Errorf("stdout %q, want a fatal record about the TCP listener", stdout)
		}
		if !strings.HasPrefix(stderr, "bbal: "+msgTCPListen) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("stderr %q, want the failure in one line", stderr)
		}
	})
}

// -h and --help print the help, which describes every option, and -V and
// --version the version; each exits 0 at once, whatever else is given.
func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-s", "/sock", "-h", "-p", "0"}} {
		status, stdout, stderr := runBbal(t, nil, args...)
		if status != 0 || stdout != help || stderr != "" {
			t.Errorf("bbal %q: exit %d, stdout %q, stderr %q; want 0 and the help on stdout", args, status, stdout, stderr)
		}
	}
	for _, letter := range optionLetters {
		if !strings.Contains(help, "\n  -"+string(letter)+" ") {
			t.Errorf("the help does not describe -%c", letter)
		}
	}
	for _, long := range []string{"--tcp-max N", "--tcp-max-per-client N", "--udp-client-rate N", "--demo", "-V, --version", "-h, --help"} {
		if !strings.Contains(help, "\n  "+long) {
			t.Errorf("the help does not describe %s", long)
		}
	}
	for _, sig := range handledSignals {
		if name := unix.SignalName(sig); !strings.Contains(help, name) {
			t.Errorf("the help does not say what %s does", name)
		}
	}
	for _, args := range [][]string{{"-V"}, {"--version"}} {
		status, stdout, stderr := runBbal(t, nil, args...)
		want := "bbal " + version.String() + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
		if status != 0 || stdout != want || stderr != "" {
			t.Errorf("bbal %q: exit %d, stdout %q, stderr %q; want 0 and %q", args, status, stdout, stderr, want)
		}
	}
}
