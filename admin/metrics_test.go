package admin

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs /metrics and parses it with Prometheus's own text parser.
func (e *env) scrape() map[string]*dto.MetricFamily {
	e.t.Helper()
	resp, err := e.hc.Get(e.url + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		e.t.Fatalf("/metrics: HTTP %d %q\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		e.t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// value finds the series of family name whose labels include want (pairs) and returns its
// value (counter, gauge or untyped), failing if there is none or the type differs.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, typ dto.MetricType, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no family %s", name)
	}
	if f.GetType() != typ {
		t.Fatalf("%s is %v, want %v", name, f.GetType(), typ)
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch typ {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		}
		return m.GetUntyped().GetValue()
	}
	t.Fatalf("%s has no series %v", name, labels)
	return 0
}

func TestMetricsParseAndMove(t *testing.T) {
	f := newFake(5)
	e := start(t, f)
	fams := e.scrape()
	C, G := dto.MetricType_COUNTER, dto.MetricType_GAUGE
	for _, c := range []struct {
		name   string
		typ    dto.MetricType
		labels []string
		want   float64
	}{
		{"tlsmux_connections_open", G, nil, 5},
		{"tlsmux_connections_max", G, nil, 100000},
		{"tlsmux_connections", G, []string{"state", "proxying"}, 5},
		{"tlsmux_accepted_total", C, nil, 5},
		{"tlsmux_closed_total", C, []string{"reason", "idle_timeout"}, 4},
		{"tlsmux_admission_refused_total", C, []string{"reason", "handshake_busy"}, 1},
		{"tlsmux_handshakes_total", C, []string{"version", "TLSv1.3", "cipher", "TLS_AES_128_GCM_SHA256", "resumed", "false"}, 5},
		{"tlsmux_handshakes_total", C, []string{"version", "TLSv1.2", "resumed", "true"}, 3},
		{"tlsmux_handshake_failures_total", C, []string{"reason", "handshake_failed"}, 2},
		{"tlsmux_clear_text_bytes_total", C, []string{"direction", "in"}, 0},
		{"tlsmux_queue_bytes", G, []string{"queue", "clear_text"}, 0},
		{"tlsmux_queue_limit_bytes", G, []string{"queue", "clear_text_conn"}, 65536},
		{"tlsmux_queue_refused_total", C, []string{"reason", "wq_conn_full"}, 1},
		{"tlsmux_dropped_bytes_total", C, []string{"reason", "wq_conn_full"}, 70000},
		{"tlsmux_memory_limit_bytes", G, nil, 1 << 30},
		{"tlsmux_memory_free_bytes", G, nil, 924 << 20},
		{"tlsmux_low_memory", G, []string{"threshold", "1"}, 0},
		{"tlsmux_low_memory_threshold_bytes", G, []string{"threshold", "2"}, 50 << 20},
		{"tlsmux_reloads_total", C, []string{"result", "ok"}, 1},
		{"tlsmux_certificate_expiry_timestamp_seconds", G, []string{"profile", "default"}, float64(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Unix())},
		{"tlsmux_certificate_expiry_seconds", G, []string{"profile", "default"}, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Sub(e.clock.Now()).Seconds()},
		{"tlsmux_backend_dial_failures_total", C, []string{"reason", "refused"}, 1},
		{"tlsmux_draining", G, nil, 0},
		{"tlsmux_metrics_series_dropped", G, nil, 0},
		{"tlsmux_admin_refused_total", C, []string{"reason", "forbidden"}, 0},
	} {
		if got := value(t, fams, c.name, c.typ, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	h := fams["tlsmux_handshake_duration_seconds"]
	if h.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("handshake duration is %v", h.GetType())
	}
	hist := h.Metric[0].GetHistogram()
	var cum []uint64
	for _, b := range hist.Bucket {
		cum = append(cum, b.GetCumulativeCount())
	}
	if fmt.Sprint(cum) != "[5 15 17 18]" || hist.GetSampleCount() != 18 || hist.GetSampleSum() != 0.5 {
		t.Fatalf("histogram buckets %v count %d sum %v", cum, hist.GetSampleCount(), hist.GetSampleSum())
	}
	if b := fams["tlsmux_backend_dial_duration_seconds"].Metric[0].GetHistogram(); len(b.Bucket) != len(DefaultLatencyBounds)+1 || b.Bucket[0].GetUpperBound() != 0.0005 {
		t.Fatalf("dial histogram: %v", b)
	}
	// The process's own series are there too (untyped: no TYPE lines).
	if _, ok := fams["process_resident_memory_bytes"]; !ok {
		t.Error("no process_resident_memory_bytes")
	}
	if _, ok := fams["process_open_fds"]; !ok {
		t.Error("no process_open_fds")
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no go_goroutines")
	}

	// Traffic moves the counters; the next scrape shows exactly that.
	f.with(func(f *fakeTarget) {
		f.snap.Accepted += 10
		f.snap.BytesIn += 1234
		f.snap.Closed["idle_timeout"] += 3
		f.snap.Closed["max_connections"] = 2 // a new reason appears
		f.snap.Handshakes[0].N += 7
		f.snap.HandshakeSeconds.Counts[3] += 4
		f.snap.HandshakeSeconds.Sum += 2
		f.info.LowMem1 = true
	})
	e.call("nope.method", nil) // an admin error, counted
	fams = e.scrape()
	for _, c := range []struct {
		name   string
		typ    dto.MetricType
		labels []string
		want   float64
	}{
		{"tlsmux_accepted_total", C, nil, 15},
		{"tlsmux_clear_text_bytes_total", C, []string{"direction", "in"}, 1234},
		{"tlsmux_closed_total", C, []string{"reason", "idle_timeout"}, 7},
		{"tlsmux_closed_total", C, []string{"reason", "max_connections"}, 2},
		{"tlsmux_handshakes_total", C, []string{"version", "TLSv1.3"}, 12},
		{"tlsmux_low_memory", G, []string{"threshold", "1"}, 1},
		{"tlsmux_admin_requests_total", C, []string{"method", "other", "result", "error"}, 1},
	} {
		if got := value(t, fams, c.name, c.typ, c.labels...); got != c.want {
			t.Errorf("after traffic, %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := fams["tlsmux_handshake_duration_seconds"].Metric[0].GetHistogram().GetSampleCount(); got != 22 {
		t.Errorf("histogram count %d, want 22", got)
	}
}

func TestMetricsCardinalityCapped(t *testing.T) {
	f := newFake(0)
	for i := range MaxSeriesPerFamily + 44 {
		f.snap.Closed[fmt.Sprintf("reason_%03d", i)] = 1
	}
	e := start(t, f)
	fams := e.scrape()
	// newFake's Closed holds 2 reasons besides these.
	if n := len(fams["tlsmux_closed_total"].Metric); n != MaxSeriesPerFamily {
		t.Fatalf("%d series of tlsmux_closed_total, want %d", n, MaxSeriesPerFamily)
	}
	if got := value(t, fams, "tlsmux_metrics_series_dropped", dto.MetricType_GAUGE); got != 46 {
		t.Fatalf("dropped %v, want 46", got)
	}
}

func TestMetricsLabelEscaping(t *testing.T) {
	f := newFake(0)
	weird := "a \"quoted\" \\ profile\nwith a newline and \xff"
	f.snap.Certificates = append(f.snap.Certificates, CertExpiry{Profile: weird, NotAfter: time.Unix(1800000000, 0)})
	f.snap.Closed["x\"y"] = 5
	f.snap.Closed[`x"y`] += 0 // same key: nothing new
	e := start(t, f)
	fams := e.scrape()
	if got := value(t, fams, "tlsmux_certificate_expiry_timestamp_seconds", dto.MetricType_GAUGE, "profile", "a \"quoted\" \\ profile\nwith a newline and \uFFFD"); got != 1800000000 {
		t.Fatalf("escaped profile: %v", got)
	}
	if got := value(t, fams, "tlsmux_closed_total", dto.MetricType_COUNTER, "reason", `x"y`); got != 5 {
		t.Fatalf("escaped reason: %v", got)
	}
}

// TestMetricsBadSnapshot: a Target bug (a histogram of the wrong shape, a panic) must not break
// the rest of /metrics or the endpoint.
func TestMetricsBadSnapshot(t *testing.T) {
	f := newFake(0)
	f.snap.HandshakeSeconds = Histogram{Bounds: []float64{1, 0.5}, Counts: []uint64{1, 1, 1}} // bounds fall
	f.snap.BackendDialSeconds = Histogram{Bounds: []float64{1}, Counts: []uint64{1}}          // too few counts
	e := start(t, f)
	fams := e.scrape()
	if _, ok := fams["tlsmux_handshake_duration_seconds"]; ok {
		t.Error("a histogram with falling bounds was exported")
	}
	if _, ok := fams["tlsmux_backend_dial_duration_seconds"]; ok {
		t.Error("a histogram with the wrong number of counts was exported")
	}
	// A panic in the Target is an HTTP 500 with the reason, and the endpoint goes on.
	fp := newFake(0)
	fp.panicIn = "Metrics"
	e2 := start(t, fp)
	resp, err := e2.hc.Get(e2.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(body), "rendering metrics: fake panic in Metrics") {
		t.Fatalf("panicking Target: HTTP %d %q", resp.StatusCode, body)
	}
	e2.ok("tls.info", nil, nil)
}

func TestMetricsAdminCounters(t *testing.T) {
	e := start(t, newFake(0), func(o *Options) { o.MaxBodyBytes = 10 })
	e.post("/RPC", `{"jsonrpc":"2.0","method":"tls.info","id":1}`) // too large
	fams := e.scrape()
	if got := value(t, fams, "tlsmux_admin_refused_total", dto.MetricType_COUNTER, "reason", "too_large"); got != 1 {
		t.Fatalf("too_large = %v", got)
	}
}
