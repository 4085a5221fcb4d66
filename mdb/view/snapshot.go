/*
 * Snapshot: the balancer's state at one instant, in the shape the C
 * balancer's structures had (field names are the C ones, so that the
 * README's mdb pipelines keep their meaning), plus the totals the C
 * balancer never kept. It is what the control socket sends as JSON;
 * addresses are netip.Addr, which JSON carries as dotted quads.
 */

package view

import (
	"fmt"
	"net/netip"
)

// Snapshot is the balancer's state at one instant.
type Snapshot struct {
	Version  int    `json:"version"`   // format version: 1
	Pid      int    `json:"pid"`       // the balancer's process ID
	Snaptime int64  `json:"snaptime"`  // hrtime the snapshot was taken
	Crtime   int64  `json:"crtime"`    // hrtime the balancer started
	Walltime string `json:"walltime"`  // the snapshot's wall-clock time, RFC 3339
	LogLevel string `json:"log_level"` // the level in force

	// Generation counts the balancer processes since the last real start:
	// 1, or one more than the process that handed over to this one
	// (svcadm refresh, SIGUSR2). Crtime is this process's start.
	Generation int `json:"generation"`

	Balancer Totals    `json:"balancer"`
	Backends []Backend `json:"backends"`
	Remotes  []Remote  `json:"remotes"` // sorted by address; nil when not asked for
	Timeouts []Timeout `json:"timeouts"`
	Proxies  []Proxy   `json:"tcp_proxies"` // sorted by conn_id

	Busiest *Busiest `json:"busiest,omitempty"` // the busiest remotes lately; nil in a scrape's snapshot
}

// Busiest are the remotes with the most contacts (UDP queries and TCP
// connections, refused ones included) in the balancer's last complete
// window, found as they came (Space-Saving: any remote with more than
// 1/32 of the window's contacts is listed), not by walking the table.
type Busiest struct {
	WindowStart int64        `json:"window_start"` // hrtime
	WindowNS    int64        `json:"window_ns"`
	Contacts    uint64       `json:"contacts"` // every remote's, in the window
	Remotes     []BusyRemote `json:"remotes"`  // busiest first
}

// BusyRemote is one of the busiest remotes.
type BusyRemote struct {
	Addr      netip.Addr `json:"rem_addr"`
	Contacts  uint64     `json:"contacts"`    // at most overcount more than the truth
	Overcount uint64     `json:"overcount"`   // 0: exact
	Backend   uint32     `json:"rem_backend"` // its primary now; 0: none, or no longer in the table
}

// Totals are the balancer-wide counters.
type Totals struct {
	UptimeNS          int64  `json:"uptime_ns"`
	UDPReceived       uint64 `json:"udp_received"`
	UDPForwarded      uint64 `json:"udp_forwarded"`
	UDPAnswered       uint64 `json:"udp_answered"`
	UDPDropOversize   uint64 `json:"udp_drop_oversize"`
	UDPDropNoBackend  uint64 `json:"udp_drop_no_backend"`
	UDPDropRateCapped uint64 `json:"udp_drop_rate_capped"`
	UDPDropStuck      uint64 `json:"udp_drop_stuck"`
	UDPDropSendError  uint64 `json:"udp_drop_send_error"`
	UDPDropNotClient  uint64 `json:"udp_drop_not_client"`
	TCPAccepted       uint64 `json:"tcp_accepted"`
	TCPRefused        uint64 `json:"tcp_refused"` // the sum of the tcp_refused_* causes
	TCPOpen           uint64 `json:"tcp_open"`

	TCPRefusedMaxConns        uint64 `json:"tcp_refused_max_conns"`
	TCPRefusedMaxPerClient    uint64 `json:"tcp_refused_max_per_client"`
	TCPRefusedFDReserve       uint64 `json:"tcp_refused_fd_reserve"`
	TCPRefusedNoBackend       uint64 `json:"tcp_refused_no_backend"`
	TCPRefusedBackendConnect  uint64 `json:"tcp_refused_backend_connect"`
	TCPAcceptErrors           uint64 `json:"tcp_accept_errors"`
	TCPClosedOKTimeout        uint64 `json:"tcp_closed_ok_timeout"`
	TCPClosedMessageTimeout   uint64 `json:"tcp_closed_message_timeout"`
	TCPClosedIdleTimeout      uint64 `json:"tcp_closed_idle_timeout"`
	TCPClosedHalfCloseTimeout uint64 `json:"tcp_closed_halfclose_timeout"`
	TCPClosedError            uint64 `json:"tcp_closed_error"`
	TCPClosedBackendClosed    uint64 `json:"tcp_closed_backend_closed"`
	TCPClosedBadTCPOK         uint64 `json:"tcp_closed_bad_tcp_ok"`
	TCPClosedLameDuck         uint64 `json:"tcp_closed_lame_duck"`
	TCPClosedShutdownGrace    uint64 `json:"tcp_closed_shutdown_grace"`
	RemotesEvicted            uint64 `json:"remotes_evicted"`
	RemotesExpired            uint64 `json:"remotes_expired"`
	UDPSpilled                uint64 `json:"udp_spilled"`
	UDPServedUntracked        uint64 `json:"udp_served_untracked"`
	TCPServedUntracked        uint64 `json:"tcp_served_untracked"`

	Remotes    uint64 `json:"remotes"`
	Backends   uint64 `json:"backends"` // listed and not removed
	BackendsOK uint64 `json:"backends_ok"`
	Timers     uint64 `json:"timers"` // timers scheduled on the event loop
}

