package report

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A real /proc/PID/stat line from the reference VM, with utime 1234 and stime 567 put in.
const sampleStat = "19795 (tlsmux) S 19793 19793 16720 0 -1 4194304 99 0 0 0 1234 567 0 0 20 0 3 0 462020 3133440 370 " +
	"18446744073709551615 94320188665856 94320188685737 140727640183840 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n"

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name, in     string
		utime, stime uint64
	}{
		{"plain", sampleStat, 1234, 567},
		// The command name is whatever the process set: spaces and parentheses included.
		{"tricky comm", strings.Replace(sampleStat, "(tlsmux)", "(a) b (c))", 1), 1234, 567},
		{"no trailing newline", strings.TrimSuffix(sampleStat, "\n"), 1234, 567},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ut, st, err := ParseStat(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.utime, ut)
			assert.Equal(t, tc.stime, st)
		})
	}
	for _, bad := range []string{
		"",
		"19795 tlsmux S 1 2 3", // no parentheses
		"19795 (tlsmux) S 19793 19793 16720 0 -1", // truncated
		strings.Replace(sampleStat, " 1234 ", " x ", 1),
		strings.Replace(sampleStat, " 567 ", " -5 ", 1),
	} {
		_, _, err := ParseStat(bad)
		assert.Error(t, err, "%q", bad)
	}
}

const sampleStatus = `Name:	tlsmux
Umask:	0022
State:	S (sleeping)
Tgid:	19795
VmPeak:	 1282776 kB
VmSize:	 1282776 kB
VmLck:	       0 kB
VmHWM:	  104448 kB
VmRSS:	   98304 kB
RssAnon:	   90112 kB
VmData:	  150000 kB
Threads:	7
Cpus_allowed:	1
Cpus_allowed_list:	0
`

func TestParseStatus(t *testing.T) {
	rss, hwm, err := ParseStatus(sampleStatus)
	require.NoError(t, err)
	assert.Equal(t, int64(98304<<10), rss)
	assert.Equal(t, int64(104448<<10), hwm)

	// A zombie has no memory lines.
	_, _, err = ParseStatus("Name:\ttlsmux\nState:\tZ (zombie)\n")
	assert.Error(t, err)
	for _, bad := range []string{
		strings.Replace(sampleStatus, "98304 kB", "98304 MB", 1),
		strings.Replace(sampleStatus, "98304 kB", "lots kB", 1),
		strings.Replace(sampleStatus, "VmHWM:", "VmHWX:", 1),
	} {
		_, _, err := ParseStatus(bad)
		assert.Error(t, err)
	}
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string][]int{
		"0":             {0},
		"0-1\n":         {0, 1},
		"0-3,8,10-11":   {0, 1, 2, 3, 8, 10, 11},
		"5,1-2,2":       {1, 2, 5},
		" 7 ":           {7},
		"0,,1":          {0, 1},
		"2-2":           {2},
		"63,0-1,32-33 ": {0, 1, 32, 33, 63},
	} {
		got, err := ParseCPUList(in)
		require.NoError(t, err, "%q", in)
		assert.Equal(t, want, got, "%q", in)
	}
	for _, bad := range []string{"", "\n", "a", "1-", "3-1", "-1", "0-100000"} {
		_, err := ParseCPUList(bad)
		assert.Error(t, err, "%q", bad)
	}
}

// TestReadUsageSelf reads this test process: CPU time moves forward and the memory figures
// agree with each other.
func TestReadUsageSelf(t *testing.T) {
	u, err := ReadUsage(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, u.RSS)
	assert.GreaterOrEqual(t, u.HWM, u.RSS)
	assert.GreaterOrEqual(t, u.CPU, time.Duration(0))
	assert.Zero(t, u.CPU%clockTick, "CPU time comes in whole ticks")

	cpus, err := allowedCPUs()
	require.NoError(t, err)
	assert.True(t, slices.IsSorted(cpus))

	_, err = ReadUsage(1 << 30) // beyond pid_max
	assert.Error(t, err)
}

func FuzzParseStat(f *testing.F) {
	f.Add(sampleStat)
	f.Add("1 ((() R 1 2 3 4 5 6 7 8 9 10 11 12 13")
	f.Fuzz(func(t *testing.T, s string) { ParseStat(s) })
}

func FuzzParseStatus(f *testing.F) {
	f.Add(sampleStatus)
	f.Fuzz(func(t *testing.T, s string) {
		rss, hwm, err := ParseStatus(s)
		if err == nil && (rss < 0 || hwm < 0) {
			t.Fatalf("negative sizes %d %d from %q", rss, hwm, s)
		}
	})
}

func FuzzParseCPUList(f *testing.F) {
	f.Add("0-3,8,10-11")
	f.Fuzz(func(t *testing.T, s string) {
		cpus, err := ParseCPUList(s)
		if err == nil && (len(cpus) == 0 || !slices.IsSorted(cpus)) {
			t.Fatalf("%q gave %v", s, cpus)
		}
	})
}

func TestParseSystemStat(t *testing.T) {
	busy, err := ParseSystemStat("cpu  336764 5 97970 673261 2258 0 21587 2044 0 0\ncpu0 1 2 3 4\nintr 1 2\n")
	require.NoError(t, err)
	assert.Equal(t, uint64(336764+5+97970), busy)
	for _, bad := range []string{"", "cpu0 1 2 3 4\n", "cpu 1 2\n", "cpu 1 x 3 4\n"} {
		_, err := ParseSystemStat(bad)
		assert.Error(t, err, "%q", bad)
	}
	d, err := machineCPU()
	require.NoError(t, err)
	assert.Positive(t, d)
}

func TestTopConsumers(t *testing.T) {
	s := time.Second
	before := map[int]procCPU{1: {"init", s}, 10: {"go", 2 * s}, 11: {"tlsmux", s}, 12: {"old", s}}
	after := map[int]procCPU{
		1:  {"init", s + 10*time.Millisecond}, // too little to name
		10: {"go", 5 * s},                     // +3 s
		11: {"tlsmux", 9 * s},                 // ours: skipped
		12: {"reused", 2 * s},                 // a new process on an old pid: 2 s
		13: {"cc1", s},                        // new: 1 s
	}
	got := topConsumers(before, after, func(pid int) bool { return pid == 11 }, 2)
	assert.Equal(t, []string{"go (10) 3.0 s", "reused (12) 2.0 s"}, got)

	procs := scanProcesses()
	assert.Contains(t, procs, os.Getpid())
	assert.NotEmpty(t, procs[os.Getpid()].name)
}
