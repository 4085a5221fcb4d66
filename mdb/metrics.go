/*
 * The Prometheus endpoint (bbal -m IP:PORT), for Triton's cmon-agent:
 * GET /metrics in the text format. A custom collector takes one snapshot
 * (without the remotes list) per scrape, so nothing is counted for
 * Prometheus on the packet path. Every metric is a counter or a gauge
 * (cmon-agent takes nothing else) with HELP and TYPE; per-backend metrics
 * carry a "backend" label (the ID); there are no per-client labels, since
 * remotes can number in the millions. Read-only: nothing here changes the
 * balancer.
 *
 * The server is bounded like everything a client can reach: at most
 * metricsMaxConns connections and metricsMaxPerIP from one address, where
 * a new connection takes the place of the oldest idle or silent one
 * (connlimit.go), metricsMaxInFlight scrapes at a time, header and body
 * deadlines, and GET (or HEAD) of /metrics only.
 */

package mdb

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/joyent/mname-balancer/bunyan"
	"github.com/joyent/mname-balancer/mdb/view"
)

const (
	metricsMaxConns    = 16
	metricsMaxPerIP    = 4
	metricsMaxInFlight = 4
	metricsTimeout     = 10 * time.Second
)

type metric struct {
	desc  *prometheus.Desc
	vtype prometheus.ValueType
	value func(*view.Snapshot) float64
}

type backendMetric struct {
	desc  *prometheus.Desc
	vtype prometheus.ValueType
	value func(*view.Backend) float64
}

func newMetric(name, help string, vt prometheus.ValueType, v func(*view.Snapshot) float64) metric {
	return metric{prometheus.NewDesc(name, help, nil, nil), vt, v}
}

func newBackendMetric(name, help string, vt prometheus.ValueType, v func(*view.Backend) float64) backendMetric {
	return backendMetric{prometheus.NewDesc(name, help, []string{"backend"}, nil), vt, v}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

var (
	counter = prometheus.CounterValue
	gauge   = prometheus.GaugeValue

	// causeDescs are the families of view.Kinds, in order: one counter
	// per view.Causes entry, its reason the label.
	causeDescs = func() []*prometheus.Desc {
		ds := make([]*prometheus.Desc, len(view.Kinds))
		for i, k := range view.Kinds {
			ds[i] = prometheus.NewDesc(k.Metric, view.KindHelp(k), []string{"reason"}, nil)
		}
		return ds
	}()

	metrics = []metric{
		newMetric("bbal_uptime_seconds", "Seconds since the balancer started.", gauge,
			func(s *view.Snapshot) float64 { return float64(s.Balancer.UptimeNS) / 1e9 }),
		newMetric("bbal_udp_received_total", "Client UDP datagrams received.", counter,
			func(s *view.Snapshot) float64 { return float64(s.Balancer.UDPReceived) }),
		newMetric("bbal_udp_forwarded_total", "Client UDP datagrams forwarded to a backend.", counter,
			func(s *view.Snapshot) float64 { return float64(s.Balancer.UDPForwarded) }),
		newMetric("bbal_udp_answered_total", "Backend answers sent to UDP clients.", counter,
			func(s *view.Snapshot) float64 { return float64(s.Balancer.UDPAnswered) }),
		newMetric("bbal_tcp_accepted_total", "TCP connections accepted.", counter,
			func(s *view.Snapshot) float64 { return float64(s.Balancer.TCPAccepted) }),
		newMetric("bbal_tcp_open", "TCP connections being proxied now.", gauge,
			func(s *view.Snapshot) float64 { return float64(s.Balancer.TCPOpen) }),
		newMetric("bbal_remotes", "Client hosts (remotes) known.", gauge,
			func(s *view.Snapshot) float64 { return float64(s.Balancer.Remotes) }),
		newMetric("bbal_backends", "Backends known (socket files found), removed ones not counted.", gauge,
			func(s *view.Snapshot) float64 { return float64(s.Balancer.Backends) }),
		newMetric("bbal_backends_ok", "Backends taking traffic.", gauge,
			func(s *view.Snapshot) float64 { return float64(s.Balancer.BackendsOK) }),
		newMetric("bbal_timers", "Timers scheduled on the event loop now (reconnects, heartbeats, expiry sweeps, TCP deadlines, ...; balstat -e 'g_timeouts::walk avl' lists them).", gauge,
			func(s *view.Snapshot) float64 { return float64(s.Balancer.Timers) }),
	}

	stateDesc = prometheus.NewDesc("bbal_backend_state",
		"The backend's state, as a state set: 1 for the state it is in, 0 for the others. new: not yet connected; connecting: hello awaited; ok: taking traffic; heartbeat: taking traffic, a heartbeat awaits its reply; reconnecting: faulted, reconnect scheduled; removed: socket file gone (shown in one scrape, then the backend's series end); stopped: the balancer is stopping.",
		[]string{"backend", "state"}, nil)

	stateSecondsDesc = prometheus.NewDesc("bbal_backend_state_seconds",
		"Seconds since the backend last became ok, stopped being ok, or was removed (bbal_backend_state says which it is now).",
		[]string{"backend"}, nil)

	backendMetrics = []backendMetric{
		newBackendMetric("bbal_backend_ok", "1 if the backend takes traffic (be_ok).", gauge,
			func(b *view.Backend) float64 { return b2f(b.OK) }),
		newBackendMetric("bbal_backend_removed", "1 if the backend's socket file is gone (be_removed).", gauge,
			func(b *view.Backend) float64 { return b2f(b.Removed) }),
		newBackendMetric("bbal_backend_remotes", "Remotes whose primary backend this is (be_remotes).", gauge,
			func(b *view.Backend) float64 { return float64(b.Remotes) }),
		newBackendMetric("bbal_backend_reconnect_delay_seconds", "Wait of the backend's pending reconnect, or of its last one; 0 if it never faulted (be_reconnect_delay).", gauge,
			func(b *view.Backend) float64 { return float64(b.ReconnectDelayMS) / 1e3 }),
		newBackendMetric("bbal_backend_sessions_started_total", "Control sessions started (be_stat_conn_start).", counter,
			func(b *view.Backend) float64 { return float64(b.StatConnStart) }),
		newBackendMetric("bbal_backend_session_errors_total", "Control sessions ended by a fault (be_stat_conn_error).", counter,
			func(b *view.Backend) float64 { return float64(b.StatConnError) }),
		newBackendMetric("bbal_backend_udp_forwarded_total", "UDP datagrams forwarded to the backend (be_stat_udp).", counter,
			func(b *view.Backend) float64 { return float64(b.StatUDP) }),
		newBackendMetric("bbal_backend_tcp_forwarded_total", "TCP connections forwarded to the backend (be_stat_tcp).", counter,
			func(b *view.Backend) float64 { return float64(b.StatTCP) }),
		newBackendMetric("bbal_backend_udp_stuck_total", "UDP datagrams dropped because the backend's session was full, and every other usable backend's (be_stat_stuck).", counter,
			func(b *view.Backend) float64 { return float64(b.StatStuck) }),
		newBackendMetric("bbal_backend_udp_spilled_total", "UDP queries that found the backend's session full and went to another backend (be_stat_spilled).", counter,
			func(b *view.Backend) float64 { return float64(b.StatSpilled) }),
		newBackendMetric("bbal_backend_ejections_total", "Times the backend was ejected for answering no queries (be_stat_ejections).", counter,
			func(b *view.Backend) float64 { return float64(b.StatEjections) }),
		newBackendMetric("bbal_backend_eject_capped_total", "Times the ejection cap kept the backend in use although it answered no queries (be_stat_eject_capped).", counter,
			func(b *view.Backend) float64 { return float64(b.StatEjectCapped) }),
		newBackendMetric("bbal_backend_ejected", "1 if the backend is ok but ejected for answering no queries: its clients go to their backups (be_ejected).", gauge,
			func(b *view.Backend) float64 { return b2f(b.Ejected) }),
	}
)

// collector is a prometheus.Collector taking one snapshot per scrape.
type collector struct{ in *Inspector }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metrics {
		ch <- m.desc
	}
	for _, d := range causeDescs {
		ch <- d
	}
	for _, m := range backendMetrics {
		ch <- m.desc
	}
	ch <- stateDesc
	ch <- stateSecondsDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.in.take(takeCounts, snapshotTimeout)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(metrics[0].desc, err)
		return
	}
	for _, m := range metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.vtype, m.value(s))
	}
	for _, c := range view.Causes {
		ch <- prometheus.MustNewConstMetric(causeDescs[slices.Index(view.Kinds, c.Kind)], counter, float64(c.Count(&s.Balancer)), c.Reason)
	}
	for i := range s.Backends {
		b := &s.Backends[i]
		id := strconv.FormatUint(uint64(b.ID), 10)
		for _, m := range backendMetrics {
			ch <- prometheus.MustNewConstMetric(m.desc, m.vtype, m.value(b), id)
		}
		for _, state := range view.BackendStates {
			ch <- prometheus.MustNewConstMetric(stateDesc, gauge, b2f(state == b.State), id, state)
		}
		ch <- prometheus.MustNewConstMetric(stateSecondsDesc, gauge, float64(s.Snaptime-b.StateSince)/1e9, id)
	}
}