// Backend is a backend as a snapshot saw it: the C backend_t.
type Backend struct {
	Object               uint64 `json:"object"` // stable handle (the Go object's address)
	ID                   uint32 `json:"be_id"`
	Path                 string `json:"be_path"`
	Conn                 bool   `json:"be_conn"` // a control session is open
	Session              uint64 `json:"be_session"`
	OK                   bool   `json:"be_ok"`
	Reconnect            bool   `json:"be_reconnect"`
	HeartbeatOutstanding bool   `json:"be_heartbeat_outstanding"`
	Removed              bool   `json:"be_removed"`
	Remotes              uint32 `json:"be_remotes"`
	ReconnectDelay       uint32 `json:"be_reconnect_delay"`    // seconds: the pending reconnect's wait, or the last one's (C: the next one's)
	ReconnectDelayMS     int64  `json:"be_reconnect_delay_ms"` // the same, exactly
	StatConnStart        uint64 `json:"be_stat_conn_start"`
	StatConnError        uint64 `json:"be_stat_conn_error"`
	StatUDP              uint64 `json:"be_stat_udp"`
	StatTCP              uint64 `json:"be_stat_tcp"`
	StatStuck            uint64 `json:"be_stat_stuck"`
	StatSpilled          uint64 `json:"be_stat_spilled"`      // UDP queries that found it full and went to another backend
	StatEjections        uint64 `json:"be_stat_ejections"`    // times ejected for answering no queries
	StatEjectCapped      uint64 `json:"be_stat_eject_capped"` // times the ejection cap kept it in use instead
	Ejected              bool   `json:"be_ejected"`           // ok, but ejected: its clients go to their backups
	EjectedSince         int64  `json:"be_ejected_since"`     // hrtime it was ejected (0: never)

	State      string `json:"be_state"`       // one of BackendStates
	StateSince int64  `json:"be_state_since"` // hrtime it last became ok, stopped being ok, or was removed
	Why        string `json:"be_why"`         // the last fault's cause while not ok ("" when ok)
	Crtime     int64  `json:"be_crtime"`      // hrtime the balancer first found its socket file
}

// BackendStates are the states a backend can be in, numbered as balstat
// -p's "state" statistic numbers them (the index here):
//
//	0 new           known, not yet connected
//	1 connecting    control session dialled, hello awaited
//	2 ok            taking traffic
//	3 heartbeat     taking traffic, a heartbeat awaits its reply
//	4 reconnecting  faulted (be_why says why), reconnect scheduled
//	5 removed       socket file gone (shown once, then no longer listed)
//	6 stopped       the balancer is stopping
var BackendStates = []string{"new", "connecting", "ok", "heartbeat", "reconnecting", "removed", "stopped"}

// StateNumber is state's index in BackendStates (-1 if unknown).
func StateNumber(state string) int {
	for i, s := range BackendStates {
		if s == state {
			return i
		}
	}
	return -1
}

// Remote is a remote (a client host) as a snapshot saw it: the C remote_t.
type Remote struct {
	Object        uint64     `json:"object"`
	Addr          netip.Addr `json:"rem_addr"` // IPv4
	Backend       uint32     `json:"rem_backend"`
	BackendBackup uint32     `json:"rem_backend_backup"`
	StatUDP       uint64     `json:"rem_stat_udp"`
	StatUDPDrop   uint64     `json:"rem_stat_udp_drop"`
	StatTCP       uint64     `json:"rem_stat_tcp"`
	StatTCPDrop   uint64     `json:"rem_stat_tcp_drop"`
	FirstSeen     int64      `json:"rem_first_seen"` // hrtime
	LastSeen      int64      `json:"rem_last_seen"`  // hrtime
}

// Timeout is one scheduled timer as a snapshot saw it: the C timeout_t.
type Timeout struct {
	Object      uint64 `json:"object"`
	ID          uint64 `json:"to_id"`           // scheduling sequence number
	ScheduledAt int64  `json:"to_scheduled_at"` // hrtime
	Expiry      int64  `json:"to_expiry"`       // hrtime
	PeriodNS    int64  `json:"to_period_ns"`    // 0: one-shot
	Func        string `json:"to_func"`
	Arg         string `json:"to_arg"`
	Active      bool   `json:"to_active"` // always true: only scheduled timers are listed
}

// Proxy is one open TCP connection and its backend session, as a snapshot
// saw it.
type Proxy struct {
	Object    uint64     `json:"object"`
	ID        uint64     `json:"conn_id"`
	Addr      netip.Addr `json:"remote_ip"` // IPv4
	Port      uint16     `json:"remote_port"`
	Backend   uint32     `json:"backend"`
	State     string     `json:"state"`
	ToBackend uint64     `json:"bytes_to_backend"`
	ToClient  uint64     `json:"bytes_to_client"`
	Started   int64      `json:"started"` // hrtime
	AgeNS     int64      `json:"age_ns"`
}

// String formats a snapshot's summary line (for tests and logs).
func (s *Snapshot) String() string {
	return fmt.Sprintf("snapshot at %d: %d backends, %d remotes, %d timeouts, %d TCP proxies",
		s.Snaptime, len(s.Backends), s.Balancer.Remotes, len(s.Timeouts), len(s.Proxies))
}
