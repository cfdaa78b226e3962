package report

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Report is the outcome of Run: the comparison table, notes, every raw measurement and the
// charts. Markdown renders it; WriteFiles writes it beside the charts.
type Report struct {
	Plan    Plan
	Env     []string // lines describing the machine and the setup
	Started time.Time
	Elapsed time.Duration
	Rows    []Row
	Notes   []string // failures and caveats, one sentence each
	Runs    []Measurement
	Charts  []NamedChart
}

// NamedChart is a chart and the file it is written to.
type NamedChart struct {
	File  string // base name, e.g. memory.svg
	Alt   string
	Chart Chart
}

// Row is one line of the comparison table.
type Row struct {
	Metric           string
	TLSMux, Baseline Cell
	Decimals         int
	Goal             Goal
}

// Cell is a measured value, or why there is none.
type Cell struct {
	V    float64
	OK   bool
	Why  string // when !OK: "failed", "n/a", ...
	Note string // when OK: a caveat shown after the value, e.g. "576 clients failed"
}

func value(v float64) Cell {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return Cell{Why: "n/a"}
	}
	return Cell{V: v, OK: true}
}

func missing(why string) Cell { return Cell{Why: why} }

// GoalKind says what a Goal compares.
type GoalKind int

const (
	NoGoal       GoalKind = iota
	RatioAtMost           // tlsmux ÷ baseline ≤ Limit
	RatioAtLeast          // tlsmux ÷ baseline ≥ Limit
	ValueAtMost           // tlsmux ≤ Limit, in the row's unit
)

// Goal is a target the issue sets for a row.
type Goal struct {
	Kind  GoalKind
	Limit float64
	Text  string // how the goal reads in the table, e.g. "≤ 0.6×"
}

// Ratio returns tlsmux ÷ baseline, when both are measured and the baseline is not zero.
func (r Row) Ratio() (float64, bool) {
	if !r.TLSMux.OK || !r.Baseline.OK || r.Baseline.V == 0 {
		return 0, false
	}
	return r.TLSMux.V / r.Baseline.V, true
}

// Met reports whether the row meets its goal; ok is false without a goal or without the
// figures to judge it.
func (r Row) Met() (met, ok bool) {
	switch r.Goal.Kind {
	case RatioAtMost, RatioAtLeast:
		q, ok := r.Ratio()
		if !ok {
			return false, false
		}
		if r.Goal.Kind == RatioAtMost {
			return q <= r.Goal.Limit, true
		}
		return q >= r.Goal.Limit, true
	case ValueAtMost:
		if !r.TLSMux.OK {
			return false, false
		}
		return r.TLSMux.V <= r.Goal.Limit, true
	}
	return false, false
}

