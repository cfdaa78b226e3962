package wq

import (
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestBudgetLimits(t *testing.T) {
	var zero Budget
	for _, tc := range []struct {
		name string
		b    *Budget
		want int64
	}{
		{"zero value", &zero, DefaultGlobalLimit},
		{"NewBudget(0)", NewBudget(0), DefaultGlobalLimit},
		{"NewBudget(100)", NewBudget(100), 100},
		{"NewBudget(-1)", NewBudget(-1), -1},
		{"NewBudget(-500)", NewBudget(-500), -1},
	} {
		if got := tc.b.Limit(); got != tc.want {
			t.Errorf("%s: Limit() = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// Tiny steps, each naming its arithmetic, in the manner of x/net/http2's flow_test.go.
func TestBudgetReserve(t *testing.T) {
	b := NewBudget(100)
	for i, s := range []struct {
		op   string
		n    int64
		want bool
		used int64
	}{
		{"reserve", 60, true, 60},   // 60 of 100
		{"reserve", 41, false, 60},  // 60+41 > 100: refused whole
		{"reserve", 40, true, 100},  // 60+40 = 100: exactly full
		{"reserve", 1, false, 100},  // full
		{"reserve", 0, true, 100},   // zero always fits
		{"release", 30, true, 70},   // 100-30
		{"reserve", 30, true, 100},  // 70+30
		{"release", 100, true, 0},   // back to empty
		{"reserve", 101, false, 0},  // larger than the whole limit
		{"reserve", 100, true, 100}, // the whole limit
		{"release", 100, true, 0},
	} {
		ok := true
		if s.op == "reserve" {
			ok = b.TryReserve(s.n)
		} else {
			b.Release(s.n)
		}
		if ok != s.want || b.Used() != s.used {
			t.Fatalf("step %d: %s(%d) = %v with Used %d, want %v with Used %d",
				i, s.op, s.n, ok, b.Used(), s.want, s.used)
		}
	}
}

func TestBudgetUnlimitedStillCounts(t *testing.T) {
	b := NewBudget(-1)
	if !b.TryReserve(1 << 40) {
		t.Fatal("TryReserve(1 TiB) on an unlimited budget = false")
	}
	if got := b.Used(); got != 1<<40 {
		t.Fatalf("Used() = %d, want %d", got, int64(1)<<40)
	}
	b.Release(1 << 40)
	if got := b.Used(); got != 0 {
		t.Fatalf("Used() after release = %d, want 0", got)
	}
}

func TestBudgetLowerBelowUsed(t *testing.T) {
	b := NewBudget(1000)
	if !b.TryReserve(800) {
		t.Fatal("TryReserve(800) of 1000 = false")
	}
	b.SetLimit(500) // 800 used, limit 500: over by 300, nothing taken back
	if got := b.Used(); got != 800 {
		t.Fatalf("Used() after lowering = %d, want 800 (nothing taken back)", got)
	}
	if b.TryReserve(1) {
		t.Fatal("TryReserve(1) with 800 used of 500 = true, want false")
	}
	if !b.TryReserve(0) {
		t.Fatal("TryReserve(0) = false, want true")
	}
	b.Release(300) // 500 of 500: full, still refusing
	if b.TryReserve(1) {
		t.Fatal("TryReserve(1) with 500 used of 500 = true, want false")
	}
	b.Release(100) // 400 of 500
	if b.TryReserve(101) {
		t.Fatal("TryReserve(101) with 400 used of 500 = true, want false")
	}
	if !b.TryReserve(100) {
		t.Fatal("TryReserve(100) with 400 used of 500 = false, want true")
	}
	b.SetLimit(0) // back to the default
	if got := b.Limit(); got != DefaultGlobalLimit {
		t.Fatalf("Limit() after SetLimit(0) = %d, want %d", got, DefaultGlobalLimit)
	}
}

func TestBudgetInvariantPanics(t *testing.T) {
	b := NewBudget(100)
	b.TryReserve(10)
	for _, tc := range []struct {
		name string
		f    func()
		msg  string
	}{
		{"release more than reserved", func() { b.Release(11) }, "Release of 11 bytes with only 10 reserved"},
		{"release negative", func() { b.Release(-1) }, "negative"},
		{"reserve negative", func() { b.TryReserve(-1) }, "negative"},
	} {
		msg := mustPanic(t, tc.f)
		if !strings.Contains(msg, tc.msg) || !strings.HasPrefix(msg, "wq: internal error") {
			t.Errorf("%s: panic %q, want it to contain %q", tc.name, msg, tc.msg)
		}
		if got := b.Used(); got != 10 {
			t.Errorf("%s: Used() after the panic = %d, want 10 (unchanged)", tc.name, got)
		}
	}
}

func mustPanic(t *testing.T, f func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatal("did not panic")
		}
		msg, _ = r.(string)
	}()
	f()
	return ""
}

// TestBudgetConcurrent: many goroutines reserve and release random amounts; with a fixed limit
// Used may never be seen above it, and everything comes back.
func TestBudgetConcurrent(t *testing.T) {
	const (
		workers = 16
		ops     = 5000
		limit   = 10_000
	)
	b := NewBudget(limit)
	var over, refused atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			var held []int64
			for range ops {
				if len(held) > 0 && r.IntN(2) == 0 {
					b.Release(held[len(held)-1])
					held = held[:len(held)-1]
					continue
				}
				n := int64(r.IntN(1500))
				if !b.TryReserve(n) {
					refused.Add(1)
					continue
				}
				held = append(held, n)
				if u := b.Used(); u > limit {
					over.Add(1)
				}
			}
			for _, n := range held {
				b.Release(n)
			}
		})
	}
	wg.Wait()
	if over.Load() != 0 {
		t.Errorf("Used() was seen above the limit %d times", over.Load())
	}
	if got := b.Used(); got != 0 {
		t.Errorf("Used() after every release = %d, want 0", got)
	}
	if refused.Load() == 0 {
		t.Errorf("no reservation was refused: the test did not reach the limit")
	}
}

