package wq

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// blocks counts the blocks q holds, checking the list on the way.
func blocks(t *testing.T, q *Queue) int {
	t.Helper()
	n, sum := 0, 0
	var last *block
	for b := q.head; b != nil; b = b.next {
		if b.r >= b.w || b.w > len(b.buf) {
			t.Fatalf("block %d: r=%d w=%d len=%d: empty or out of range block kept", n, b.r, b.w, len(b.buf))
		}
		if len(b.buf) != q.BlockSize() {
			t.Fatalf("block %d: len %d, want the block size %d", n, len(b.buf), q.BlockSize())
		}
		sum += b.w - b.r
		last = b
		n++
	}
	if last != q.tail {
		t.Fatalf("tail does not point at the last block")
	}
	if sum != q.Len() {
		t.Fatalf("blocks hold %d bytes, Len() = %d", sum, q.Len())
	}
	return n
}

func pattern(n, seed int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(seed + i*7)
	}
	return p
}

func contents(q *Queue) []byte {
	var out []byte
	for _, b := range q.Buffers(nil) {
		out = append(out, b...)
	}
	return out
}

func TestQueueSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("size documented for 64-bit platforms")
	}
	if got := unsafe.Sizeof(Queue{}); got != 48 {
		t.Errorf("unsafe.Sizeof(Queue{}) = %d, want 48 as documented: every idle connection pays it", got)
	}
}

func TestQueueZeroValue(t *testing.T) {
	var q Queue
	if q.Limit() != DefaultConnLimit || q.BlockSize() != DefaultBlockSize || q.Available() != DefaultConnLimit {
		t.Fatalf("zero Queue: Limit %d BlockSize %d Available %d, want %d %d %d",
			q.Limit(), q.BlockSize(), q.Available(), DefaultConnLimit, DefaultBlockSize, DefaultConnLimit)
	}
	if q.Peek() != nil || q.Len() != 0 {
		t.Fatal("zero Queue is not empty")
	}
	if err := q.Push(pattern(DefaultConnLimit, 1)); err != nil {
		t.Fatalf("Push of exactly the default limit: %v", err)
	}
	if err := q.Push([]byte{1}); !errors.Is(err, ErrConnFull) {
		t.Fatalf("Push past the default limit: err = %v, want ErrConnFull", err)
	}
	q.Reset()
	if blocks(t, &q) != 0 {
		t.Fatal("Reset kept blocks")
	}
}

func TestQueueEmptyHoldsNoBlocks(t *testing.T) {
	b := NewBudget(0)
	q := NewQueue(0, 64, b)
	if err := q.Push(pattern(100, 0)); err != nil { // 64 + 36
		t.Fatal(err)
	}
	if got := blocks(t, q); got != 2 {
		t.Fatalf("100 bytes in 64-byte blocks: %d blocks, want 2", got)
	}
	q.Discard(64) // first block drained: returned at once
	if got := blocks(t, q); got != 1 {
		t.Fatalf("after Discard(64): %d blocks, want 1", got)
	}
	q.Discard(36) // the last (tail) block drained: an empty queue holds nothing
	if q.head != nil || q.tail != nil {
		t.Fatal("empty queue still holds a block")
	}
	if b.Used() != 0 {
		t.Fatalf("budget Used() = %d after draining, want 0", b.Used())
	}
	// A partly drained tail block is refilled rather than replaced.
	q.Push(pattern(10, 0))
	q.Discard(5)
	q.Push(pattern(10, 0))
	if got := blocks(t, q); got != 1 {
		t.Fatalf("15 bytes in one 64-byte block: %d blocks, want 1", got)
	}
}

