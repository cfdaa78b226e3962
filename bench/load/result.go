package load

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/tlsmux/tlsmux/internal/loadgen"
)

// Result is what a run measured. With -json it is printed as one JSON object (MarshalJSON)
// holding the fields that apply to the scenario; see the package doc for the schema.
type Result struct {
	Scenario string
	Procs    int // processes that made the connections

	// Conns is the connections made: handshake, the handshakes attempted; idle and storm,
	// the connections held; echo, the echoing connections; stall, the echo connections of
	// both phases together (each phase makes its own).
	Conns      int
	OK         int               // connections that did everything asked
	Failed     int               // connections that failed; by reason in Failures
	Failures   map[string]int    // loadgen reasons: dial, handshake, write, read, mismatch, protocol, timeout, canceled
	Errors     map[string]string // the first error of each reason
	Mismatches int               // connections whose echo differed from what was sent
	Elapsed    time.Duration     // wall time of the scenario

	Handshakes       int // TLS handshakes completed
	Resumed          int // of which resumed a session (-resume)
	HandshakesPerSec float64
	HandshakeLatency loadgen.Histogram // TCP connect to handshake end

	Messages       int     // messages echoed and verified (in the measured window)
	MessagesPerSec float64 // over the measured window
	MBPerSec       float64 // message bytes sent per second, 10^6 bytes (as many come back)
	Latency        loadgen.Histogram

	Alive            int           // idle: connections alive at the end; storm: connections back
	Established      time.Duration // idle, echo, storm: until every connection was made (or failed)
	Recovery         time.Duration // storm: from the drop until the last connection was back
	ReconnectLatency loadgen.Histogram
	Pongs            int // keepalive pongs received

	// stall: the first phase (without stallers) and the stallers of the second.
	BaselineLatency        loadgen.Histogram
	BaselineMessagesPerSec float64
	Stallers               int // stalling connections kept up during the second phase
	StallerCloses          int // stalling connections the target closed (each then made anew)
	StallerFailures        int // stalling connections that could not be made
}

// fromReport fills a Result from a loadgen run.
func fromReport(scenario string, rep *loadgen.Report) *Result {
	r := &Result{
		Scenario: scenario, Procs: 1,
		Conns: rep.Conns, OK: rep.OK, Failed: rep.Failed,
		Failures: map[string]int{}, Errors: map[string]string{},
		Mismatches: rep.Failures[loadgen.Mismatch],
		Elapsed:    rep.Elapsed,
		Handshakes: rep.Handshakes, Resumed: rep.Resumed,
		Messages: rep.Messages, Pongs: rep.Pongs,
		Recovery: rep.Recovery,
	}
	for reason, n := range rep.Failures {
		r.Failures[reason.String()] = n
	}
	for reason, e := range rep.Errors {
		r.Errors[reason.String()] = e
	}
	r.Latency.Merge(&rep.Latency)
	r.HandshakeLatency.Merge(&rep.HandshakeLatency)
	r.ReconnectLatency.Merge(&rep.ReconnectLatency)
	return r
}

// merge adds o, measured by another process at the same time, to r: counts and rates add up,
// times take the longest, histograms merge.
func (r *Result) merge(o *Result) {
	r.Procs += o.Procs
	r.addOutcomes(o)
	r.Elapsed = max(r.Elapsed, o.Elapsed)
	r.Handshakes += o.Handshakes
	r.Resumed += o.Resumed
	r.HandshakesPerSec += o.HandshakesPerSec
	r.HandshakeLatency.Merge(&o.HandshakeLatency)
	r.Messages += o.Messages
	r.MessagesPerSec += o.MessagesPerSec
	r.MBPerSec += o.MBPerSec
	r.Latency.Merge(&o.Latency)
	r.Alive += o.Alive
	r.Established = max(r.Established, o.Established)
	r.Recovery = max(r.Recovery, o.Recovery)
	r.ReconnectLatency.Merge(&o.ReconnectLatency)
	r.Pongs += o.Pongs
	r.BaselineLatency.Merge(&o.BaselineLatency)
	r.BaselineMessagesPerSec += o.BaselineMessagesPerSec
	r.Stallers += o.Stallers
	r.StallerCloses += o.StallerCloses
	r.StallerFailures += o.StallerFailures
}

