package memguard

import (
	"math"
	"math/bits"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Reason names the limit that refused a connection or a handshake. Its String is the name the
// reactor exports in its refusal counters (reactor.Reason uses the same names). The zero Reason
// means no refusal.
type Reason uint8

const (
	// HandshakeRate: the global handshake rate ([RateLimiter], -handshake-rate) has no token
	// now. The reactor may hold the connection and retry after [RateLimiter.Wait].
	HandshakeRate Reason = 1 + iota
	// PerSource: the client's source is at its connection cap ([Sources.Open],
	// -per-source-conns) or over its handshake rate ([Sources.AllowHandshake],
	// -per-source-rate). Which call refused tells which limit it was.
	PerSource
	// SourceTableFull: the client's source is new and its shard of the source table is full of
	// sources that all have live connections (-per-source-table); see [Sources].
	SourceTableFull
)

func (r Reason) String() string {
	switch r {
	case 0:
		return "none"
	case HandshakeRate:
		return "handshake_rate"
	case PerSource:
		return "per_source"
	case SourceTableFull:
		return "source_table_full"
	}
	return "memguard_reason(" + strconv.Itoa(int(r)) + ")"
}

// Bounds of the token buckets' integer arithmetic (nanoseconds in an int64).
const (
	// MaxBurst is the largest burst a bucket holds; larger bursts are clamped to it.
	MaxBurst = 1 << 30
	// maxInterval bounds the time per token (~13 days): a slower rate acts as one token per
	// maxInterval. Together with maxTolerance it keeps every sum below 2^62 ns from the epoch
	// for ~73 years of uptime.
	maxInterval  = 1 << 50
	maxTolerance = 1 << 61
)

// rateParams is an immutable rate configuration. Buckets remember the *rateParams their state
// was computed with, so a change is noticed by pointer comparison and converted once.
type rateParams struct {
	interval  int64 // ns per token: ceil(1e9/rate), so the rate enforced is never above the one set
	tolerance int64 // (burst-1)*interval: how far tat may run ahead of now with a token left
	rate      float64
	burst     int
}

// newRateParams returns the parameters for rate tokens a second and a bucket of burst tokens,
// or nil for no limit (rate 0 or +Inf). A burst of 0 means max(1, ceil(rate)): one second's
// worth. A negative or NaN rate or a negative burst is a caller bug (configuration is validated
// before it gets here) and panics.
func newRateParams(rate float64, burst int) *rateParams {
	if math.IsNaN(rate) || rate < 0 || burst < 0 {
		panic("memguard: internal error: rate " + strconv.FormatFloat(rate, 'g', -1, 64) +
			" burst " + strconv.Itoa(burst) + ": want rate >= 0 and burst >= 0")
	}
	if rate == 0 || math.IsInf(rate, 1) {
		return nil
	}
	if burst == 0 {
		burst = int(min(math.Ceil(rate), MaxBurst))
	}
	burst = min(max(burst, 1), MaxBurst)
	interval := int64(maxInterval)
	if iv := math.Ceil(1e9 / rate); iv < maxInterval {
		interval = max(int64(iv), 1)
	}
	tolerance := int64(maxTolerance)
	if b := int64(burst - 1); b <= maxTolerance/interval {
		tolerance = b * interval
	}
	return &rateParams{interval: interval, tolerance: tolerance, rate: rate, burst: burst}
}

// gcra is a token bucket written as the Generic Cell Rate Algorithm (ITU-T I.371; the "virtual
// scheduling" form): the whole state is tat, the time at which the bucket will be full again.
// With interval T = 1/rate and burst B, the tokens available at time t are
// B - ceil(max(0, tat-t)/T), and an event is admitted when tat-t <= (B-1)·T, moving tat to
// max(tat, t)+T. Integer nanoseconds make it exact (no float drift, no lost fractions of a
// token however often it is called), and a caller passing a now slightly older than another
// caller's (two loops reading the clock in a different order) only sees fewer tokens, never more.
//
// Not safe for concurrent use: the owner's mutex guards it.
type gcra struct {
	tat int64       // ns since the owner's epoch
	p   *rateParams // parameters tat was computed with; nil: fresh, or set while unlimited
}

// sync converts the state to parameters p (non-nil) at time t. It keeps the number of tokens
// missing from the bucket (the debt tat-t, counted in tokens), at most an empty bucket's worth,
// so raising the rate lets the missing tokens come back faster and lowering the burst does not
// leave the bucket refusing for longer than an empty bucket at the new rate would.
func (g *gcra) sync(t int64, p *rateParams) {
	if g.p == p {
		return
	}
	if g.p == nil {
		g.tat = t // full
	} else if debt := g.tat - t; debt > 0 {
		g.tat = t + min(mulDivCeil(debt, p.interval, g.p.interval), p.tolerance+p.interval)
	}
	g.p = p
}

// allow takes one token at time t if there is one.
func (g *gcra) allow(t int64, p *rateParams) bool {
	g.sync(t, p)
	if g.tat-t > p.tolerance {
		return false
	}
	g.tat = max(g.tat, t) + p.interval
	return true
}

// wait returns how long after t a token will be available, 0 if one is now; g is unchanged.
func (g gcra) wait(t int64, p *rateParams) int64 {
	g.sync(t, p)
	return max(0, g.tat-p.tolerance-t)
}

// mulDivCeil returns ceil(a*b/c) for positive a, b, c, saturating at maxTolerance.
func mulDivCeil(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return maxTolerance
	}
	q, r := bits.Div64(hi, lo, uint64(c))
	if r != 0 {
		q++
	}
	return int64(min(q, maxTolerance))
}

