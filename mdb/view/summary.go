/*
 * The summary (balstat -s): what the operator asks every day of a
 * balancer with a million remotes, from a snapshot without the remotes
 * list (the balancer walks nothing for it): each backend's remotes and
 * counters, how many remotes there are, and the busiest ones of the last
 * window.
 */

package view

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteSummary prints the backends (Binder's BACKENDS columns and the
// counters), the number of remotes and the busiest remotes.
func WriteSummary(w io.Writer, snap *Snapshot) error {
	var b strings.Builder
	b.WriteString("BACKENDS:\n\n")
	fmt.Fprintf(&b, "%8s %4s %8s %12s %10s %10s %s\n", "BACKEND", "OK?", "#REMOTES", "UDP", "TCP", "STUCK", "SOCKET PATH")
	for i := range snap.Backends {
		be := &snap.Backends[i]
		fmt.Fprintf(&b, "%8d %4d %8d %12d %10d %10d %s\n", be.ID, boolNum(be.OK), be.Remotes, be.StatUDP, be.StatTCP, be.StatStuck, be.Path)
	}
	fmt.Fprintf(&b, "\nREMOTES: %d\n", snap.Balancer.Remotes)
	if t := snap.Busiest; t != nil {
		fmt.Fprintf(&b, "\nBUSIEST REMOTES (%v from %s: %d contacts in all):\n\n", time.Duration(t.WindowNS), snap.wallClock(t.WindowStart), t.Contacts)
		fmt.Fprintf(&b, "%15s %10s %10s %8s\n", "REMOTE IP", "CONTACTS", "OVERCOUNT", "BACKEND")
		for _, r := range t.Remotes {
			fmt.Fprintf(&b, "%15s %10d %10d %8d\n", r.Addr, r.Contacts, r.Overcount, r.Backend)
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}
