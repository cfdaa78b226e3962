package memguard

import (
	"io"
	"math"
	"os"
	"runtime/metrics"
	"sync"
)

// MemSample is one reading of the process's memory, in bytes.
type MemSample struct {
	// InUse is the memory the process needs now: what a [Guard] subtracts from the budget to get
	// free memory. It is the only field the Guard uses.
	InUse int64

	// The rest is what InUse was made from, for tls.info and metrics; 0 when the sampler does
	// not know (an injected test sampler, RSS off Linux).

	// Runtime is the memory the Go runtime holds: /memory/classes/total minus
	// /memory/classes/heap/released, garbage and free spans included. It is the figure
	// debug.SetMemoryLimit bounds.
	Runtime int64
	// Reclaimable is the part of Runtime the garbage collector can reuse without the OS: free
	// spans not yet returned, and heap objects not found live by the last GC.
	Reclaimable int64
	// RSS is the resident set from /proc/self/statm: every resident page of the process,
	// including those the runtime does not know (the binary, the race detector's shadow).
	RSS int64
}

// Sampler reads the process's memory. A [Guard] calls it from [Guard.Sample], at most once per
// MinInterval and never from two goroutines at once, so an implementation may reuse buffers
// without locking. Tests inject a [SamplerFunc] returning chosen values.
type Sampler interface {
	SampleMemory() MemSample
}

// SamplerFunc adapts a function to [Sampler].
type SamplerFunc func() MemSample

// SampleMemory calls f.
func (f SamplerFunc) SampleMemory() MemSample { return f() }

// runtime/metrics read by RuntimeSampler, in the order of RuntimeSampler.samples.
const (
	mTotal = iota
	mReleased
	mHeapFree
	mHeapObjects
	mHeapLive
	mGCCycles
	mGOGC
	mMemLimit
	mCount
)

var runtimeMetricNames = [mCount]string{
	mTotal:       "/memory/classes/total:bytes",
	mReleased:    "/memory/classes/heap/released:bytes",
	mHeapFree:    "/memory/classes/heap/free:bytes",
	mHeapObjects: "/memory/classes/heap/objects:bytes",
	mHeapLive:    "/gc/heap/live:bytes",
	mGCCycles:    "/gc/cycles/total:gc-cycles",
	mGOGC:        "/gc/gogc:percent",
	mMemLimit:    "/gc/gomemlimit:bytes",
}

// RuntimeSampler is the production [Sampler]: it reads runtime/metrics and /proc/self/statm.
// One sample costs a few microseconds (one metrics.Read, one pread of /proc/self/statm) and
// allocates nothing.
//
// # What "in use" means here
//
// The budget has to be compared with the memory the process cannot give back, not with what
// it happens to hold. A Go heap holds garbage: with GOGC=100 it grows to twice the live heap
// before a collection, and with debug.SetMemoryLimit set to the budget the collector lets it
// fill the budget whenever the live heap is above about half of it. Measured on the 2-core
// development VM (go1.26.8, limit 200 MiB, ~1 GiB/s of garbage, live data held steady): with
// 90 MiB live, total minus released stayed at 183 MiB, so "budget minus total" showed 16 MiB
// free, under the derived threshold1 of 25 MiB: handshakes would have been refused at 45% of
// the budget; with 110 to 170 MiB live it showed 5-11 MiB free whatever the live data. InUse as
// computed below read 95-96, 115-116 and 175-177 MiB for 90, 110 and 170 MiB live.
//
// So InUse is the larger of two estimates of the memory that is not reclaimable:
//
//   - from the runtime: Runtime minus Reclaimable, where Reclaimable is the free spans the
//     runtime retains (/memory/classes/heap/free) plus the heap objects beyond what the last GC
//     found live (/memory/classes/heap/objects minus /gc/heap/live);
//   - from the kernel: RSS minus the same Reclaimable.
//
// Neither source sees everything, which is why the larger wins. runtime/metrics knows only the
// memory the Go runtime mapped: not the binary's own pages, C or mmap'd memory, or the race
// detector's shadow; and it counts mapped pages never touched, which use no RAM. RSS sees every
// resident page, which is what the kernel charges against a cgroup limit, but cannot tell live
// data from garbage, so the runtime's Reclaimable is subtracted from it too. Taking the larger
// errs toward refusing work, the safe side for a guard against running out of memory.
//
// The runtime's live figure is as of the last completed GC, so memory allocated and kept since
// then appears in InUse only after the next collection. The lag is short where it matters: a
// collection starts whenever the heap reaches its goal, which the memory limit keeps at or
// below the budget, and as free memory shrinks the collections come closer together. Garbage
// is only counted as reclaimable if something will collect it: before the first GC, and when
// GOGC=off with no memory limit, the sampler counts every heap object as in use.
//
// A RuntimeSampler is not safe for concurrent use; a Guard serialises its calls.
type RuntimeSampler struct {
	samples [mCount]metrics.Sample
	statm   statmReader
}

