/*
 * The fatal records for a listening socket that cannot be set up, with the
 * C balancer's messages (udp_proxy.c bbal_udp_listen, tcp_proxy.c
 * bbal_tcp_listen), level (fatal) and fields (address, port, errno,
 * strerror), which operators' alerts grep for:
 *
 *	UDP socket(3SOCKET)        "failed to create UDP listen socket"
 *	UDP SO_REUSEADDR           "failed to set SO_REUSEADDR on UDP listen socket"
 *	UDP bind(3SOCKET), other   "failed to bind UDP listen socket"
 *	TCP, any step              "failed to create TCP listen socket"
 *
 * "Other" is what the C program did not have as a step (reading back the
 * bound port, arming the socket in the loop); bind is the nearest.
 *
 * The TCP listener is set up before the UDP socket (the C balancer did UDP
 * first): TCP refuses a second listener on a port in use, SO_REUSEADDR or
 * not, while UDP with SO_REUSEADDR would share the port on Linux. So a
 * second balancer on a busy port fails before it can take any of the
 * first one's UDP traffic.
 *
 * Each failure is also one line on stderr, where a person starting the
 * balancer by hand looks (under SMF both go to the service log): the
 * message, the address and the cause, with a hint for the two causes
 * operators meet: a port under 1024 without the privilege, and a port in
 * use.
 */

package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/proxy"
	"golang.org/x/sys/unix"
)

// C messages for the listening sockets' failures.
const (
	msgUDPSocket    = "failed to create UDP listen socket"
	msgUDPReuseAddr = "failed to set SO_REUSEADDR on UDP listen socket"
	msgUDPBind      = "failed to bind UDP listen socket"
	msgTCPListen    = "failed to create TCP listen socket"
)

// udpFailureMsg is the C message for the step of ListenUDP that failed.
func udpFailureMsg(err error) string {
	var se *proxy.SocketError
	if errors.As(err, &se) {
		switch se.Step {
		case proxy.StepSocket:
			return msgUDPSocket
		case proxy.StepReuseAddr:
			return msgUDPReuseAddr
		}
	}
	return msgUDPBind
}

// logListenFailure logs the fatal record for a listening socket, and says
// it on stderr.
func logListenFailure(log zerolog.Logger, stderr io.Writer, msg string, addr netip.AddrPort, err error) {
	bunyan.Errno(log.WithLevel(zerolog.FatalLevel), err).
		Str("address", addr.Addr().String()).Str("port", strconv.Itoa(int(addr.Port()))).Msg(msg)
	fmt.Fprintf(stderr, "bbal: %s %v: %v%s\n", msg, addr, err, listenHint(addr, err))
}

// sayStartFailure says a start-up failure, whose fatal record is logged,
// on stderr too: one line, the message and the cause.
func sayStartFailure(msg string, err error) {
	fmt.Fprintf(os.Stderr, "bbal: %s: %v\n", msg, err)
}

// listenHint is what to do about a listening socket's failure, when we
// know: "" or " (...)".
func listenHint(addr netip.AddrPort, err error) string {
	switch {
	case errors.Is(err, unix.EACCES) && addr.Port() < 1024:
		return fmt.Sprintf(" (port %d is under 1024: run bbal as root, or with the net_privaddr privilege, as the SMF manifest does: privileges=\"basic,net_privaddr\")", addr.Port())
	case errors.Is(err, unix.EADDRINUSE):
		return fmt.Sprintf(" (another process, perhaps another bbal, is serving %v)", addr)
	}
	return ""
}
