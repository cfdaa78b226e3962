// Package memguard decides whether the daemon can afford more work before it takes it on:
// refusing a new TLS handshake costs one alert record, while accepting one it cannot finish
// costs a parked goroutine, a tls.Conn and the handshake's buffers (tens of KiB) for as long as
// the peer takes to answer.
//
// # Handshake admission
//
// [Admission] caps the number of TLS handshakes in flight. The reactor calls
// [Admission.TryAcquire] when a whole ClientHello is buffered, before it starts the handshake
// goroutine, and [Admission.Release] exactly once when that handshake ends, however it ends
// (success, failure, timeout, close). On refusal it sends a TLS alert and closes, and counts the
// refusal; memguard returns decisions and never logs or counts drops itself.
//
// # Memory budget and low-memory thresholds
//
// Not implemented yet; a later issue adds them here. The plan, in Kamailio's names: a memory
// budget for the process, read from an injected sampler (runtime/metrics in production, a fake in
// tests) and two thresholds with hysteresis: below low_mem_threshold1 of free memory new TLS
// connections are refused; below low_mem_threshold2 operations on established connections start
// to fail. Their decisions will return a named reason, as Admission's refusals are meant to be
// counted.
//
// # Concurrency
//
// Every method of [Admission] is safe to call from any goroutine (the event loops, an admin RPC
// changing the cap) and never blocks: the state is two atomics and acquisition is a
// compare-and-swap against the cap read in the same attempt. Nothing in this package starts
// goroutines, reads the clock, does I/O or logs.
//
// # Usage
//
//	adm := memguard.NewAdmission(0) // 0: DefaultMaxHandshakes
//
//	// on the loop, once the ClientHello is complete:
//	if !adm.TryAcquire() {
//		conn.SendAlert(tlsconn.InternalError) // then close, and count "handshake_busy"
//		return
//	}
//	conn.StartHandshake()
//
//	// on the loop, when Poll reports the handshake done (or the connection dies first):
//	adm.Release()
//
// # Limitations
//
//   - Admission bounds concurrency, not rate: a client that completes handshakes quickly can still
//     start as many per second as the CPU allows. A rate limit (token bucket, with the caller
//     passing now) belongs here too and is not written yet.
//   - The cap is global, one number for every loop; it does not reserve room per loop or per
//     listener.
//   - Release must be called exactly once per successful TryAcquire; the package cannot tell which
//     connection holds a slot, only that the count would go negative (which panics).
package memguard
