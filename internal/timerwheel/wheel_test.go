package timerwheel

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"
)

var origin = time.Unix(1_700_000_000, 0)

func at(d time.Duration) time.Time { return origin.Add(d) }

// recorder collects fired timers in order.
type recorder struct{ fired []*Timer }

func (r *recorder) fire(t *Timer) { r.fired = append(r.fired, t) }

func (r *recorder) take() []*Timer {
	f := r.fired
	r.fired = nil
	return f
}

func names(ts []*Timer) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Owner.(string))
	}
	return out
}

func wantFired(t *testing.T, why string, r *recorder, want ...string) {
	t.Helper()
	got := names(r.take())
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%s: fired %v, want %v", why, got, want)
	}
}

func TestTimerSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("size documented for 64-bit platforms")
	}
	if got := unsafe.Sizeof(Timer{}); got != 48 {
		t.Errorf("unsafe.Sizeof(Timer{}) = %d, want 48 as documented", got)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{0, DefaultSlots}, {-3, DefaultSlots}, {1, 1}, {2, 2}, {3, 4}, {1000, 1024}, {1024, 1024}, {1025, 2048},
	} {
		if got := New(time.Millisecond, tc.in, origin).Slots(); got != tc.want {
			t.Errorf("New(_, %d, _).Slots() = %d, want %d", tc.in, got, tc.want)
		}
	}
	for _, tick := range []time.Duration{0, -time.Second} {
		func() {
			defer func() {
				if msg, _ := recover().(string); !strings.HasPrefix(msg, "timerwheel: tick must be positive") {
					t.Errorf("New(%v, ...) panic %q", tick, msg)
				}
			}()
			New(tick, 8, origin)
		}()
	}
	if w := New(time.Millisecond, 8, origin); w.Tick() != time.Millisecond || w.Len() != 0 {
		t.Errorf("Tick %v Len %d", w.Tick(), w.Len())
	}
}

// The deadline is kept exactly: a timer in the middle of a tick fires when now reaches it, not
// at the tick's start (early) nor at its end (late).
func TestFiresAtDeadlineNeverEarly(t *testing.T) {
	w := New(10*time.Millisecond, 8, origin)
	var r recorder
	a := &Timer{Owner: "a"}
	w.Schedule(a, at(25*time.Millisecond))
	w.Advance(at(20*time.Millisecond), r.fire)
	wantFired(t, "now 20ms, deadline 25ms (same tick as 20ms..30ms)", &r)
	w.Advance(at(25*time.Millisecond-1), r.fire)
	wantFired(t, "now 1ns before the deadline", &r)
	if !a.Armed() || w.Len() != 1 {
		t.Fatal("timer disarmed before its deadline")
	}
	w.Advance(at(25*time.Millisecond), r.fire)
	wantFired(t, "now at the deadline", &r, "a")
	if a.Armed() || w.Len() != 0 {
		t.Fatal("fired timer still armed")
	}
	w.Advance(at(time.Second), r.fire)
	wantFired(t, "a fired timer fires once", &r)
}

func TestBeyondOneRevolution(t *testing.T) {
	w := New(time.Millisecond, 8, origin) // one revolution: 8ms
	var r recorder
	far := &Timer{Owner: "far"}
	w.Schedule(far, at(20*time.Millisecond)) // slot 20%8 = 4, round 2
	w.Advance(at(4*time.Millisecond), r.fire)
	wantFired(t, "slot 4, round 0", &r)
	w.Advance(at(12*time.Millisecond), r.fire)
	wantFired(t, "slot 4, round 1", &r)
	w.Advance(at(19*time.Millisecond), r.fire)
	wantFired(t, "1ms early", &r)
	w.Advance(at(20*time.Millisecond), r.fire)
	wantFired(t, "slot 4, round 2: the deadline", &r, "far")

	// A jump of several revolutions scans each slot once and fires everything due.
	var ts []*Timer
	for i := range 20 {
		tm := &Timer{Owner: string(rune('a' + i))}
		ts = append(ts, tm)
		w.Schedule(tm, at(time.Duration(21+i*3)*time.Millisecond))
	}
	w.Advance(at(50*time.Millisecond), r.fire) // due: 21, 24, ..., 48 (10 timers)
	if got := len(r.take()); got != 10 || w.Len() != 10 {
		t.Fatalf("jump to 50ms fired %d with %d left, want 10 and 10", got, w.Len())
	}
	w.Advance(at(time.Hour), r.fire)
	if got := len(r.take()); got != 10 || w.Len() != 0 {
		t.Fatalf("jump to 1h fired %d with %d left, want 10 and 0", got, w.Len())
	}
}