func TestQueuePushAllOrNothing(t *testing.T) {
	b := NewBudget(1000)
	q := NewQueue(100, 64, b)
	for i, s := range []struct {
		n      int
		reason Reason // 0: admitted
		len    int
	}{
		{60, 0, 60},        // 60 of 100
		{41, ConnFull, 60}, // 60+41 > 100: nothing of it queued
		{40, 0, 100},       // exactly full
		{1, ConnFull, 100}, // full
		{0, 0, 100},        // empty push always succeeds
		{101, ConnFull, 100},
	} {
		err := q.Push(pattern(s.n, i))
		var re *RefusedError
		switch {
		case s.reason == 0 && err != nil:
			t.Fatalf("step %d: Push(%d) = %v, want nil", i, s.n, err)
		case s.reason != 0 && (!errors.As(err, &re) || re.Reason != s.reason || re.Bytes != s.n):
			t.Fatalf("step %d: Push(%d) = %v, want %v refusing %d bytes", i, s.n, err, s.reason, s.n)
		}
		if q.Len() != s.len || b.Used() != int64(s.len) {
			t.Fatalf("step %d: Len %d, budget Used %d, want both %d", i, q.Len(), b.Used(), s.len)
		}
	}
	if want := append(pattern(60, 0), pattern(40, 2)...); !bytes.Equal(contents(q), want) {
		t.Fatal("queued bytes differ from the admitted pushes")
	}
}

func TestQueueGlobalRefusal(t *testing.T) {
	b := NewBudget(100)
	q1 := NewQueue(-1, 0, b)
	q2 := NewQueue(-1, 0, b)
	if err := q1.Push(pattern(70, 0)); err != nil {
		t.Fatal(err)
	}
	err := q2.Push(pattern(40, 0)) // 70+40 > 100 globally, although q2 has no limit of its own
	if !errors.Is(err, ErrGlobalFull) {
		t.Fatalf("q2.Push(40) with 70 of 100 used = %v, want ErrGlobalFull", err)
	}
	if q2.Len() != 0 || q2.head != nil || b.Used() != 70 {
		t.Fatalf("refused push left Len %d, blocks %v, Used %d; want 0, none, 70", q2.Len(), q2.head != nil, b.Used())
	}
	if err := q2.Push(pattern(30, 0)); err != nil {
		t.Fatalf("q2.Push(30) with 70 of 100 used = %v, want nil", err)
	}
	// The connection limit is checked first: a push refused by both reports ConnFull, and the
	// global budget is not touched.
	q3 := NewQueue(10, 0, b)
	var re *RefusedError
	if err := q3.Push(pattern(11, 0)); !errors.As(err, &re) || re.Reason != ConnFull {
		t.Fatalf("q3.Push(11) over both limits = %v, want ConnFull", err)
	}
	q1.Reset()
	q2.Reset()
	if b.Used() != 0 {
		t.Fatalf("Used() after Reset of both queues = %d, want 0", b.Used())
	}
}

func TestQueueUnlimited(t *testing.T) {
	q := NewQueue(-1, 0, nil)
	if q.Limit() != -1 || q.Available() != -1 {
		t.Fatalf("Limit %d Available %d, want -1 -1", q.Limit(), q.Available())
	}
	big := pattern(1<<20, 3)
	if err := q.Push(big); err != nil {
		t.Fatalf("Push(1 MiB) with no limits: %v", err)
	}
	if !bytes.Equal(contents(q), big) {
		t.Fatal("contents differ")
	}
	q.Reset()
}

func TestQueueSetLimitBelowLen(t *testing.T) {
	q := NewQueue(1000, 0, nil)
	q.Push(pattern(800, 0))
	q.SetLimit(500) // 800 queued, limit 500: nothing dropped, pushes refused
	if q.Len() != 800 || q.Available() != 0 {
		t.Fatalf("after lowering: Len %d Available %d, want 800 0", q.Len(), q.Available())
	}
	if err := q.Push([]byte{1}); !errors.Is(err, ErrConnFull) {
		t.Fatalf("Push(1) with 800 of 500 = %v, want ErrConnFull", err)
	}
	q.Discard(400) // 400 of 500
	if err := q.Push(pattern(101, 0)); !errors.Is(err, ErrConnFull) {
		t.Fatalf("Push(101) with 400 of 500 = %v, want ErrConnFull", err)
	}
	if err := q.Push(pattern(100, 0)); err != nil {
		t.Fatalf("Push(100) with 400 of 500 = %v, want nil", err)
	}
	q.SetLimit(0)
	if q.Limit() != DefaultConnLimit {
		t.Fatalf("Limit after SetLimit(0) = %d, want the default", q.Limit())
	}
	q.SetLimit(-1)
	if q.Limit() != -1 {
		t.Fatalf("Limit after SetLimit(-1) = %d, want -1", q.Limit())
	}
	q.Reset()
}