// addOutcomes adds o's connection outcomes (counts, failures by reason, the first error of
// each reason, mismatches) to r.
func (r *Result) addOutcomes(o *Result) {
	r.Conns += o.Conns
	r.OK += o.OK
	r.Failed += o.Failed
	for k, v := range o.Failures {
		r.Failures[k] += v
	}
	for k, v := range o.Errors {
		if _, ok := r.Errors[k]; !ok {
			r.Errors[k] = v
		}
	}
	r.Mismatches += o.Mismatches
}

// Quantiles are latency quantiles in whole microseconds.
type Quantiles struct {
	P50  int64 `json:"p50"`
	P99  int64 `json:"p99"`
	P999 int64 `json:"p999"`
	Max  int64 `json:"max"`
}

func quantilesOf(h *loadgen.Histogram) *Quantiles {
	if h.Count() == 0 {
		return nil
	}
	us := func(d time.Duration) int64 { return int64((d + 500*time.Nanosecond) / time.Microsecond) }
	return &Quantiles{P50: us(h.Quantile(0.5)), P99: us(h.Quantile(0.99)), P999: us(h.Quantile(0.999)), Max: us(h.Max())}
}

// wire is the JSON form. Pointer fields are omitted when they do not apply to the scenario
// (a zero that applies is printed); field order follows the bench contract.
type wire struct {
	Scenario             string            `json:"scenario"`
	Conns                int               `json:"conns"`
	OK                   int               `json:"ok"`
	Failed               int               `json:"failed"`
	Failures             map[string]int    `json:"failures"`
	Errors               map[string]string `json:"errors,omitempty"`
	Mismatches           int               `json:"mismatches"`
	ElapsedS             float64           `json:"elapsed_s"`
	Handshakes           *int              `json:"handshakes,omitempty"`
	Resumed              *int              `json:"resumed,omitempty"`
	HandshakesPerS       *float64          `json:"handshakes_per_s,omitempty"`
	Messages             *int              `json:"messages,omitempty"`
	MessagesPerS         *float64          `json:"messages_per_s,omitempty"`
	MBPerS               *float64          `json:"mb_per_s,omitempty"`
	Latency              *Quantiles        `json:"latency_us,omitempty"`
	HandshakeLatency     *Quantiles        `json:"handshake_latency_us,omitempty"`
	Alive                *int              `json:"alive,omitempty"`
	EstablishedS         *float64          `json:"established_s,omitempty"`
	RecoveryS            *float64          `json:"recovery_s,omitempty"`
	ReconnectLatency     *Quantiles        `json:"reconnect_latency_us,omitempty"`
	BaselineLatency      *Quantiles        `json:"baseline_latency_us,omitempty"`
	BaselineMessagesPerS *float64          `json:"baseline_messages_per_s,omitempty"`
	Stallers             *int              `json:"stallers,omitempty"`
	StallerCloses        *int              `json:"staller_closes,omitempty"`
	StallerFailures      *int              `json:"staller_failures,omitempty"`
	Pongs                *int              `json:"pongs,omitempty"`
	Procs                int               `json:"procs"`

	// Hists carries the histograms from a child process to its parent, which merges them
	// exactly; a top-level run leaves it out.
	Hists *wireHists `json:"hists,omitempty"`
}

type wireHists struct {
	Latency   *loadgen.Histogram `json:"latency"`
	Handshake *loadgen.Histogram `json:"handshake"`
	Reconnect *loadgen.Histogram `json:"reconnect"`
	Baseline  *loadgen.Histogram `json:"baseline"`
}

