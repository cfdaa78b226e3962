package admin

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"
)

// MaxSeriesPerFamily caps the series of one labelled metric family. The label values come from
// fixed sets (close reasons, TLS versions and ciphers, configured profiles), so the cap is only
// reached by a bug or a configuration with hundreds of profiles; the series past it are dropped
// and counted in tlsmux_metrics_series_dropped, never exported with unbounded cardinality.
const MaxSeriesPerFamily = 256

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.stats.refused[refusedHTTPMethod].Add(1)
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	var buf bytes.Buffer
	if err := s.writeMetrics(&buf); err != nil {
		s.log.Error("admin: /metrics", "err", err)
		http.Error(w, "internal error: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(buf.Bytes())
}

// writeMetrics renders Info, the Target's Snapshot, the endpoint's own counters and the
// process's (go_*, process_*) in the Prometheus text format 0.0.4.
//
// Each family is written as its own HELP and TYPE lines followed by the series of a fresh
// metrics.Set: VictoriaMetrics/metrics formats and validates the series (and sorts them), while
// the HELP text, which it cannot carry, is ours. A fresh Set per scrape also means a series that
// vanished from the Snapshot (a profile removed by a reload) is not exported any more.
func (s *Server) writeMetrics(w io.Writer) (err error) {
	defer func() {
		// metrics panics on a name it finds invalid; every name here is built from constants and
		// escaped values, so this is a bug, reported as an error rather than a dead endpoint.
		if p := recover(); p != nil {
			err = fmt.Errorf("rendering metrics: %v", p)
		}
	}()
	info := s.t.Info()
	snap := s.t.Metrics()
	m := &metricWriter{w: w}

	// Connections.
	m.gauge("tlsmux_connections_max", "Client connections allowed (tcp.max_connections).", float64(info.MaxConnections))
	m.gauge("tlsmux_connections_open", "Client connections open now (Kamailio tls.info opened_connections).", float64(info.OpenedConnections))
	m.gaugeMap("tlsmux_connections", "Open client connections by state.", "state", snap.ConnsByState)
	m.counter("tlsmux_accepted_total", "Client connections accepted.", snap.Accepted)
	m.counterMap("tlsmux_closed_total", "Client connections closed or refused, by reason (each counted once, under its first reason).", "reason", snap.Closed)
	m.counterMap("tlsmux_admission_refused_total", "Connections refused before a handshake, by reason.", "reason", snap.AdmissionRefused)
	m.gauge("tlsmux_draining", "1 while shutting down: new connections are refused.", b2f(info.Draining))

	// Handshakes.
	m.family("tlsmux_handshakes_total", "Completed TLS handshakes by version, cipher and session resumption.", "counter", func(set *metrics.Set) {
		for _, h := range capSlice(m, snap.Handshakes) {
			c := set.GetOrCreateCounter(series("tlsmux_handshakes_total", "version", h.Version, "cipher", h.Cipher, "resumed", strconv.FormatBool(h.Resumed)))
			c.Set(c.Get() + h.N)
		}
	})
	m.counterMap("tlsmux_handshake_failures_total", "TLS handshakes that did not complete, by reason.", "reason", snap.HandshakeFailures)
	m.histogram("tlsmux_handshake_duration_seconds", "Time from a whole ClientHello to the end of the handshake.", snap.HandshakeSeconds)
	m.gauge("tlsmux_handshakes_in_flight", "TLS handshakes running now.", float64(info.HandshakesInFlight))
	m.gauge("tlsmux_handshakes_waiting", "Whole ClientHellos waiting for a handshake slot or the handshake rate.", float64(info.HandshakesWaiting))
	m.gauge("tlsmux_handshakes_max", "Cap on TLS handshakes in flight.", float64(info.MaxHandshakes))

	// Bytes and queues.
	m.family("tlsmux_clear_text_bytes_total", "Clear text forwarded: in = from the phones to the core, out = from the core to the phones.", "counter", func(set *metrics.Set) {
		set.GetOrCreateCounter(series("tlsmux_clear_text_bytes_total", "direction", "in")).Set(snap.BytesIn)
		set.GetOrCreateCounter(series("tlsmux_clear_text_bytes_total", "direction", "out")).Set(snap.BytesOut)
	})
	m.family("tlsmux_queue_bytes", "Bytes queued now: clear_text = waiting for TLS (Kamailio clear_text_write_queued_bytes), send = not yet taken by the kernel.", "gauge", func(set *metrics.Set) {
		set.GetOrCreateGauge(series("tlsmux_queue_bytes", "queue", "clear_text"), nil).Set(float64(info.ClearTextWriteQueuedBytes))
		set.GetOrCreateGauge(series("tlsmux_queue_bytes", "queue", "send"), nil).Set(float64(info.SendQueued))
	})
	m.family("tlsmux_queue_limit_bytes", "Queue limits: clear_text = tls.ct_wq_max, clear_text_conn = tls.con_ct_wq_max, send = tcp.wq_max, send_conn = tcp.conn_wq_max; -1 none.", "gauge", func(set *metrics.Set) {
		for _, q := range []struct {
			name string
			v    int64
		}{{"clear_text", info.CtWqMax}, {"clear_text_conn", info.ConCtWqMax}, {"send", info.TCPWqMax}, {"send_conn", info.TCPConnWqMax}} {
			set.GetOrCreateGauge(series("tlsmux_queue_limit_bytes", "queue", q.name), nil).Set(float64(q.v))
		}
	})
	m.counterMap("tlsmux_queue_refused_total", "Writes refused by a queue limit, by reason (the connection is closed).", "reason", snap.QueueRefused)
	m.counterMap("tlsmux_dropped_bytes_total", "Bytes refused or dropped, by reason.", "reason", snap.DroppedBytes)

	// Memory.
	m.gauge("tlsmux_memory_limit_bytes", "Memory budget; 0 none.", float64(info.MemLimit))
	m.gauge("tlsmux_memory_in_use_bytes", "Memory in use, as last sampled.", float64(info.MemInUse))
	m.gauge("tlsmux_memory_free_bytes", "Memory budget minus memory in use; may be negative.", float64(info.MemFree))
	m.family("tlsmux_low_memory", "1 while free memory is under low_mem_threshold1 (new TLS connections refused) or low_mem_threshold2 (queue growth refused).", "gauge", func(set *metrics.Set) {
		set.GetOrCreateGauge(series("tlsmux_low_memory", "threshold", "1"), nil).Set(b2f(info.LowMem1))
		set.GetOrCreateGauge(series("tlsmux_low_memory", "threshold", "2"), nil).Set(b2f(info.LowMem2))
	})
	m.family("tlsmux_low_memory_threshold_bytes", "low_mem_threshold1 and low_mem_threshold2 in force; 0 off.", "gauge", func(set *metrics.Set) {
		set.GetOrCreateGauge(series("tlsmux_low_memory_threshold_bytes", "threshold", "1"), nil).Set(float64(info.LowMemThreshold1))
		set.GetOrCreateGauge(series("tlsmux_low_memory_threshold_bytes", "threshold", "2"), nil).Set(float64(info.LowMemThreshold2))
	})
	m.family("tlsmux_low_memory_entries_total", "Times free memory fell under each threshold.", "counter", func(set *metrics.Set) {
		set.GetOrCreateCounter(series("tlsmux_low_memory_entries_total", "threshold", "1")).Set(snap.LowMem1Entries)
		set.GetOrCreateCounter(series("tlsmux_low_memory_entries_total", "threshold", "2")).Set(snap.LowMem2Entries)
	})

	// Profiles and backend.
	m.counterMap("tlsmux_reloads_total", "Reloads of the TLS profiles, by result.", "result", snap.Reloads)
	certs := capSlice(m, snap.Certificates)
	m.family("tlsmux_certificate_expiry_timestamp_seconds", "When the certificate a profile serves expires, Unix time (alert on it minus time()).", "gauge", func(set *metrics.Set) {
		for _, c := range certs {
			set.GetOrCreateGauge(series("tlsmux_certificate_expiry_timestamp_seconds", "profile", c.Profile), nil).Set(float64(c.NotAfter.Unix()))
		}
	})
	now := s.o.Now()
	m.family("tlsmux_certificate_expiry_seconds", "Seconds until the certificate a profile serves expires; negative once expired.", "gauge", func(set *metrics.Set) {
		for _, c := range certs {
			set.GetOrCreateGauge(series("tlsmux_certificate_expiry_seconds", "profile", c.Profile), nil).Set(math.Round(c.NotAfter.Sub(now).Seconds()))
		}
	})
	m.counterMap("tlsmux_backend_dial_failures_total", "Backend (SIP core) connections that failed, by reason.", "reason", snap.BackendDialFailures)
	m.histogram("tlsmux_backend_dial_duration_seconds", "Time to connect to the backend, successful dials.", snap.BackendDialSeconds)

	// The endpoint itself.
	m.family("tlsmux_admin_requests_total", "Admin JSON-RPC calls by method and result (method=\"other\": unknown methods and invalid requests).", "counter", func(set *metrics.Set) {
		for i := range s.stats.calls {
			name := "other"
			if i < len(methods) {
				name = methods[i].name
			} else if i != len(s.stats.calls)-1 {
				continue
			}
			for r, result := range []string{"ok", "error"} {
				if n := s.stats.calls[i][r].Load(); n > 0 {
					set.GetOrCreateCounter(series("tlsmux_admin_requests_total", "method", name, "result", result)).Set(n)
				}
			}
		}
	})
	m.family("tlsmux_admin_refused_total", "Admin HTTP requests refused before any method ran, by reason.", "counter", func(set *metrics.Set) {
		for i, name := range refusedNames {
			set.GetOrCreateCounter(series("tlsmux_admin_refused_total", "reason", name)).Set(s.stats.refused[i].Load())
		}
	})
	m.gauge("tlsmux_metrics_series_dropped", "Series left out of this scrape by the per-family cap.", float64(m.dropped))

	// go_* and process_*, with their own format (no HELP/TYPE lines: untyped to a parser).
	// process_open_fds reads /proc/self/fd, one entry per connection: a few ms at 100,000
	// connections, once per scrape, and the one number that warns of fd exhaustion.
	metrics.WriteProcessMetrics(w)
	metrics.WriteFDMetrics(w)
	return m.err
}

// metricWriter writes families; the first write error sticks.
type metricWriter struct {
	w       io.Writer
	dropped int
	err     error
}

// family writes the HELP and TYPE lines of name, then the series fill adds to a fresh Set.
func (m *metricWriter) family(name, help, typ string, fill func(*metrics.Set)) {
	set := metrics.NewSet()
	fill(set)
	if len(set.ListMetricNames()) == 0 {
		return
	}
	if m.err == nil {
		_, m.err = fmt.Fprintf(m.w, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
	}
	if m.err == nil {
		set.WritePrometheus(m.w)
	}
}

func (m *metricWriter) gauge(name, help string, v float64) {
	m.family(name, help, "gauge", func(set *metrics.Set) { set.GetOrCreateGauge(name, nil).Set(v) })
}

func (m *metricWriter) counter(name, help string, v uint64) {
	m.family(name, help, "counter", func(set *metrics.Set) { set.GetOrCreateCounter(name).Set(v) })
}

func (m *metricWriter) counterMap(name, help, label string, vals map[string]uint64) {
	m.family(name, help, "counter", func(set *metrics.Set) {
		for _, k := range capKeys(m, vals) {
			c := set.GetOrCreateCounter(series(name, label, k))
			c.Set(c.Get() + vals[k]) // two keys equal after escaping add up rather than collide
		}
	})
}

func (m *metricWriter) gaugeMap(name, help, label string, vals map[string]int64) {
	m.family(name, help, "gauge", func(set *metrics.Set) {
		for _, k := range capKeys(m, vals) {
			g := set.GetOrCreateGauge(series(name, label, k), nil)
			g.Add(float64(vals[k]))
		}
	})
}

// histogram writes a Histogram snapshot as a Prometheus histogram: cumulative _bucket series
// with le, then _sum and _count. metrics' own histograms cannot be loaded from a snapshot.
func (m *metricWriter) histogram(name, help string, h Histogram) {
	if len(h.Counts) == 0 || len(h.Counts) != len(h.Bounds)+1 {
		return
	}
	for i := 1; i < len(h.Bounds); i++ {
		if !(h.Bounds[i] > h.Bounds[i-1]) {
			return
		}
	}
	if m.err != nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s histogram\n", name, escapeHelp(help), name)
	var cum uint64
	for i, ub := range h.Bounds {
		cum += h.Counts[i]
		fmt.Fprintf(&b, "%s_bucket{le=\"%s\"} %d\n", name, strconv.FormatFloat(ub, 'g', -1, 64), cum)
	}
	cum += h.Counts[len(h.Bounds)]
	fmt.Fprintf(&b, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", name, cum, name, strconv.FormatFloat(h.Sum, 'g', -1, 64), name, cum)
	_, m.err = io.WriteString(m.w, b.String())
}

// capKeys returns the keys of vals in order, at most MaxSeriesPerFamily of them.
func capKeys[V any](m *metricWriter, vals map[string]V) []string {
	keys := slices.Sorted(maps.Keys(vals))
	if len(keys) > MaxSeriesPerFamily {
		m.dropped += len(keys) - MaxSeriesPerFamily
		keys = keys[:MaxSeriesPerFamily]
	}
	return keys
}

func capSlice[T any](m *metricWriter, list []T) []T {
	if len(list) > MaxSeriesPerFamily {
		m.dropped += len(list) - MaxSeriesPerFamily
		return list[:MaxSeriesPerFamily]
	}
	return list
}

// series builds name{k1="v1",...} with the values escaped as the text format requires
// (backslash, double quote, newline) and made valid UTF-8.
func series(name string, kv ...string) string {
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(kv[i])
		b.WriteString(`="`)
		v := strings.ToValidUTF8(kv[i+1], string(utf8.RuneError))
		for _, r := range v {
			switch r {
			case '\\':
				b.WriteString(`\\`)
			case '"':
				b.WriteString(`\"`)
			case '\n':
				b.WriteString(`\n`)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