func TestQueueChunks(t *testing.T) {
	q := NewQueue(0, 64, nil)
	data := pattern(200, 5)
	q.Push(data[:150])
	q.Push(data[150:])
	if got := len(q.Peek()); got != 64 {
		t.Fatalf("len(Peek()) = %d, want one block (64)", got)
	}
	var lens []int
	for _, b := range q.Buffers(nil) {
		lens = append(lens, len(b))
	}
	if want := []int{64, 64, 64, 8}; !equalInts(lens, want) {
		t.Fatalf("Buffers lengths %v, want %v", lens, want)
	}
	if !bytes.Equal(contents(q), data) {
		t.Fatal("contents differ")
	}
	q.Discard(70) // into the second block
	if got := q.Peek(); !bytes.Equal(got, data[70:128]) {
		t.Fatalf("Peek after Discard(70) = %d bytes, want data[70:128]", len(got))
	}
	// Peek is clipped: appending to it must not write into the queue's storage.
	_ = append(q.Peek(), 0xFF)
	if !bytes.Equal(contents(q), data[70:]) {
		t.Fatal("appending to Peek's slice changed the queue")
	}
	q.Reset()
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestQueueBlockSize(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{0, DefaultBlockSize},
		{-5, DefaultBlockSize},
		{1, MinBlockSize},
		{MinBlockSize, MinBlockSize},
		{1000, 1000},
		{16 << 10, 16 << 10},
	} {
		if got := NewQueue(0, tc.in, nil).BlockSize(); got != tc.want {
			t.Errorf("NewQueue(0, %d, nil).BlockSize() = %d, want %d", tc.in, got, tc.want)
		}
	}
	if poolFor(1000) != poolFor(1000) {
		t.Error("two queues with one block size got different pools")
	}
}

func TestQueueDiscardPanics(t *testing.T) {
	b := NewBudget(0)
	q := NewQueue(0, 0, b)
	q.Push(pattern(10, 0))
	for _, n := range []int{11, -1} {
		msg := mustPanic(t, func() { q.Discard(n) })
		if !strings.HasPrefix(msg, "wq: internal error: Discard") {
			t.Errorf("Discard(%d) panic %q", n, msg)
		}
		if q.Len() != 10 || b.Used() != 10 {
			t.Errorf("after Discard(%d) panicked: Len %d Used %d, want 10 10 (unchanged)", n, q.Len(), b.Used())
		}
	}
	q.Discard(0)
	q.Discard(10)
	if q.Len() != 0 || b.Used() != 0 {
		t.Fatalf("Len %d Used %d, want 0 0", q.Len(), b.Used())
	}
}

func TestQueueInitNonEmptyPanics(t *testing.T) {
	q := NewQueue(0, 0, nil)
	q.Push([]byte("x"))
	if msg := mustPanic(t, func() { q.Init(0, 64, nil) }); !strings.Contains(msg, "Init of a non-empty queue") {
		t.Errorf("panic %q", msg)
	}
	q.Reset()
	q.Init(0, 64, nil)
	if q.BlockSize() != 64 {
		t.Fatalf("BlockSize after Init = %d, want 64", q.BlockSize())
	}
}

