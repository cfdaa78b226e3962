package loadgen

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

func TestHistogramBuckets(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	check := func(v uint64) {
		i := bucketOf(v)
		if i < 0 || i >= numBuckets {
			t.Fatalf("bucketOf(%d) = %d", v, i)
		}
		hi := highest(i)
		if hi < v || hi-v > v/subBuckets {
			t.Fatalf("v %d: bucket %d tops at %d", v, i, hi)
		}
		if i > 0 && highest(i-1) >= v {
			t.Fatalf("v %d also fits bucket %d", v, i-1)
		}
	}
	for v := range uint64(5000) {
		check(v)
	}
	for range 100000 {
		check(r.Uint64() >> r.IntN(64))
	}
	check(1<<64 - 1)
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.99) != 0 || h.Mean() != 0 || h.Count() != 0 {
		t.Fatal("empty histogram not zero")
	}
	// 1..100000 µs: the q-quantile is q*100000 µs, within the bucket precision.
	var a, b Histogram
	for i := 1; i <= 100000; i++ {
		d := time.Duration(i) * time.Microsecond
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	h.Merge(&a)
	h.Merge(&b)
	h.Merge(&Histogram{})
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
		want := time.Duration(q*100000) * time.Microsecond
		got := h.Quantile(q)
		if got < want || float64(got-want) > float64(want)/subBuckets {
			t.Errorf("Quantile(%v) = %v, want %v within 1/%d", q, got, want, subBuckets)
		}
	}
	if h.Count() != 100000 || h.Min() != time.Microsecond || h.Max() != 100*time.Millisecond {
		t.Errorf("count %d min %v max %v", h.Count(), h.Min(), h.Max())
	}
	if m := h.Mean(); m < 49*time.Millisecond || m > 51*time.Millisecond {
		t.Errorf("mean %v", m)
	}
	// Quantiles never exceed the largest value recorded; negative durations count as zero.
	var one Histogram
	one.Record(1000001)
	one.Record(-5)
	if got := one.Quantile(1); got != 1000001 {
		t.Errorf("Quantile(1) = %d", got)
	}
	if got := one.Quantile(0.5); got != 0 {
		t.Errorf("Quantile(0.5) = %d", got)
	}
}

func TestHistogramJSONRoundTrip(t *testing.T) {
	var h Histogram
	for _, d := range []time.Duration{0, 5, 31, 32, 1000, 1500, time.Millisecond, 3 * time.Second, 3 * time.Second} {
		h.Record(d)
	}
	b, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var back Histogram
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != h {
		t.Fatalf("round trip differs: %s", b)
	}
	var empty, emptyBack Histogram
	b, _ = json.Marshal(&empty)
	if err := json.Unmarshal(b, &emptyBack); err != nil || emptyBack != empty {
		t.Fatalf("empty: %s %v", b, err)
	}
	for _, bad := range []string{`{"n":1,"buckets":[[99999,1]]}`, `{"n":2,"buckets":[[3,1]]}`, `{"n":1,"min_ns":5,"max_ns":1,"buckets":[[3,1]]}`, `[]`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
