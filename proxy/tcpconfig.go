/*
 * The TCP path's timeouts and limits, and their defaults.
 *
 *	OKTimeout         10 s   the backend's INBOUND_TCP_OK (the C balancer's)
 *	MessageTimeout     5 s   each client message complete, the first counted
 *	                         from the accept (BIND's tcp-initial-timeout is of
 *	                         this kind; a DNS message is at most 64 KiB)
 *	IdleTimeout       10 s   no byte either way (dnsdist and BIND close idle
 *	                         clients after a few seconds too)
 *	HalfCloseTimeout   2 s   after the client's EOF with a partial message or
 *	                         none, from the last byte moved
 *	MaxConns          min(4096, (RLIMIT_NOFILE - FDReserve) / 2): each proxy
 *	                         holds two descriptors
 *	MaxPerClient      128    from one client address
 *	FDReserve         min(64, RLIMIT_NOFILE / 4) descriptors left for backend
 *	                         control sessions, the directory scan, logging
 *	                         (and never more than a quarter of the limit in
 *	                         force at each accept)
 *
 * The operator sets MaxConns and MaxPerClient with bbal's --tcp-max and
 * --tcp-max-per-client; the durations are fixed (tests scale them).
 * MaxConns is at most MaxTCPConns: both descriptors of every proxy are
 * associated with the loop's event port, and port_associate fails (EAGAIN)
 * once a port holds process.port-max-events associations, 65,536 by
 * default; 32,000 proxies leave 1,536 for the listener, the UDP sockets,
 * the backend sessions and the control socket.
 */

package proxy

import (
	"fmt"
	"time"
)

// TCPOKTimeout is how long a backend has to answer INBOUND_TCP.
const TCPOKTimeout = 10 * time.Second

// Default deadlines and limits; see the file comment.
const (
	DefaultMessageTimeout   = 5 * time.Second
	DefaultIdleTimeout      = 10 * time.Second
	DefaultHalfCloseTimeout = 2 * time.Second
	DefaultMaxPerClient     = 128
	maxDefaultConns         = 4096
	MaxTCPConns             = 32000 // the most MaxConns may be: see the file comment
	maxFDReserve            = 64
)

// TCPConfig holds the TCP path's timeouts and limits.
type TCPConfig struct {
	OKTimeout        time.Duration
	MessageTimeout   time.Duration
	IdleTimeout      time.Duration
	HalfCloseTimeout time.Duration
	MaxConns         int // concurrent proxies
	MaxPerClient     int // concurrent proxies from one client address
	FDReserve        int // descriptors kept free below RLIMIT_NOFILE
}

// DefaultTCPConfig is the configuration for a process whose soft
// RLIMIT_NOFILE is fdLimit.
func DefaultTCPConfig(fdLimit uint64) TCPConfig {
	limit := int(min(fdLimit, 1<<30))
	reserve := min(maxFDReserve, limit/4)
	return TCPConfig{
		OKTimeout:        TCPOKTimeout,
		MessageTimeout:   DefaultMessageTimeout,
		IdleTimeout:      DefaultIdleTimeout,
		HalfCloseTimeout: DefaultHalfCloseTimeout,
		MaxConns:         max(1, min(maxDefaultConns, (limit-reserve)/2)),
		MaxPerClient:     DefaultMaxPerClient,
		FDReserve:        reserve,
	}
}

// validate names the first field out of range, with its value.
func (c TCPConfig) validate() error {
	for _, d := range []struct {
		name  string
		value time.Duration
	}{{"OKTimeout", c.OKTimeout}, {"MessageTimeout", c.MessageTimeout},
		{"IdleTimeout", c.IdleTimeout}, {"HalfCloseTimeout", c.HalfCloseTimeout}} {
		if d.value <= 0 {
			return fmt.Errorf("TCPConfig.%s %v: must be positive", d.name, d.value)
		}
	}
	switch {
	case c.MaxConns < 1:
		return fmt.Errorf("TCPConfig.MaxConns %d: must be at least 1", c.MaxConns)
	case c.MaxPerClient < 1:
		return fmt.Errorf("TCPConfig.MaxPerClient %d: must be at least 1", c.MaxPerClient)
	case c.MaxConns > MaxTCPConns:
		return fmt.Errorf("TCPConfig.MaxConns %d: above %d, the most the event port's associations allow", c.MaxConns, MaxTCPConns)
	case c.FDReserve < 0:
		return fmt.Errorf("TCPConfig.FDReserve %d: must not be negative", c.FDReserve)
	}
	return nil
}
