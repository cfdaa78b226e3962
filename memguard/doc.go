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
// A [Guard] compares the process's memory with a budget and applies the Kamailio tls module's
// two low-memory thresholds to what is left, "free memory" = budget - in use:
//
//   - below low_mem_threshold1, new TLS connections are refused before any cryptographic work
//     ([Guard.RefuseHandshakes]; Kamailio: "attempts to open or accept new TLS connections will
//     start to fail");
//   - below low_mem_threshold2, established connections get no new queue memory
//     ([Guard.RefuseQueueGrowth]; Kamailio: "TLS operations on already established TLS
//     connections will start to fail preemptively").
//
// The budget defaults to the process's cgroup memory limit (v2 memory.max or memory.high, v1
// memory.limit_in_bytes, the smallest on the path to the root), or 90% of physical memory when
// there is none ([DefaultLimit]); [Guard.ApplyRuntimeLimit] makes it the Go runtime's soft
// memory limit as well. The thresholds keep Kamailio's special values, -1 for a default derived
// from the budget ([DefaultThresholds]: an eighth of it, capped at 1 GiB, and half that for
// threshold2) and 0 for off. Kamailio takes them in KiB of shared memory; here they are bytes
// of the budget, and the daemon's flags convert.
//
// In use is sampled by a [Sampler], at most every [DefaultMinInterval], when the reactor's
// ticker calls [Guard.Sample]; in production a [RuntimeSampler], which reads runtime/metrics
// and /proc/self/statm and counts what the garbage collector can reclaim as free (see its doc
// for why and what was measured). Each threshold has hysteresis: the low state begins below
// the threshold and ends at the threshold plus a quarter of it. The decisions are booleans,
// read with one atomic load on every connection; counting refusals (lowmem1, lowmem2) and
// logging transitions, which Sample reports, are the reactor's job.
//
// # Rates and per-source limits
//
// [RateLimiter] is a token bucket for the global handshake rate (-handshake-rate,
// -handshake-burst): Allow(now) at the ClientHello takes a token, and Wait(now) says exactly when
// the next appears. [Sources] applies limits per source (the client address cut to
// -per-source-prefix4/6, IPv4-mapped as IPv4): -per-source-conns open connections (Open at accept
// returns a *Source handle, Close it once at the end) and -per-source-rate handshakes a second
// (AllowHandshake at the ClientHello), in a table bounded by -per-source-table. Idle sources stay
// on a per-shard LRU list so reconnecting does not refill their bucket, and the least recently
// used is evicted when a new source needs room. Refusals carry a [Reason] whose String is the
// counter name.
//
// Concurrency of these two: RateLimiter may be used from any goroutine (one atomic load when
// unlimited, else a short mutex); Sources too (up to 64 shards keyed by a random hash, each a map
// and an LRU list under its own mutex, O(1) per decision; with both limits off, one atomic load
// and no map). Neither reads the clock: callers pass now.
//
// Their limitations: carrier-grade NAT puts many phones behind one IPv4 source, so size the
// limits for it (there is no allowlist of exempt prefixes yet); a shard full of sources with live
// connections refuses new sources (source_table_full) rather than forget a live count, so size
// -per-source-table above the distinct sources connected at once (~120 B each); changing a prefix
// or the table size resets the table, and connections open then are no longer counted.
//
// # Concurrency
//
// Every method of [Admission] is safe to call from any goroutine (the event loops, an admin RPC
// changing the cap) and never blocks: the state is two atomics and acquisition is a
// compare-and-swap against the cap read in the same attempt. A [Guard]'s decisions are atomic
// loads; its Sample, setters and State share a mutex that the decisions never take (see
// [Guard]). Nothing in this package starts goroutines, reads the clock or logs, and the only
// I/O is reading the process's own memory figures: [DefaultLimit] reads cgroup files and
// /proc/meminfo when the budget is derived, and [RuntimeSampler] reads /proc/self/statm at each
// sample.
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
//	// at start-up: budget and thresholds from flags (KiB for the thresholds, as Kamailio)
//	guard := memguard.NewGuard(memguard.GuardOptions{
//		Limit:      cfg.MemLimit,                  // 0: cgroup limit or 90% of RAM
//		Threshold1: cfg.LowMemThreshold1KiB * 1024, // -1 (any negative): derived; 0: off
//		Threshold2: cfg.LowMemThreshold2KiB * 1024,
//	})
//	guard.ApplyRuntimeLimit()
//
//	// on the ticker goroutine, every tick:
//	if guard.Sample(now) {
//		log(guard.State()) // a threshold was crossed
//	}
//
//	// on the loop, before a handshake starts (before TryAcquire: a refused one takes no slot):
//	if guard.RefuseHandshakes() {
//		conn.SendAlert(tlsconn.InternalError) // then close, and count "lowmem1"
//		return
//	}
//
//	// on the loop, before queueing bytes for an established connection:
//	if guard.RefuseQueueGrowth() {
//		// refuse as a full wq.Queue does: close, and count "lowmem2"
//	}
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
//   - The Guard sees memory a sample late (up to MinInterval), and [RuntimeSampler] sees memory
//     kept since the last GC only after the next one; the thresholds are a reserve for that lag,
//     not a cap. What caps memory is the runtime's (soft) limit and the queue limits of wq.
//   - In use counts the process, not the cgroup: kernel memory charged to a cgroup for the
//     process (socket buffers, page cache) is not in it, so with a tight cgroup limit a budget
//     somewhat below the limit (-mem-limit) leaves room for the kernel's share.
//   - The cgroup hierarchies are looked for at /sys/fs/cgroup, /sys/fs/cgroup/unified and
//     /sys/fs/cgroup/memory, where systemd, Docker and Kubernetes mount them; /proc/self/mountinfo
//     is not read, so a hierarchy mounted elsewhere is not seen and the budget falls back to 90%
//     of physical memory.
package memguard
