package timerwheel

import (
	"math/bits"
	"strconv"
	"time"
)

// DefaultSlots is the number of slots used when New is given zero or fewer.
const DefaultSlots = 1024

// Timer is one timer, an intrusive node of the wheel's lists: embed it in (or point to it from)
// the struct it times out, and keep Owner pointing back if fire needs to find that struct.
//
// The zero Timer is disarmed and ready to schedule. A Timer may be armed in at most one Wheel at
// a time. It must not be copied while armed (the wheel's lists point at it). It is 48 bytes on
// 64-bit platforms, Owner included, and holds nothing else.
//
// Concurrency: a Timer is touched only by the goroutine that owns its Wheel.
type Timer struct {
	// Owner is the caller's; the wheel never reads or writes it.
	Owner any

	// owned by the wheel
	next, prev *Timer
	w          *Wheel // non-nil while armed
	when       int64  // deadline, in nanoseconds since w.origin
}

// Armed reports whether t is scheduled in a wheel and has neither fired nor been stopped.
func (t *Timer) Armed() bool { return t.w != nil }

// Deadline returns when an armed t is due, and false if t is not armed.
func (t *Timer) Deadline() (time.Time, bool) {
	if t.w == nil {
		return time.Time{}, false
	}
	return t.w.origin.Add(time.Duration(t.when)), true
}

// Wheel is a hashed timing wheel. See the package documentation.
//
// Concurrency: one goroutine (the event loop) only.
type Wheel struct {
	// constant after New
	origin time.Time
	tick   int64 // nanoseconds per slot
	mask   int64 // len(slots)-1; len(slots) is a power of two
	slots  []Timer

	// due holds armed timers whose deadline had already passed when they were scheduled
	// (when <= now). They fire at the next Advance.
	due Timer

	// now is the latest time Advance was given, in nanoseconds since origin (never decreases).
	// cur is the tick now falls in: every timer with a deadline in an earlier tick has fired or
	// sits in due, and slot cur&mask may still hold timers due later in this tick.
	now, cur int64
	n        int

	// cursor is the next timer Advance will visit in the list it is scanning; unlink moves it on
	// when fire removes that timer. advancing guards against Advance from inside fire.
	cursor    *Timer
	advancing bool
}

// New returns a wheel whose slots each cover tick, with slots rounded up to a power of two
// (zero or fewer: [DefaultSlots]), and whose time starts at now. One revolution is
// tick × slots; deadlines within it are found without revisiting. tick must be positive.
func New(tick time.Duration, slots int, now time.Time) *Wheel {
	if tick <= 0 {
		panic("timerwheel: tick must be positive, got " + tick.String())
	}
	if slots <= 0 {
		slots = DefaultSlots
	}
	if slots > 1<<30 {
		panic("timerwheel: too many slots: " + strconv.Itoa(slots))
	}
	slots = 1 << bits.Len(uint(slots-1)) // round up to a power of two
	w := &Wheel{
		origin: now,
		tick:   int64(tick),
		mask:   int64(slots - 1),
		slots:  make([]Timer, slots),
	}
	for i := range w.slots {
		s := &w.slots[i]
		s.next, s.prev = s, s
	}
	w.due.next, w.due.prev = &w.due, &w.due
	return w
}

// Tick returns the time each slot covers.
func (w *Wheel) Tick() time.Duration { return time.Duration(w.tick) }

// Slots returns the number of slots (a power of two).
func (w *Wheel) Slots() int { return len(w.slots) }

// Len returns the number of armed timers.
func (w *Wheel) Len() int { return w.n }

// Schedule arms t to fire at the first Advance whose now is at or after at. If t is already
// armed in w, it is moved to the new deadline (earlier or later); there is no need to Stop it
// first. Scheduling a timer armed in another wheel panics. Schedule allocates nothing.
func (w *Wheel) Schedule(t *Timer, at time.Time) {
	switch t.w {
	case nil:
		w.n++
	case w:
		w.unlink(t)
	default:
		panic("timerwheel: Schedule of a timer armed in another wheel")
	}
	t.w = w
	t.when = int64(at.Sub(w.origin))
	var head *Timer
	if t.when <= w.now {
		head = &w.due
	} else {
		// when > now >= 0 here, so the division rounds down as intended, and the timer's
		// tick is >= cur: Advance will reach its slot.
		head = &w.slots[(t.when/w.tick)&w.mask]
	}
	// Insert at the front: during Advance, the scan has passed the front of the list it is
	// walking, so a timer (re)scheduled from fire is not visited again in that Advance.
	t.prev = head
	t.next = head.next
	head.next.prev = t
	head.next = t
}

