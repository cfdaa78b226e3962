package report

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ, which the kernel ABI
// fixes at 100 on every architecture Go supports on Linux (sysconf(_SC_CLK_TCK) reports it;
// reading it would need cgo). The kernel scales the tick counts so that their sum follows the
// scheduler's nanosecond runtime, so a difference of two samples is exact to one tick.
const clockTick = 10 * time.Millisecond

// Usage is one sample of a process's resources.
type Usage struct {
	CPU time.Duration // user + system time since the process started, over all its threads (exited ones included)
	Sys time.Duration // the system (kernel) part of CPU
	RSS int64         // resident set size now, bytes (VmRSS)
	HWM int64         // resident set size high-water mark, bytes (VmHWM)
}

// Add returns the sum of u and v, for a target made of several processes.
func (u Usage) Add(v Usage) Usage {
	return Usage{CPU: u.CPU + v.CPU, Sys: u.Sys + v.Sys, RSS: u.RSS + v.RSS, HWM: u.HWM + v.HWM}
}

// ParseStat returns utime and stime, in clock ticks, from the text of /proc/PID/stat (proc(5)).
// The second field is the command name in parentheses, which may itself hold spaces and
// parentheses, so the fields are counted from the last ')'.
func ParseStat(s string) (utime, stime uint64, err error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, errors.New("report: /proc stat: no ')' after the command name")
	}
	// After ')' come fields 3 (state) onwards; utime and stime are fields 14 and 15.
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("report: /proc stat: %d fields after the command name, want at least 13", len(f))
	}
	if utime, err = strconv.ParseUint(f[11], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("report: /proc stat: utime: %w", err)
	}
	if stime, err = strconv.ParseUint(f[12], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("report: /proc stat: stime: %w", err)
	}
	return utime, stime, nil
}

// ParseStatus returns VmRSS and VmHWM in bytes from the text of /proc/PID/status (proc(5):
// "VmRSS:	   10240 kB"). Both must be present: a zombie or kernel thread has neither.
func ParseStatus(s string) (rss, hwm int64, err error) {
	var haveRSS, haveHWM bool
	for line := range strings.Lines(s) {
		name, value, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(value)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("report: /proc status: %s: unexpected value %q", name, strings.TrimSpace(value))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || kb < 0 || kb > 1<<50 { // 1<<50 kB: beyond any machine, and kb<<10 stays in range
			return 0, 0, fmt.Errorf("report: /proc status: %s: bad number %q", name, f[0])
		}
		if name == "VmRSS" {
			rss, haveRSS = kb<<10, true
		} else {
			hwm, haveHWM = kb<<10, true
		}
	}
	if !haveRSS || !haveHWM {
		return 0, 0, errors.New("report: /proc status: no VmRSS or VmHWM (the process has exited?)")
	}
	return rss, hwm, nil
}

// ParseCPUList parses a kernel CPU list such as "0-3,8,10-11" (Cpus_allowed_list in
// /proc/PID/status, cpuset(7) "List format") into sorted CPU numbers.
func ParseCPUList(s string) ([]int, error) {
	var cpus []int
	for part := range strings.SplitSeq(strings.TrimSpace(s), ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("report: CPU list %q: bad CPU %q", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("report: CPU list %q: bad range %q", s, part)
			}
		}
		if b-a > 4096 {
			return nil, fmt.Errorf("report: CPU list %q: range %q too large", s, part)
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) == 0 {
		return nil, fmt.Errorf("report: CPU list %q is empty", s)
	}
	slices.Sort(cpus)
	return slices.Compact(cpus), nil
}

// ReadUsage samples process pid from /proc.
func ReadUsage(pid int) (Usage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("report: %w", err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, fmt.Errorf("report: %w", err)
	}
	ut, st, err := ParseStat(string(stat))
	if err != nil {
		return Usage{}, err
	}
	rss, hwm, err := ParseStatus(string(status))
	if err != nil {
		return Usage{}, err
	}
	return Usage{CPU: time.Duration(ut+st) * clockTick, Sys: time.Duration(st) * clockTick, RSS: rss, HWM: hwm}, nil
}

// allowedCPUs returns the CPUs this process may run on, from /proc/self/status.
func allowedCPUs() ([]int, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return ParseCPUList(v)
		}
	}
	return nil, errors.New("report: no Cpus_allowed_list in /proc/self/status")
}

// ParseSystemStat returns the CPU time all processes of the machine have spent, user, nice
// and system, in clock ticks, from the "cpu" line of /proc/stat (proc(5)). Interrupt and
// softirq time is left out: the kernel may or may not charge it to the process it ran for.
func ParseSystemStat(s string) (busy uint64, err error) {
	for line := range strings.Lines(s) {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 4 {
			return 0, errors.New("report: /proc/stat: short cpu line")
		}
		for _, v := range f[1:4] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("report: /proc/stat: %w", err)
			}
			busy += n
		}
		return busy, nil
	}
	return 0, errors.New("report: /proc/stat: no cpu line")
}

// machineCPU returns the CPU time every process on the machine has used since boot.
func machineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("report: %w", err)
	}
	busy, err := ParseSystemStat(string(b))
	return time.Duration(busy) * clockTick, err
}

// procCPU is one process's name and CPU time, from a scan of /proc.
type procCPU struct {
	name string
	cpu  time.Duration
}

// scanProcesses reads every process's CPU time (its own, not its waited-for children's).
// Processes that exit while it runs are skipped.
func scanProcesses() map[int]procCPU {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := make(map[int]procCPU, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		ut, st, err := ParseStat(string(b))
		if err != nil {
			continue
		}
		name := ""
		if i, j := strings.IndexByte(string(b), '('), strings.LastIndexByte(string(b), ')'); i >= 0 && j > i {
			name = string(b[i+1 : j])
		}
		out[pid] = procCPU{name: name, cpu: time.Duration(ut+st) * clockTick}
	}
	return out
}

// topConsumers returns the processes that used the most CPU between two scans, leaving out
// those skip says are ours, as "name (pid) 1.2 s" for the n largest above 50 ms.
func topConsumers(before, after map[int]procCPU, skip func(pid int) bool, n int) []string {
	type use struct {
		pid  int
		name string
		d    time.Duration
	}
	var uses []use
	for pid, a := range after {
		if skip(pid) {
			continue
		}
		d := a.cpu - before[pid].cpu // a process new since the first scan counts from zero
		if b, ok := before[pid]; ok && b.name != a.name {
			d = a.cpu // the pid was reused
		}
		if d > 50*time.Millisecond {
			uses = append(uses, use{pid, a.name, d})
		}
	}
	slices.SortFunc(uses, func(x, y use) int { return int(y.d - x.d) })
	var out []string
	for _, u := range uses[:min(n, len(uses))] {
		out = append(out, fmt.Sprintf("%s (%d) %.1f s", u.name, u.pid, u.d.Seconds()))
	}
	return out
}
