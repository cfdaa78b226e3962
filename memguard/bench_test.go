package memguard

import "testing"

// BenchmarkAdmission: acquire and release one slot, alone and with every P contending on the
// same counter (every loop admitting handshakes at once).
func BenchmarkAdmission(b *testing.B) {
	b.Run("uncontended", func(b *testing.B) {
		a := NewAdmission(0)
		b.ReportAllocs()
		for b.Loop() {
			if a.TryAcquire() {
				a.Release()
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		a := NewAdmission(-1)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if a.TryAcquire() {
					a.Release()
				}
			}
		})
	})
}

// BenchmarkRateLimiter: one Allow per ClientHello, alone and from every P at once. Limited at
// 1e6/s with now moving 1 µs an op, about every uncontended call is admitted; in parallel each
// goroutine has its own clock, so the offered rate is P times the limit. admitted/op shows it.
func BenchmarkRateLimiter(b *testing.B) {
	for _, bc := range []struct {
		name string
		rate float64
	}{{"unlimited", 0}, {"limited", 1e6}} {
		b.Run(bc.name+"/uncontended", func(b *testing.B) {
			r := NewRateLimiter(bc.rate, 1000)
			b.ReportAllocs()
			i, admitted := 0, 0
			for b.Loop() {
				if r.Allow(usAfter(i)) {
					admitted++
				}
				i++
			}
			b.ReportMetric(float64(admitted)/float64(i), "admitted/op")
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			r := NewRateLimiter(bc.rate, 1000)
			var ops, admitted benchCounter
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i, n := 0, 0
				for pb.Next() {
					if r.Allow(usAfter(i)) {
						n++
					}
					i++
				}
				ops.Add(int64(i))
				admitted.Add(int64(n))
			})
			b.ReportMetric(float64(admitted.Load())/float64(ops.Load()), "admitted/op")
		})
	}
}

// BenchmarkSourcesConn: what per-source limits cost one connection: Open at accept,
// AllowHandshake at the ClientHello, Close. "off" is the default configuration (no map touched);
// "same-source" puts every goroutine on one source and so one shard lock (the worst case);
// "spread" gives each goroutine its own sources, as many clients do.
func BenchmarkSourcesConn(b *testing.B) {
	on := SourceLimits{Conns: 1 << 30, Rate: 1e9, Burst: MaxBurst}
	conn := func(s *Sources, addrIndex, i int) {
		src, r := s.Open(v4(addrIndex))
		if r != 0 {
			panic(r)
		}
		s.AllowHandshake(src, usAfter(i))
		s.Close(src)
	}
	for _, bc := range []struct {
		name   string
		limits SourceLimits
	}{{"off", SourceLimits{}}, {"on", on}} {
		b.Run(bc.name+"/uncontended", func(b *testing.B) {
			s := NewSources(bc.limits)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				conn(s, 1, i)
				i++
			}
		})
		b.Run(bc.name+"/parallel/same-source", func(b *testing.B) {
			s := NewSources(bc.limits)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for i := 0; pb.Next(); i++ {
					conn(s, 1, i)
				}
			})
		})
		b.Run(bc.name+"/parallel/spread", func(b *testing.B) {
			s := NewSources(bc.limits)
			var g benchCounter
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				base := int(g.Add(1)) << 12 // 4096 sources of its own per goroutine
				for i := 0; pb.Next(); i++ {
					conn(s, base+i%4096, i)
				}
			})
		})
	}
}

// BenchmarkSourcesChurn: every connection from a new source in a full table of idle sources
// (a scan from many addresses): each Open evicts the least recently used source and allocates
// the new one. Also reports the table's memory when full, in B/source.
func BenchmarkSourcesChurn(b *testing.B) {
	before := heapBytes()
	s := NewSources(SourceLimits{Conns: 1, Table: DefaultSourceTable})
	for i := range DefaultSourceTable {
		src, _ := s.Open(v4(i))
		s.Close(src)
	}
	perSource := float64(heapBytes()-before) / DefaultSourceTable
	b.ReportAllocs()
	i := DefaultSourceTable
	for b.Loop() {
		src, r := s.Open(v4(i % (1 << 24)))
		if r != 0 {
			b.Fatal(r)
		}
		s.Close(src)
		i++
	}
	st := s.Stats()
	if st.Sources != DefaultSourceTable {
		b.Fatalf("%d sources tracked, want %d", st.Sources, DefaultSourceTable)
	}
	b.ReportMetric(float64(st.Evictions)/float64(i-DefaultSourceTable), "evictions/op")
	b.ReportMetric(perSource, "B/source")
}