func TestQueueWriteTo(t *testing.T) {
	b := NewBudget(0)
	q := NewQueue(0, 64, b)
	data := pattern(150, 9)
	q.Push(data)

	// The sink takes two runs, then fails: the failed run stays queued.
	var got []byte
	calls := 0
	errFull := errors.New("socket full")
	err := q.WriteTo(func(p []byte) error {
		if calls++; calls == 3 {
			return errFull
		}
		got = append(got, p...)
		return nil
	})
	if !errors.Is(err, errFull) {
		t.Fatalf("WriteTo = %v, want the sink's error", err)
	}
	if !bytes.Equal(got, data[:128]) || !bytes.Equal(contents(q), data[128:]) {
		t.Fatalf("after a failed run: wrote %d, queued %d; want 128 and 22", len(got), q.Len())
	}
	if b.Used() != 22 {
		t.Fatalf("Used() = %d, want 22", b.Used())
	}

	// fn may push to q: the new bytes are written in the same call, after the old.
	pushed := false
	err = q.WriteTo(func(p []byte) error {
		got = append(got, p...)
		if !pushed {
			pushed = true
			return q.Push([]byte("tail"))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("WriteTo = %v", err)
	}
	if want := append(append([]byte{}, data...), "tail"...); !bytes.Equal(got, want) {
		t.Fatalf("written %q..., want the data then \"tail\"", got[:8])
	}
	if q.Len() != 0 || q.head != nil || b.Used() != 0 {
		t.Fatalf("after WriteTo drained: Len %d blocks %v Used %d", q.Len(), q.head != nil, b.Used())
	}
	if err := q.WriteTo(func([]byte) error { t.Fatal("fn called on an empty queue"); return nil }); err != nil {
		t.Fatal(err)
	}
}

// TestQueueAllocs: in steady state a push and discard allocate nothing (blocks are pooled).
func TestQueueAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items on purpose under the race detector")
	}
	b := NewBudget(0)
	q := NewQueue(0, 0, b)
	p := pattern(1024, 0)
	if got := testing.AllocsPerRun(1000, func() {
		q.Push(p)
		q.Push(p)
		q.Discard(2048)
	}); got != 0 {
		t.Errorf("Push+Push+Discard allocated %v times per run, want 0", got)
	}
	if got := testing.AllocsPerRun(1000, func() {
		q.Push(p)
		q.WriteTo(func([]byte) error { return nil })
	}); got != 0 {
		t.Errorf("Push+WriteTo allocated %v times per run, want 0", got)
	}
}

// TestQueueModel runs random operations on two queues sharing a budget against a plain byte
// slice model; FuzzQueue runs the same driver on fuzzer input.
func TestQueueModel(t *testing.T) {
	for seed := range 200 {
		data := make([]byte, 400)
		x := uint64(seed)*0x9E3779B97F4A7C15 + 1
		for i := range data {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			data[i] = byte(x)
		}
		runQueueOps(t, data)
	}
}

func FuzzQueue(f *testing.F) {
	f.Add([]byte{0, 200, 0, 10, 1, 50, 2, 3, 7, 4})
	f.Add([]byte{5, 1, 0, 255, 0, 255, 6, 0, 0, 100, 8, 100, 3, 2})
	f.Fuzz(runQueueOps)
}