// RateLimiter limits the rate of an event across every goroutine: the global rate of TLS
// handshakes (-handshake-rate, -handshake-burst). It is a token bucket holding up to burst
// tokens and refilled at rate tokens a second; each admitted event takes one. It starts full,
// so after a quiet period burst events pass at once, then rate a second.
//
// The caller passes now; the limiter never reads the clock. Times are compared by
// [time.Time.Sub] against the first now it is given, so they use the monotonic clock when the
// caller's times carry it (time.Now does) and a wall-clock step does not empty or refill the
// bucket.
//
// The zero RateLimiter is ready to use and unlimited. A RateLimiter must not be copied after
// first use.
//
// Concurrency: every method is safe to call from any goroutine. An unlimited RateLimiter costs
// one atomic load; otherwise a short mutex guards the state (measured at 15-20 ns with two cores
// contending, against 9-14 ns for a lock-free compare-and-swap variant: a handshake costs
// ~200 µs of CPU, so the difference is noise, and the mutex lets [RateLimiter.SetRate] convert
// the bucket exactly).
type RateLimiter struct {
	limited atomic.Bool // p != nil; read without the mutex for the unlimited fast path

	mu      sync.Mutex
	p       *rateParams // nil: unlimited
	b       gcra
	epoch   time.Time // the first now given; times are ns since it
	started bool
}

// NewRateLimiter returns a limiter admitting rate events a second with bursts of up to burst.
// If rate is zero, there is no limit. If burst is zero, max(1, ceil(rate)) is used: one
// second's worth. Bursts above [MaxBurst] are clamped; rates are enforced with nanosecond
// resolution (at most 1e9 a second; below one per ~13 days acts as one per ~13 days). A negative
// or NaN rate or a negative burst panics: the caller validates configuration first.
func NewRateLimiter(rate float64, burst int) *RateLimiter {
	r := new(RateLimiter)
	r.SetRate(rate, burst)
	return r
}

// SetRate changes the rate and burst, with the meaning of [NewRateLimiter]. It may be called
// while other goroutines call Allow. The change is applied at the next Allow (the old rate
// refills the bucket until then, which for a busy limiter is microseconds): the bucket keeps the
// tokens it is missing at that moment, at most an empty bucket's worth, and refills them at the
// new rate. So raising the rate of an empty bucket refills it sooner, and lowering it does not
// refuse for longer than an empty bucket at the new rate would. While unlimited
// nothing is taken and the bucket keeps refilling at the last rate set, so a limit turned off
// and on again after a while starts full.
func (r *RateLimiter) SetRate(rate float64, burst int) {
	p := newRateParams(rate, burst)
	r.mu.Lock()
	r.p = p
	r.limited.Store(p != nil)
	r.mu.Unlock()
}

// Rate returns the rate and burst in force, burst defaulted and clamped as described in
// [NewRateLimiter]. A rate of 0 means unlimited (burst is then 0).
func (r *RateLimiter) Rate() (rate float64, burst int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p == nil {
		return 0, 0
	}
	return r.p.rate, r.p.burst
}

// Allow takes one token at now if there is one, and reports whether it did. A refused caller
// may retry after [RateLimiter.Wait].
func (r *RateLimiter) Allow(now time.Time) bool {
	if !r.limited.Load() {
		return true
	}
	r.mu.Lock()
	ok := r.p == nil || r.b.allow(r.since(now), r.p)
	r.mu.Unlock()
	return ok
}

// Wait returns how long after now a token will be available if nobody else takes it: 0 if
// Allow(now) would succeed now. It takes nothing. The reactor uses it to arm its timer for
// connections waiting for the handshake rate, so they are admitted at the tick a token appears
// rather than by polling; with several waiters or several loops, Allow at that time may still be
// refused by a faster taker, and the caller waits again.
func (r *RateLimiter) Wait(now time.Time) time.Duration {
	if !r.limited.Load() {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.p == nil {
		return 0
	}
	return time.Duration(r.b.wait(r.since(now), r.p))
}

// since returns now in ns since the epoch, setting the epoch on first use. r.mu is held.
func (r *RateLimiter) since(now time.Time) int64 {
	if !r.started {
		r.epoch, r.started = now, true
	}
	return int64(now.Sub(r.epoch))
}
