// Package wq holds bytes waiting to be written, with two-level byte accounting: every [Queue]
// (one per connection and direction) has its own limit, and every byte it holds is also charged
// to a [Budget] shared by all event loops. The names and defaults are Kamailio's tls module
// parameters: con_ct_wq_max (per connection, [DefaultConnLimit] = 64 KiB), ct_wq_max (global,
// [DefaultGlobalLimit] = 10 MiB) and ct_wq_blk_size (storage block, [DefaultBlockSize] = 4 KiB).
//
// A Push is admitted all or nothing, as x/net/http2's takeInflows admits a DATA frame only if
// both the stream and the connection windows have room: the per-connection limit is checked
// first (no shared state touched), then the bytes are reserved on the global budget with a
// compare-and-swap, then copied. A refused Push queues nothing, charges nothing and returns a
// [*RefusedError] whose [Reason] names the limit that refused it, for the reactor to count.
//
// Storage is a list of fixed-size blocks taken from a [sync.Pool] and given back as soon as
// they are drained, in the manner of x/net/http2's databuffer.go: memory per connection follows
// what is queued, and an empty Queue holds no block at all, which is what lets hundreds of
// thousands of idle connections cost only the Queue header (see [Queue] for its size).
//
// # Concurrency
//
// A [Budget] is safe for use by any number of goroutines: it is a few atomics, and SetLimit,
// SetConnLimit and SetBlockSize may be called from any goroutine (an admin RPC's
// cfg.set_now_int, a config reload) while event loops reserve and release. Queues whose own limit
// is 0 follow the budget's per-connection limit at their next Push, which is how one call changes
// con_ct_wq_max for every connection without touching their queues from a foreign goroutine. A [Queue] belongs to one goroutine at a time, normally the event loop that owns the
// connection; it touches its Budget only through the Budget's atomic methods. Nothing in this
// package blocks, starts goroutines, reads the clock, does I/O or logs.
//
// # Usage
//
//	global := wq.NewBudget(0) // 0: ct_wq_max default, 10 MiB
//	q := wq.NewQueue(0, 0, global) // con_ct_wq_max 64 KiB, blocks of 4 KiB
//
//	// on the loop, when clear text arrives for the phone:
//	if err := q.Push(msg); err != nil {
//		var r *wq.RefusedError
//		errors.As(err, &r)
//		drops[r.Reason]++ // then close the connection: SIP over a stream cannot skip a message
//	}
//
//	// when the socket can take more:
//	err := q.WriteTo(func(p []byte) error { _, err := c.Write(p); return err })
//
//	// when the connection closes:
//	q.Reset() // gives the blocks back and releases the global budget
//
// # Limitations
//
//   - The budgets count payload bytes, as Kamailio does, not memory: a Queue may hold up to two
//     partly used blocks beyond what it counts (the consumed front of the head block and the free
//     tail of the last one), so memory is at most Len + 2*blockSize per queue.
//   - Blocks have one fixed size per Queue (Kamailio's ct_wq_blk_size is a minimum and grows a
//     block to fit a large write); a large Push spans several blocks, so [Queue.Peek] returns at
//     most one block and writers should loop ([Queue.WriteTo] does) or gather ([Queue.Buffers]).
//   - There is no hysteresis here: the queue reports Len and [Queue.Available]; resuming a paused
//     reader below a low-water mark is the reactor's decision.
//   - A Budget lowered below what is in use refuses every reservation until enough is released;
//     it never takes back bytes already admitted.
package wq
