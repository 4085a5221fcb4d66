/*
 * The backend state machine: a Backend's state is one State value, and
 * every change of it goes through transition (the table) and Backend.enter
 * (the entry actions: the one timer of the new state, the session, the
 * back-off). See the package comment for the states and their meaning.
 *
 * The invariants that tie the state to the rest of a Backend are written
 * once, in Backend.invariant, and the tests check them after every step.
 */

package backend

import "fmt"

// State is where a backend is in its life; see the package comment.
type State uint8

// The states. A Backend starts in StateNew.
const (
	StateNew          State = iota // known, never connected yet
	StateConnecting                // session dialled, SERVER_HELLO awaited
	StateOK                        // SERVER_HELLO seen, no heartbeat outstanding
	StateHeartbeat                 // ok, a CLIENT_HEARTBEAT awaits its reply
	StateReconnecting              // faulted: no session, reconnect timer set
	StateRemoved                   // socket file gone: no session, no timer
	StateStopped                   // the Set was stopped: final
	numStates
)

var stateNames = [numStates]string{
	StateNew:          "new",
	StateConnecting:   "connecting",
	StateOK:           "ok",
	StateHeartbeat:    "heartbeat",
	StateReconnecting: "reconnecting",
	StateRemoved:      "removed",
	StateStopped:      "stopped",
}

func (s State) String() string {
	if s < numStates {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ok reports whether a backend in state s takes traffic.
func (s State) ok() bool { return s == StateOK || s == StateHeartbeat }

// hasSession reports whether a backend in state s has a control session.
func (s State) hasSession() bool { return s == StateConnecting || s.ok() }

// event is what moves a backend from one state to another.
type event uint8

const (
	evDial          event = iota // a control session was started
	evHello                      // SERVER_HELLO arrived
	evHeartbeatSent              // a CLIENT_HEARTBEAT was queued
	evHeartbeatBack              // its SERVER_HEARTBEAT arrived
	evFault                      // the session (or the attempt to start one) failed
	evGone                       // the socket file is missing
	evStop                       // the Set is shutting down
	numEvents
)

var eventNames = [numEvents]string{
	evDial:          "dial",
	evHello:         "hello",
	evHeartbeatSent: "heartbeat sent",
	evHeartbeatBack: "heartbeat reply",
	evFault:         "fault",
	evGone:          "socket gone",
	evStop:          "stop",
}

func (e event) String() string {
	if e < numEvents {
		return eventNames[e]
	}
	return fmt.Sprintf("event(%d)", uint8(e))
}

// transitions is the whole state machine: transitions[from][event] is the
// next state, or invalid where the event cannot happen in that state.
// Callers filter events that do not concern the current session (a late
// callback of a closed one, a Fault about an old one) before they get here.
var transitions = func() (t [numStates][numEvents]State) {
	for s := range t {
		for e := range t[s] {
			t[s][e] = invalid
		}
		t[s][evStop] = StateStopped
	}
	t[StateStopped][evStop] = StateStopped

	// Starting a session: a new backend, a pending reconnect, a
	// returned socket file.
	for _, s := range []State{StateNew, StateReconnecting, StateRemoved} {
		t[s][evDial] = StateConnecting
		t[s][evFault] = StateReconnecting // the dial itself failed
		t[s][evGone] = StateRemoved       // the dial found no file, or a scan did not
	}
	t[StateConnecting][evHello] = StateOK
	t[StateConnecting][evFault] = StateReconnecting
	t[StateOK][evHeartbeatSent] = StateHeartbeat
	t[StateOK][evFault] = StateReconnecting
	t[StateHeartbeat][evHeartbeatBack] = StateOK
	t[StateHeartbeat][evFault] = StateReconnecting
	return t
}()

// invalid marks a transition that cannot happen.
const invalid = numStates

// transition is the next state after e in state s; ok false if e cannot
// happen in s.
func transition(s State, e event) (next State, ok bool) {
	if s >= numStates || e >= numEvents {
		return s, false
	}
	next = transitions[s][e]
	return next, next != invalid
}