func TestScheduleMovesArmedTimer(t *testing.T) {
	w := New(time.Millisecond, 64, origin)
	var r recorder
	a := &Timer{Owner: "a"}
	w.Schedule(a, at(10*time.Millisecond))
	w.Schedule(a, at(30*time.Millisecond)) // later
	if w.Len() != 1 {
		t.Fatalf("Len after rescheduling = %d, want 1", w.Len())
	}
	w.Advance(at(20*time.Millisecond), r.fire)
	wantFired(t, "moved from 10ms to 30ms", &r)
	w.Schedule(a, at(25*time.Millisecond)) // earlier
	w.Advance(at(25*time.Millisecond), r.fire)
	wantFired(t, "moved from 30ms to 25ms", &r, "a")
	w.Advance(at(30*time.Millisecond), r.fire)
	wantFired(t, "the old deadline does not fire", &r)
}

func TestStop(t *testing.T) {
	w := New(time.Millisecond, 8, origin)
	var r recorder
	a, never := &Timer{Owner: "a"}, &Timer{Owner: "never"}
	if w.Stop(never) {
		t.Fatal("Stop of a never-scheduled timer = true")
	}
	w.Schedule(a, at(5*time.Millisecond))
	if !w.Stop(a) || a.Armed() || w.Len() != 0 {
		t.Fatal("Stop of an armed timer did not disarm it")
	}
	if w.Stop(a) {
		t.Fatal("second Stop = true")
	}
	w.Advance(at(time.Second), r.fire)
	wantFired(t, "stopped timer", &r)
	w.Schedule(a, at(2*time.Second))
	w.Advance(at(2*time.Second), r.fire)
	wantFired(t, "rescheduled after Stop", &r, "a")
	if w.Stop(a) {
		t.Fatal("Stop of a fired timer = true")
	}
}

func TestPastDeadlines(t *testing.T) {
	w := New(time.Millisecond, 8, origin)
	var r recorder
	w.Advance(at(100*time.Millisecond), r.fire)
	w.Schedule(&Timer{Owner: "past"}, at(50*time.Millisecond))
	w.Schedule(&Timer{Owner: "now"}, at(100*time.Millisecond))
	w.Schedule(&Timer{Owner: "before-origin"}, origin.Add(-time.Hour))
	w.Schedule(&Timer{Owner: "zero-time"}, time.Time{})
	w.Schedule(&Timer{Owner: "later"}, at(100*time.Millisecond+1))
	if w.Len() != 5 {
		t.Fatalf("Len = %d, want 5", w.Len())
	}
	w.Advance(at(100*time.Millisecond), r.fire)
	if got := len(r.take()); got != 4 {
		t.Fatalf("Advance to the same now fired %d, want the 4 with past deadlines", got)
	}
	w.Advance(at(100*time.Millisecond+1), r.fire)
	wantFired(t, "1ns later", &r, "later")
}

func TestTimeBackwards(t *testing.T) {
	w := New(time.Millisecond, 8, origin)
	var r recorder
	w.Advance(at(10*time.Millisecond), r.fire)
	w.Schedule(&Timer{Owner: "a"}, at(5*time.Millisecond)) // in the past: due
	w.Schedule(&Timer{Owner: "b"}, at(11*time.Millisecond))
	w.Advance(at(4*time.Millisecond), r.fire)
	wantFired(t, "now before both deadlines", &r)
	w.Advance(origin.Add(-time.Second), r.fire)
	wantFired(t, "now before the origin", &r)
	w.Advance(at(5*time.Millisecond), r.fire)
	wantFired(t, "now at a's deadline", &r, "a")
	w.Advance(at(11*time.Millisecond), r.fire)
	wantFired(t, "now at b's deadline", &r, "b")
}

