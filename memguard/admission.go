package memguard

import (
	"strconv"
	"sync/atomic"
)

// DefaultMaxHandshakes is the cap on TLS handshakes in flight when none is configured.
//
// Handshakes in flight are rate × duration. One core completes about 5,000 full TLS 1.3
// handshakes a second (ECDSA P-256 + X25519, ~200 µs of server CPU), and a handshake lasts about
// one client round trip after the ClientHello, 50-300 ms on mobile networks: two cores at full
// speed with 200 ms RTT keep ~2,000 in flight. Each holds a parked goroutine and the handshake
// state (tens of KiB), so 2048 bounds that memory near 100 MiB while leaving the CPU, not the
// cap, as the limit in normal operation. A reconnect storm beyond it is refused with an alert,
// and the phones retry.
const DefaultMaxHandshakes = 2048

// Admission caps the number of TLS handshakes in flight.
//
// The zero Admission is ready to use with [DefaultMaxHandshakes]. An Admission must not be
// copied after first use.
//
// Concurrency: every method is safe to call from any goroutine and is lock-free.
type Admission struct {
	inFlight atomic.Int64
	max      atomic.Int64 // as given: 0 means DefaultMaxHandshakes, negative means no cap
}

// NewAdmission returns an Admission admitting at most max handshakes in flight.
// If zero, the default of [DefaultMaxHandshakes] is used.
// If negative, there is no cap: every TryAcquire succeeds, and InFlight still counts.
func NewAdmission(max int) *Admission {
	a := new(Admission)
	a.max.Store(int64(max))
	return a
}

// TryAcquire takes one slot if fewer than Max handshakes are in flight, and reports whether it
// did. A true result must be paired with exactly one [Admission.Release].
func (a *Admission) TryAcquire() bool {
	for {
		cur := a.inFlight.Load()
		if m := effMax(a.max.Load()); m >= 0 && cur >= m {
			return false
		}
		// CAS, not Add-then-check: an Add that overshoots and is undone would let a concurrent
		// TryAcquire see a full count and be refused for no reason, and a concurrent InFlight
		// read see more than Max.
		if a.inFlight.CompareAndSwap(cur, cur+1) {
			return true
		}
	}
}

// Release gives back a slot taken by TryAcquire. Releasing with none in flight means a Release
// without its TryAcquire (or a second Release): an invariant violation, which panics and leaves
// the count unchanged, so a recovered panic cannot let the count go negative and the cap drift
// upward.
func (a *Admission) Release() {
	for {
		cur := a.inFlight.Load()
		if cur <= 0 {
			panic("memguard: internal error: Release without TryAcquire (" + strconv.FormatInt(cur, 10) + " in flight)")
		}
		if a.inFlight.CompareAndSwap(cur, cur-1) {
			return
		}
	}
}

// SetMax changes the cap, with the same meaning of zero and negative as [NewAdmission]. It may
// be called while other goroutines acquire and release. Lowering it below [Admission.InFlight]
// cancels nothing: no new handshake is admitted until enough of those in flight end.
func (a *Admission) SetMax(n int) { a.max.Store(int64(n)) }

// Max returns the cap in force, or -1 if there is none.
func (a *Admission) Max() int { return int(effMax(a.max.Load())) }

// InFlight returns the number of slots taken now. Under concurrent use it is a snapshot.
func (a *Admission) InFlight() int { return int(a.inFlight.Load()) }

func effMax(raw int64) int64 {
	switch {
	case raw == 0:
		return DefaultMaxHandshakes
	case raw < 0:
		return -1
	}
	return raw
}
