package report

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/internal/syncbuf"
)

// TestTinyRun builds the three programs and runs every scenario at a few connections against
// both targets, tlsmux spread over processes with SO_REUSEPORT: every row of the table must
// have a figure, nothing may fail, every process must exit cleanly, and the files must be
// written. It checks the orchestration, not the figures.
func TestTinyRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds tlsmux, tlsbench and the baseline and runs them: not with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress syncbuf.Buffer
	rep, err := Run(ctx, Options{Plan: Tiny(), Progress: &progress})
	require.NoError(t, err, progress.String())
	md := rep.Markdown()
	t.Log("\n" + md)

	want := []string{
		"server CPU per full handshake", "server CPU per resumed handshake", "RSS per idle connection",
		"echo 1 KiB × 20 conns: messages per target CPU-second", "echo 1 KiB × 20 conns: p99",
		"echo 16 KiB × 4 conns: messages per target CPU-second", "echo 16 KiB × 4 conns: p99",
		"storm: 20 connections", "storm: target memory high-water", "stall: echo p99", "stall impact",
	}
	require.Len(t, rep.Rows, len(want))
	for i, w := range want {
		row := rep.Rows[i]
		assert.True(t, strings.HasPrefix(row.Metric, w), "row %d is %q, want %q", i, row.Metric, w)
		// Tiny loads may burn less CPU than one 10 ms tick, so a figure may be zero; it must exist.
		assert.True(t, row.TLSMux.OK, "%s: tlsmux %s", row.Metric, row.TLSMux.Why)
		assert.True(t, row.Baseline.OK, "%s: baseline %s", row.Metric, row.Baseline.Why)
	}
	for i := range rep.Runs {
		m := &rep.Runs[i]
		assert.False(t, m.Failed(), "%s, %s: %s", m.Target, m.Label, m.summary())
	}
	assert.False(t, rep.Failed())
	assert.NotContains(t, md, "FAILURE")
	assert.Contains(t, md, "SO_REUSEPORT", "Tiny spreads tlsmux over processes and the report says so")
	spread := false
	for i := range rep.Runs {
		spread = spread || (rep.Runs[i].Target == TLSMux && rep.Runs[i].Procs > 1)
	}
	assert.True(t, spread)
	assert.Contains(t, progress.String(), "[1/")

	dir := t.TempDir()
	require.NoError(t, rep.WriteFiles(dir))
	for _, name := range []string{"report.md", "memory.svg", "latency.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		if strings.HasSuffix(name, ".svg") {
			_, counts, _ := svgSummary(t, b)
			assert.Equal(t, 2, counts["polyline"], "%s: a line per target", name)
		}
	}
}
