package memguard

import (
	"math"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMinInterval is how often a [Guard] samples memory at most. The reactor calls
// [Guard.Sample] on every tick (about 100 ms); sampling on every fourth one bounds the time a
// burst of allocation goes unseen to a quarter second while keeping the cost (a few microseconds
// per sample) far below noise. Sampling faster would mostly re-read the same figure: the live
// heap estimate moves when a GC cycle ends.
const DefaultMinInterval = 250 * time.Millisecond

// Derived thresholds, see [DefaultThresholds].
const (
	thresholdDivisor = 8       // low_mem_threshold1 = budget / 8 ...
	thresholdFloor   = 4 << 20 // ... but at least 4 MiB (while that is at most budget / 4) ...
	thresholdCap     = 1 << 30 // ... and at most 1 GiB; low_mem_threshold2 = threshold1 / 2
)

// minMargin is the smallest hysteresis margin, see [Guard].
const minMargin = 1 << 20

// DefaultThresholds returns the low_mem_threshold1 and low_mem_threshold2 used for a budget of
// limit bytes when they are set to -1 (derived). Both are 0 (off) when limit <= 0 (no budget).
//
// threshold1 = limit/8, at least 4 MiB (but never above limit/4) and at most 1 GiB;
// threshold2 = threshold1/2.
//
// Why these: below threshold1 the daemon stops taking on new connections, but what it already
// admitted keeps allocating: up to max-handshakes handshakes finishing (1024 × ~50 KiB by
// default, ~50 MiB), queues growing up to ct_wq_max, and whatever arrives in the up to
// [DefaultMinInterval] before the next sample notices. An eighth of the budget covers that from
// budgets of about 512 MiB up (a smaller deployment should lower max-handshakes too), and is the
// share Kamailio's own default reserves on its
// default 64 MiB of shared memory (512 KiB per process, ~16 processes: 8 MiB). The reserve is
// proportional because a bigger budget usually serves more connections, but capped at 1 GiB
// because what is in flight depends on cores and flags, not on gigabytes of RAM. Threshold2 is
// half of threshold1, as Kamailio's defaults are (256 KiB against 512 KiB per process): the
// second line holds only once refusing new connections has not been enough.
func DefaultThresholds(limit int64) (threshold1, threshold2 int64) {
	if limit <= 0 {
		return 0, 0
	}
	t1 := max(limit/thresholdDivisor, min(thresholdFloor, limit/4))
	t1 = min(t1, thresholdCap)
	return t1, t1 / 2
}

// GuardOptions configures a [Guard]. The threshold fields keep Kamailio's special values, so
// the zero GuardOptions has both thresholds off; set them to -1 for the derived defaults.
type GuardOptions struct {
	// Limit is the memory budget in bytes. If zero, DefaultLimit computes it (the cgroup limit,
	// or 90% of physical memory). If negative, there is no budget and the Guard never refuses.
	Limit int64

	// Threshold1 is low_mem_threshold1 in bytes of free memory: below it new TLS connections are
	// refused ([Guard.RefuseHandshakes]). Negative: derived from the budget ([DefaultThresholds]);
	// zero: off.
	Threshold1 int64
	// Threshold2 is low_mem_threshold2 in bytes of free memory: below it established
	// connections get no new queue memory ([Guard.RefuseQueueGrowth]). Negative: derived, that is
	// the default for the budget but at most half of the effective Threshold1; zero: off. Set
	// explicitly above Threshold1 it is kept as set, and is then the first to trigger.
	Threshold2 int64

	// Sampler reads the process's memory. If nil, a [RuntimeSampler].
	Sampler Sampler
	// MinInterval is the least time between two samples. If zero or negative,
	// [DefaultMinInterval].
	MinInterval time.Duration

	// DefaultLimit computes the budget when Limit is zero, at NewGuard and at SetLimit(0). If
	// nil, the package's [DefaultLimit], which reads /proc and /sys.
	DefaultLimit func() (bytes int64, source string)
}

// Guard holds the memory budget and Kamailio's two low-memory thresholds, and turns samples of
// the process's memory into two decisions the event loops read on every connection:
// [Guard.RefuseHandshakes] (free memory below low_mem_threshold1) and
// [Guard.RefuseQueueGrowth] (free memory below low_mem_threshold2). Free memory is the budget
// minus the [MemSample.InUse] of the last sample.
//
// # Hysteresis
//
// A threshold's state turns low when free memory falls below the threshold, and back only when
// free memory is at least the threshold plus a margin of a quarter of the threshold (at least
// 1 MiB). Free memory moves in steps each time a GC cycle ends and as connections come and go;
// without a margin a process hovering at the threshold would refuse and accept in alternate
// samples, and a refusal that lasts 250 ms protects nothing. A quarter of the threshold is 3% of
// the budget with the derived defaults: wider than the step between two GC cycles of a steady
// process, narrow enough that service resumes soon after memory is back. The 1 MiB floor keeps
// small explicit thresholds (Kamailio's examples use 1-2 MiB) from flapping on the memory of a
// single connection.
//
// # Settings
//
// The limit and the thresholds may be changed at any time ([Guard.SetLimit],
// [Guard.SetThreshold1], [Guard.SetThreshold2]); the state is re-evaluated at once against the
// last sample, with the same hysteresis, so an operator sees the effect in [Guard.State]
// without waiting for a sample. A threshold set at or above the budget refuses from then on
// (a way to drain the process); a threshold above the other is allowed and simply triggers
// first. Until the first sample, and whenever there is no budget, nothing is refused: the guard
// fails open, as the daemon would without it.
//
// # Concurrency
//
// RefuseHandshakes and RefuseQueueGrowth are one atomic load each and may be called from any
// goroutine. Sample, the setters, ApplyRuntimeLimit and State may be called from any goroutine
// too; they serialise on a mutex that the two decision methods never take. The Guard starts no
// goroutine and reads no clock: the time of a sample is the caller's now. A Guard must be made
// by [NewGuard] and not copied.
type Guard struct {
	// Read on every connection by every loop.
	low1, low2 atomic.Bool

	mu sync.Mutex // guards every field below

	sampler      Sampler
	minInterval  time.Duration
	defaultLimit func() (int64, string)
	followLimit  bool // ApplyRuntimeLimit was called: SetLimit updates the runtime's limit too

	limit        int64 // in force; <= 0 means no budget
	limitSource  string
	t1Set, t2Set int64 // as given: negative derived, 0 off
	t1, t2       int64 // in force; 0 off

	last      MemSample
	sampled   time.Time
	samples   uint64
	low1Since time.Time
	low2Since time.Time
	entries1  uint64
	entries2  uint64
}

// NewGuard returns a Guard configured by o. If o.Limit is zero it reads the default budget now
// (see [DefaultLimit]). It changes nothing in the runtime: see [Guard.ApplyRuntimeLimit].
func NewGuard(o GuardOptions) *Guard {
	g := &Guard{
		sampler:      o.Sampler,
		minInterval:  o.MinInterval,
		defaultLimit: o.DefaultLimit,
		t1Set:        o.Threshold1,
		t2Set:        o.Threshold2,
	}
	if g.sampler == nil {
		g.sampler = NewRuntimeSampler()
	}
	if g.minInterval <= 0 {
		g.minInterval = DefaultMinInterval
	}
	if g.defaultLimit == nil {
		g.defaultLimit = DefaultLimit
	}
	g.setLimitLocked(o.Limit)
	g.resolveLocked()
	return g
}

// RefuseHandshakes reports whether free memory is below low_mem_threshold1, in which case a new
// TLS connection should be refused before any cryptographic work (Kamailio: "attempts to open or
// accept new TLS connections will start to fail"). The caller counts the refusal (lowmem1).
func (g *Guard) RefuseHandshakes() bool { return g.low1.Load() }

// RefuseQueueGrowth reports whether free memory is below low_mem_threshold2, in which case an
// established connection should get no new queue memory (Kamailio: "TLS operations on already
// established TLS connections will start to fail preemptively"). The caller counts the refusal
// (lowmem2).
func (g *Guard) RefuseQueueGrowth() bool { return g.low2.Load() }

// Sample reads the process's memory if at least MinInterval has passed since the last sample
// (or now is before it: a clock stepped back must not stop sampling), and updates the two
// decisions. It reports whether either decision changed, so the caller can log the transition
// with [Guard.State]. The reactor calls it from its ticker on every tick; calls in between
// return at once without sampling.
func (g *Guard) Sample(now time.Time) (changed bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.samples > 0 {
		if d := now.Sub(g.sampled); d >= 0 && d < g.minInterval {
			return false
		}
	}
	g.last = g.sampler.SampleMemory()
	g.sampled = now
	g.samples++
	return g.evaluateLocked()
}

// SetLimit changes the budget, with the meaning of zero (derived, read now) and negative (none)
// of [GuardOptions.Limit]. Derived thresholds follow the new budget. If ApplyRuntimeLimit was
// called, the runtime's memory limit follows too.
func (g *Guard) SetLimit(bytes int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.setLimitLocked(bytes)
	if g.followLimit {
		debug.SetMemoryLimit(runtimeLimitFor(g.limit))
	}
	g.resolveLocked()
	g.evaluateLocked()
}

// SetThreshold1 changes low_mem_threshold1, in bytes (negative: derived; zero: off).
func (g *Guard) SetThreshold1(bytes int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.t1Set = bytes
	g.resolveLocked()
	g.evaluateLocked()
}

// SetThreshold2 changes low_mem_threshold2, in bytes (negative: derived; zero: off).
func (g *Guard) SetThreshold2(bytes int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.t2Set = bytes
	g.resolveLocked()
	g.evaluateLocked()
}

// ApplyRuntimeLimit sets the Go runtime's soft memory limit (debug.SetMemoryLimit) to the
// budget, or removes it (math.MaxInt64) if there is no budget, and keeps it equal to the budget
// on later SetLimit calls. It returns the limit in force before, so a test can restore it.
//
// The daemon should call it once at start-up. With the limit in force the collector works
// harder as the heap nears the budget instead of letting garbage push the process past it (and
// into the cgroup's OOM killer); the in-use estimate of [RuntimeSampler], which counts garbage as
// reclaimable, relies on that. It overrides a GOMEMLIMIT from the environment.
func (g *Guard) ApplyRuntimeLimit() (previous int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.followLimit = true
	return debug.SetMemoryLimit(runtimeLimitFor(g.limit))
}

func runtimeLimitFor(limit int64) int64 {
	if limit <= 0 {
		return math.MaxInt64 // the runtime's "no limit"
	}
	return limit
}

// GuardState is a snapshot of a [Guard], for the admin RPC (tls.info) and metrics. Sizes are
// in bytes.
type GuardState struct {
	Limit       int64  // budget in force; 0 or negative: none, and nothing is refused
	LimitSource string // where Limit came from: "configured", or DefaultLimit's source

	InUse int64     // Last.InUse; 0 before the first sample
	Free  int64     // Limit - InUse; may be negative; 0 before the first sample or without a budget
	Last  MemSample // the last sample in full

	Threshold1, Threshold2       int64 // low_mem_threshold1/2 in force; 0 off
	Threshold1Set, Threshold2Set int64 // as configured: negative derived, 0 off
	Resume1, Resume2             int64 // free memory at which a low state ends (threshold + margin); 0 when off

	Low1, Low2               bool      // RefuseHandshakes, RefuseQueueGrowth
	Low1Since, Low2Since     time.Time // time of the sample that entered the low state; zero when not low
	Low1Entries, Low2Entries uint64    // times each low state was entered

	Sampled      time.Time     // time (the caller's now) of the last sample; zero before the first
	Samples      uint64        // samples taken
	MinInterval  time.Duration // least time between samples
	RuntimeLimit int64         // the Go runtime's memory limit now (math.MaxInt64: none)
}

// State returns a snapshot. It takes the Guard's mutex, briefly; the event loops should call the
// Refuse methods instead.
func (g *Guard) State() GuardState {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := GuardState{
		Limit:         g.limit,
		LimitSource:   g.limitSource,
		Last:          g.last,
		Threshold1:    g.t1,
		Threshold2:    g.t2,
		Threshold1Set: g.t1Set,
		Threshold2Set: g.t2Set,
		Resume1:       resumeAt(g.t1),
		Resume2:       resumeAt(g.t2),
		Low1:          g.low1.Load(),
		Low2:          g.low2.Load(),
		Low1Since:     g.low1Since,
		Low2Since:     g.low2Since,
		Low1Entries:   g.entries1,
		Low2Entries:   g.entries2,
		Sampled:       g.sampled,
		Samples:       g.samples,
		MinInterval:   g.minInterval,
		RuntimeLimit:  debug.SetMemoryLimit(-1), // a negative input only reads it
	}
	if g.samples > 0 {
		s.InUse = g.last.InUse
		if g.limit > 0 {
			s.Free = g.limit - g.last.InUse
		}
	}
	return s
}

func (g *Guard) setLimitLocked(bytes int64) {
	switch {
	case bytes > 0:
		g.limit, g.limitSource = bytes, "configured"
	case bytes < 0:
		g.limit, g.limitSource = 0, "none (configured)"
	default:
		g.limit, g.limitSource = g.defaultLimit()
		g.limit = max(g.limit, 0)
	}
}

// resolveLocked computes the thresholds in force from the budget and the values as set.
func (g *Guard) resolveLocked() {
	d1, d2 := DefaultThresholds(g.limit)
	switch {
	case g.limit <= 0 || g.t1Set == 0:
		g.t1 = 0
	case g.t1Set < 0:
		g.t1 = d1
	default:
		g.t1 = g.t1Set
	}
	switch {
	case g.limit <= 0 || g.t2Set == 0:
		g.t2 = 0
	case g.t2Set < 0:
		g.t2 = d2
		if g.t1 > 0 {
			// Derived, threshold2 stays below threshold1 whatever threshold1 was set to, so the
			// two lines keep their order: new connections are refused before old ones suffer.
			g.t2 = min(g.t2, g.t1/2)
		}
	default:
		g.t2 = g.t2Set
	}
}

// evaluateLocked applies the thresholds to the last sample and reports whether a decision
// changed. Transitions are stamped with the time of that sample: the Guard has no clock.
func (g *Guard) evaluateLocked() (changed bool) {
	if g.samples == 0 {
		return false
	}
	free := int64(0)
	if g.limit > 0 {
		free = g.limit - g.last.InUse
	}
	c1 := g.step(&g.low1, &g.low1Since, &g.entries1, free, g.t1)
	c2 := g.step(&g.low2, &g.low2Since, &g.entries2, free, g.t2)
	return c1 || c2
}

func (g *Guard) step(low *atomic.Bool, since *time.Time, entries *uint64, free, threshold int64) (changed bool) {
	was := low.Load()
	now := isLow(was, free, threshold)
	if now == was {
		return false
	}
	low.Store(now)
	if now {
		*since = g.sampled
		*entries++
	} else {
		*since = time.Time{}
	}
	return true
}

// isLow is the hysteresis: enter below threshold, leave at threshold + margin or more.
func isLow(was bool, free, threshold int64) bool {
	if threshold <= 0 {
		return false
	}
	if was {
		return free < resumeAt(threshold)
	}
	return free < threshold
}

// resumeAt is the free memory at which a low state ends: threshold plus max(threshold/4, 1 MiB),
// saturating rather than overflowing for thresholds near math.MaxInt64.
func resumeAt(threshold int64) int64 {
	if threshold <= 0 {
		return 0
	}
	m := max(threshold/4, minMargin)
	if threshold > math.MaxInt64-m {
		return math.MaxInt64
	}
	return threshold + m
}
