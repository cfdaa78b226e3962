package loadgen

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: 2^subBits buckets per power of two, so any recorded
// value is reported within 1/32 (about 3%) of itself, as HdrHistogram does with 2 significant
// digits but in a fixed 15 KiB with no configuration.
const (
	subBits    = 5
	subBuckets = 1 << subBits
	numBuckets = (64 - subBits + 1) * subBuckets
)

// Histogram records durations in log-linear buckets (HdrHistogram's layout): exact below 32 ns,
// then 32 buckets per power of two. The zero value is empty and ready. A Histogram is used by one
// goroutine at a time; Merge combines histograms kept per goroutine.
type Histogram struct {
	counts   [numBuckets]uint64
	n        uint64
	sum      uint64 // nanoseconds; wraps after 584 years of latency, which is fine
	min, max uint64
}

func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	e := bits.Len64(v) - 1 // v in [2^e, 2^(e+1)), e >= subBits
	mant := int(v>>(e-subBits)) & (subBuckets - 1)
	return (e-subBits+1)*subBuckets + mant
}

// highest returns the largest value that falls in bucket i.
func highest(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	e := i/subBuckets + subBits - 1
	mant := uint64(i % subBuckets)
	low := (subBuckets + mant) << (e - subBits)
	return low + (1 << (e - subBits)) - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
	h.sum += v
}

// Merge adds every value recorded in o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest value recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min returns the smallest value recorded, exactly.
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Mean returns the average of the values recorded.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}

// Quantile returns the value below or at which a fraction q (0..1) of the recorded values fall,
// as the top of its bucket (so never below the true value and at most ~3% above it), capped at
// Max. Quantile(0.99) is p99. An empty histogram gives 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n))) // nearest-rank definition
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(highest(i), h.max))
		}
	}
	return time.Duration(h.max)
}

// histogramJSON is a Histogram's JSON form: the totals and the non-empty buckets as
// [index, count] pairs, so that histograms kept in several processes can be merged exactly.
type histogramJSON struct {
	N       uint64      `json:"n"`
	Sum     uint64      `json:"sum_ns"`
	Min     uint64      `json:"min_ns"`
	Max     uint64      `json:"max_ns"`
	Buckets [][2]uint64 `json:"buckets,omitempty"`
}

// MarshalJSON encodes h exactly (UnmarshalJSON restores it).
func (h *Histogram) MarshalJSON() ([]byte, error) {
	j := histogramJSON{N: h.n, Sum: h.sum, Min: h.min, Max: h.max}
	for i, c := range h.counts {
		if c > 0 {
			j.Buckets = append(j.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON replaces h with the histogram MarshalJSON encoded. It refuses bucket indexes
// out of range and counts that do not add up to the total.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var j histogramJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var n Histogram
	var total uint64
	for _, bc := range j.Buckets {
		if bc[0] >= numBuckets {
			return fmt.Errorf("loadgen: histogram bucket %d out of range", bc[0])
		}
		n.counts[bc[0]] += bc[1]
		total += bc[1]
	}
	if total != j.N || (j.N > 0 && j.Min > j.Max) {
		return fmt.Errorf("loadgen: histogram counts add up to %d, not %d", total, j.N)
	}
	n.n, n.sum, n.min, n.max = j.N, j.Sum, j.Min, j.Max
	*h = n
	return nil
}