// A timer that re-arms itself from fire: in the future it fires once per Advance; in the past
// it waits for the next Advance instead of looping.
func TestRescheduleFromFire(t *testing.T) {
	w := New(time.Millisecond, 8, origin)
	var now time.Time
	count := 0
	periodic := &Timer{Owner: "p"}
	fire := func(tm *Timer) {
		count++
		w.Schedule(tm, now) // the Advance's own now: already due
	}
	w.Schedule(periodic, at(time.Millisecond))
	for i := 1; i <= 5; i++ {
		now = at(time.Duration(i) * time.Millisecond)
		w.Advance(now, fire)
		if count != i {
			t.Fatalf("Advance %d: fired %d times in all, want %d (once per Advance)", i, count, i)
		}
	}
	if !periodic.Armed() {
		t.Fatal("self-rescheduled timer not armed")
	}
}

func TestFireStopsAndMovesOthers(t *testing.T) {
	w := New(time.Millisecond, 8, origin)
	var r recorder
	ts := map[string]*Timer{}
	for _, n := range []string{"a", "b", "c", "d"} {
		ts[n] = &Timer{Owner: n}
		w.Schedule(ts[n], at(3*time.Millisecond)) // one slot: the scan's cursor is exercised
	}
	// Whichever fires first stops one of the others and moves the rest to 10ms: exactly one fires.
	first := true
	fire := func(tm *Timer) {
		r.fire(tm)
		if !first {
			return
		}
		first = false
		stopped := false
		for _, o := range ts {
			if o == tm {
				continue
			}
			if !stopped {
				w.Stop(o)
				stopped = true
				continue
			}
			w.Schedule(o, at(10*time.Millisecond))
		}
		if w.Stop(tm) {
			t.Error("Stop of the timer being fired = true: it should be disarmed before fire")
		}
	}
	w.Advance(at(5*time.Millisecond), fire)
	if got := len(r.take()); got != 1 || w.Len() != 2 {
		t.Fatalf("fired %d with %d left, want 1 and 2", got, w.Len())
	}
	w.Advance(at(10*time.Millisecond), r.fire)
	if got := len(r.take()); got != 2 || w.Len() != 0 {
		t.Fatalf("at 10ms fired %d with %d left, want 2 and 0", got, w.Len())
	}
}

func TestTickOrder(t *testing.T) {
	w := New(time.Millisecond, 64, origin)
	var r recorder
	// Deadlines 50ms down to 1ms, scheduled in decreasing order; one Advance to 60ms (within one
	// revolution of 64ms) must fire them by tick.
	for d := 50; d >= 1; d-- {
		w.Schedule(&Timer{Owner: "t"}, at(time.Duration(d)*time.Millisecond))
	}
	w.Advance(at(60*time.Millisecond), r.fire)
	fired := r.take()
	if len(fired) != 50 {
		t.Fatalf("fired %d, want 50", len(fired))
	}
	for i := 1; i < len(fired); i++ {
		if fired[i].when < fired[i-1].when {
			t.Fatalf("fired out of tick order: %v after %v", time.Duration(fired[i].when), time.Duration(fired[i-1].when))
		}
	}
}

func TestNext(t *testing.T) {
	w := New(time.Millisecond, 8, origin)
	if _, ok := w.Next(); ok {
		t.Fatal("Next on an empty wheel = true")
	}
	a, b, c := &Timer{}, &Timer{}, &Timer{}
	w.Schedule(a, at(100*time.Millisecond)) // beyond one revolution (8ms)
	if got, ok := w.Next(); !ok || !got.Equal(at(100*time.Millisecond)) {
		t.Fatalf("Next = %v %v, want 100ms (beyond one revolution)", got.Sub(origin), ok)
	}
	w.Schedule(b, at(5*time.Millisecond+3))
	if got, _ := w.Next(); !got.Equal(at(5*time.Millisecond + 3)) {
		t.Fatalf("Next = %v, want 5ms+3ns", got.Sub(origin))
	}
	w.Schedule(c, at(13*time.Millisecond)) // same slot as 5ms, next round
	if got, _ := w.Next(); !got.Equal(at(5*time.Millisecond + 3)) {
		t.Fatalf("Next = %v, want 5ms+3ns", got.Sub(origin))
	}
	w.Advance(at(6*time.Millisecond), func(*Timer) {})
	if got, _ := w.Next(); !got.Equal(at(13 * time.Millisecond)) {
		t.Fatalf("Next = %v, want 13ms", got.Sub(origin))
	}
	w.Schedule(b, at(time.Millisecond)) // in the past: due
	if got, _ := w.Next(); !got.Equal(at(time.Millisecond)) {
		t.Fatalf("Next = %v, want 1ms (due)", got.Sub(origin))
	}
}