func runQueueOps(t *testing.T, data []byte) {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		v := data[0]
		data = data[1:]
		return int(v)
	}
	budget := NewBudget(600)
	budgetLimit := int64(600)
	var qs [2]*Queue
	var models [2][]byte
	own := [2]int{300, 300} // each queue's own limit: 0 follows the budget's connLimit
	connLimit := 0
	limit := func(i int) int {
		switch {
		case own[i] != 0:
			return own[i]
		case connLimit == 0:
			return DefaultConnLimit
		}
		return connLimit
	}
	qs[0] = NewQueue(300, 64, budget)
	qs[1] = NewQueue(300, 100, budget)
	seq := 0
	for len(data) > 0 {
		op := next()
		i := (op >> 4) & 1
		q, m := qs[i], &models[i]
		switch op % 10 {
		case 0, 8: // push
			n := next() * (1 + next()%3)
			p := pattern(n, seq)
			seq++
			used := int64(len(models[0]) + len(models[1]))
			var want Reason
			switch {
			case n == 0:
			case limit(i) >= 0 && n > limit(i)-len(*m):
				want = ConnFull
			case budgetLimit >= 0 && int64(n) > budgetLimit-used:
				want = GlobalFull
			}
			err := q.Push(p)
			var re *RefusedError
			switch {
			case want == 0 && err != nil:
				t.Fatalf("q%d.Push(%d) = %v, want nil (len %d, limit %d, used %d/%d)", i, n, err, len(*m), limit(i), used, budgetLimit)
			case want != 0 && (!errors.As(err, &re) || re.Reason != want || re.Bytes != n):
				t.Fatalf("q%d.Push(%d) = %v, want %v (len %d, limit %d, used %d/%d)", i, n, err, want, len(*m), limit(i), used, budgetLimit)
			}
			if err == nil {
				*m = append(*m, p...)
			}
		case 1: // discard
			n := min(next()*2, len(*m))
			q.Discard(n)
			*m = (*m)[n:]
		case 2: // peek
			p := q.Peek()
			if (len(p) == 0) != (len(*m) == 0) || len(p) > q.BlockSize() || !bytes.Equal(p, (*m)[:len(p)]) {
				t.Fatalf("q%d.Peek() = %d bytes, queue holds %d", i, len(p), len(*m))
			}
		case 3: // WriteTo, the sink failing after k runs
			k := next() % 4
			var got []byte
			runs := 0
			err := q.WriteTo(func(p []byte) error {
				if runs == k {
					return errors.New("stop")
				}
				runs++
				got = append(got, p...)
				return nil
			})
			if !bytes.Equal(got, (*m)[:len(got)]) {
				t.Fatalf("q%d.WriteTo wrote bytes out of order", i)
			}
			*m = (*m)[len(got):]
			if err == nil && len(*m) != 0 {
				t.Fatalf("q%d.WriteTo returned nil with %d bytes left", i, len(*m))
			}
		case 4: // reset
			q.Reset()
			*m = nil
		case 5: // per-connection limit; 0 follows the budget's
			l := []int{0, -1, 10, 100, 300, 1000}[next()%6]
			q.SetLimit(l)
			own[i] = l
		case 9: // the budget's per-connection limit, followed by queues whose own is 0
			connLimit = []int{0, -1, 20, 200, 400}[next()%5]
			budget.SetConnLimit(int64(connLimit))
		case 6: // global limit
			l := []int64{0, -1, 50, 300, 600, 2000}[next()%6]
			budget.SetLimit(l)
			budgetLimit = l
			if l == 0 {
				budgetLimit = DefaultGlobalLimit
			}
		case 7: // buffers
			if !bytes.Equal(contents(q), *m) {
				t.Fatalf("q%d.Buffers() differ from the model", i)
			}
		}
		for j, q := range qs {
			if q.Len() != len(models[j]) {
				t.Fatalf("q%d.Len() = %d, model %d", j, q.Len(), len(models[j]))
			}
			if nb, bs := blocks(t, q), q.BlockSize(); nb > (q.Len()+bs-1)/bs+1 {
				t.Fatalf("q%d holds %d blocks for %d bytes of %d-byte blocks", j, nb, q.Len(), bs)
			}
		}
		if used := budget.Used(); used != int64(len(models[0])+len(models[1])) {
			t.Fatalf("budget Used() = %d, queues hold %d", used, len(models[0])+len(models[1]))
		}
	}
	for j, q := range qs {
		if !bytes.Equal(contents(q), models[j]) {
			t.Fatalf("q%d contents differ from the model", j)
		}
		q.Reset()
	}
	if budget.Used() != 0 {
		t.Fatalf("budget Used() = %d after resetting every queue", budget.Used())
	}
}

// TestIdleQueueHeap measures what an idle connection's queue costs once its data has been sent:
// only the header, because drained blocks went back to the pool (and the pool to the heap).
func TestIdleQueueHeap(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("heap figures are distorted under the race detector")
	}
	const n = 100_000
	b := NewBudget(-1)
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	qs := make([]*Queue, n)
	p := pattern(1<<10, 0)
	for i := range qs {
		qs[i] = NewQueue(0, 0, b)
		qs[i].Push(p) // 1 KiB queued, then sent
		qs[i].Discard(len(p))
	}
	runtime.GC() // sync.Pool keeps its blocks for one cycle in a victim cache,
	runtime.GC() // and frees them on the second
	runtime.ReadMemStats(&ms)
	perQueue := float64(int64(ms.HeapAlloc)-int64(before)) / n
	runtime.KeepAlive(qs)
	t.Logf("heap per idle queue after 1 KiB sent: %.1f B (header %d B, pointer %d B)", perQueue, unsafe.Sizeof(Queue{}), unsafe.Sizeof(&Queue{}))
	if perQueue > 96 {
		t.Errorf("idle queue holds %.1f B of heap, want about 48+8: drained blocks kept?", perQueue)
	}
}
