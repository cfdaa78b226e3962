// Package timerwheel is a hashed timing wheel (Varghese and Lauck, "Hashed and Hierarchical
// Timing Wheels", 1987, scheme 6) for the timers of one event loop: handshake, idle and send
// timeouts of every connection the loop owns.
//
// gnet gives a loop no timers of its own, and the reactor needs one per connection, rescheduled
// on almost every read or write (an idle timeout moves each time the phone speaks). A wheel
// makes Schedule and Stop O(1) with no allocation: a [Timer] is an intrusive node in a doubly
// linked list, normally embedded in the connection struct, so arming, moving and stopping it
// only relinks pointers. [Wheel.Advance], called from the loop at every tick, visits only the
// slots of the ticks that have passed.
//
// Deadlines are kept exactly (nanoseconds from the wheel's origin), not rounded to ticks: a
// timer fires at the first Advance whose now is at or after its deadline, never earlier, and
// never later than that Advance. The tick only decides which slot holds a timer, and so how much
// of the wheel one Advance scans. A deadline more than one revolution (tick × slots) ahead
// shares a slot with nearer ones and is skipped until its round comes.
//
// # Concurrency
//
// A Wheel and its Timers belong to one goroutine, the event loop; nothing here is safe for
// concurrent use, and the race detector will say so. The fire callback runs on that goroutine,
// inside Advance, and may Schedule or Stop any timer of the wheel (the one firing included) but
// must not call Advance. Nothing in this package reads the clock (the caller passes every
// time.Time), starts goroutines, blocks, does I/O or logs.
//
// # Usage
//
//	type conn struct {
//		idle timerwheel.Timer
//		// ...
//	}
//
//	w := timerwheel.New(100*time.Millisecond, 1024, time.Now())
//	c.idle.Owner = c
//	w.Schedule(&c.idle, now.Add(idleTimeout)) // again on every message: moves the deadline
//
//	// from a ticker, through gnet's Execute, on the loop:
//	w.Advance(now, func(t *timerwheel.Timer) { t.Owner.(*conn).closeIdle() })
//
//	// when the connection closes:
//	w.Stop(&c.idle)
//
// # Limitations
//
//   - Within one Advance, timers fire in tick order (all timers of an earlier tick before any of a
//     later one), and within one tick in no particular order. After a jump of a whole revolution
//     or more, every slot is scanned once in slot order, and the tick order no longer holds.
//   - A timer scheduled from inside fire with a deadline at or before that Advance's now fires at
//     the next Advance, not the current one, so a callback that re-arms itself in the past cannot
//     make Advance loop forever.
//   - Timers far beyond one revolution are revisited once per revolution (a comparison each). Size
//     tick × slots to cover the common timeouts.
//   - Deadlines are durations from the origin given to [New], so they saturate about 292 years
//     away from it. Times passed to one wheel should come from one clock (time.Now values carry a
//     monotonic reading, which Sub uses).
//   - [Wheel.Next] scans, at worst, every slot and every timer; call it when deciding how long to
//     sleep, not per event.
package timerwheel
