package timerwheel

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// model is the reference the wheel is checked against: the armed timers as a slice sorted by
// deadline, which is obviously right and obviously slow.
type model struct {
	entries []entry
}

type entry struct {
	when  int64 // nanoseconds since origin
	id    int
	fresh bool // scheduled during the Advance in progress: must not fire in it
}

func (m *model) find(id int) int {
	for i, e := range m.entries {
		if e.id == id {
			return i
		}
	}
	return -1
}

func (m *model) stop(id int) bool {
	i := m.find(id)
	if i < 0 {
		return false
	}
	m.entries = slices.Delete(m.entries, i, i+1)
	return true
}

func (m *model) schedule(id int, when int64, fresh bool) {
	m.stop(id)
	i, _ := slices.BinarySearchFunc(m.entries, when, func(e entry, w int64) int {
		switch {
		case e.when < w:
			return -1
		case e.when > w:
			return 1
		}
		return 0
	})
	m.entries = slices.Insert(m.entries, i, entry{when: when, id: id, fresh: fresh})
}

// action is what a timer's fire callback does besides being recorded.
type action struct {
	kind   int // 0 nothing, 1 re-arm itself, 2 stop another, 3 (re)schedule another
	other  int
	offset int64 // deadline relative to the Advance's now
}

const numTimers = 16

// runWheelOps decodes operations from data and applies them to a Wheel and to the model,
// checking after each that they agree. FuzzWheel and TestWheelModel share it.
func runWheelOps(t *testing.T, data []byte) {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		v := data[0]
		data = data[1:]
		return int(v)
	}
	tick := []int64{1, 3, 1000, int64(time.Millisecond)}[next()%4]
	slots := []int{1, 2, 8, 64}[next()%4]
	w := New(time.Duration(tick), slots, origin)
	rev := tick * int64(w.Slots())
	// offset decodes a signed distance: within a tick, some ticks, around a revolution, or
	// several revolutions, so every kind of slot and round is reached.
	offset := func() int64 {
		v := int64(int8(next()))
		switch next() % 4 {
		case 0:
			return v
		case 1:
			return v * tick
		case 2:
			return v * (rev/3 + 1)
		}
		return v * rev * 3
	}

	var m model
	var timers [numTimers]Timer
	var actions [numTimers]action
	for i := range timers {
		timers[i].Owner = i
	}
	var now int64 // the latest now given to Advance, in nanoseconds since origin
	atNs := func(ns int64) time.Time { return origin.Add(time.Duration(ns)) }

	for len(data) > 0 {
		op := next()
		id := (op >> 3) % numTimers
		switch op % 8 {
		case 0, 1: // schedule
			when := now + offset()
			w.Schedule(&timers[id], atNs(when))
			m.schedule(id, when, false)
		case 2: // stop
			got, want := w.Stop(&timers[id]), m.stop(id)
			if got != want {
				t.Fatalf("Stop(%d) = %v, model %v", id, got, want)
			}
		case 3: // set what timer id does when it fires
			actions[id] = action{kind: next() % 4, other: next() % numTimers, offset: offset()}
		case 4, 5: // advance forward
			step := offset()
			if step < 0 {
				step = -step
			}
			advance(t, w, &m, &timers, &actions, now+step)
			now = max(now, now+step)
		case 6: // advance with a now in the past (a caller mixing clocks): must fire nothing early
			advance(t, w, &m, &timers, &actions, now-int64(next())*tick)
		case 7: // Next
			got, ok := w.Next()
			if ok != (len(m.entries) > 0) {
				t.Fatalf("Next() ok = %v with %d armed", ok, len(m.entries))
			}
			if ok && got.Sub(origin) != time.Duration(m.entries[0].when) {
				t.Fatalf("Next() = %v, model %v", got.Sub(origin), time.Duration(m.entries[0].when))
			}
		}
		check(t, w, &m, &timers)
	}
	// Drain: far enough ahead, everything left fires.
	for i := range actions {
		actions[i] = action{}
	}
	advance(t, w, &m, &timers, &actions, now+rev*1000+1<<40)
	if w.Len() != 0 || len(m.entries) != 0 {
		t.Fatalf("after draining: Len %d, model %d", w.Len(), len(m.entries))
	}
}

