package memguard

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestAdmissionMax(t *testing.T) {
	var zero Admission
	for _, tc := range []struct {
		name string
		a    *Admission
		want int
	}{
		{"zero value", &zero, DefaultMaxHandshakes},
		{"NewAdmission(0)", NewAdmission(0), DefaultMaxHandshakes},
		{"NewAdmission(3)", NewAdmission(3), 3},
		{"NewAdmission(-1)", NewAdmission(-1), -1},
	} {
		if got := tc.a.Max(); got != tc.want {
			t.Errorf("%s: Max() = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestAdmissionAcquireRelease(t *testing.T) {
	a := NewAdmission(2)
	for i, s := range []struct {
		op       string
		want     bool
		inFlight int
	}{
		{"acquire", true, 1},  // 0 of 2
		{"acquire", true, 2},  // 1 of 2
		{"acquire", false, 2}, // 2 of 2: full
		{"release", true, 1},
		{"acquire", true, 2},
		{"release", true, 1},
		{"release", true, 0},
	} {
		ok := true
		if s.op == "acquire" {
			ok = a.TryAcquire()
		} else {
			a.Release()
		}
		if ok != s.want || a.InFlight() != s.inFlight {
			t.Fatalf("step %d: %s = %v with %d in flight, want %v with %d", i, s.op, ok, a.InFlight(), s.want, s.inFlight)
		}
	}
}

func TestAdmissionUnlimited(t *testing.T) {
	a := NewAdmission(-1)
	for range 10_000 {
		if !a.TryAcquire() {
			t.Fatal("TryAcquire on an uncapped Admission = false")
		}
	}
	if a.InFlight() != 10_000 {
		t.Fatalf("InFlight() = %d, want 10000", a.InFlight())
	}
	for range 10_000 {
		a.Release()
	}
}

func TestAdmissionLowerBelowInFlight(t *testing.T) {
	a := NewAdmission(5)
	for range 5 {
		a.TryAcquire()
	}
	a.SetMax(2) // 5 in flight, cap 2: none cancelled, none admitted until below 2
	if a.InFlight() != 5 || a.Max() != 2 {
		t.Fatalf("InFlight %d Max %d, want 5 2", a.InFlight(), a.Max())
	}
	for want := 4; want >= 2; want-- {
		a.Release()
		if a.TryAcquire() {
			t.Fatalf("TryAcquire with %d in flight and cap 2 = true", want)
		}
	}
	a.Release() // 1 of 2
	if !a.TryAcquire() {
		t.Fatal("TryAcquire with 1 in flight and cap 2 = false")
	}
	if a.TryAcquire() {
		t.Fatal("TryAcquire with 2 in flight and cap 2 = true")
	}
	a.SetMax(0)
	if a.Max() != DefaultMaxHandshakes || !a.TryAcquire() {
		t.Fatal("SetMax(0) did not restore the default")
	}
}

func TestAdmissionReleaseWithoutAcquirePanics(t *testing.T) {
	a := NewAdmission(1)
	check := func(name string) {
		t.Helper()
		defer func() {
			msg, _ := recover().(string)
			if !strings.HasPrefix(msg, "memguard: internal error: Release without TryAcquire") {
				t.Errorf("%s: panic %q", name, msg)
			}
			if a.InFlight() != 0 {
				t.Errorf("%s: InFlight() = %d after the panic, want 0", name, a.InFlight())
			}
		}()
		a.Release()
	}
	check("fresh")
	a.TryAcquire()
	a.Release()
	check("second release")
	// After the recovered panics, the cap still holds exactly.
	if !a.TryAcquire() || a.TryAcquire() {
		t.Fatal("cap of 1 does not hold after recovered panics")
	}
}

// TestAdmissionConcurrent: many goroutines acquire and release while another moves the cap;
// the number actually holding a slot (counted independently) never exceeds the highest cap set,
// never exceeds the cap in force when no SetMax raced it, and everything is released.
func TestAdmissionConcurrent(t *testing.T) {
	const (
		workers = 32
		ops     = 3000
		high    = 8
		low     = 3
	)
	for _, moveCap := range []bool{false, true} {
		a := NewAdmission(high)
		var holding, peak, bad, refused atomic.Int64
		var stop atomic.Bool
		var mover sync.WaitGroup
		if moveCap {
			mover.Go(func() {
				for i := 0; !stop.Load(); i++ {
					a.SetMax([]int{high, low}[i%2])
				}
			})
		}
		var wg sync.WaitGroup
		admitted := make([]int, workers)
		for w := range workers {
			wg.Go(func() {
				for range ops {
					if !a.TryAcquire() {
						refused.Add(1)
						runtime.Gosched()
						continue
					}
					admitted[w]++
					h := holding.Add(1)
					for {
						p := peak.Load()
						if h <= p || peak.CompareAndSwap(p, h) {
							break
						}
					}
					if h > high || int64(a.InFlight()) > high {
						bad.Add(1)
					}
					runtime.Gosched() // hold the slot across a reschedule so holders overlap
					holding.Add(-1)
					a.Release()
				}
			})
		}
		wg.Wait()
		stop.Store(true)
		mover.Wait()
		total := 0
		for _, n := range admitted {
			total += n
		}
		if bad.Load() != 0 {
			t.Errorf("moveCap=%v: more than %d holders seen %d times", moveCap, high, bad.Load())
		}
		if a.InFlight() != 0 {
			t.Errorf("moveCap=%v: InFlight() = %d after every release, want 0", moveCap, a.InFlight())
		}
		if total == 0 || refused.Load() == 0 {
			t.Errorf("moveCap=%v: %d admitted, %d refused: the test did not reach the cap", moveCap, total, refused.Load())
		}
		t.Logf("moveCap=%v: %d admitted, %d refused, peak %d holders", moveCap, total, refused.Load(), peak.Load())
	}
}
