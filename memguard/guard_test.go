package memguard

import (
	"math"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const mib = 1 << 20

// memEpoch is the guard tests' clock origin; the Guard reads no clock, so any time will do.
var memEpoch = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// fakeMem is an injected Sampler: InUse is whatever the test stored, and calls counts samples.
type fakeMem struct {
	inUse atomic.Int64
	calls atomic.Int64
}

func (f *fakeMem) SampleMemory() MemSample {
	f.calls.Add(1)
	return MemSample{InUse: f.inUse.Load()}
}

// guardRig is a Guard on a fake sampler with a budget of limit, and a clock that moves one
// MinInterval per sample so every sample call samples.
type guardRig struct {
	t     *testing.T
	g     *Guard
	mem   *fakeMem
	limit int64
	now   time.Time
}

func newGuardRig(t *testing.T, limit, t1, t2 int64) *guardRig {
	t.Helper()
	mem := new(fakeMem)
	g := NewGuard(GuardOptions{Limit: limit, Threshold1: t1, Threshold2: t2, Sampler: mem})
	return &guardRig{t: t, g: g, mem: mem, limit: limit, now: memEpoch}
}

// free samples with the given free memory and reports whether a decision changed.
func (r *guardRig) free(free int64) bool {
	r.mem.inUse.Store(r.limit - free)
	r.now = r.now.Add(DefaultMinInterval)
	return r.g.Sample(r.now)
}

func (r *guardRig) want(step string, low1, low2 bool) {
	r.t.Helper()
	if got1, got2 := r.g.RefuseHandshakes(), r.g.RefuseQueueGrowth(); got1 != low1 || got2 != low2 {
		s := r.g.State()
		r.t.Fatalf("%s: RefuseHandshakes %v RefuseQueueGrowth %v, want %v %v (free %d MiB, thresholds %d/%d MiB, resume at %d/%d MiB)",
			step, got1, got2, low1, low2, s.Free/mib, s.Threshold1/mib, s.Threshold2/mib, s.Resume1/mib, s.Resume2/mib)
	}
}

// TestGuardThresholds walks free memory down through both thresholds and back up: each
// decision turns on strictly below its threshold and off only at threshold + margin
// (threshold/4 here: 125 MiB for 100 MiB, 62.5 MiB for 50 MiB).
func TestGuardThresholds(t *testing.T) {
	r := newGuardRig(t, 1000*mib, 100*mib, 50*mib)
	for i, s := range []struct {
		free            int64
		low1, low2, chg bool
		entry1, entry2  uint64
		why             string
	}{
		{500 * mib, false, false, false, 0, 0, "plenty"},
		{100 * mib, false, false, false, 0, 0, "at threshold1: not below it"},
		{100*mib - 1, true, false, true, 1, 0, "one byte below threshold1"},
		{110 * mib, true, false, false, 1, 0, "back above threshold1, inside the margin"},
		{125*mib - 1, true, false, false, 1, 0, "one byte short of resume1"},
		{60 * mib, true, false, false, 1, 0, "above threshold2"},
		{50*mib - 1, true, true, true, 1, 1, "below threshold2"},
		{62 * mib, true, true, false, 1, 1, "inside margin2"},
		{62*mib + mib/2, true, false, true, 1, 1, "at resume2 (62.5 MiB)"},
		{125 * mib, false, false, true, 1, 1, "at resume1"},
		{-10 * mib, true, true, true, 2, 2, "in use above the budget: free is negative"},
		{1000 * mib, false, false, true, 2, 2, "nothing in use"},
	} {
		step := s.why
		if chg := r.free(s.free); chg != s.chg {
			t.Errorf("step %d (%s): Sample changed = %v, want %v", i, step, chg, s.chg)
		}
		r.want(step, s.low1, s.low2)
		st := r.g.State()
		if st.Free != s.free || st.InUse != r.limit-s.free || st.Low1 != s.low1 || st.Low2 != s.low2 ||
			st.Low1Entries != s.entry1 || st.Low2Entries != s.entry2 {
			t.Fatalf("step %d (%s): State %+v", i, step, st)
		}
		if s.low1 != !st.Low1Since.IsZero() || s.low2 != !st.Low2Since.IsZero() {
			t.Fatalf("step %d (%s): Low1Since %v Low2Since %v", i, step, st.Low1Since, st.Low2Since)
		}
	}
	st := r.g.State()
	if st.Resume1 != 125*mib || st.Resume2 != 50*mib+50*mib/4 || st.Samples != 12 {
		t.Errorf("Resume1 %d Resume2 %d Samples %d", st.Resume1, st.Resume2, st.Samples)
	}
}

// TestGuardNoFlapping: free memory wandering around a threshold, by less than the margin, enters
// the low state once and stays there; it leaves once it clears the margin, and small dips
// above the threshold do not bring it back.
func TestGuardNoFlapping(t *testing.T) {
	r := newGuardRig(t, 1000*mib, 100*mib, 0)
	wobble := []int64{-5, 3, -2, 7, -8, 10, 0, -1, 20, -4} // MiB around the threshold
	for range 20 {
		for _, w := range wobble {
			r.free(100*mib + w*mib)
		}
	}
	st := r.g.State()
	if !st.Low1 || st.Low1Entries != 1 {
		t.Fatalf("after wobbling around threshold1: Low1 %v, %d entries, want true, 1", st.Low1, st.Low1Entries)
	}
	r.free(126 * mib)
	for range 20 {
		for _, w := range wobble {
			r.free(110*mib + w*mib) // 102..130 MiB: above the threshold, around the resume point
		}
	}
	st = r.g.State()
	if st.Low1 || st.Low1Entries != 1 {
		t.Fatalf("after wobbling above threshold1: Low1 %v, %d entries, want false, 1", st.Low1, st.Low1Entries)
	}
	// The 1 MiB floor of the margin: a 2 MiB threshold needs 3 MiB free to leave, not 2.5.
	r = newGuardRig(t, 1000*mib, 2*mib, 0)
	r.free(2*mib - 1)
	r.free(2*mib + mib/2 + mib/4)
	r.want("2.75 MiB free with a 2 MiB threshold", true, false)
	r.free(3 * mib)
	r.want("3 MiB free with a 2 MiB threshold", false, false)
}

// TestGuardSampleRateLimited: the ticker calls Sample every millisecond for a second; the
// sampler runs once per MinInterval, and calls in between neither sample nor change anything.
func TestGuardSampleRateLimited(t *testing.T) {
	mem := new(fakeMem)
	g := NewGuard(GuardOptions{Limit: 1000 * mib, Threshold1: 100 * mib, Sampler: mem})
	mem.inUse.Store(500 * mib)
	for ms := range 1000 {
		if ms == 100 {
			mem.inUse.Store(950 * mib) // unseen until the sample at 250 ms
		}
		now := memEpoch.Add(time.Duration(ms) * time.Millisecond)
		changed := g.Sample(now)
		if g.RefuseHandshakes() != (ms >= 250) || changed != (ms == 250) {
			t.Fatalf("at %d ms: RefuseHandshakes %v changed %v", ms, g.RefuseHandshakes(), changed)
		}
	}
	if got := mem.calls.Load(); got != 4 { // at 0, 250, 500 and 750 ms
		t.Fatalf("%d samples in one second of 1 ms ticks, want 4", got)
	}
	st := g.State()
	if st.Samples != 4 || !st.Sampled.Equal(memEpoch.Add(750*time.Millisecond)) || st.MinInterval != DefaultMinInterval {
		t.Fatalf("State: Samples %d Sampled %v MinInterval %v", st.Samples, st.Sampled, st.MinInterval)
	}
	// A clock stepped back samples at once rather than waiting for the old time to come back.
	g.Sample(memEpoch.Add(-time.Hour))
	if mem.calls.Load() != 5 {
		t.Fatal("Sample with now before the last sample did not sample")
	}
	// MinInterval from the options.
	mem2 := new(fakeMem)
	g2 := NewGuard(GuardOptions{Limit: 1, Sampler: mem2, MinInterval: time.Second})
	for ms := 0; ms < 3000; ms += 100 {
		g2.Sample(memEpoch.Add(time.Duration(ms) * time.Millisecond))
	}
	if mem2.calls.Load() != 3 {
		t.Fatalf("MinInterval 1s over 3 s: %d samples, want 3", mem2.calls.Load())
	}
}

func TestDefaultThresholds(t *testing.T) {
	for _, c := range []struct {
		limit, t1, t2 int64
	}{
		{-1, 0, 0},
		{0, 0, 0},
		{8 * mib, 2 * mib, 1 * mib},         // the 4 MiB floor would be half the budget: budget/4
		{16 * mib, 4 * mib, 2 * mib},        // floor, at budget/4
		{24 * mib, 4 * mib, 2 * mib},        // floor
		{64 * mib, 8 * mib, 4 * mib},        // budget/8
		{1 << 30, 128 * mib, 64 * mib},      // budget/8
		{8 << 30, 1 << 30, 512 * mib},       // budget/8 = the cap
		{64 << 30, 1 << 30, 512 * mib},      // cap
		{math.MaxInt64, 1 << 30, 512 * mib}, // cap
	} {
		t1, t2 := DefaultThresholds(c.limit)
		if t1 != c.t1 || t2 != c.t2 {
			t.Errorf("DefaultThresholds(%d) = %d, %d; want %d, %d", c.limit, t1, t2, c.t1, c.t2)
		}
		if t2 > t1 || t1 > max(c.limit, 0) {
			t.Errorf("DefaultThresholds(%d) = %d, %d: out of order", c.limit, t1, t2)
		}
	}
}

// TestGuardResolvedThresholds: what the thresholds in force are for each combination of
// derived (-1), off (0) and explicit values, and that derived threshold2 never exceeds
// threshold1 while an explicit one may.
func TestGuardResolvedThresholds(t *testing.T) {
	const budget = 4 << 30 // derived: 512 MiB and 256 MiB
	for _, c := range []struct {
		why               string
		limit, set1, set2 int64
		t1, t2            int64
	}{
		{"both derived", budget, -1, -1, 512 * mib, 256 * mib},
		{"any negative means derived", budget, -1024, -7, 512 * mib, 256 * mib},
		{"both off", budget, 0, 0, 0, 0},
		{"explicit", budget, 100 * mib, 30 * mib, 100 * mib, 30 * mib},
		{"small explicit 1: derived 2 is half of it", budget, 16 * mib, -1, 16 * mib, 8 * mib},
		{"large explicit 1: derived 2 keeps its default", budget, 2 << 30, -1, 2 << 30, 256 * mib},
		{"1 off: 2 derived from the budget", budget, 0, -1, 0, 256 * mib},
		{"explicit 2 above 1 is kept", budget, 50 * mib, 100 * mib, 50 * mib, 100 * mib},
		{"explicit 2 with derived 1", budget, -1, 600 * mib, 512 * mib, 600 * mib},
		{"no budget: both off", -1, 100 * mib, 50 * mib, 0, 0},
	} {
		g := NewGuard(GuardOptions{Limit: c.limit, Threshold1: c.set1, Threshold2: c.set2, Sampler: new(fakeMem)})
		st := g.State()
		if st.Threshold1 != c.t1 || st.Threshold2 != c.t2 || st.Threshold1Set != c.set1 || st.Threshold2Set != c.set2 {
			t.Errorf("%s: thresholds %d/%d (set %d/%d), want %d/%d", c.why, st.Threshold1, st.Threshold2,
				st.Threshold1Set, st.Threshold2Set, c.t1, c.t2)
		}
	}
}

// TestGuardThreshold2AboveThreshold1: set so, threshold2 triggers first: established connections
// lose queue growth while new ones are still accepted.
func TestGuardThreshold2AboveThreshold1(t *testing.T) {
	r := newGuardRig(t, 1000*mib, 50*mib, 100*mib)
	r.free(80 * mib)
	r.want("80 MiB free, thresholds 50/100 MiB", false, true)
	r.free(40 * mib)
	r.want("40 MiB free, thresholds 50/100 MiB", true, true)
}

// TestGuardOff: thresholds at 0, or no budget, never refuse, however little is free.
func TestGuardOff(t *testing.T) {
	r := newGuardRig(t, 1000*mib, 0, 0)
	for _, free := range []int64{500 * mib, 1, 0, -500 * mib} {
		r.free(free)
		r.want("thresholds off", false, false)
	}
	mem := new(fakeMem)
	g := NewGuard(GuardOptions{Limit: -1, Threshold1: -1, Threshold2: 1 << 40, Sampler: mem})
	mem.inUse.Store(1 << 40)
	g.Sample(memEpoch)
	st := g.State()
	if g.RefuseHandshakes() || g.RefuseQueueGrowth() || st.Limit != 0 || st.Free != 0 ||
		st.LimitSource != "none (configured)" || st.InUse != 1<<40 {
		t.Fatalf("no budget: State %+v", st)
	}
}

// TestGuardFailsOpenBeforeFirstSample: with no sample there is nothing to decide on; setters
// change the thresholds in force but refuse nothing.
func TestGuardFailsOpenBeforeFirstSample(t *testing.T) {
	mem := new(fakeMem)
	g := NewGuard(GuardOptions{Limit: 1000 * mib, Threshold1: 2000 * mib, Threshold2: 2000 * mib, Sampler: mem})
	g.SetThreshold1(3000 * mib)
	g.SetLimit(10 * mib)
	st := g.State()
	if g.RefuseHandshakes() || g.RefuseQueueGrowth() || st.InUse != 0 || st.Free != 0 || !st.Sampled.IsZero() || mem.calls.Load() != 0 {
		t.Fatalf("before the first sample: State %+v, %d sampler calls", st, mem.calls.Load())
	}
	g.Sample(memEpoch)
	if !g.RefuseHandshakes() || !g.RefuseQueueGrowth() {
		t.Fatal("thresholds above the budget did not refuse at the first sample")
	}
}

// TestGuardSettersReevaluate: a setter applies at once to the last sample, with hysteresis, and
// stamps the transition with that sample's time.
func TestGuardSettersReevaluate(t *testing.T) {
	r := newGuardRig(t, 1000*mib, 100*mib, 50*mib)
	r.free(200 * mib)
	sampled := r.g.State().Sampled
	r.g.SetThreshold1(300 * mib)
	r.want("SetThreshold1 above free", true, false)
	if st := r.g.State(); !st.Low1Since.Equal(sampled) || st.Low1Entries != 1 {
		t.Fatalf("Low1Since %v entries %d, want %v 1", st.Low1Since, st.Low1Entries, sampled)
	}
	r.g.SetThreshold1(170 * mib) // 200 MiB free is inside 170's margin (212.5): still low
	r.want("SetThreshold1 just below free", true, false)
	r.g.SetThreshold1(100 * mib)
	r.want("SetThreshold1 well below free", false, false)
	r.g.SetThreshold2(250 * mib)
	r.want("SetThreshold2 above free", false, true)
	r.g.SetThreshold2(0)
	r.want("SetThreshold2 off", false, false)
	// The budget moves free memory: 800 MiB in use of a new 850 MiB budget leaves 50 MiB.
	r.g.SetLimit(850 * mib)
	r.want("SetLimit to 850 MiB with 800 MiB in use", true, false)
	if st := r.g.State(); st.Free != 50*mib || st.Limit != 850*mib || st.LimitSource != "configured" {
		t.Fatalf("after SetLimit: State %+v", st)
	}
	r.g.SetLimit(-1)
	r.want("SetLimit(-1): no budget", false, false)
	// Derived thresholds follow the budget: 4 GiB gives 512 MiB, and 800 MiB in use leaves
	// 3.2 GiB free.
	r.g.SetThreshold1(-1)
	r.g.SetThreshold2(-1)
	r.g.SetLimit(4 << 30)
	if st := r.g.State(); st.Threshold1 != 512*mib || st.Threshold2 != 256*mib || st.Low1 || st.Low2 {
		t.Fatalf("derived after SetLimit(4 GiB): State %+v", st)
	}
	r.g.SetLimit(900 * mib) // derived 112.5 / 56.25 MiB, 100 MiB free
	r.want("SetLimit to 900 MiB with derived thresholds", true, false)
}

// TestGuardDerivedLimit: Limit 0 asks DefaultLimit, at NewGuard and at every SetLimit(0); a
// DefaultLimit that knows nothing leaves the Guard without a budget.
func TestGuardDerivedLimit(t *testing.T) {
	var calls int
	answer := struct {
		n   int64
		src string
	}{512 * mib, "cgroup v2 /sys/fs/cgroup/memory.max"}
	mem := new(fakeMem)
	g := NewGuard(GuardOptions{Threshold1: -1, Threshold2: -1, Sampler: mem, DefaultLimit: func() (int64, string) {
		calls++
		return answer.n, answer.src
	}})
	st := g.State()
	if calls != 1 || st.Limit != 512*mib || st.LimitSource != answer.src || st.Threshold1 != 64*mib || st.Threshold2 != 32*mib {
		t.Fatalf("derived limit: %d calls, State %+v", calls, st)
	}
	mem.inUse.Store(460 * mib)
	g.Sample(memEpoch)
	if !g.RefuseHandshakes() || g.RefuseQueueGrowth() {
		t.Fatal("52 MiB free of a derived 512 MiB: want handshakes refused only")
	}
	answer.n, answer.src = 0, "unknown: no cgroup memory limit and no MemTotal"
	g.SetLimit(0)
	if st := g.State(); calls != 2 || st.Limit != 0 || st.LimitSource != answer.src || st.Threshold1 != 0 || g.RefuseHandshakes() {
		t.Fatalf("unknown derived limit: %d calls, State %+v", calls, st)
	}
}

// TestGuardApplyRuntimeLimit: the runtime's memory limit is the budget after ApplyRuntimeLimit
// and follows SetLimit; the test restores the limit it found. The budgets are far above what
// the test process uses, so the collector is not disturbed meanwhile.
func TestGuardApplyRuntimeLimit(t *testing.T) {
	g := NewGuard(GuardOptions{Limit: 64 << 30, Sampler: new(fakeMem)})
	if got := debug.SetMemoryLimit(-1); got == 64<<30 {
		t.Fatal("NewGuard changed the runtime's memory limit")
	}
	g.SetLimit(63 << 30)
	if got := debug.SetMemoryLimit(-1); got == 63<<30 {
		t.Fatal("SetLimit changed the runtime's memory limit before ApplyRuntimeLimit")
	}
	before := debug.SetMemoryLimit(-1)
	prev := g.ApplyRuntimeLimit()
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	if prev != before {
		t.Errorf("ApplyRuntimeLimit returned %d, the limit before was %d", prev, before)
	}
	for _, c := range []struct {
		set, want int64
	}{
		{0, 63 << 30}, // as applied
		{48 << 30, 48 << 30},
		{-1, math.MaxInt64}, // no budget: no limit
		{32 << 30, 32 << 30},
	} {
		if c.set != 0 {
			g.SetLimit(c.set)
		}
		if got, st := debug.SetMemoryLimit(-1), g.State(); got != c.want || st.RuntimeLimit != c.want {
			t.Errorf("after SetLimit(%d): runtime limit %d, State.RuntimeLimit %d, want %d", c.set, got, st.RuntimeLimit, c.want)
		}
	}
}

// TestGuardConcurrent: setters from several goroutines (an admin RPC), the ticker sampling, and
// loops reading decisions and snapshots, all at once under -race. Every snapshot is consistent:
// a threshold that is off refuses nothing, free memory below a threshold is always refusing,
// and free memory at the resume point never is.
func TestGuardConcurrent(t *testing.T) {
	mem := new(fakeMem)
	g := NewGuard(GuardOptions{Limit: 1000 * mib, Threshold1: -1, Threshold2: -1, Sampler: mem})
	var stop atomic.Bool
	var wg, bg sync.WaitGroup
	var bad atomic.Int64
	check := func(st GuardState) {
		ok := true
		for _, c := range []struct {
			low               bool
			threshold, resume int64
		}{{st.Low1, st.Threshold1, st.Resume1}, {st.Low2, st.Threshold2, st.Resume2}} {
			if st.Samples == 0 || st.Limit <= 0 || c.threshold == 0 {
				ok = ok && !c.low
				continue
			}
			if st.Free < c.threshold && !c.low || st.Free >= c.resume && c.low {
				ok = false
			}
		}
		if !ok {
			bad.Add(1)
		}
	}
	var checks atomic.Int64
	bg.Go(func() { // the ticker
		now := memEpoch
		for i := 0; !stop.Load(); i++ {
			mem.inUse.Store(int64(i%1100) * mib)
			now = now.Add(DefaultMinInterval)
			g.Sample(now)
			runtime.Gosched() // interleave with the others under -cpu=1 too
		}
	})
	for range 2 { // the loops
		bg.Go(func() {
			for !stop.Load() {
				g.RefuseHandshakes()
				g.RefuseQueueGrowth()
				check(g.State())
				checks.Add(1)
				runtime.Gosched()
			}
		})
	}
	for w := range 3 { // the admin RPC
		wg.Go(func() {
			for i := range 2000 {
				v := int64((i*7+w*13)%300) * mib
				switch i % 3 {
				case 0:
					g.SetThreshold1(v - 20*mib) // sometimes negative: derived
				case 1:
					g.SetThreshold2(v / 2)
				default:
					g.SetLimit(500*mib + v*2)
				}
				runtime.Gosched()
			}
		})
	}
	wg.Wait()
	samples, checked := g.State().Samples, checks.Load()
	stop.Store(true)
	bg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of %d snapshots inconsistent", bad.Load(), checks.Load())
	}
	if samples < 100 || checked < 100 {
		t.Fatalf("only %d samples and %d snapshots while the setters ran: the phases did not overlap", samples, checked)
	}
	t.Logf("%d samples, %d snapshots checked while 6000 settings changed", samples, checked)
	// Settled: known settings and one more sample give the decisions the table test expects.
	g.SetLimit(1000 * mib)
	g.SetThreshold1(100 * mib)
	g.SetThreshold2(50 * mib)
	mem.inUse.Store(1000*mib - 40*mib)
	g.Sample(memEpoch.Add(24 * time.Hour))
	if !g.RefuseHandshakes() || !g.RefuseQueueGrowth() {
		t.Fatal("40 MiB free after the concurrent phase: want both refused")
	}
	mem.inUse.Store(0)
	g.Sample(memEpoch.Add(25 * time.Hour))
	if g.RefuseHandshakes() || g.RefuseQueueGrowth() {
		t.Fatal("all free after the concurrent phase: want nothing refused")
	}
}