func advance(t *testing.T, w *Wheel, m *model, timers *[numTimers]Timer, actions *[numTimers]action, n int64) {
	curBefore := w.cur
	jump := n/w.tick - curBefore // slots scanned minus one, if n >= 0
	lastTick := int64(-1 << 62)
	for i := range m.entries {
		m.entries[i].fresh = false
	}
	w.Advance(origin.Add(time.Duration(n)), func(tm *Timer) {
		id := tm.Owner.(int)
		i := m.find(id)
		switch {
		case i < 0:
			t.Fatalf("timer %d fired while the model has it disarmed", id)
		case m.entries[i].fresh:
			t.Fatalf("timer %d fired in the Advance that scheduled it", id)
		case m.entries[i].when > n:
			t.Fatalf("timer %d fired early: deadline %d, now %d", id, m.entries[i].when, n)
		case tm.Armed():
			t.Fatalf("timer %d is still armed inside its fire callback", id)
		}
		// Tick order within one Advance, unless it jumped a revolution or more.
		tk := max(floorDiv(m.entries[i].when, w.tick), curBefore)
		if jump < int64(len(w.slots)) && tk < lastTick {
			t.Fatalf("timer %d (tick %d) fired after a timer of tick %d", id, tk, lastTick)
		}
		lastTick = max(lastTick, tk)
		m.stop(id)

		a := actions[id]
		switch a.kind {
		case 1:
			w.Schedule(tm, origin.Add(time.Duration(n+a.offset)))
			m.schedule(id, n+a.offset, true)
		case 2:
			if got, want := w.Stop(&timers[a.other]), m.stop(a.other); got != want {
				t.Fatalf("Stop(%d) from fire = %v, model %v", a.other, got, want)
			}
		case 3:
			w.Schedule(&timers[a.other], origin.Add(time.Duration(n+a.offset)))
			m.schedule(a.other, n+a.offset, true)
		}
	})
	for _, e := range m.entries {
		if !e.fresh && e.when <= n {
			t.Fatalf("timer %d (deadline %d) did not fire at now %d", e.id, e.when, n)
		}
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// check compares the wheel with the model and verifies the wheel's internal invariants.
func check(t *testing.T, w *Wheel, m *model, timers *[numTimers]Timer) {
	if w.Len() != len(m.entries) {
		t.Fatalf("Len() = %d, model %d", w.Len(), len(m.entries))
	}
	for id := range timers {
		i := m.find(id)
		if timers[id].Armed() != (i >= 0) {
			t.Fatalf("timer %d Armed() = %v, model %v", id, timers[id].Armed(), i >= 0)
		}
		if i >= 0 && timers[id].when != m.entries[i].when {
			t.Fatalf("timer %d deadline %d, model %d", id, timers[id].when, m.entries[i].when)
		}
	}
	count := 0
	walk := func(head *Timer, ok func(*Timer) bool) {
		for tm := head.next; tm != head; tm = tm.next {
			if tm.next.prev != tm || tm.w != w || !ok(tm) {
				t.Fatalf("timer %v misplaced or badly linked (when %d, now %d, cur %d)", tm.Owner, tm.when, w.now, w.cur)
			}
			count++
		}
	}
	walk(&w.due, func(tm *Timer) bool { return tm.when <= w.now })
	for s := range w.slots {
		walk(&w.slots[s], func(tm *Timer) bool {
			return tm.when > w.now && tm.when/w.tick >= w.cur && (tm.when/w.tick)&w.mask == int64(s)
		})
	}
	if count != w.Len() {
		t.Fatalf("lists hold %d timers, Len() = %d", count, w.Len())
	}
	if w.now >= 0 && w.cur != w.now/w.tick {
		t.Fatalf("cur %d, want now/tick = %d", w.cur, w.now/w.tick)
	}
}

// TestWheelModel: random operation sequences (deterministic seeds) against the model.
func TestWheelModel(t *testing.T) {
	n := 400
	if testing.Short() {
		n = 50
	}
	for seed := range n {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		data := make([]byte, 3000)
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		runWheelOps(t, data)
	}
}

func FuzzWheel(f *testing.F) {
	f.Add([]byte{0, 2, 0, 5, 1, 8, 5, 1, 4, 10, 1})
	f.Add([]byte{3, 3, 3, 1, 200, 3, 0, 11, 9, 0, 1, 4, 255, 2, 7, 6, 3, 4, 100, 3})
	f.Add([]byte{1, 0, 24, 3, 3, 10, 1, 0, 3, 1, 0, 5, 2, 3, 7, 6, 2})
	f.Fuzz(runWheelOps)
}
