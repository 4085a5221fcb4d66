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
)

// WriteTables prints Binder's two tables (BACKENDS and REMOTE PEERS) by
// running Binder's own pipelines, with its headers and column widths;
// verbose adds counters.
func WriteTables(w io.Writer, snap *Snapshot, verbose bool) error {
	var b strings.Builder
	b.WriteString("BACKENDS:\n\n")
	if verbose {
		fmt.Fprintf(&b, "%12s %8s %4s %8s %10s %10s %12s %10s %10s %s\n",
			"OBJECT", "BACKEND", "OK?", "#REMOTES", "CONN_START", "CONN_ERROR", "UDP", "TCP", "STUCK", "SOCKET PATH")
		if err := RunPipeline(&b, snap, `g_backends::walk avl | ::printf "%12p %8d %4d %8d %10d %10d %12d %10d %10d %s\n" `+
			`backend_t . be_id be_ok be_remotes be_stat_conn_start be_stat_conn_error be_stat_udp be_stat_tcp be_stat_stuck be_path`); err != nil {
			return err
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
	_, err := io.WriteString(w, b.String())
	return err
}
