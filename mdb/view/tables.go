/*
 * Binder's two tables, BACKENDS and REMOTE PEERS, as its mdb-based
 * bin/balstat printed them: its printf headers over the rows of its own
 * mdb ::printf pipelines (pipeline.go), so that the layout is Binder's to
 * the byte.
 */

package view

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteTables prints Binder's two tables (BACKENDS and REMOTE PEERS) by
// running Binder's own pipelines, with its headers and column widths;
// verbose adds a first line naming the process (pid, generation and start,
// UTC), counters, each backend's state, since when (UTC) and, while not ok,
// why, and a third table: every counter by cause (Causes).
func WriteTables(w io.Writer, snap *Snapshot, verbose bool) error {
	var b strings.Builder
	if verbose {
		fmt.Fprintf(&b, "BALANCER: pid %d, generation %d, started %s\n\n", snap.Pid, snap.Generation, snap.wallClock(snap.Crtime))
	}
	b.WriteString("BACKENDS:\n\n")
	if verbose {
		fmt.Fprintf(&b, "%12s %8s %4s %8s %-12s %-20s %10s %10s %12s %10s %10s %s %s\n",
			"OBJECT", "BACKEND", "OK?", "#REMOTES", "STATE", "SINCE", "CONN_START", "CONN_ERROR", "UDP", "TCP", "STUCK", "SOCKET PATH", "WHY")
		for i := range snap.Backends {
			be := &snap.Backends[i]
			fmt.Fprintf(&b, "%12x %8d %4d %8d %-12s %-20s %10d %10d %12d %10d %10d %s",
				be.Object, be.ID, boolNum(be.OK), be.Remotes, be.State, snap.wallClock(be.StateSince),
				be.StatConnStart, be.StatConnError, be.StatUDP, be.StatTCP, be.StatStuck, be.Path)
			if be.Why != "" {
				b.WriteString(" " + be.Why)
			}
			b.WriteByte('\n')
		}
	} else {
		fmt.Fprintf(&b, "%12s %8s %4s %8s %s\n", "OBJECT", "BACKEND", "OK?", "#REMOTES", "SOCKET PATH")
		if err := RunPipeline(&b, snap, `g_backends::walk avl | ::printf "%12p %8d %4d %8d %s\n" backend_t . be_id be_ok be_remotes be_path`); err != nil {
			return err
		}
	}
	b.WriteString("\nREMOTE PEERS:\n\n")
	if verbose {
		fmt.Fprintf(&b, "%12s %8s %12s %8s %12s %10s %10s %10s\n",
			"OBJECT", "BACKEND", "REMOTE IP", "BACKUP", "UDP", "UDP_DROP", "TCP", "TCP_DROP")
		if err := RunPipeline(&b, snap, `g_remotes::walk avl | ::printf "%12p %8d %12I %8d %12d %10d %10d %10d\n" `+
			`remote_t . rem_backend rem_addr.S_un.S_addr rem_backend_backup rem_stat_udp rem_stat_udp_drop rem_stat_tcp rem_stat_tcp_drop`); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(&b, "%12s %8s %12s\n", "OBJECT", "BACKEND", "REMOTE IP")
		if err := RunPipeline(&b, snap, `g_remotes::walk avl | ::printf "%12p %8d %12I\n" remote_t . rem_backend rem_addr.S_un.S_addr`); err != nil {
			return err
		}
	}
	b.WriteString("\n")
	if verbose {
		b.WriteString("COUNTERS BY CAUSE:\n\n")
		fmt.Fprintf(&b, "%-18s %-17s %12s\n", "KIND", "REASON", "COUNT")
		t := &snap.Balancer
		for _, c := range Causes {
			fmt.Fprintf(&b, "%-18s %-17s %12d\n", c.Kind.Name, c.Reason, c.Count(t))
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// wallClock is the UTC wall-clock time of hrtime hr, from the snapshot's
// own pair of clocks (second precision), or "-" if the snapshot has no
// wall-clock time.
func (s *Snapshot) wallClock(hr int64) string {
	wall, err := time.Parse(time.RFC3339Nano, s.Walltime)
	if err != nil {
		return "-"
	}
	return wall.Add(time.Duration(hr - s.Snaptime)).UTC().Format("2006-01-02T15:04:05Z")
}
