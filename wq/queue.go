package wq

import "strconv"

// Queue is a byte queue for one connection and direction, limited per connection (Kamailio's
// con_ct_wq_max) and charged to a shared [Budget] (ct_wq_max).
//
// The zero Queue is ready to use: default limit, default block size, no global budget. It may be
// embedded by value in a connection struct (saving an allocation and a pointer per connection);
// use [Queue.Init] to configure it in place. An empty Queue holds no storage: every block goes
// back to the pool the moment it is drained. The Queue header itself is 48 bytes on 64-bit
// platforms. A Queue must not be copied after first use.
//
// Concurrency: one goroutine at a time (the event loop that owns the connection). Only the
// Budget it points to is shared, through that Budget's atomic methods.
type Queue struct {
	_ noCopy

	head, tail *block
	n          int        // bytes queued, always equal to the sum of w-r over the blocks
	limit      int        // as given: 0 means DefaultConnLimit, negative means none
	pool       *blockPool // nil means defaultPool
	global     *Budget    // nil means no global accounting
}

// NewQueue returns a Queue; see [Queue.Init] for the arguments.
func NewQueue(limit int, blockSize int, global *Budget) *Queue {
	q := new(Queue)
	q.Init(limit, blockSize, global)
	return q
}

// Init configures q in place.
//
// limit is the per-connection limit in bytes. If zero, the queue follows its budget's
// [Budget.ConnLimit] (read at every Push, so a runtime change applies at once), or uses
// [DefaultConnLimit] (64 KiB) without a budget. If negative, there is no per-connection limit
// and only the global budget (if any) bounds the queue.
//
// blockSize is the size of each storage block. If zero or negative, the budget's
// [Budget.BlockSize] is used, or [DefaultBlockSize] (4 KiB) without a budget; sizes below
// [MinBlockSize] are raised to it.
//
// global is the shared budget every queued byte is charged to; nil means none.
//
// Init panics if q holds data: changing the budget or the block size under queued bytes would
// corrupt the accounting. Call [Queue.Reset] first.
func (q *Queue) Init(limit int, blockSize int, global *Budget) {
	if q.n != 0 {
		panic("wq: internal error: Init of a non-empty queue (" + strconv.Itoa(q.n) + " bytes queued)")
	}
	q.limit = limit
	if blockSize <= 0 && global != nil {
		blockSize = int(global.blockSize.Load())
	}
	q.pool = poolFor(blockSize)
	q.global = global
}

// SetLimit changes this queue's per-connection limit, with the same meaning of zero and negative
// as in [Queue.Init]. To change the limit of every queue at once, from any goroutine, use
// [Budget.SetConnLimit]. Lowering it below [Queue.Len] drops nothing: pushes are refused until the queue
// drains below the new limit.
func (q *Queue) SetLimit(n int) { q.limit = n }

// Limit returns the per-connection limit in force, in bytes, or -1 if there is none.
func (q *Queue) Limit() int {
	switch {
	case q.limit == 0 && q.global != nil:
		return int(q.global.ConnLimit())
	case q.limit == 0:
		return DefaultConnLimit
	case q.limit < 0:
		return -1
	}
	return q.limit
}

// BlockSize returns the size of the storage blocks.
func (q *Queue) BlockSize() int { return q.blockPool().size }

// Len returns the number of bytes queued.
func (q *Queue) Len() int { return q.n }

// Available returns how many more bytes the per-connection limit admits, or -1 if there is no
// per-connection limit. The global budget may still refuse a Push that fits here.
func (q *Queue) Available() int {
	lim := q.Limit()
	if lim < 0 {
		return -1
	}
	return max(lim-q.n, 0)
}