// build fills the rows, notes and charts from rep.Runs.
func (rep *Report) build(r *runner) {
	find := func(key, kind string, match func(*Measurement) bool) *Measurement {
		for i := range rep.Runs {
			m := &rep.Runs[i]
			if m.Key == key && m.Target == kind && (match == nil || match(m)) {
				return m
			}
		}
		return nil
	}
	row := func(metric string, decimals int, goal Goal, key string, match func(*Measurement) bool, f func(*Measurement) Cell) Row {
		rw := Row{Metric: metric, Decimals: decimals, Goal: goal}
		for _, kind := range targets {
			c := missing("not run")
			if m := find(key, kind, match); m != nil {
				switch {
				case m.Err != nil:
					c = missing("failed")
				default:
					c = f(m)
					if n := m.Result.Failed; n > 0 && c.OK {
						c.Note = count(n) + " clients failed"
					}
				}
			}
			if kind == TLSMux {
				rw.TLSMux = c
			} else {
				rw.Baseline = c
			}
		}
		return rw
	}
	p := rep.Plan

	rep.Rows = append(rep.Rows, row("server CPU per full handshake, µs", 0, Goal{RatioAtMost, 0.6, "≤ 0.6×"}, "handshake", nil,
		func(m *Measurement) Cell {
			if m.Result.Handshakes == 0 {
				return missing("no handshakes")
			}
			return value(float64(m.CPU.Microseconds()) / float64(m.Result.Handshakes))
		}))
	rep.Rows = append(rep.Rows, row("server CPU per resumed handshake, µs", 0, Goal{}, "resume", nil,
		func(m *Measurement) Cell {
			res := m.Result.Resumed
			if res == 0 {
				return missing("none resumed")
			}
			// The first handshake of each client's cache is a full one: take its cost out.
			full := max(m.Result.Handshakes-res, 0)
			cpu := m.CPU - time.Duration(full)*r.perFull[m.Target]
			return value(float64(max(cpu, 0).Microseconds()) / float64(res))
		}))
	for _, n := range p.Idle {
		goal := Goal{}
		if n == 9000 {
			goal = Goal{ValueAtMost, 8, "tlsmux ≤ 8 KiB"}
		}
		rep.Rows = append(rep.Rows, row(fmt.Sprintf("RSS per idle connection (with its backend connection) at %s, KiB", count(n)), 1, goal, "idle",
			func(m *Measurement) bool { return m.Conns == n },
			func(m *Measurement) Cell { return perConnKiB(m) }))
	}
	for _, e := range p.Echo {
		match := func(m *Measurement) bool { return m.Conns == e.Conns && m.Size == e.Size }
		rep.Rows = append(rep.Rows, row(fmt.Sprintf("echo %s × %s conns: messages per target CPU-second", size(e.Size), count(e.Conns)), 0,
			Goal{RatioAtLeast, 1.3, "≥ 1.3×"}, "echo", match,
			func(m *Measurement) Cell { return msgsPerCPUSecond(m, r.perFull[m.Target]) }))
		rep.Rows = append(rep.Rows, row(fmt.Sprintf("echo %s × %s conns: p99 round trip, ms", size(e.Size), count(e.Conns)), 2,
			Goal{RatioAtMost, 1, "≤ 1× (no worse)"}, "echo", match, p99ms))
	}
	rep.Rows = append(rep.Rows, row(fmt.Sprintf("storm: %s connections dropped and re-established, recovery s", count(p.Storm)), 2, Goal{}, "storm", nil,
		func(m *Measurement) Cell { return value(m.Result.RecoveryS) }))
	rep.Rows = append(rep.Rows, row("storm: target memory high-water, MiB", 1, Goal{}, "storm", nil,
		func(m *Measurement) Cell { return value(mib(m.After.HWM)) }))
	rep.Rows = append(rep.Rows, row(fmt.Sprintf("stall: echo p99 with %d stallers, ms", p.Stallers), 2, Goal{}, "stall", nil, p99ms))
	rep.Rows = append(rep.Rows, row("stall impact: p99 with stallers ÷ p99 without", 2, Goal{}, "stall", nil,
		func(m *Measurement) Cell {
			if m.Result.Latency == nil || m.Result.BaselineLatency == nil || m.Result.BaselineLatency.P99 == 0 {
				return missing("no latency")
			}
			return value(m.Result.Latency.P99 / m.Result.BaselineLatency.P99)
		}))

	rep.notes(r)
	rep.charts()
}

// perConnKiB is the growth of the target's RSS from serving to READY, per connection.
func perConnKiB(m *Measurement) Cell {
	n := m.ReadyConns
	if n == 0 || m.Ready.RSS == 0 {
		return missing("not ready")
	}
	return value(float64(m.Ready.RSS-m.Before.RSS) / 1024 / float64(n))
}

// msgsPerCPUSecond is an echo run's messages over the target's CPU seconds in the measured
// window. Without a window figure it falls back to the whole run's CPU less the connections'
// handshakes at the cost the handshake scenario measured (the ramp's REGISTERs and the
// closing stay in).
func msgsPerCPUSecond(m *Measurement, perFull time.Duration) Cell {
	cpu := m.WindowCPU
	if cpu <= 0 {
		hs := m.Result.Handshakes
		if hs == 0 {
			hs = m.Result.OK
		}
		// Never let an overestimate of the handshakes' share swallow the run.
		cpu = max(m.CPU-time.Duration(hs)*perFull, m.CPU/10)
	}
	if cpu <= 0 || m.Result.Messages == 0 {
		return missing("no messages")
	}
	return value(float64(m.Result.Messages) / cpu.Seconds())
}

func p99ms(m *Measurement) Cell {
	if m.Result.Latency == nil {
		return missing("no latency")
	}
	return value(m.Result.Latency.P99 / 1000)
}

