package load

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tlsmux/tlsmux/internal/loadgen"
)

func sample(scenario string) *Result {
	r := &Result{
		Scenario: scenario, Procs: 1, Conns: 10, OK: 9, Failed: 1,
		Failures: map[string]int{"dial": 1}, Errors: map[string]string{"dial": "connection refused"},
		Elapsed: 1500 * time.Millisecond, Handshakes: 9, HandshakesPerSec: 6.0004,
		Messages: 300, MessagesPerSec: 200.04, MBPerSec: 0.2048, Established: 250 * time.Millisecond,
		Recovery: 2 * time.Second, Alive: 9, Stallers: 4,
	}
	for i := 1; i <= 100; i++ {
		r.Latency.Record(time.Duration(i) * time.Millisecond)
		r.BaselineLatency.Record(time.Duration(i) * 100 * time.Microsecond)
	}
	r.HandshakeLatency.Record(3 * time.Millisecond)
	r.ReconnectLatency.Record(time.Second)
	return r
}

// TestResultJSON: each scenario prints the fields that apply to it, zeros included, and none
// of the others; the contract's field names and units.
func TestResultJSON(t *testing.T) {
	common := []string{"scenario", "conns", "ok", "failed", "failures", "errors", "mismatches", "elapsed_s", "procs"}
	for _, tc := range []struct {
		scenario string
		extra    []string
	}{
		{Handshake, []string{"handshakes", "resumed", "handshakes_per_s", "handshake_latency_us"}},
		{Idle, []string{"handshakes", "resumed", "handshake_latency_us", "alive", "established_s", "pongs"}},
		{Echo, []string{"handshakes", "messages", "messages_per_s", "mb_per_s", "latency_us", "handshake_latency_us", "established_s"}},
		{Storm, []string{"handshakes", "resumed", "handshake_latency_us", "alive", "established_s", "recovery_s", "reconnect_latency_us", "pongs"}},
		{Stall, []string{"messages", "messages_per_s", "mb_per_s", "latency_us", "baseline_latency_us", "baseline_messages_per_s", "stallers", "staller_closes", "staller_failures"}},
	} {
		b, err := json.Marshal(sample(tc.scenario))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range m {
			keys = append(keys, k)
		}
		want := append(slices.Clone(common), tc.extra...)
		slices.Sort(keys)
		slices.Sort(want)
		if !slices.Equal(keys, want) {
			t.Errorf("%s: keys %v, want %v", tc.scenario, keys, want)
		}
		if !strings.HasPrefix(string(b), `{"scenario":"`+tc.scenario+`","conns":10,"ok":9,"failed":1,"failures":{"dial":1},`) {
			t.Errorf("%s: %s", tc.scenario, b)
		}
	}
	b, _ := json.Marshal(sample(Echo))
	for _, want := range []string{`"elapsed_s":1.5,`, `"messages_per_s":200,`, `"mb_per_s":0.205,`, `"established_s":0.25,`,
		`"latency_us":{"p50":50`, `"p99":100000,`, `"max":100000}`, `"mismatches":0,`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("echo JSON lacks %s: %s", want, b)
		}
	}
	// Nothing measured: the latency is left out, the counts that apply are printed as zeros.
	empty := &Result{Scenario: Storm, Procs: 1}
	b, _ = json.Marshal(empty)
	if strings.Contains(string(b), "latency") || !strings.Contains(string(b), `"failures":{},`) || !strings.Contains(string(b), `"recovery_s":0,`) {
		t.Errorf("empty storm: %s", b)
	}
}

// TestChildResultMerge: what a child prints, its parent reads back exactly (histograms
// included), and merging two children adds counts and rates and keeps the longest times.
func TestChildResultMerge(t *testing.T) {
	for _, scenario := range Scenarios {
		a, b := sample(scenario), sample(scenario)
		b.Elapsed, b.Recovery, b.Errors = 3*time.Second, time.Second, map[string]string{"dial": "other", "read": "EOF"}
		b.Failures = map[string]int{"dial": 2, "read": 1}
		b.Latency.Record(time.Second)
		var back [2]*Result
		for i, r := range []*Result{a, b} {
			line, err := json.Marshal(r.wire(true))
			if err != nil {
				t.Fatal(err)
			}
			if back[i], err = parseChild(line); err != nil {
				t.Fatalf("%s: %v\n%s", scenario, err, line)
			}
		}
		if back[0].Latency != a.Latency || back[0].BaselineLatency != a.BaselineLatency || back[0].ReconnectLatency != a.ReconnectLatency {
			t.Errorf("%s: histograms differ after the round trip", scenario)
		}
		m := back[0]
		m.merge(back[1])
		if m.Procs != 2 || m.Conns != 20 || m.OK != 18 || m.Failed != 2 || m.Failures["dial"] != 3 || m.Failures["read"] != 1 ||
			m.Errors["dial"] != "connection refused" || m.Errors["read"] != "EOF" || m.Elapsed != 3*time.Second {
			t.Errorf("%s: merged %+v", scenario, m)
		}
		if m.Latency.Count() != 201 || m.Latency.Max() != time.Second {
			t.Errorf("%s: merged latency count %d max %v", scenario, m.Latency.Count(), m.Latency.Max())
		}
		applies := func(f string) bool { return slices.Contains(fields[scenario], f) }
		if applies("messages") && (m.Messages != 600 || m.MessagesPerSec != 400.1 && m.MessagesPerSec != 400) {
			t.Errorf("%s: merged messages %d, %v/s", scenario, m.Messages, m.MessagesPerSec)
		}
		if applies("recovery_s") && m.Recovery != 2*time.Second {
			t.Errorf("%s: merged recovery %v", scenario, m.Recovery)
		}
		if applies("stallers") && m.Stallers != 8 {
			t.Errorf("%s: merged stallers %d", scenario, m.Stallers)
		}
	}
	if _, err := parseChild([]byte(`{"scenario":"echo"}`)); err == nil {
		t.Error("a result without histograms was accepted from a child")
	}
}

func TestResultText(t *testing.T) {
	for scenario, want := range map[string][]string{
		Handshake: {"handshake 127.0.0.1:5061: 10 conns, 9 ok, 1 failed, 0 mismatches in 1.5s (1 process)", "handshakes: 9 (0 resumed), 6.0/s", "failed dial: 1 (first: connection refused)"},
		Echo:      {"established in 250ms", "messages: 300, 200.0/s, 0.20 MB/s; round trip p50 50"},
		Storm:     {"back after the drop: 9", "recovery: 2s"},
		Stall:     {"without the 4 stallers", "round trip p50"},
		Idle:      {"alive at the end: 9"},
	} {
		text := sample(scenario).Text("127.0.0.1:5061")
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Errorf("%s: text lacks %q:\n%s", scenario, w, text)
			}
		}
	}
	var h loadgen.Histogram
	if quantileText(&h) != "n/a" {
		t.Error("empty histogram")
	}
}
