/*
 * Tests of the Prometheus endpoint: a scrape after a known mix of queries
 * parses with Prometheus's own text parser and says what was sent, every
 * family is a counter or a gauge with HELP, promtool check metrics accepts
 * it, and the endpoint is read-only.
 */

package mdb

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/joyent/mname-balancer/mdb/view"
	"github.com/joyent/mname-balancer/version"
)

func scrape(t *testing.T, url string) []byte {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, body)
	}
	return body
}

// parseMetrics parses the text format with Prometheus's parser.
func parseMetrics(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the Prometheus text parser rejects the scrape: %v\n%s", err, body)
	}
	return fams
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range f.Metric {
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.Counter.GetValue()
		case dto.MetricType_GAUGE:
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}

func TestMetricsSayWhatWasSent(t *testing.T) {
	b := startBalancer(t, quietLog())
	m, err := ListenMetrics("127.0.0.1:0", b.in, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	port := b.udp.Port()
	byBackend := map[string]int{}
	for range 3 {
		byBackend[query(t, "udp", clientAddr(0), port)]++
		byBackend[query(t, "udp", clientAddr(1), port)]++
	}
	byBackend[query(t, "tcp", clientAddr(2), port)] += 0
	// Three clients: three remotes, or one where they share an address.
	remotes := float64(len(map[string]bool{clientAddr(0): true, clientAddr(1): true, clientAddr(2): true}))
	body := scrape(t, "http://"+m.Addr().String()+"/metrics")
	fams := parseMetrics(t, body)

	for name, f := range fams {
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
		if tp := f.GetType(); tp != dto.MetricType_COUNTER && tp != dto.MetricType_GAUGE {
			t.Errorf("%s is a %v; cmon-agent takes counters and gauges only", name, tp)
		}
		for _, mt := range f.Metric {
			for _, lp := range mt.Label {
				if name == "bbal_build_info" && (lp.GetName() == "version" || lp.GetName() == "goversion") {
					continue
				}
				if lp.GetName() != "backend" && lp.GetName() != "reason" && lp.GetName() != "state" {
					t.Errorf("%s has label %s: only backend, reason and state are allowed", name, lp.GetName())
				}
			}
		}
	}
	if got := bytes.Count(body, []byte("# TYPE ")); got != len(fams) || got != bytes.Count(body, []byte("# HELP ")) {
		t.Errorf("%d TYPE lines for %d families", got, len(fams))
	}
	for name, want := range map[string]float64{
		"bbal_udp_received_total": 6, "bbal_udp_forwarded_total": 6, "bbal_udp_answered_total": 6,
		"bbal_tcp_accepted_total": 1, "bbal_tcp_refused_total": 0, "bbal_remotes": remotes,
		"bbal_backends": 3, "bbal_backends_ok": 3,
	} {
		if got := value(t, fams, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := value(t, fams, "bbal_build_info", "version", version.String(), "goversion", runtime.Version()); got != 1 {
		t.Errorf("bbal_build_info{version=%q,goversion=%q} = %v, want 1", version.String(), runtime.Version(), got)
	}
	if runtime.GOOS == "linux" || runtime.GOOS == "illumos" { // the process collector (psinfo.go on illumos)
		if got := value(t, fams, "process_start_time_seconds"); got < float64(time.Now().Add(-time.Hour).Unix()) || got > float64(time.Now().Unix()) {
			t.Errorf("process_start_time_seconds %v is not this test's start", got)
		}
		if value(t, fams, "process_open_fds") < 3 || value(t, fams, "process_resident_memory_bytes") < 1<<20 {
			t.Errorf("process_open_fds %v, process_resident_memory_bytes %v: not this process's",
				value(t, fams, "process_open_fds"), value(t, fams, "process_resident_memory_bytes"))
		}
	}
	if got := value(t, fams, "bbal_udp_dropped_total", "reason", "no_backend"); got != 0 {
		t.Errorf("no_backend drops %v", got)
	}
	for id, n := range byBackend {
		if got := value(t, fams, "bbal_backend_udp_forwarded_total", "backend", id); got != float64(n) {
			t.Errorf("backend %s forwarded %v, but answered %d", id, got, n)
		}
	}
	total := 0.0
	for _, id := range []string{"5301", "5302", "5303"} {
		total += value(t, fams, "bbal_backend_remotes", "backend", id)
		if value(t, fams, "bbal_backend_ok", "backend", id) != 1 {
			t.Errorf("backend %s not ok", id)
		}
		// A state set: 1 for the state the backend is in, 0 for the
		// others (every state listed).
		for _, state := range view.BackendStates {
			want := 0.0
			if state == "ok" {
				want = 1
			}
			if got := value(t, fams, "bbal_backend_state", "backend", id, "state", state); got != want {
				t.Errorf("bbal_backend_state{backend=%q,state=%q} = %v, want %v", id, state, got, want)
			}
		}
	}
	if total != remotes {
		t.Errorf("bbal_backend_remotes add up to %v, want %v", total, remotes)
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (apt-get install prometheus)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus); CI installs it")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestMetricsReadOnly(t *testing.T) {
	b := startBalancer(t, quietLog())
	m, err := ListenMetrics("127.0.0.1:0", b.in, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	resp, err := http.Post("http://"+m.Addr().String()+"/metrics", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %d", resp.StatusCode)
	}
	resp, err = http.Get("http://" + m.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /: %d", resp.StatusCode)
	}
}