// NewRuntimeSampler returns a RuntimeSampler.
func NewRuntimeSampler() *RuntimeSampler {
	s := new(RuntimeSampler)
	for i := range s.samples {
		s.samples[i].Name = runtimeMetricNames[i]
	}
	return s
}

// SampleMemory reads runtime/metrics and the resident set now.
func (s *RuntimeSampler) SampleMemory() MemSample {
	metrics.Read(s.samples[:])
	v := func(i int) int64 {
		if s.samples[i].Value.Kind() != metrics.KindUint64 {
			return 0 // unknown to this Go version: only possible for names added after 1.21
		}
		u := s.samples[i].Value.Uint64()
		if u > math.MaxInt64 {
			return math.MaxInt64 // GOGC=off reads as 2^64-1
		}
		return int64(u)
	}
	runtimeHeld := v(mTotal) - v(mReleased)
	reclaimable := v(mHeapFree)
	// Dead objects are reclaimable only if a collection will come: at least one has run (before
	// it, /gc/heap/live is 0), and GOGC is on or a memory limit will force one.
	gcWillRun := v(mGOGC) != math.MaxInt64 || v(mMemLimit) != math.MaxInt64
	if v(mGCCycles) > 0 && gcWillRun {
		reclaimable += max(0, v(mHeapObjects)-v(mHeapLive))
	}
	rss := s.statm.rss()
	return MemSample{
		InUse:       max(runtimeHeld-reclaimable, rss-reclaimable, 0),
		Runtime:     runtimeHeld,
		Reclaimable: reclaimable,
		RSS:         rss,
	}
}

// parseStatm returns the resident set size field of /proc/self/statm, in pages. The file is one
// line of seven decimal fields, "size resident shared text lib data dt" (proc(5)).
func parseStatm(b []byte) (pages int64, ok bool) {
	// Skip the first field, then parse the second by hand: this runs a few times a second and
	// must not allocate.
	i := 0
	for i < len(b) && b[i] != ' ' {
		if b[i] < '0' || b[i] > '9' {
			return 0, false
		}
		i++
	}
	if i == 0 || i >= len(b) {
		return 0, false
	}
	i++ // the space
	start := i
	var n int64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := int64(b[i] - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if i == start || (i < len(b) && b[i] != ' ' && b[i] != '\n') {
		return 0, false
	}
	return n, true
}

// statmReader reads the resident set from /proc/self/statm.
type statmReader struct {
	buf [128]byte // seven decimal fields of at most 20 digits fit in 160 bytes; the first two in far fewer
}

// statmFile is opened once per process and read with pread at offset 0, which makes procfs
// regenerate the content: an open and a close per sample would allocate an *os.File each time.
// One descriptor shared by every RuntimeSampler; pread is safe on it from any goroutine.
var statmFile = sync.OnceValue(func() *os.File {
	f, err := os.Open("/proc/self/statm")
	if err != nil {
		return nil // not Linux, or /proc not mounted: RSS stays unknown (0)
	}
	return f
})

var pageSize = int64(os.Getpagesize())

// rss returns the resident set size in bytes, or 0 if it cannot be read.
func (r *statmReader) rss() int64 {
	f := statmFile()
	if f == nil {
		return 0
	}
	n, err := f.ReadAt(r.buf[:], 0)
	if err != nil && err != io.EOF {
		return 0
	}
	pages, ok := parseStatm(r.buf[:n])
	if !ok || pages > math.MaxInt64/pageSize {
		return 0
	}
	return pages * pageSize
}
