/*
 * Read-only views of the backends for the operator's tools (package mdb):
 * every field the C balancer's backend_t showed in mdb, copied into a plain
 * value, and names for the timers the backends own. Call these on the loop
 * only (Post first); they never change anything.
 */

package backend

import (
	"strconv"
	"time"
	"unsafe"

	"github.com/joyent/mname-balancer/evport"
)

// Info is a copy of one backend's state (the C backend_t).
type Info struct {
	Object               uintptr       // the backend's address: a stable handle
	ID                   uint32        // be_id
	Path                 string        // be_path
	OK                   bool          // be_ok
	Reconnecting         bool          // be_reconnect: a reconnect is scheduled
	HeartbeatOutstanding bool          // be_heartbeat_outstanding
	Removed              bool          // be_removed
	ReconnectDelay       time.Duration // be_reconnect_delay
	Session              uint64        // number of the current control session (0: none yet)
	Connected            bool          // a control session is open (be_conn != NULL)
	Ejected              bool          // ok but ejected for answering no queries (health.go)
	EjectedSince         time.Time     // when, if Ejected
	Stats                Stats         // be_stat_*

	State   State     // where the backend is in its life
	Since   time.Time // when it last became ok, stopped being ok, or was removed
	Why     string    // the last fault's cause while not ok ("" when ok or never faulted)
	Created time.Time // when the set first found its socket file
}

// Info copies the backend's state.
func (b *Backend) Info() Info {
	return Info{
		Object:               uintptr(unsafe.Pointer(b)),
		ID:                   b.id,
		Path:                 b.path,
		OK:                   b.OK(),
		Reconnecting:         b.Reconnecting(),
		HeartbeatOutstanding: b.HeartbeatOutstanding(),
		Removed:              b.Removed(),
		ReconnectDelay:       b.delay,
		Session:              b.sessionNum,
		Connected:            b.session != nil,
		Ejected:              b.health.ejected,
		EjectedSince:         b.health.since,
		Stats:                b.Stats,
		State:                b.state,
		Since:                b.since,
		Why:                  b.why,
		Created:              b.created,
	}
}

// AppendInfo appends a copy of every backend, in ID order.
func (s *Set) AppendInfo(dst []Info) []Info {
	for _, b := range s.byID {
		dst = append(dst, b.Info())
	}
	return dst
}

// NameTimers calls name for each timer the set and its backends own, with
// what the timer is about (mdb's to_arg).
func (s *Set) NameTimers(name func(t *evport.Timer, arg string)) {
	if s.scanTimer != nil {
		name(s.scanTimer, "socket directory "+s.dir)
	}
	for _, b := range s.byID {
		arg := "backend " + strconv.FormatUint(uint64(b.id), 10)
		name(b.timer, arg) // its meaning follows the state
		name(b.health.timer, arg+" (ejection probe)")
	}
}