func (rep *Report) notes(r *runner) {
	for i := range rep.Runs {
		m := &rep.Runs[i]
		var what []string
		if m.Err != nil {
			what = append(what, "not measured: "+firstLine(m.Err.Error()))
		}
		if m.StopErr != nil {
			what = append(what, firstLine(m.StopErr.Error()))
		}
		if len(what) > 0 {
			rep.Notes = append(rep.Notes, fmt.Sprintf("FAILURE: %s, %s: %s.", m.Target, m.Label, strings.Join(what, "; ")))
		}
		// Clients that failed are a result, not a failure of the report: the figures of that
		// row say "(n failed)".
		if f := m.Result.failureText(); f != "" && m.Err == nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("Client failures: %s, %s: %s.", m.Target, m.Label, f))
		}
	}
	var busy []string
	for i := range rep.Runs {
		m := &rep.Runs[i]
		if m.Disturbed() {
			again := ""
			if m.Reruns > 0 {
				again = ", also when run again"
			}
			top := ""
			if len(m.Others) > 0 {
				top = ", most by " + strings.Join(m.Others, ", ")
			}
			busy = append(busy, fmt.Sprintf("%s, %s (%.1f CPU-s in %.1f s%s%s)", m.Target, m.Label, m.OtherCPU.Seconds(), m.LoadWall.Seconds(), top, again))
		}
	}
	if len(busy) > 0 {
		rep.Notes = append(rep.Notes, "WARNING: other processes on the machine used more than a tenth of a CPU during "+
			strings.Join(busy, "; ")+": those figures may be disturbed; "+
			"run the report on an otherwise idle machine.")
	}
	var spread []string
	for i := range rep.Runs {
		if m := &rep.Runs[i]; m.Target == TLSMux && m.Procs > 1 {
			spread = append(spread, fmt.Sprintf("%s (%d processes)", m.Label, m.Procs))
		}
	}
	if len(spread) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("One tlsmux process is given at most %s connections here (fd limit %s, two fds per connection), "+
			"so these runs used several tlsmux processes sharing one port with SO_REUSEPORT, their CPU and memory summed: %s.",
			count(r.perProcess), count(r.fdLimit), strings.Join(spread, "; ")))
	}
	if !slices.Contains(rep.Plan.Idle, 9000) {
		rep.Notes = append(rep.Notes, "The 8 KiB goal for memory per connection is stated at 9,000 connections, which only the full run (without -quick) measures.")
	}
	rep.Notes = append(rep.Notes,
		"Server CPU is the target's user+system time from /proc/PID/stat over the scenario (10 ms ticks), divided by the count; "+
			"a slow load generator therefore does not make a target look slow.",
		"Echo: messages per target CPU-second counts the target's CPU in tlsbench's measured window only (after every "+
			"connection is up), sampled every 50 ms; RSS per connection is the growth of VmRSS from the target's start to all connections established, divided by their number.",
		"Stall: tlsbench runs the echo load first without stallers, then with them; the impact is the ratio of the two p99s.")
}

func (rep *Report) charts() {
	mem := Chart{Title: "Memory per idle connection", XLabel: "idle connections (each with its backend connection)", YLabel: "RSS growth per connection, KiB",
		Marks: []Mark{{Y: 8, Label: "goal for tlsmux at 9,000: 8 KiB"}}}
	lat := Chart{Title: "Echo latency against load (1 KiB messages)", XLabel: "connections, each sending one message at a time (labels: messages/s)", YLabel: "p99 round trip, ms", LogX: true, LogY: true}
	for _, kind := range targets {
		ms := Series{Name: kind}
		ls := Series{Name: kind + " p99"}
		for i := range rep.Runs {
			m := &rep.Runs[i]
			if m.Target != kind || m.Err != nil {
				continue
			}
			switch {
			case m.Key == "idle":
				ms.Points = append(ms.Points, m.Ramp...)
				if c := perConnKiB(m); c.OK {
					ms.Points = append(ms.Points, Point{X: float64(m.ReadyConns), Y: c.V, Label: fmt.Sprintf("%.1f", c.V)})
				}
			case (m.Key == "echo" || m.Key == "sweep") && m.Size == 1024 && m.Result.Latency != nil:
				ls.Points = append(ls.Points, Point{X: float64(m.Conns), Y: m.Result.Latency.P99 / 1000,
					Label: fmt.Sprintf("%s/s", count(int(m.Result.MessagesPerS)))})
			}
		}
		mem.Series = append(mem.Series, ms)
		lat.Series = append(lat.Series, ls)
	}
	rep.Charts = []NamedChart{
		{File: "memory.svg", Alt: "memory per idle connection against connections", Chart: mem},
		{File: "latency.svg", Alt: "p99 echo latency against connections", Chart: lat},
	}
}