// TestBudgetConcurrentSetLimit: while workers reserve and release, another goroutine moves the
// limit between two values. Used may exceed the current limit after a lowering, but never the
// highest limit ever set, and the counter never goes negative or drifts.
func TestBudgetConcurrentSetLimit(t *testing.T) {
	const (
		workers = 8
		ops     = 5000
		high    = 8000
		low     = 1000
	)
	b := NewBudget(high)
	var bad atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; !stop.Load(); i++ {
			if i%2 == 0 {
				b.SetLimit(low)
			} else {
				b.SetLimit(high)
			}
			if u := b.Used(); u < 0 || u > high {
				bad.Add(1)
			}
		}
	})
	var workersWG sync.WaitGroup
	for w := range workers {
		workersWG.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			var held []int64
			for range ops {
				if len(held) > 0 && r.IntN(2) == 0 {
					b.Release(held[0])
					held = held[1:]
					continue
				}
				if n := int64(1 + r.IntN(900)); b.TryReserve(n) {
					held = append(held, n)
				}
				if u := b.Used(); u < 0 || u > high {
					bad.Add(1)
				}
			}
			for _, n := range held {
				b.Release(n)
			}
		})
	}
	workersWG.Wait()
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("Used() was seen outside [0, %d] %d times", high, bad.Load())
	}
	if got := b.Used(); got != 0 {
		t.Errorf("Used() after every release = %d, want 0", got)
	}
}

// TestBudgetFollowedSettings: queues with limit 0 follow the budget's con_ct_wq_max at every
// Push, as cfg.set_now_int tls con_ct_wq_max does in Kamailio; a queue with its own limit does
// not; ct_wq_blk_size applies to queues initialised after the change and never moves bytes.
func TestBudgetFollowedSettings(t *testing.T) {
	b := NewBudget(-1)
	follow := NewQueue(0, 0, b)
	own := NewQueue(100, 0, b)
	if follow.Limit() != DefaultConnLimit || b.ConnLimit() != DefaultConnLimit {
		t.Fatalf("default: Limit %d, ConnLimit %d", follow.Limit(), b.ConnLimit())
	}
	if err := follow.Push(make([]byte, 50)); err != nil {
		t.Fatal(err)
	}
	b.SetConnLimit(60) // below nothing yet: 50 queued, 10 more fit
	if err := follow.Push(make([]byte, 11)); !errors.Is(err, ErrConnFull) {
		t.Fatalf("Push(11) over a runtime limit of 60 with 50 queued = %v, want ErrConnFull", err)
	}
	if err := follow.Push(make([]byte, 10)); err != nil {
		t.Fatalf("Push(10) to exactly 60 = %v", err)
	}
	b.SetConnLimit(20) // lowered below Len: nothing dropped, new pushes refused until drained
	if follow.Len() != 60 || follow.Push([]byte{1}) == nil {
		t.Fatalf("after lowering: Len %d (want 60) and a 1-byte Push must be refused", follow.Len())
	}
	follow.Discard(41)
	if err := follow.Push([]byte{1}); err != nil {
		t.Fatalf("Push(1) with 19 of 20 queued = %v", err)
	}
	if own.Limit() != 100 {
		t.Fatalf("a queue with its own limit follows the budget: Limit %d", own.Limit())
	}
	b.SetConnLimit(-1)
	if follow.Limit() != -1 || follow.Available() != -1 {
		t.Fatalf("no limit: Limit %d, Available %d", follow.Limit(), follow.Available())
	}

	if b.BlockSize() != DefaultBlockSize || follow.BlockSize() != DefaultBlockSize {
		t.Fatalf("default block size %d / %d", b.BlockSize(), follow.BlockSize())
	}
	b.SetBlockSize(1024)
	later := NewQueue(0, 0, b)
	if later.BlockSize() != 1024 || follow.BlockSize() != DefaultBlockSize || b.BlockSize() != 1024 {
		t.Fatalf("block sizes: new %d (want 1024), old %d (want %d)", later.BlockSize(), follow.BlockSize(), DefaultBlockSize)
	}
	b.SetBlockSize(8)
	if b.BlockSize() != MinBlockSize {
		t.Fatalf("BlockSize after SetBlockSize(8) = %d, want %d", b.BlockSize(), MinBlockSize)
	}
	follow.Reset()
	own.Reset()
	if b.Used() != 0 {
		t.Fatalf("Used %d after Reset", b.Used())
	}
}