// Push appends a copy of p, or nothing: the write is admitted only if all of it fits under the
// per-connection limit and the global budget. On refusal it returns a [*RefusedError] (which
// errors.Is [ErrConnFull] or [ErrGlobalFull]) and q and the budget are unchanged. Pushing an
// empty p does nothing and succeeds.
func (q *Queue) Push(p []byte) error {
	n := len(p)
	if n == 0 {
		return nil
	}
	// takeInflows order: check the local limit, which costs nothing and touches no shared state,
	// then reserve on the global budget, then commit. Nothing is charged until both agree.
	if lim := q.Limit(); lim >= 0 && n > lim-q.n {
		return &RefusedError{Reason: ConnFull, Bytes: n}
	}
	if q.global != nil && !q.global.TryReserve(int64(n)) {
		return &RefusedError{Reason: GlobalFull, Bytes: n}
	}
	q.n += n
	pool := q.blockPool()
	for len(p) > 0 {
		t := q.tail
		if t == nil || t.w == len(t.buf) {
			b := pool.get()
			if t == nil {
				q.head = b
			} else {
				t.next = b
			}
			q.tail, t = b, b
		}
		c := copy(t.buf[t.w:], p)
		t.w += c
		p = p[c:]
	}
	return nil
}

// Peek returns the first contiguous run of queued bytes (at most one block), or nil if q is
// empty. The slice aliases q's storage: it is valid until the next Discard, WriteTo or Reset,
// and the caller must not modify it. Its capacity is clipped, so appending to it copies.
func (q *Queue) Peek() []byte {
	h := q.head
	if h == nil {
		return nil
	}
	return h.buf[h.r:h.w:h.w]
}

// Buffers appends every queued run, in order, to dst and returns it, for a vectored write
// (gnet's Writev, net.Buffers). The slices follow the rules of [Queue.Peek]. After the write,
// Discard the number of bytes it took.
func (q *Queue) Buffers(dst [][]byte) [][]byte {
	for b := q.head; b != nil; b = b.next {
		dst = append(dst, b.buf[b.r:b.w:b.w])
	}
	return dst
}

// Discard drops the first n queued bytes, returns drained blocks to the pool and releases n
// bytes of the global budget. Discarding more than [Queue.Len], or a negative n, is a bug in
// the caller and panics, leaving q unchanged.
func (q *Queue) Discard(n int) {
	if n < 0 || n > q.n {
		panic("wq: internal error: Discard(" + strconv.Itoa(n) + ") with " + strconv.Itoa(q.n) + " bytes queued")
	}
	if n == 0 {
		return
	}
	q.n -= n
	pool := q.blockPool()
	for left := n; left > 0; {
		h := q.head
		c := min(left, h.w-h.r)
		h.r += c
		left -= c
		if h.r == h.w {
			// Give the block back even if it is also the tail: an empty queue holds nothing.
			q.head = h.next
			if q.head == nil {
				q.tail = nil
			}
			pool.put(h)
		}
	}
	if q.global != nil {
		q.global.Release(int64(n))
	}
}

// WriteTo hands the queued bytes to fn in order, one run at a time (as [Queue.Peek] would
// return them), discarding each run after fn returns nil. If fn returns an error, the run it was
// given stays queued and WriteTo returns the error; fn must therefore take a run whole or not at
// all (gnet's Conn.Write, which copies, does). fn may Push to q; it must not Discard, Reset or
// call WriteTo on q.
func (q *Queue) WriteTo(fn func(p []byte) error) error {
	for q.head != nil {
		p := q.Peek()
		if err := fn(p); err != nil {
			return err
		}
		q.Discard(len(p))
	}
	return nil
}

// Reset drops everything queued, returns every block to the pool and releases the bytes on the
// global budget. The limit, block size and budget stay as they are. Call it when the connection
// closes: a Queue dropped without Reset leaks its share of the global budget.
func (q *Queue) Reset() {
	pool := q.blockPool()
	for b := q.head; b != nil; {
		next := b.next
		pool.put(b)
		b = next
	}
	n := q.n
	q.head, q.tail, q.n = nil, nil, 0
	if q.global != nil && n > 0 {
		q.global.Release(int64(n))
	}
}

func (q *Queue) blockPool() *blockPool {
	if q.pool == nil {
		return defaultPool
	}
	return q.pool
}

// noCopy makes go vet's copylocks check flag copies of a Queue, whose blocks and budget
// charge would then be shared by two owners.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
