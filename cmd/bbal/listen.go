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
 */

package main

import (
	"errors"
	"net/netip"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/proxy"
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
		case "socket":
			return msgUDPSocket
		case "setsockopt SO_REUSEADDR":
			return msgUDPReuseAddr
		}
	}
	return msgUDPBind
}

// logListenFailure logs the fatal record for a listening socket.
func logListenFailure(log zerolog.Logger, msg string, addr netip.AddrPort, err error) {
	bunyan.Errno(log.WithLevel(zerolog.FatalLevel), err).
		Str("address", addr.Addr().String()).Str("port", strconv.Itoa(int(addr.Port()))).Msg(msg)
}