// fields lists, per scenario, the optional fields that apply.
var fields = map[string][]string{
	Handshake: {"handshakes", "resumed", "handshakes_per_s", "handshake_latency_us"},
	Idle:      {"handshakes", "resumed", "handshake_latency_us", "alive", "established_s", "pongs"},
	Echo:      {"handshakes", "messages", "messages_per_s", "mb_per_s", "latency_us", "handshake_latency_us", "established_s"},
	Storm:     {"handshakes", "resumed", "handshake_latency_us", "alive", "established_s", "recovery_s", "reconnect_latency_us", "pongs"},
	Stall:     {"messages", "messages_per_s", "mb_per_s", "latency_us", "baseline_latency_us", "baseline_messages_per_s", "stallers", "staller_closes", "staller_failures"},
}

func round(x float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(x*p) / p
}

func (r *Result) wire(withHists bool) wire {
	w := wire{
		Scenario: r.Scenario, Conns: r.Conns, OK: r.OK, Failed: r.Failed,
		Failures: r.Failures, Mismatches: r.Mismatches,
		ElapsedS: round(r.Elapsed.Seconds(), 3), Procs: r.Procs,
	}
	if w.Failures == nil {
		w.Failures = map[string]int{}
	}
	if len(r.Errors) > 0 {
		w.Errors = r.Errors
	}
	ptr := func(v int) *int { return &v }
	f := func(v float64, digits int) *float64 { v = round(v, digits); return &v }
	for _, name := range fields[r.Scenario] {
		switch name {
		case "handshakes":
			w.Handshakes = ptr(r.Handshakes)
		case "resumed":
			w.Resumed = ptr(r.Resumed)
		case "handshakes_per_s":
			w.HandshakesPerS = f(r.HandshakesPerSec, 1)
		case "messages":
			w.Messages = ptr(r.Messages)
		case "messages_per_s":
			w.MessagesPerS = f(r.MessagesPerSec, 1)
		case "mb_per_s":
			w.MBPerS = f(r.MBPerSec, 3)
		case "latency_us":
			w.Latency = quantilesOf(&r.Latency)
		case "handshake_latency_us":
			w.HandshakeLatency = quantilesOf(&r.HandshakeLatency)
		case "alive":
			w.Alive = ptr(r.Alive)
		case "established_s":
			w.EstablishedS = f(r.Established.Seconds(), 3)
		case "recovery_s":
			w.RecoveryS = f(r.Recovery.Seconds(), 3)
		case "reconnect_latency_us":
			w.ReconnectLatency = quantilesOf(&r.ReconnectLatency)
		case "baseline_latency_us":
			w.BaselineLatency = quantilesOf(&r.BaselineLatency)
		case "baseline_messages_per_s":
			w.BaselineMessagesPerS = f(r.BaselineMessagesPerSec, 1)
		case "stallers":
			w.Stallers = ptr(r.Stallers)
		case "staller_closes":
			w.StallerCloses = ptr(r.StallerCloses)
		case "staller_failures":
			w.StallerFailures = ptr(r.StallerFailures)
		case "pongs":
			w.Pongs = ptr(r.Pongs)
		}
	}
	if withHists {
		w.Hists = &wireHists{Latency: &r.Latency, Handshake: &r.HandshakeLatency, Reconnect: &r.ReconnectLatency, Baseline: &r.BaselineLatency}
	}
	return w
}

// MarshalJSON encodes r as the bench contract's Result object.
func (r *Result) MarshalJSON() ([]byte, error) { return json.Marshal(r.wire(false)) }