// Markdown renders the report.
func (rep *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# tlsmux against a goroutine-per-connection baseline (%s run)\n\n", rep.Plan.Name)
	for _, l := range rep.Env {
		fmt.Fprintf(&b, "%s  \n", l)
	}
	b.WriteString("\n| measure | tlsmux | baseline | tlsmux ÷ baseline | goal |\n|---|---:|---:|---:|---|\n")
	for _, r := range rep.Rows {
		ratio := "—"
		if q, ok := r.Ratio(); ok {
			ratio = fmt.Sprintf("%.2f×", q)
		}
		goal := "—"
		if r.Goal.Kind != NoGoal {
			goal = r.Goal.Text
			if met, ok := r.Met(); ok && met {
				goal += ": met"
			} else if ok {
				goal += ": **missed**"
			} else {
				goal += ": not measured"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", r.Metric, formatCell(r.TLSMux, r.Decimals), formatCell(r.Baseline, r.Decimals), ratio, goal)
	}
	if len(rep.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range rep.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	if len(rep.Charts) > 0 {
		b.WriteString("\n")
		for _, c := range rep.Charts {
			fmt.Fprintf(&b, "![%s](%s)\n", c.Alt, c.File)
		}
	}
	b.WriteString("\n<details><summary>Raw measurements</summary>\n\n")
	b.WriteString("| scenario | target | procs | ok / failed | handshakes (resumed) | wall s | target CPU s: all (kernel) [window] | msgs/s | p50 / p99 ms | RSS MiB: start → ready → end (peak) | other processes' CPU s |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n")
	for i := range rep.Runs {
		m := &rep.Runs[i]
		if m.Err != nil {
			fmt.Fprintf(&b, "| %s | %s | %d | failed: %s | | | | | | | |\n", m.Label, m.Target, m.Procs, mdEscape(firstLine(m.Err.Error())))
			continue
		}
		lat := ""
		if l := m.Result.Latency; l != nil {
			lat = fmt.Sprintf("%.2f / %.2f", l.P50/1000, l.P99/1000)
		}
		msgs := ""
		if m.Result.MessagesPerS > 0 {
			msgs = count(int(m.Result.MessagesPerS))
		}
		ready := ""
		if m.Ready.RSS > 0 {
			ready = fmt.Sprintf("%.1f → ", mib(m.Ready.RSS))
		}
		window := ""
		if m.WindowCPU > 0 {
			window = fmt.Sprintf(" [%.2f]", m.WindowCPU.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d / %d | %d (%d) | %.1f | %.2f (%.2f)%s | %s | %s | %.1f → %s%.1f (%.1f) | %.2f |\n",
			m.Label, m.Target, m.Procs, m.Result.OK, m.Result.Failed, m.Result.Handshakes, m.Result.Resumed,
			m.Elapsed.Seconds(), m.CPU.Seconds(), m.Sys.Seconds(), window, msgs, lat, mib(m.Before.RSS), ready, mib(m.After.RSS), mib(m.After.HWM), m.OtherCPU.Seconds())
	}
	b.WriteString("\n</details>\n")
	fmt.Fprintf(&b, "\nThe run took %s (started %s).\n", rep.Elapsed.Round(time.Second), rep.Started.UTC().Format("2006-01-02 15:04 UTC"))
	return b.String()
}

// WriteFiles writes report.md and the charts into dir.
func (rep *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(rep.Markdown()), 0o644); err != nil {
		return err
	}
	for _, c := range rep.Charts {
		f, err := os.Create(filepath.Join(dir, c.File))
		if err != nil {
			return err
		}
		err = c.Chart.WriteSVG(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Failed reports whether a scenario could not be measured or a target did not exit cleanly.
// Clients that failed against a target are part of the result (a storm may overwhelm the
// baseline) and do not count.
func (rep *Report) Failed() bool {
	for i := range rep.Runs {
		if m := &rep.Runs[i]; m.Err != nil || m.StopErr != nil {
			return true
		}
	}
	return false
}

func formatCell(c Cell, decimals int) string {
	if !c.OK {
		return c.Why
	}
	s := strconv.FormatFloat(c.V, 'f', decimals, 64)
	if decimals == 0 && math.Abs(c.V) >= 1000 {
		s = count(int(math.Round(c.V)))
	}
	if c.Note != "" {
		s += " (" + c.Note + ")"
	}
	return s
}

// count formats n with thousands separators: 9000 → "9,000".
func count(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// size formats a message size: 1024 → "1 KiB", 300 → "300 B".
func size(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// formatCounts renders a map of counts sorted by name: "dial 3, handshake 1".
func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// mdEscape keeps a table cell in its column.
func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
