package memguard

import (
	"math"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// t0 is the tests' epoch. It has no monotonic reading, so Sub uses the wall times given.
var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// allowN calls Allow n times at now and returns how many were admitted.
func allowN(r *RateLimiter, now time.Time, n int) int {
	got := 0
	for range n {
		if r.Allow(now) {
			got++
		}
	}
	return got
}

func TestReasonString(t *testing.T) {
	for r, want := range map[Reason]string{
		0: "none", HandshakeRate: "handshake_rate", PerSource: "per_source",
		SourceTableFull: "source_table_full", 99: "memguard_reason(99)",
	} {
		if got := r.String(); got != want {
			t.Errorf("Reason(%d).String() = %q, want %q", r, got, want)
		}
	}
}

func TestRateLimiterBurstThenRate(t *testing.T) {
	r := NewRateLimiter(10, 5) // one token every 100 ms, 5 at once
	if got := allowN(r, at(0), 8); got != 5 {
		t.Fatalf("a full bucket of 5 admitted %d of 8 at once", got)
	}
	if w := r.Wait(at(0)); w != 100*time.Millisecond {
		t.Fatalf("Wait after draining = %v, want 100ms", w)
	}
	if r.Allow(at(100*time.Millisecond - 1)) {
		t.Fatal("Allow 1 ns before the next token = true")
	}
	if !r.Allow(at(100 * time.Millisecond)) {
		t.Fatal("Allow when the next token is due = false")
	}
	if r.Allow(at(100 * time.Millisecond)) {
		t.Fatal("second Allow on the same token = true")
	}
	if got := allowN(r, at(350*time.Millisecond), 5); got != 2 { // tokens at 200 and 300 ms
		t.Fatalf("at 350ms admitted %d, want 2", got)
	}
	// Quiet for long enough to refill: the burst again, not more.
	if got := allowN(r, at(time.Hour), 10); got != 5 {
		t.Fatalf("after an hour admitted %d, want the burst of 5", got)
	}
}

// TestRateLimiterExact: stepping through D at a fine grain and taking every token as it appears
// admits exactly burst + floor(D / interval), where interval = ceil(1e9/rate) ns is never
// shorter than 1/rate: never more than burst + rate·D, and behind it by under one token in D
// for every rate a carrier would set. (A bucket of one token taken late loses the lateness, as
// any token bucket does once full; the cases with burst 1 step in divisors of the interval.)
func TestRateLimiterExact(t *testing.T) {
	const d = 10 * time.Second
	for _, tc := range []struct {
		rate  float64
		burst int
		step  time.Duration
	}{
		{1, 1, time.Millisecond},
		{3, 2, time.Millisecond},
		{0.5, 2, 10 * time.Millisecond},
		{7.3, 4, time.Millisecond},
		{1000, 100, 100 * time.Microsecond},
		{2500, 1, 50 * time.Microsecond},
	} {
		r := NewRateLimiter(tc.rate, tc.burst)
		got := 0
		for now := time.Duration(0); now <= d; now += tc.step {
			for n := 0; n <= tc.burst && r.Allow(at(now)); n++ { // more than burst at once fails below
				got++
			}
		}
		interval := int64(math.Ceil(1e9 / tc.rate))
		want := tc.burst + int(int64(d)/interval)
		if got != want {
			t.Errorf("rate %v burst %d over %v: admitted %d, want %d", tc.rate, tc.burst, d, got, want)
		}
		if bound := float64(tc.burst) + tc.rate*d.Seconds(); float64(got) > bound || float64(got) < bound-1 {
			t.Errorf("rate %v burst %d over %v: admitted %d, want within (%v-1, %v]", tc.rate, tc.burst, d, got, bound, bound)
		}
	}
}

// TestRateLimiterWait: Wait names the exact nanosecond a token appears, in every state.
func TestRateLimiterWait(t *testing.T) {
	for _, tc := range []struct {
		rate  float64
		burst int
	}{{10, 5}, {3, 1}, {0.25, 3}, {1e6, 10}, {4800, 4800}} {
		r := NewRateLimiter(tc.rate, tc.burst)
		now := at(0)
		for i := range 3*tc.burst + 5 {
			w := r.Wait(now)
			if w < 0 {
				t.Fatalf("rate %v: Wait = %v", tc.rate, w)
			}
			if w > 0 && r.Allow(now.Add(w-1)) {
				t.Fatalf("rate %v step %d: Allow 1 ns before Wait (%v) = true", tc.rate, i, w)
			}
			if !r.Allow(now.Add(w)) {
				t.Fatalf("rate %v step %d: Allow after Wait (%v) = false", tc.rate, i, w)
			}
			now = now.Add(w)
			if i%4 == 3 {
				now = now.Add(time.Duration(float64(time.Second) / tc.rate / 3)) // some partial refills too
			}
		}
	}
}

func TestRateLimiterUnlimited(t *testing.T) {
	var zero RateLimiter
	for name, r := range map[string]*RateLimiter{
		"zero value": &zero, "rate 0": NewRateLimiter(0, 5), "rate +Inf": NewRateLimiter(math.Inf(1), 0),
	} {
		if got := allowN(r, at(0), 100_000); got != 100_000 {
			t.Errorf("%s: admitted %d of 100000", name, got)
		}
		if w := r.Wait(at(0)); w != 0 {
			t.Errorf("%s: Wait = %v, want 0", name, w)
		}
		if rate, burst := r.Rate(); rate != 0 || burst != 0 {
			t.Errorf("%s: Rate() = %v, %d, want 0, 0", name, rate, burst)
		}
	}
}

func TestRateLimiterRateDefaults(t *testing.T) {
	for _, tc := range []struct {
		rate      float64
		burst     int
		wantBurst int
	}{
		{10, 0, 10}, // one second's worth
		{0.2, 0, 1}, // at least one
		{2.5, 0, 3}, // rounded up
		{10, 3, 3},  // as given
		{1e12, 0, MaxBurst},
		{5, MaxBurst * 2, MaxBurst},
	} {
		r := NewRateLimiter(tc.rate, tc.burst)
		if rate, burst := r.Rate(); rate != tc.rate || burst != tc.wantBurst {
			t.Errorf("NewRateLimiter(%v, %d).Rate() = %v, %d, want %v, %d", tc.rate, tc.burst, rate, burst, tc.rate, tc.wantBurst)
		}
	}
	// Extremes stay in range: 1e12/s acts as one token per ns; one per 1e12 s as one per ~13 days.
	if p := newRateParams(1e12, 1); p.interval != 1 {
		t.Errorf("interval at 1e12/s = %d, want 1", p.interval)
	}
	if p := newRateParams(1e-12, MaxBurst); p.interval != maxInterval || p.tolerance != maxTolerance {
		t.Errorf("1e-12/s: interval %d tolerance %d, want %d %d", p.interval, p.tolerance, int64(maxInterval), int64(maxTolerance))
	}
}

func TestRateLimiterInvalidPanics(t *testing.T) {
	for _, tc := range []struct {
		rate  float64
		burst int
	}{{-1, 0}, {math.NaN(), 0}, {math.Inf(-1), 0}, {10, -1}} {
		func() {
			defer func() {
				msg, _ := recover().(string)
				if !strings.HasPrefix(msg, "memguard: internal error: rate") {
					t.Errorf("NewRateLimiter(%v, %d): panic %q", tc.rate, tc.burst, msg)
				}
			}()
			NewRateLimiter(tc.rate, tc.burst)
		}()
	}
}

// TestRateLimiterSetRate: a runtime change keeps the tokens the bucket was missing, at most an
// empty bucket's worth, and refills them at the new rate.
func TestRateLimiterSetRate(t *testing.T) {
	t.Run("raise", func(t *testing.T) {
		r := NewRateLimiter(1, 10)
		if got := allowN(r, at(0), 10); got != 10 {
			t.Fatalf("admitted %d, want 10", got)
		}
		if w := r.Wait(at(0)); w != time.Second {
			t.Fatalf("Wait = %v, want 1s", w)
		}
		r.SetRate(1000, 10) // 10 tokens missing at the next decision: back in 10 ms, not 10 s
		if r.Allow(at(0)) {
			t.Fatal("Allow right after raising the rate of an empty bucket = true")
		}
		if w := r.Wait(at(0)); w != time.Millisecond {
			t.Fatalf("Wait after raising to 1000/s = %v, want 1ms", w)
		}
		if got := allowN(r, at(10*time.Millisecond), 20); got != 10 {
			t.Fatalf("after 10ms at 1000/s admitted %d, want 10", got)
		}
	})
	t.Run("lower", func(t *testing.T) {
		r := NewRateLimiter(1000, 1000)
		allowN(r, at(0), 1000)
		r.SetRate(1, 5) // 1000 missing, clamped to an empty bucket of 5
		if w := r.Wait(at(0)); w != time.Second {
			t.Fatalf("Wait after lowering = %v, want 1s", w)
		}
		if got := allowN(r, at(5*time.Second), 10); got != 5 {
			t.Fatalf("after 5s at 1/s admitted %d, want 5", got)
		}
	})
	t.Run("smaller burst", func(t *testing.T) {
		r := NewRateLimiter(10, 100)
		r.Allow(at(0))
		r.SetRate(10, 3) // one token missing, carried over: 2 of 3 left
		if got := allowN(r, at(0), 10); got != 2 {
			t.Fatalf("admitted %d after shrinking the burst to 3 with one token taken, want 2", got)
		}
		if got := allowN(r, at(time.Hour), 10); got != 3 {
			t.Fatalf("an hour later admitted %d, want 3", got)
		}
	})
	t.Run("off and on", func(t *testing.T) {
		r := NewRateLimiter(1, 2)
		allowN(r, at(0), 2)
		r.SetRate(0, 0)
		if got := allowN(r, at(time.Millisecond), 50); got != 50 {
			t.Fatalf("unlimited admitted %d of 50", got)
		}
		r.SetRate(1, 2) // nothing was taken while off; the missing 2 tokens came back at 1/s
		if got := allowN(r, at(time.Second), 5); got != 1 {
			t.Fatalf("1s later admitted %d, want 1", got)
		}
		if got := allowN(r, at(time.Hour), 5); got != 2 {
			t.Fatalf("an hour later admitted %d, want 2", got)
		}
	})
}

// TestRateLimiterStaleNow: a now older than one already seen (another loop read the clock
// first) never yields a token that the newer now had not.
func TestRateLimiterStaleNow(t *testing.T) {
	r := NewRateLimiter(10, 2)
	allowN(r, at(time.Second), 2)
	for _, d := range []time.Duration{0, 500 * time.Millisecond, 999 * time.Millisecond} {
		if r.Allow(at(d)) {
			t.Fatalf("Allow at %v after draining at 1s = true", d)
		}
		if w := r.Wait(at(d)); w != time.Second+100*time.Millisecond-d {
			t.Fatalf("Wait at %v = %v, want %v", d, w, time.Second+100*time.Millisecond-d)
		}
	}
	if !r.Allow(at(1100 * time.Millisecond)) {
		t.Fatal("Allow at 1.1s = false")
	}
}

// TestRateLimiterConcurrent: goroutines call Allow and Wait with a shared fake clock that one
// goroutine advances (each reads it at its own moment, so nows arrive out of order); however
// they interleave, the admitted total never exceeds burst + floor(elapsed / interval).
func TestRateLimiterConcurrent(t *testing.T) {
	const (
		workers = 4
		rate    = 1000.0
		burst   = 50
		steps   = 500
		step    = 700 * time.Microsecond // 0.7 token a step
	)
	r := NewRateLimiter(rate, burst)
	var clock atomic.Int64
	var stop atomic.Bool
	var admitted, refused, calls atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for !stop.Load() {
				now := at(time.Duration(clock.Load()))
				calls.Add(1)
				if r.Allow(now) {
					admitted.Add(1)
				} else {
					refused.Add(1)
					if r.Wait(now) < 0 {
						t.Error("Wait < 0")
					}
					runtime.Gosched() // let the clock move
				}
			}
		})
	}
	var advance sync.WaitGroup
	advance.Go(func() {
		for range steps {
			clock.Add(int64(step))
			for c := calls.Load(); calls.Load() < c+2*workers; { // the workers use this time
				runtime.Gosched()
			}
		}
	})
	advance.Wait()
	stop.Store(true)
	wg.Wait()
	elapsed := time.Duration(clock.Load())
	bound := int64(burst) + int64(elapsed)/int64(math.Ceil(1e9/rate))
	if got := admitted.Load(); got > bound || got == 0 || refused.Load() == 0 {
		t.Fatalf("admitted %d (bound %d), refused %d over %v", got, bound, refused.Load(), elapsed)
	}
	t.Logf("admitted %d of bound %d, refused %d over %v", admitted.Load(), bound, refused.Load(), elapsed)
}