// parseChild decodes the Result a child process printed (with its histograms).
func parseChild(b []byte) (*Result, error) {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, err
	}
	if w.Hists == nil {
		return nil, fmt.Errorf("no histograms in %.80s", b)
	}
	i := func(p *int) int {
		if p == nil {
			return 0
		}
		return *p
	}
	f := func(p *float64) float64 {
		if p == nil {
			return 0
		}
		return *p
	}
	secs := func(p *float64) time.Duration { return time.Duration(f(p) * float64(time.Second)) }
	r := &Result{
		Scenario: w.Scenario, Procs: w.Procs, Conns: w.Conns, OK: w.OK, Failed: w.Failed,
		Failures: w.Failures, Errors: w.Errors, Mismatches: w.Mismatches,
		Elapsed:    time.Duration(w.ElapsedS * float64(time.Second)),
		Handshakes: i(w.Handshakes), Resumed: i(w.Resumed), HandshakesPerSec: f(w.HandshakesPerS),
		Messages: i(w.Messages), MessagesPerSec: f(w.MessagesPerS), MBPerSec: f(w.MBPerS),
		Alive: i(w.Alive), Established: secs(w.EstablishedS), Recovery: secs(w.RecoveryS), Pongs: i(w.Pongs),
		BaselineMessagesPerSec: f(w.BaselineMessagesPerS), Stallers: i(w.Stallers), StallerCloses: i(w.StallerCloses),
		StallerFailures: i(w.StallerFailures),
	}
	if r.Failures == nil {
		r.Failures = map[string]int{}
	}
	if r.Errors == nil {
		r.Errors = map[string]string{}
	}
	for dst, src := range map[*loadgen.Histogram]*loadgen.Histogram{
		&r.Latency: w.Hists.Latency, &r.HandshakeLatency: w.Hists.Handshake,
		&r.ReconnectLatency: w.Hists.Reconnect, &r.BaselineLatency: w.Hists.Baseline,
	} {
		if src != nil {
			dst.Merge(src)
		}
	}
	return r, nil
}

// Text renders r as a short human summary.
func (r *Result) Text(target string) string {
	var b strings.Builder
	procs := "1 process"
	if r.Procs != 1 {
		procs = fmt.Sprintf("%d processes", r.Procs)
	}
	fmt.Fprintf(&b, "%s %s: %d conns, %d ok, %d failed, %d mismatches in %v (%s)\n",
		r.Scenario, target, r.Conns, r.OK, r.Failed, r.Mismatches, r.Elapsed.Round(time.Millisecond), procs)
	has := func(name string) bool { return contains(fields[r.Scenario], name) }
	if has("established_s") {
		fmt.Fprintf(&b, "established in %v\n", r.Established.Round(time.Millisecond))
	}
	if has("handshakes") {
		fmt.Fprintf(&b, "handshakes: %d (%d resumed)", r.Handshakes, r.Resumed)
		if has("handshakes_per_s") {
			fmt.Fprintf(&b, ", %.1f/s", r.HandshakesPerSec)
		}
		fmt.Fprintf(&b, "; connect+handshake %s\n", quantileText(&r.HandshakeLatency))
	}
	if has("messages") {
		fmt.Fprintf(&b, "messages: %d, %.1f/s, %.2f MB/s; round trip %s\n", r.Messages, r.MessagesPerSec, r.MBPerSec, quantileText(&r.Latency))
	}
	if has("baseline_latency_us") {
		fmt.Fprintf(&b, "without the %d stallers: %.1f msgs/s; round trip %s\n", r.Stallers, r.BaselineMessagesPerSec, quantileText(&r.BaselineLatency))
		fmt.Fprintf(&b, "stalling connections closed by the target: %d, not made: %d\n", r.StallerCloses, r.StallerFailures)
	}
	if has("alive") {
		what := "alive at the end"
		if r.Scenario == Storm {
			what = "back after the drop"
		}
		fmt.Fprintf(&b, "%s: %d", what, r.Alive)
		if has("pongs") {
			fmt.Fprintf(&b, " (keepalive pongs: %d)", r.Pongs)
		}
		b.WriteString("\n")
	}
	if has("recovery_s") {
		fmt.Fprintf(&b, "recovery: %v; per connection %s\n", r.Recovery.Round(time.Millisecond), quantileText(&r.ReconnectLatency))
	}
	reasons := make([]string, 0, len(r.Failures))
	for k := range r.Failures {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	for _, k := range reasons {
		fmt.Fprintf(&b, "failed %s: %d (first: %s)\n", k, r.Failures[k], r.Errors[k])
	}
	return b.String()
}

func quantileText(h *loadgen.Histogram) string {
	q := quantilesOf(h)
	if q == nil {
		return "n/a"
	}
	return fmt.Sprintf("p50 %dµs p99 %dµs p999 %dµs max %dµs", q.P50, q.P99, q.P999, q.Max)
}
