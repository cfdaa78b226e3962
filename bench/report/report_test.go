package report

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// syntheticReport is a quick run's measurements with round numbers, as Run would record them.
func syntheticReport() (*Report, *runner) {
	p := Quick()
	r := &runner{plan: p, perProcess: 9900, fdLimit: 20000, perFull: map[string]time.Duration{
		TLSMux: 200 * time.Microsecond, Baseline: 500 * time.Microsecond,
	}}
	rep := &Report{
		Plan:    p,
		Env:     []string{"AMD EPYC, 2 CPUs, linux/amd64, go1.26.8; tlsmux at 964d9ce", "Target pinned to CPU 0."},
		Started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Elapsed: 150 * time.Second,
	}
	lat := func(p50, p99 float64) *Latency { return &Latency{P50: p50, P99: p99, P999: 2 * p99} }
	mib := func(f float64) int64 { return int64(f * (1 << 20)) }
	for _, kind := range targets {
		k := 1.0 // the baseline's figures are k times tlsmux's
		if kind == Baseline {
			k = 2.5
		}
		add := func(m Measurement) {
			m.Target, m.Procs = kind, 1
			if m.Result.OK == 0 {
				m.Result.OK = m.Conns
			}
			rep.Runs = append(rep.Runs, m)
		}
		add(Measurement{Key: "handshake", Label: "full handshakes", Conns: 50, CPU: time.Duration(3000*k*200) * time.Microsecond,
			Result: Result{Handshakes: 3000}})
		// 50 full (one per worker), 2,950 resumed at 80 µs × k.
		add(Measurement{Key: "resume", Label: "resumed handshakes", Conns: 50,
			CPU:    time.Duration(50*k*200+2950*k*80) * time.Microsecond,
			Result: Result{Handshakes: 3000, Resumed: 2950}})
		add(Measurement{Key: "idle", Label: "1,000 idle connections", Conns: 1000, ReadyConns: 1000,
			Before: Usage{RSS: mib(10)}, Ready: Usage{RSS: mib(10) + int64(1000*k*10*1024)}, After: Usage{RSS: mib(12), HWM: mib(30)},
			Ramp: []Point{{X: 500, Y: 12 * k}}})
		// 1,000 connections' handshakes (0.2 s × k) plus 100,000 messages at 10 µs × k.
		add(Measurement{Key: "echo", Label: "echo 1 KiB × 1,000", Conns: 1000, Size: 1024,
			CPU: time.Duration(k*(0.2+1.3)*1e6) * time.Microsecond, WindowCPU: time.Duration(k*1e6) * time.Microsecond,
			Result: Result{Handshakes: 1000, Messages: 100000, MessagesPerS: 20000, Latency: lat(800, 4000*k)}})
		add(Measurement{Key: "echo", Label: "echo 16 KiB × 50", Conns: 50, Size: 16384,
			CPU:    time.Duration(k*(0.01+2.0)*1e6) * time.Microsecond,
			Result: Result{Handshakes: 50, Messages: 40000, MessagesPerS: 8000, Latency: lat(2000, 9000/k)}})
		add(Measurement{Key: "sweep", Label: "echo 1 KiB × 10", Conns: 10, Size: 1024, CPU: time.Second,
			Result: Result{Messages: 30000, MessagesPerS: 10000, Latency: lat(90, 300*k)}})
		add(Measurement{Key: "storm", Label: "storm", Conns: 1000, ReadyConns: 1000, After: Usage{HWM: mib(40 * k)},
			Result: Result{RecoveryS: 1.5 * k}})
		add(Measurement{Key: "stall", Label: "stall", Conns: 250, Size: 1024,
			Result: Result{Latency: lat(900, 2200), BaselineLatency: lat(800, 2000)}})
	}
	return rep, r
}

func TestRowsFromMeasurements(t *testing.T) {
	rep, r := syntheticReport()
	rep.build(r)
	byName := map[string]Row{}
	for _, row := range rep.Rows {
		byName[row.Metric] = row
	}
	get := func(prefix string) Row {
		t.Helper()
		for name, row := range byName {
			if strings.HasPrefix(name, prefix) {
				return row
			}
		}
		t.Fatalf("no row %q in %v", prefix, rep.Rows)
		return Row{}
	}

	full := get("server CPU per full handshake")
	assert.InDelta(t, 200, full.TLSMux.V, 0.5)
	assert.InDelta(t, 500, full.Baseline.V, 0.5)
	q, ok := full.Ratio()
	assert.True(t, ok)
	assert.InDelta(t, 0.4, q, 1e-3)
	met, ok := full.Met()
	assert.True(t, ok && met, "0.4× meets ≤ 0.6×")

	res := get("server CPU per resumed handshake")
	assert.InDelta(t, 80, res.TLSMux.V, 0.5, "the workers' first, full handshakes are taken out")
	assert.InDelta(t, 200, res.Baseline.V, 0.5)

	idle := get("RSS per idle connection")
	assert.InDelta(t, 10, idle.TLSMux.V, 0.01)
	assert.InDelta(t, 25, idle.Baseline.V, 0.01)
	assert.Equal(t, NoGoal, idle.Goal.Kind, "the 8 KiB goal is stated at 9,000 connections")

	echo := get("echo 1 KiB × 1,000 conns: messages")
	assert.InDelta(t, 100000, echo.TLSMux.V, 1, "the window's CPU: 100,000 messages in 1 s")
	assert.InDelta(t, 40000, echo.Baseline.V, 1)
	met, ok = echo.Met()
	assert.True(t, ok && met, "2.5× meets ≥ 1.3×")
	large := get("echo 16 KiB × 50 conns: messages")
	assert.InDelta(t, 20000, large.TLSMux.V, 1, "no window: handshakes taken out, 40,000 messages in 2 s")

	p99 := get("echo 16 KiB × 50 conns: p99")
	met, ok = p99.Met()
	assert.True(t, ok)
	assert.False(t, met, "tlsmux's p99 is 2.5 times the baseline's here")

	assert.InDelta(t, 1.5, get("storm: 1,000").TLSMux.V, 1e-9)
	assert.InDelta(t, 100, get("storm: target memory").Baseline.V, 1e-9)
	assert.InDelta(t, 1.1, get("stall impact").TLSMux.V, 1e-9)

	assert.False(t, rep.Failed())
	for _, n := range rep.Notes {
		assert.NotContains(t, n, "FAILURE")
	}
	require.Len(t, rep.Charts, 2)
	mem := rep.Charts[0].Chart
	require.Len(t, mem.Series, 2)
	assert.Len(t, mem.Series[0].Points, 2, "the ramp sample and the READY point")
	lat := rep.Charts[1].Chart
	assert.Len(t, lat.Series[0].Points, 2, "1 KiB echo and sweep runs; not 16 KiB")
}

