package timerwheel

import (
	"testing"
	"time"
)

// The benchmarks model one loop holding 100k connections, each with an idle timer of about a
// minute, on a wheel of 1024 slots of 100ms (a 102s revolution).
const (
	benchTimers = 100_000
	benchTick   = 100 * time.Millisecond
	benchSlots  = 1024
	benchIdle   = 60 * time.Second
)

func benchWheel() (*Wheel, []Timer) {
	w := New(benchTick, benchSlots, origin)
	ts := make([]Timer, benchTimers)
	for i := range ts {
		// Spread over one idle period, as connections that spoke at different times.
		w.Schedule(&ts[i], origin.Add(benchIdle*time.Duration(i)/benchTimers))
	}
	return w, ts
}

// BenchmarkSchedule: move an armed timer (a connection spoke: push its idle deadline out).
func BenchmarkSchedule(b *testing.B) {
	w, ts := benchWheel()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w.Schedule(&ts[i%benchTimers], origin.Add(benchIdle+time.Duration(i)*time.Microsecond))
		i++
	}
}

// BenchmarkStopSchedule: disarm a timer and arm it again (a connection closed, another opened).
func BenchmarkStopSchedule(b *testing.B) {
	w, ts := benchWheel()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		t := &ts[i%benchTimers]
		w.Stop(t)
		w.Schedule(t, origin.Add(benchIdle+time.Duration(i)*time.Microsecond))
		i++
	}
}

// BenchmarkAdvance: one tick of the loop's ticker; the timers that expire are re-armed a full
// idle period later, keeping 100k armed (each tick fires about 100k/600 = 167 timers).
func BenchmarkAdvance(b *testing.B) {
	w, _ := benchWheel()
	now := origin
	fired := 0
	fire := func(t *Timer) {
		fired++
		w.Schedule(t, now.Add(benchIdle))
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(benchTick)
		w.Advance(now, fire)
	}
	if w.Len() != benchTimers {
		b.Fatalf("Len = %d, want %d", w.Len(), benchTimers)
	}
	b.ReportMetric(float64(fired)/float64(b.N), "fired/op")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(fired, 1)), "ns/fired")
}

// BenchmarkAdvanceIdle: one tick with 100k timers armed and none due: the cost of visiting one
// slot whose timers belong to later rounds (deadlines spread over ten revolutions).
func BenchmarkAdvanceIdle(b *testing.B) {
	w := New(benchTick, benchSlots, origin)
	ts := make([]Timer, benchTimers)
	far := origin.Add(1000 * time.Hour)
	for i := range ts {
		w.Schedule(&ts[i], far.Add(time.Duration(i)*benchTick*benchSlots*10/benchTimers))
	}
	now := origin
	fire := func(*Timer) { b.Fatal("fired") }
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(benchTick)
		w.Advance(now, fire)
	}
}