// spikeSink keeps the spike reachable so the compiler cannot drop the allocation.
var spikeSink []byte

// TestGuardRealSamplerSpike: with the real sampler, a 64 MiB allocation that stays referenced
// raises in-use by about 64 MiB, flips both decisions, and releasing it brings them back.
//
// runtime.GC() before each sample makes the test exact rather than timing-dependent: the
// sampler counts heap objects as live from the last GC on (see RuntimeSampler), and in the
// daemon the collection comes by itself as the heap reaches its goal.
func TestGuardRealSamplerSpike(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 64 MiB")
	}
	const spike = 64 * mib
	settle := func() {
		runtime.GC()
		debug.FreeOSMemory() // also a GC, then returns free memory to the OS
	}
	settle()
	full := NewRuntimeSampler()
	sampler := Sampler(full)
	if raceBuild() {
		// The race detector shadows every page the program touches with pages of its own, which
		// count in RSS and are not given back when the Go memory is; the RSS half of the
		// estimate (rightly) sees them, so in-use would rise by twice the spike and never fall
		// back. Here the Guard uses the runtime half alone; the full estimate is only checked
		// to see at least the spike.
		sampler = SamplerFunc(func() MemSample {
			m := full.SampleMemory()
			m.InUse = m.Runtime - m.Reclaimable
			return m
		})
	}
	base := sampler.SampleMemory().InUse
	// A budget 128 MiB above what is in use now. With the spike in, 48 to 80 MiB stay free
	// (the spike, give or take 16 MiB of estimate), so thresholds of 88 and 84 MiB turn low;
	// their resume points (110 and 105 MiB) leave 18 MiB for the baseline to drift.
	const headroom = 128 * mib
	g := NewGuard(GuardOptions{Limit: base + headroom, Threshold1: 88 * mib, Threshold2: 84 * mib, Sampler: sampler})
	now := memEpoch
	g.Sample(now)
	st0 := g.State()
	if st0.Low1 || st0.Low2 || st0.Free < 110*mib {
		t.Fatalf("before the spike: %+v", st0)
	}

	fullBefore := full.SampleMemory().InUse
	spikeSink = make([]byte, spike)
	for i := 0; i < len(spikeSink); i += 4096 {
		spikeSink[i] = 1 // fault every page in, so RSS sees it as well
	}
	runtime.GC()
	if fullRise := full.SampleMemory().InUse - fullBefore; fullRise < spike-16*mib {
		t.Fatalf("the full estimate rose by %d MiB for a %d MiB spike", fullRise/mib, spike/mib)
	}
	now = now.Add(DefaultMinInterval)
	g.Sample(now)
	st1 := g.State()
	rise := st1.InUse - st0.InUse
	t.Logf("in use %d MiB -> %d MiB with the spike (rise %d MiB; runtime %d MiB, RSS %d MiB, reclaimable %d MiB)",
		st0.InUse/mib, st1.InUse/mib, rise/mib, st1.Last.Runtime/mib, st1.Last.RSS/mib, st1.Last.Reclaimable/mib)
	if rise < spike-16*mib || rise > spike+16*mib {
		t.Fatalf("in-use rose by %d MiB for a %d MiB spike", rise/mib, spike/mib)
	}
	if st1.Free > st0.Free-(spike-16*mib) || !st1.Low1 || !st1.Low2 || !g.RefuseHandshakes() || !g.RefuseQueueGrowth() {
		t.Fatalf("with the spike: %+v", st1)
	}

	spikeSink = nil
	settle()
	now = now.Add(DefaultMinInterval)
	g.Sample(now)
	st2 := g.State()
	t.Logf("in use %d MiB after releasing it (runtime %d MiB, RSS %d MiB)", st2.InUse/mib, st2.Last.Runtime/mib, st2.Last.RSS/mib)
	if st2.Low1 || st2.Low2 || g.RefuseHandshakes() || g.RefuseQueueGrowth() || st2.Low1Entries != 1 || st2.Low2Entries != 1 {
		t.Fatalf("after releasing the spike: %+v", st2)
	}
}

