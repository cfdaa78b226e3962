package wq

import (
	"strconv"
	"sync/atomic"
)

// Defaults, named and sized after Kamailio's tls module parameters.
const (
	DefaultGlobalLimit = 10 << 20 // ct_wq_max: clear text queued by all connections together
	DefaultConnLimit   = 64 << 10 // con_ct_wq_max: clear text queued by one connection
	DefaultBlockSize   = 4 << 10  // ct_wq_blk_size: storage block
)

// Budget is the byte budget shared by every queue on every event loop (Kamailio's ct_wq_max).
//
// The zero Budget is ready to use with the default limit. A Budget must not be copied after
// first use.
//
// Concurrency: every method is safe to call from any goroutine at any time; none blocks. A
// reservation is a compare-and-swap on the used counter against the limit read in the same
// attempt, never a read followed by an add, so concurrent reservations from several loops can
// never together exceed the limit.
type Budget struct {
	used  atomic.Int64
	limit atomic.Int64 // as given to SetLimit: 0 means DefaultGlobalLimit, negative means none

	// The per-connection settings that queues charged to this budget follow (Kamailio keeps
	// con_ct_wq_max and ct_wq_blk_size in the same cfg group as ct_wq_max, settable at runtime
	// with cfg.set_now_int): connLimit is used by every Queue whose own limit is 0, read at each
	// Push; blockSize by every Queue initialised with block size 0, read at Init.
	connLimit atomic.Int64 // 0 means DefaultConnLimit, negative means none
	blockSize atomic.Int64 // 0 means DefaultBlockSize
}

// NewBudget returns a Budget with the given limit in bytes.
// If zero, the default of [DefaultGlobalLimit] (10 MiB) is used.
// If negative, there is no global limit: reservations always succeed but are still counted.
func NewBudget(limit int64) *Budget {
	b := new(Budget)
	b.limit.Store(limit)
	return b
}

// SetLimit changes the limit, with the same meaning of zero and negative as [NewBudget]. It may
// be called while other goroutines reserve and release. Lowering it below [Budget.Used] takes
// nothing back: reservations are refused until releases bring Used down far enough.
func (b *Budget) SetLimit(n int64) { b.limit.Store(n) }

// SetConnLimit sets the per-connection limit (con_ct_wq_max) that queues charged to b follow
// when their own limit is 0, with the meaning of zero and negative of [Queue.Init]. It takes
// effect at their next Push; lowering it drops nothing (see [Queue.SetLimit]). Safe from any
// goroutine.
func (b *Budget) SetConnLimit(n int64) { b.connLimit.Store(n) }

// ConnLimit returns the per-connection limit queues following b use, or -1 if there is none.
func (b *Budget) ConnLimit() int64 {
	switch n := b.connLimit.Load(); {
	case n == 0:
		return DefaultConnLimit
	case n < 0:
		return -1
	default:
		return n
	}
}

// SetBlockSize sets the block size (ct_wq_blk_size) of queues initialised after the call with
// block size 0; queues already initialised keep theirs, so no queued byte ever moves. Zero or
// negative means [DefaultBlockSize]. Safe from any goroutine.
func (b *Budget) SetBlockSize(n int) { b.blockSize.Store(int64(max(n, 0))) }

// BlockSize returns the block size new queues following b get.
func (b *Budget) BlockSize() int { return poolFor(int(b.blockSize.Load())).size }

// Limit returns the limit in force, in bytes, or -1 if there is none.
func (b *Budget) Limit() int64 { return effLimit64(b.limit.Load()) }

// Used returns the bytes reserved now. Under concurrent use it is a snapshot.
func (b *Budget) Used() int64 { return b.used.Load() }

// TryReserve reserves n bytes if the whole of n fits under the limit, and reports whether it did.
// [Queue.Push] calls it; the reactor may also call it directly to charge bytes held outside a
// Queue (such as the event loop's own outbound buffer), pairing it with [Budget.Release].
// Reserving 0 bytes always succeeds. A negative n is a programming error and panics.
func (b *Budget) TryReserve(n int64) bool {
	if n < 0 {
		panic("wq: internal error: TryReserve of negative byte count " + strconv.FormatInt(n, 10))
	}
	if n == 0 {
		return true
	}
	for {
		used := b.used.Load()
		if lim := effLimit64(b.limit.Load()); lim >= 0 && n > lim-used {
			// Written as n > lim-used so it cannot overflow; when the limit was lowered below
			// used, lim-used is negative and every reservation is refused.
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// Release gives back n bytes reserved earlier. Releasing more than is reserved is an
// accounting bug in the caller; it panics and leaves the counter unchanged, as x/net/http2's
// flow control panics on "took too much", so a recovered panic cannot leave the budget negative.
func (b *Budget) Release(n int64) {
	if n < 0 {
		panic("wq: internal error: Release of negative byte count " + strconv.FormatInt(n, 10))
	}
	for {
		used := b.used.Load()
		if n > used {
			panic("wq: internal error: Release of " + strconv.FormatInt(n, 10) +
				" bytes with only " + strconv.FormatInt(used, 10) + " reserved")
		}
		if b.used.CompareAndSwap(used, used-n) {
			return
		}
	}
}

func effLimit64(raw int64) int64 {
	switch {
	case raw == 0:
		return DefaultGlobalLimit
	case raw < 0:
		return -1
	}
	return raw
}