// TestRateLimiterConcurrentSetRate: SetRate racing Allow and Wait (run with -race).
func TestRateLimiterConcurrentSetRate(t *testing.T) {
	r := NewRateLimiter(100, 10)
	var wg sync.WaitGroup
	var stop atomic.Bool
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				now := at(time.Duration(i) * time.Millisecond)
				r.Allow(now)
				if r.Wait(now) < 0 {
					t.Error("Wait < 0")
				}
				if w == 0 && i%100 == 0 {
					r.Rate()
				}
			}
		})
	}
	for i := range 2000 {
		r.SetRate([]float64{0, 10, 1e4, 0.5}[i%4], i%7)
	}
	stop.Store(true)
	wg.Wait()
}

func TestMulDivCeil(t *testing.T) {
	for _, tc := range []struct{ a, b, c, want int64 }{
		{10, 3, 3, 10},
		{10, 1, 3, 4},
		{1e18, 1e18, 1, maxTolerance},      // overflows 128/64
		{1e18, 1e6, 1e9, 1e15},             // 128-bit intermediate
		{maxTolerance, 2, 1, maxTolerance}, // saturates
	} {
		if got := mulDivCeil(tc.a, tc.b, tc.c); got != tc.want {
			t.Errorf("mulDivCeil(%d, %d, %d) = %d, want %d", tc.a, tc.b, tc.c, got, tc.want)
		}
	}
}

// Helpers for the benchmarks in bench_test.go, kept here so that file needs no imports of its own.

// usAfter returns t0 plus i microseconds.
func usAfter(i int) time.Time { return t0.Add(time.Duration(i) * time.Microsecond) }

// benchCounter sums counts across a parallel benchmark's goroutines.
type benchCounter struct{ atomic.Int64 }