// raceBuild reports whether the test binary runs under the race detector.
func raceBuild() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

func BenchmarkGuardRefuseHandshakes(b *testing.B) {
	g := NewGuard(GuardOptions{Limit: 1 << 30, Threshold1: -1, Threshold2: -1, Sampler: new(fakeMem)})
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if g.RefuseHandshakes() {
				n++
			}
		}
		if n != 0 {
			b.Fatal("refused")
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if g.RefuseHandshakes() || g.RefuseQueueGrowth() {
					panic("refused")
				}
			}
		})
	})
}

// BenchmarkGuardSample: "sampling" takes a real sample on every call (the clock moves one
// MinInterval per call); "skipped" is the common tick, inside MinInterval.
func BenchmarkGuardSample(b *testing.B) {
	b.Run("sampling", func(b *testing.B) {
		g := NewGuard(GuardOptions{Limit: 1 << 40, Threshold1: -1, Threshold2: -1})
		now := memEpoch
		b.ReportAllocs()
		for b.Loop() {
			now = now.Add(DefaultMinInterval)
			g.Sample(now)
		}
	})
	b.Run("skipped", func(b *testing.B) {
		g := NewGuard(GuardOptions{Limit: 1 << 40, Threshold1: -1, Threshold2: -1})
		g.Sample(memEpoch)
		b.ReportAllocs()
		for b.Loop() {
			g.Sample(memEpoch.Add(time.Millisecond))
		}
	})
}