// Stop disarms t and reports whether it was armed in w. Stopping a timer that has fired, been
// stopped or never been scheduled returns false; stopping one armed in another wheel panics.
func (w *Wheel) Stop(t *Timer) bool {
	switch t.w {
	case nil:
		return false
	case w:
		w.unlink(t)
		t.w = nil
		w.n--
		return true
	}
	panic("timerwheel: Stop of a timer armed in another wheel")
}

func (w *Wheel) unlink(t *Timer) {
	if w.cursor == t {
		w.cursor = t.next
	}
	t.prev.next = t.next
	t.next.prev = t.prev
	t.next, t.prev = nil, nil
}

// Advance moves the wheel's time to now and calls fire, on the calling goroutine, for every
// timer armed at the call whose deadline is at or before now, disarming each just before its
// call. A timer never fires before its deadline. fire may Schedule or Stop any timer of w; a
// timer stopped or moved before its turn does not fire, and one scheduled during this Advance
// does not fire in it (see the package Limitations). Calling Advance from fire panics.
//
// A now earlier than a previous Advance's fires only what is due by that earlier now; the wheel
// never moves its time backwards.
func (w *Wheel) Advance(now time.Time, fire func(*Timer)) {
	if w.advancing {
		panic("timerwheel: Advance called from inside fire")
	}
	w.advancing = true
	defer func() { w.advancing, w.cursor = false, nil }() // a panicking fire leaves w usable

	n := int64(now.Sub(w.origin))
	if n > w.now {
		w.now = n
	}
	// Schedule from inside fire compares against w.now, so everything it arms from here on is
	// either in due (already scanned, or at its front) or has a deadline after n.
	w.scan(&w.due, n, fire)
	if n < 0 {
		return
	}
	target := n / w.tick
	if target < w.cur {
		return // time went backwards: nothing in the slots can be due
	}
	// Ticks cur..target. A timer's deadline tick is >= cur, so its slot is among these if the
	// deadline is <= n; after a jump of a revolution or more, every slot once is enough, because
	// each timer is checked against its exact deadline, not a round count.
	span := min(target-w.cur+1, int64(len(w.slots)))
	for k := w.cur; k < w.cur+span; k++ {
		w.scan(&w.slots[k&w.mask], n, fire)
	}
	w.cur = target
}

// scan fires every timer in the list at head whose deadline is <= n. w.cursor lets fire unlink
// any timer, the next one to visit included.
func (w *Wheel) scan(head *Timer, n int64, fire func(*Timer)) {
	for t := head.next; t != head; t = w.cursor {
		w.cursor = t.next
		if t.when > n {
			continue // a later tick in this slot, or a later round
		}
		w.unlink(t)
		t.w = nil
		w.n--
		fire(t)
	}
}

// Next returns the earliest deadline among the armed timers, and false if there are none.
// It scans (see the package Limitations).
func (w *Wheel) Next() (time.Time, bool) {
	if w.n == 0 {
		return time.Time{}, false
	}
	// Timers in due were scheduled with a deadline <= now, every slotted one has a deadline
	// > now, and now only grows: if due is not empty it holds the earliest.
	if best, ok := w.minWhen(&w.due, anyTick); ok {
		return w.origin.Add(time.Duration(best)), true
	}
	// The first tick k >= cur whose slot holds a timer of that very tick (not a later round)
	// holds the earliest deadline, if any is within one revolution.
	for k := w.cur; k < w.cur+int64(len(w.slots)); k++ {
		if best, ok := w.minWhen(&w.slots[k&w.mask], k); ok {
			return w.origin.Add(time.Duration(best)), true
		}
	}
	// Every timer is more than a revolution away: take the minimum of all.
	best, found := int64(0), false
	for i := range w.slots {
		if m, ok := w.minWhen(&w.slots[i], anyTick); ok && (!found || m < best) {
			best, found = m, true
		}
	}
	return w.origin.Add(time.Duration(best)), found
}

const anyTick = -1

// minWhen returns the earliest deadline in the list at head, counting only timers whose deadline
// falls in tick k unless k is anyTick.
func (w *Wheel) minWhen(head *Timer, k int64) (int64, bool) {
	best, found := int64(0), false
	for t := head.next; t != head; t = t.next {
		if (k == anyTick || t.when/w.tick == k) && (!found || t.when < best) {
			best, found = t.when, true
		}
	}
	return best, found
}
