/*
 * Command-line options of bbal, parsed as the C balancer's getopt(3C) did
 * ("b:p:s:l:"), so that every invocation that worked there works here:
 * "-p 53" and "-p53", options in any order, "--" ends the options, and any
 * operand left over is an error.
 *
 *	-b IP      IPv4 address for UDP and TCP        0.0.0.0
 *	-p PORT    port for UDP and TCP                53
 *	-s DIR     the backends' socket directory      required
 *	-l LEVEL   trace debug info warn error fatal   info
 *	-c PATH    the control socket (balstat)        /tmp/bbal-UID/control.PORT
 *	-m IP:PORT serve Prometheus metrics there      off
 *	-r N       at most N remotes (client addresses) 1048576 (under 256 MB)
 *
 * -c, -m and -r are ours (the C balancer had none of them). The control socket may
 * not be inside the socket directory (it would be taken for a backend).
 * Without -c it is view.DefaultControlPath for the effective user and the
 * port, in a directory the balancer makes itself (and checks, as a secure
 * temporary directory is checked): it must work under Binder's own
 * manifest, which gives only -s and runs the balancer as nobody, who may
 * not write /var/run. balstat without -c finds it the same way.
 * LOG_LEVEL in the environment overrides -l (a bad -l is an error all the
 * same: it is a mistake in the command line). One long option is ours alone:
 * --demo runs three demo backends in a temporary directory and defaults to
 * 127.0.0.1:5353, for trying the balancer with dig; without -c it makes its
 * own control socket in a temporary directory (named in its "control socket
 * listening" record).
 *
 * Two more long options bound the TCP path (issue 12), each taking a
 * positive number as "--opt N" or "--opt=N":
 *
 *	--tcp-max N             concurrent TCP connections; default
 *	                        min(4096, (open-file limit - reserve) / 2), at
 *	                        most proxy.MaxTCPConns (32,000)
 *	--tcp-max-per-client N  concurrent TCP connections from one client
 *	                        address; default 128
 *
 * and one the UDP path (issue 20):
 *
 *	--udp-client-rate N     UDP queries a second from one client address,
 *	                        in bursts of up to N; 0 for no cap; default
 *	                        remote.DefaultClientRate (2,000; the remote
 *	                        table's ratecap.go says why)
 *
 * Every mistake is one line naming the problem; main prints it to stderr
 * and exits 1 before anything is bound.
 */

package main

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/mdb"
	"github.com/joyent/mname-balancer/mdb/view"
	"github.com/joyent/mname-balancer/proxy"
	"github.com/joyent/mname-balancer/remote"
)

// optionLetters are the single-letter options that take a value (the C
// balancer's getopt string was "b:p:s:l:").
const optionLetters = "bpslcmr"

const usage = "usage: bbal [-b IP] [-p PORT] [-l LEVEL] [-c CONTROL_SOCKET] [-m IP:PORT] [-r MAX_REMOTES] [--tcp-max N] [--tcp-max-per-client N] [--udp-client-rate N] -s SOCKET_DIR | bbal --demo [-b IP] [-p PORT] [-l LEVEL] [-c CONTROL_SOCKET] [-m IP:PORT] [-r MAX_REMOTES] [--tcp-max N] [--tcp-max-per-client N] [--udp-client-rate N]"

