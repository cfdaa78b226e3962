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