func TestMisusePanics(t *testing.T) {
	w1 := New(time.Millisecond, 8, origin)
	w2 := New(time.Millisecond, 8, origin)
	tm := &Timer{}
	w1.Schedule(tm, at(time.Second))
	for _, tc := range []struct {
		name, msg string
		f         func()
	}{
		{"Schedule in another wheel", "timerwheel: Schedule of a timer armed in another wheel", func() { w2.Schedule(tm, at(time.Second)) }},
		{"Stop in another wheel", "timerwheel: Stop of a timer armed in another wheel", func() { w2.Stop(tm) }},
		{"Advance inside fire", "timerwheel: Advance called from inside fire", func() {
			w1.Advance(at(time.Second), func(*Timer) { w1.Advance(at(time.Second), nil) })
		}},
	} {
		func() {
			defer func() {
				if msg, _ := recover().(string); msg != tc.msg {
					t.Errorf("%s: panic %q, want %q", tc.name, msg, tc.msg)
				}
			}()
			tc.f()
		}()
	}
	if w2.Len() != 0 || w1.Len() != 0 {
		t.Fatalf("Len w1 %d w2 %d, want 0 0", w1.Len(), w2.Len())
	}
	// A panic out of fire leaves the wheel usable: it can advance again and fires the rest.
	var r recorder
	w1.Schedule(&Timer{Owner: "x"}, at(2*time.Second))
	w1.Schedule(&Timer{Owner: "y"}, at(2*time.Second))
	func() {
		defer func() { recover() }()
		w1.Advance(at(2*time.Second), func(*Timer) { panic("boom") })
	}()
	w1.Advance(at(2*time.Second), r.fire)
	if got := len(r.take()); got != 1 || w1.Len() != 0 {
		t.Fatalf("after a panicking fire: fired %d more with %d left, want 1 and 0", got, w1.Len())
	}
}

// TestAllocs: arming, moving, stopping and firing allocate nothing.
func TestAllocs(t *testing.T) {
	w := New(time.Millisecond, 256, origin)
	ts := make([]Timer, 1000)
	now := origin
	fire := func(*Timer) {}
	i := 0
	got := testing.AllocsPerRun(1000, func() {
		tm := &ts[i%len(ts)]
		i++
		w.Schedule(tm, now.Add(time.Duration(i%300)*time.Millisecond))
		w.Schedule(tm, now.Add(time.Duration(i%700)*time.Millisecond))
		if i%3 == 0 {
			w.Stop(tm)
		}
		now = now.Add(time.Millisecond)
		w.Advance(now, fire)
	})
	if got != 0 {
		t.Errorf("Schedule+Schedule+Stop+Advance allocated %v times per run, want 0", got)
	}
}

// TestWithTicker drives a wheel the way the reactor will, from a ticker reading the real clock,
// in a synctest bubble so the clock is fake and the test instant: every timer fires at most one
// ticker period after its deadline, never before.
func TestWithTicker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const period = 10 * time.Millisecond
		start := time.Now()
		w := New(period, 16, start)
		deadlines := map[*Timer]time.Time{}
		for i := range 100 {
			tm := &Timer{}
			d := start.Add(time.Duration(i*7) * time.Millisecond)
			deadlines[tm] = d
			w.Schedule(tm, d)
		}
		tick := time.NewTicker(period)
		defer tick.Stop()
		for w.Len() > 0 {
			now := <-tick.C
			w.Advance(now, func(tm *Timer) {
				late := now.Sub(deadlines[tm])
				if late < 0 || late > period {
					t.Errorf("timer due at +%v fired at +%v", deadlines[tm].Sub(start), now.Sub(start))
				}
			})
		}
	})
}

func TestDeadline(t *testing.T) {
	now := time.Unix(1000, 0)
	w := New(100*time.Millisecond, 16, now)
	var tm Timer
	if _, ok := tm.Deadline(); ok {
		t.Fatal("a disarmed timer has no deadline")
	}
	at := now.Add(1234 * time.Millisecond)
	w.Schedule(&tm, at)
	if got, ok := tm.Deadline(); !ok || !got.Equal(at) {
		t.Fatalf("Deadline = %v, %v; want %v", got, ok, at)
	}
	w.Stop(&tm)
	if _, ok := tm.Deadline(); ok {
		t.Fatal("a stopped timer has no deadline")
	}
}