// help is what -h and --help print: every option, described.
const help = `usage: bbal [options] -s SOCKET_DIR
       bbal --demo [options]
       bbal -V | --version
       bbal -h | --help

bbal is the DNS load balancer in front of Binder's node-mname backends: it
answers DNS over UDP and TCP on one address and port and hands each query to
a backend through the backend's AF_UNIX socket, keeping each client on one
backend.

  -s SOCKET_DIR  the backends' socket directory, one socket per backend named
                 by its ID (required, except with --demo)
  -b IP          IPv4 address to serve DNS on, UDP and TCP (default 0.0.0.0)
  -p PORT        port to serve DNS on (default 53; a port under 1024 needs the
                 net_privaddr privilege, or root)
  -l LEVEL       log level: trace, debug, info, warn, error or fatal (default
                 info; LOG_LEVEL in the environment overrides it)
  -c PATH        control socket, which balstat reads (default
                 /tmp/bbal-UID/control.PORT, in a directory bbal makes; balstat
                 finds it without -c); never inside SOCKET_DIR
  -m IP:PORT     serve Prometheus metrics on http://IP:PORT/metrics (default
                 off; Binder's convention is 0.0.0.0 and the DNS port + 1000)
  -r N           track at most N remotes, client addresses (default 1048576)
  --tcp-max N    at most N TCP connections at once (default the smaller of
                 4096 and half the open-file limit left after a reserve)
  --tcp-max-per-client N
                 at most N TCP connections at once from one client address
                 (default 128)
  --udp-client-rate N
                 at most N UDP queries a second from one client address,
                 in bursts of up to N; 0 for no cap (default 2000)
  --demo         run three demo backends in a temporary directory and serve
                 127.0.0.1:5353 (unless -b or -p say otherwise), to try with dig
  -V, --version  print the version and exit
  -h, --help     print this help and exit

Logs are bunyan JSON records on stdout. SIGTERM or SIGINT shuts down as a
lame duck (a second one exits at once); SIGHUP rescans the socket directory;
SIGUSR2 hands the sockets and the client table over to a new bbal started
from the same path, then exits. Exit status: 0 after a clean shutdown or
-h/-V, 1 for a usage error (one line on stderr) or a failure at start-up
(one line on stderr, a fatal record on stdout) or run time.
`

type options struct {
	addr  netip.Addr
	port  uint16
	dir   string
	level zerolog.Level
	demo  bool

	help, version bool // -h/--help, -V/--version: print, exit 0, nothing else

	control                 string         // control socket path
	controlDefault          bool           // control is the default: make its directory
	metrics                 netip.AddrPort // Prometheus endpoint; invalid: off
	remotes                 int            // cap on the remote table
	tcpMax, tcpMaxPerClient int            // 0: the default (proxy.DefaultTCPConfig)
	udpClientRate           int            // per-client UDP query cap a second; 0: none
}