// metricsHandler serves the text format for in's balancer.
func metricsHandler(in *Inspector) http.Handler {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector{in})
	reg.MustRegister(processCollectors()...) // buildinfo.go
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		MaxRequestsInFlight: metricsMaxInFlight,
		Timeout:             metricsTimeout,
		ErrorHandling:       promhttp.HTTPErrorOnError,
	})
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "read-only: GET /metrics", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
	return mux
}

// MetricsServer is the running endpoint.
type MetricsServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// ListenMetrics serves GET /metrics on addr (IP:PORT).
func ListenMetrics(addr string, in *Inspector, log zerolog.Logger) (*MetricsServer, error) {
	return listenMetrics(addr, in, log, metricsMaxConns, metricsMaxPerIP)
}

// listenMetrics is ListenMetrics with the connection limits given.
func listenMetrics(addr string, in *Inspector, log zerolog.Logger, maxConns, perIP int) (*MetricsServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: %w", err)
	}
	limited := newConnLimiter(ln, maxConns, perIP)
	m := &MetricsServer{
		ln: ln,
		srv: &http.Server{
			Handler:           metricsHandler(in),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       metricsTimeout,
			WriteTimeout:      metricsTimeout + 5*time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    8 << 10,
			ErrorLog:          nil,
			ConnState:         limited.state,
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(m.done)
		if err := m.srv.Serve(limited); err != nil && !errors.Is(err, http.ErrServerClosed) {
			bunyan.Errno(log.Error(), err).Msg("metrics endpoint failed")
		}
	}()
	log.Info().Str("address", ln.Addr().String()).Msg("metrics endpoint listening")
	return m, nil
}

// Addr is the endpoint's address.
func (m *MetricsServer) Addr() net.Addr { return m.ln.Addr() }

// Close stops the endpoint.
func (m *MetricsServer) Close() error {
	err := m.srv.Close()
	<-m.done
	return err
}
