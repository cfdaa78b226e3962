package wq

import (
	"strconv"
	"testing"
)

// BenchmarkQueuePushDiscard: one write queued and drained, the common case for a SIP message
// that the socket takes at once. Measures block pooling and budget accounting.
func BenchmarkQueuePushDiscard(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 16 << 10} {
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			q := NewQueue(0, 0, NewBudget(0))
			p := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := q.Push(p); err != nil {
					b.Fatal(err)
				}
				q.Discard(size)
			}
		})
	}
}

// BenchmarkQueueBacklog: 1 KiB writes into a queue kept 32 KiB deep by a slow reader that
// takes one block-sized run at a time (Peek, Discard), the path of a phone on a poor link.
func BenchmarkQueueBacklog(b *testing.B) {
	q := NewQueue(0, 0, NewBudget(0))
	p := make([]byte, 1<<10)
	for q.Len() < 32<<10 {
		q.Push(p)
	}
	b.SetBytes(1 << 10)
	b.ReportAllocs()
	for b.Loop() {
		if err := q.Push(p); err != nil {
			b.Fatal(err)
		}
		for q.Len() > 32<<10 {
			q.Discard(len(q.Peek()))
		}
	}
	q.Reset()
}

// BenchmarkBudgetReserve: every goroutine reserves and releases 1 KiB on one shared budget,
// the worst case for the CAS (all loops hammering one cache line).
func BenchmarkBudgetReserve(b *testing.B) {
	b.Run("uncontended", func(b *testing.B) {
		bu := NewBudget(0)
		b.ReportAllocs()
		for b.Loop() {
			if bu.TryReserve(1024) {
				bu.Release(1024)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		bu := NewBudget(0)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if bu.TryReserve(1024) {
					bu.Release(1024)
				}
			}
		})
	})
}