// parseOptions parses args (without the program name); getenv supplies
// LOG_LEVEL.
func parseOptions(args []string, getenv func(string) string) (options, error) {
	opts := options{addr: netip.IPv4Unspecified(), port: 53, level: zerolog.InfoLevel, remotes: remote.DefaultMaxRemotes, udpClientRate: remote.DefaultClientRate}
	portSet := false
	controlSet := false
	addrSet := false
	var levelName string
	var operands []string
	var err error
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "-h" || arg == "--help":
			return options{help: true}, nil
		case arg == "-V" || arg == "--version":
			return options{version: true}, nil
		case arg == "--":
			operands = args[i+1:]
		case arg == "--demo":
			opts.demo = true
			continue
		case longName(arg) == "--tcp-max":
			if opts.tcpMax, err = parseLongCount(args, &i); err != nil {
				return opts, err
			}
			if opts.tcpMax > proxy.MaxTCPConns {
				return opts, fmt.Errorf("--tcp-max %d is above %d, the most the event port's associations allow", opts.tcpMax, proxy.MaxTCPConns)
			}
			continue
		case longName(arg) == "--tcp-max-per-client":
			if opts.tcpMaxPerClient, err = parseLongCount(args, &i); err != nil {
				return opts, err
			}
			continue
		case longName(arg) == "--udp-client-rate":
			if opts.udpClientRate, err = parseLongCountOrZero(args, &i); err != nil {
				return opts, err
			}
			continue
		case strings.HasPrefix(arg, "--"):
			return opts, fmt.Errorf("unknown option %q", arg)
		case len(arg) < 2 || arg[0] != '-':
			operands = args[i:]
		}
		if operands != nil {
			break
		}
		letter := arg[1]
		if !strings.ContainsRune(optionLetters, rune(letter)) {
			return opts, fmt.Errorf("unknown option -%c", letter)
		}
		value := arg[2:]
		if value == "" {
			if i+1 >= len(args) {
				return opts, fmt.Errorf("option -%c needs a value", letter)
			}
			i++
			value = args[i]
		}
		switch letter {
		case 'b':
			a, err := netip.ParseAddr(value)
			if err != nil || !a.Is4() {
				return opts, fmt.Errorf("-b %q is not an IPv4 address", value)
			}
			opts.addr, addrSet = a, true
		case 'p':
			p, err := strconv.ParseUint(value, 10, 16)
			if err != nil || p == 0 {
				return opts, fmt.Errorf("-p %q is not a port number (1-65535)", value)
			}
			opts.port, portSet = uint16(p), true
		case 's':
			opts.dir = value
		case 'l':
			levelName = value
		case 'c':
			opts.control, controlSet = value, true
		case 'r':
			n, err := strconv.ParseUint(value, 10, 31)
			if err != nil || n == 0 {
				return opts, fmt.Errorf("-r %q is not a number of remotes (1-%d)", value, 1<<31-1)
			}
			opts.remotes = int(n)
		case 'm':
			ap, err := netip.ParseAddrPort(value)
			if err != nil || ap.Port() == 0 {
				return opts, fmt.Errorf("-m %q is not IP:PORT", value)
			}
			opts.metrics = ap
		}
	}
	if len(operands) > 0 {
		return opts, fmt.Errorf("unexpected argument %q", operands[0])
	}
	if levelName != "" {
		lvl, err := bunyan.ParseLevel(levelName)
		if err != nil {
			return opts, fmt.Errorf("-l: %w", err)
		}
		opts.level = lvl
	}
	if env := getenv("LOG_LEVEL"); env != "" {
		lvl, err := bunyan.ParseLevel(env)
		if err != nil {
			return opts, fmt.Errorf("LOG_LEVEL: %w", err)
		}
		opts.level = lvl
	}
	switch {
	case opts.demo && opts.dir != "":
		return opts, fmt.Errorf("--demo makes its own socket directory; leave out -s")
	case opts.demo:
		if !addrSet {
			opts.addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		if !portSet {
			opts.port = 5353
		}
		if !controlSet {
			opts.control = "" // a fresh one in a temporary directory
		}
	case opts.dir == "":
		return opts, fmt.Errorf("-s SOCKET_DIR is required")
	case !controlSet:
		opts.control, opts.controlDefault = view.DefaultControlPath(os.Geteuid(), opts.port), true
		if err := mdb.CheckControlPath(opts.control, opts.dir); err != nil {
			return opts, fmt.Errorf("the default control socket: %w; give -c", err)
		}
	default:
		if err := mdb.CheckControlPath(opts.control, opts.dir); err != nil {
			return opts, fmt.Errorf("-c: %w", err)
		}
	}
	return opts, nil
}

// longName is the name part of a long option ("--opt" of "--opt=N").
func longName(arg string) string {
	name, _, _ := strings.Cut(arg, "=")
	return name
}

// parseLongCount reads the positive count of the long option at args[*i]
// ("--opt=N", or "--opt N", which consumes the next argument).
// parseLongCountOrZero is parseLongCount, where 0 is allowed too (off).
func parseLongCountOrZero(args []string, i *int) (int, error) {
	if _, value, inline := strings.Cut(args[*i], "="); (inline && value == "0") || (!inline && *i+1 < len(args) && args[*i+1] == "0") {
		if !inline {
			*i++
		}
		return 0, nil
	}
	return parseLongCount(args, i)
}

func parseLongCount(args []string, i *int) (int, error) {
	name, value, inline := strings.Cut(args[*i], "=")
	if !inline {
		if *i+1 >= len(args) {
			return 0, fmt.Errorf("option %s needs a value", name)
		}
		*i++
		value = args[*i]
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s %q is not a positive number", name, value)
	}
	return n, nil
}
