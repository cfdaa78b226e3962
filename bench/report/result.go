package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Result is the JSON object `tlsbench <scenario> -json` prints on stdout at the end (the bench
// contract); fields that do not apply to a scenario are zero. The report keeps its own copy of
// the schema rather than importing tlsbench's, so the two programs meet only at the wire
// format, as they would across versions.
type Result struct {
	Scenario   string         `json:"scenario"`
	Conns      int            `json:"conns"`
	OK         int            `json:"ok"`
	Failed     int            `json:"failed"`
	Failures   map[string]int `json:"failures"`
	Mismatches int64          `json:"mismatches"`
	ElapsedS   float64        `json:"elapsed_s"`

	Handshakes     int     `json:"handshakes"`
	Resumed        int     `json:"resumed"`
	HandshakesPerS float64 `json:"handshakes_per_s"`

	Messages     int64   `json:"messages"`
	MessagesPerS float64 `json:"messages_per_s"`
	MBPerS       float64 `json:"mb_per_s"`

	Latency          *Latency `json:"latency_us"`
	HandshakeLatency *Latency `json:"handshake_latency_us"`
	BaselineLatency  *Latency `json:"baseline_latency_us"` // stall: the load without stallers

	Alive        int     `json:"alive"`
	EstablishedS float64 `json:"established_s"`
	RecoveryS    float64 `json:"recovery_s"`
	Procs        int     `json:"procs"`
}

// Latency holds quantiles in microseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
}

// ParseResult finds the Result in tlsbench's stdout: the JSON object that starts on the first
// line beginning with '{' (lines before it, such as "READY 1000", are the scenario's own
// signals). Unknown fields are ignored, so tlsbench may add some.
func ParseResult(stdout []byte) (Result, error) {
	start := -1
	for off := 0; off < len(stdout); {
		if stdout[off] == '{' {
			start = off
			break
		}
		nl := bytes.IndexByte(stdout[off:], '\n')
		if nl < 0 {
			break
		}
		off += nl + 1
	}
	if start < 0 {
		return Result{}, errors.New("report: no JSON result in tlsbench's output")
	}
	var r Result
	dec := json.NewDecoder(bytes.NewReader(stdout[start:]))
	if err := dec.Decode(&r); err != nil {
		return Result{}, fmt.Errorf("report: tlsbench's JSON result: %w", err)
	}
	return r, nil
}

// failureText summarises what failed in r, or returns "" when nothing did.
func (r Result) failureText() string {
	if r.Failed == 0 && r.Mismatches == 0 {
		return ""
	}
	s := fmt.Sprintf("%d failed", r.Failed)
	if len(r.Failures) > 0 {
		s += " (" + formatCounts(r.Failures) + ")"
	}
	if r.Mismatches > 0 {
		s += fmt.Sprintf(", %d echo mismatches", r.Mismatches)
	}
	return s
}
