/*
 * Unit tests of the state machine's table (state.go): every state and event
 * pair, written out here as data, so that a changed transition is a failed
 * test; and the invariants that every reachable state must satisfy.
 */

package backend

import "testing"

func TestTransitions(t *testing.T) {
	const x = invalid
	// want[state][event], events in order: dial, hello, heartbeat sent,
	// heartbeat reply, fault, socket gone, stop.
	want := map[State][numEvents]State{
		StateNew:          {StateConnecting, x, x, x, StateReconnecting, StateRemoved, StateStopped},
		StateConnecting:   {x, StateOK, x, x, StateReconnecting, x, StateStopped},
		StateOK:           {x, x, StateHeartbeat, x, StateReconnecting, x, StateStopped},
		StateHeartbeat:    {x, x, x, StateOK, StateReconnecting, x, StateStopped},
		StateReconnecting: {StateConnecting, x, x, x, StateReconnecting, StateRemoved, StateStopped},
		StateRemoved:      {StateConnecting, x, x, x, StateReconnecting, StateRemoved, StateStopped},
		StateStopped:      {x, x, x, x, x, x, StateStopped},
	}
	if len(want) != int(numStates) {
		t.Fatalf("the test lists %d states, the package has %d", len(want), numStates)
	}
	for s, row := range want {
		for e := event(0); e < numEvents; e++ {
			got, ok := transition(s, e)
			if ok != (row[e] != x) || (ok && got != row[e]) {
				t.Errorf("%v --%v--> %v (allowed %v), want %v", s, e, got, ok, row[e])
			}
		}
	}
	if _, ok := transition(numStates, evDial); ok {
		t.Error("a state out of range has a transition")
	}
	if _, ok := transition(StateOK, numEvents); ok {
		t.Error("an event out of range has a transition")
	}
}

// Every state but new is reachable from new, and only stopped is final.
func TestStatesReachable(t *testing.T) {
	seen := map[State]bool{StateNew: true}
	for queue := []State{StateNew}; len(queue) > 0; queue = queue[1:] {
		for e := event(0); e < numEvents; e++ {
			if next, ok := transition(queue[0], e); ok && !seen[next] {
				seen[next] = true
				queue = append(queue, next)
			}
		}
	}
	for s := State(0); s < numStates; s++ {
		if !seen[s] {
			t.Errorf("state %v unreachable", s)
		}
		leaves := false
		for e := event(0); e < numEvents; e++ {
			if next, ok := transition(s, e); ok && next != s {
				leaves = true
			}
		}
		if leaves == (s == StateStopped) {
			t.Errorf("state %v: leaves %v, want only stopped final", s, leaves)
		}
	}
}

func TestStateNames(t *testing.T) {
	for s := State(0); s < numStates; s++ {
		if s.String() == "" || s.String()[0] == 'S' {
			t.Errorf("state %d has no name", s)
		}
	}
	if StateOK.String() != "ok" || State(99).String() != "State(99)" {
		t.Errorf("names %q %q", StateOK, State(99))
	}
	for s := State(0); s < numStates; s++ {
		if s.ok() && !s.hasSession() {
			t.Errorf("state %v ok without a session", s)
		}
	}
}