func TestMarkdownGolden(t *testing.T) {
	rep, r := syntheticReport()
	// A failure and a spread run show up in the notes and the raw table.
	rep.Runs[len(rep.Runs)-1].Err = errors.New("tlsbench stall did not finish\nmore detail")
	rep.Runs[2].Procs = 2
	rep.Runs[4].OtherCPU, rep.Runs[4].LoadWall = 2*time.Second, 5*time.Second
	rep.Runs[3].Result.Failed, rep.Runs[3].Result.Failures = 3, map[string]int{"handshake": 2, "dial": 1}
	rep.build(r)
	got := rep.Markdown()
	golden := filepath.Join("testdata", "quick.md.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run with -update to create it")
	assert.Equal(t, string(want), got)
	assert.True(t, rep.Failed(), "the stall run was not measured")
	assert.Contains(t, got, "| 100,000 (3 clients failed) |")
	assert.Contains(t, got, "Client failures: tlsmux, echo 1 KiB × 1,000: 3 failed")

	// Every table line has the same number of cells as its header.
	for _, table := range strings.Split(got, "\n\n") {
		lines := strings.Split(strings.TrimSpace(table), "\n")
		if !strings.HasPrefix(lines[0], "|") {
			continue
		}
		cells := strings.Count(lines[0], "|") - strings.Count(lines[0], `\|`)
		for _, l := range lines {
			if strings.HasPrefix(l, "|") {
				assert.Equal(t, cells, strings.Count(l, "|")-strings.Count(l, `\|`), "%s", l)
			}
		}
	}
}

func TestWriteFiles(t *testing.T) {
	rep, r := syntheticReport()
	rep.build(r)
	dir := filepath.Join(t.TempDir(), "out")
	require.NoError(t, rep.WriteFiles(dir))
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	require.NoError(t, err)
	assert.Equal(t, rep.Markdown(), string(md))
	for _, name := range []string{"memory.svg", "latency.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		svgSummary(t, b)
		assert.Contains(t, string(md), "("+name+")", "the Markdown shows the chart")
	}
}

func TestFormatting(t *testing.T) {
	assert.Equal(t, "0", count(0))
	assert.Equal(t, "999", count(999))
	assert.Equal(t, "1,000", count(1000))
	assert.Equal(t, "-12,345,678", count(-12345678))
	assert.Equal(t, "1 KiB", size(1024))
	assert.Equal(t, "16 KiB", size(16384))
	assert.Equal(t, "1000 B", size(1000))
	assert.Equal(t, "12,346", formatCell(value(12345.6), 0))
	assert.Equal(t, "7.46", formatCell(value(7.456), 2))
	assert.Equal(t, "n/a", formatCell(value(1.0/zero()), 1))
	assert.Equal(t, "failed", formatCell(missing("failed"), 1))
}

func zero() float64 { return 0 }

func TestTLSMuxProcs(t *testing.T) {
	r := &runner{perProcess: 9900}
	assert.Equal(t, 1, r.tlsmuxProcs(9000), "9,000 pairs fit one process under 20,000 fds")
	assert.Equal(t, 1, r.tlsmuxProcs(9900))
	assert.Equal(t, 2, r.tlsmuxProcs(9901))
	assert.Equal(t, 4, r.tlsmuxProcs(25000), "a fifth of headroom for SO_REUSEPORT's uneven hash")
	r.perProcess = 12
	assert.Equal(t, 3, r.tlsmuxProcs(21))

	per, limit := perProcess(0)
	assert.LessOrEqual(t, limit, maxFDs)
	assert.Equal(t, (limit-fdReserve)/2, per)
	per, _ = perProcess(12)
	assert.Equal(t, 12, per)
}

func TestCPUAt(t *testing.T) {
	ms := time.Millisecond
	samples := []cpuSample{{0, 0}, {100 * ms, 50 * ms}, {200 * ms, 50 * ms}, {300 * ms, 150 * ms}}
	for _, tc := range []struct {
		at, want time.Duration
		ok       bool
	}{
		{0, 0, true}, {50 * ms, 25 * ms, true}, {150 * ms, 50 * ms, true}, {250 * ms, 100 * ms, true},
		{300 * ms, 150 * ms, true}, {301 * ms, 0, false}, {-ms, 0, false},
	} {
		got, ok := cpuAt(samples, tc.at)
		assert.Equal(t, tc.ok, ok, "at %v", tc.at)
		assert.Equal(t, tc.want, got, "at %v", tc.at)
	}
	_, ok := cpuAt(samples[:1], 0)
	assert.False(t, ok, "one sample spans nothing")
}
