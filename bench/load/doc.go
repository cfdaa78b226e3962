// Package load is tlsbench, the load generator that measures tlsmux (or any TLS server in
// front of a SIP core) as a black box from loopback: the logic behind bench/cmd/tlsbench, whose
// main only wires signals to Main. The clients are internal/loadgen's; this package adds the
// scenarios, the stallers, the spreading over processes and the result.
//
// # Usage
//
//	tlsbench backend [-listen 127.0.0.1:0] [-proxy-protocol] [-max-conns 19000]
//	tlsbench <scenario> -target 127.0.0.1:5061 (-ca FILE | -pin SHA256HEX | -insecure) [flags]
//
// Scenarios (N is -conns, C is -concurrency, S is -size, D is -duration):
//
//   - handshake: N new TCP+TLS connections, C workers, each closed right after its handshake.
//     -resume gives each worker a session cache: its first handshake is full, the others resume
//     (the server must issue tickets: tlsmux -session-cache). Reports handshakes/s, connect +
//     handshake latency, resumed and full counts.
//   - idle: N connections (handshake, REGISTER answered 200), made C at a time, then held with
//     an RFC 5626 CRLFCRLF keepalive every -keepalive, each expecting its CRLF pong. Prints
//     "READY n" when all are made, holds for D or until stdin closes, and reports the time to
//     establish, failures and the connections alive at the end.
//   - echo: N connections (C if only -concurrency is given) each send SIP MESSAGE requests of
//     exactly S bytes (valid start line, headers, Content-Length: sipmsg.AppendSized) one at a
//     time for D, after all are made, and compare every byte of each echo from the backend.
//     Reports messages/s, MB/s (message bytes sent, as many come back) and p50/p99/p999.
//   - storm: N connections held as in idle; "READY n"; at a "GO" line on stdin (or at once with
//     -auto, or after D without one) every connection is reset (TCP RST, as an outage looks to
//     the server) and every one reconnects at once. Reports recovery_s, the time until the
//     last one was back (handshake and REGISTER done).
//   - stall: an echo load of C connections for D/2, then M stallers (-conns; or -stallers, and
//     then -conns is the echo load) are started, half sending a ClientHello and then nothing
//     (stalled mid-handshake), half sending nothing; once all are connected the echo load runs
//     again for D/2. Reports both latencies. A staller the target closes is made anew.
//
// Every connection's steps are bounded by -timeout, every scenario by its counts and D (a hold
// or a wait for GO lasts at most D). Only loopback is allowed: -target and -listen must be in
// 127.0.0.0/8 (or ::1, localhost), -src in 127.0.0.0/8.
//
// # Processes and sources
//
// One process holds at most 20,000 file descriptors, so a run of more connections than
// PerProc (9,000) spreads them over child processes of the same executable (-procs P sets the
// number): each child runs the scenario on its share with -child, and the parent merges the
// results (counts and rates add up, times take the longest, latency histograms merge exactly).
// Above SpreadAbove (20,000) connections, sources are spread over 127.0.0.2-127.0.0.250 (-src
// sets the spread), since one source address has ~28,000 ephemeral ports.
//
// # Protocol
//
// stdout carries lines for the caller, stderr progress and diagnostics:
//
//	BACKEND 127.0.0.1:PORT     backend: listening
//	READY n                    idle, storm: all connections made, n of them open
//	{...}                      the Result, one line, last (with -json; a summary without)
//	progress: 4500/9000 established   (stderr, at most every second while it changes)
//
// stdin: a line "GO" starts the storm. The end of stdin ends idle's hold and the backend, but
// only when stdin is a pipe or socket (a terminal or /dev/null is not watched, so a run from a
// shell holds for D); for a storm the end of stdin counts as GO. SIGINT and SIGTERM end any run
// early, with the result so far.
//
// Between a parent and its children (-child k), children also print "READY n" at the end of
// each ramp-up of echo and stall (stall has two), wait for "GO" before measuring, print
// "PROGRESS label n total" instead of progress lines, and end when their stdin closes. Their
// result line carries the histograms ("hists").
//
// # Result
//
// With -json the last line of stdout is one JSON object; fields that do not apply to the
// scenario are left out, a zero that applies is printed:
//
//	{"scenario":"echo","conns":1000,"ok":1000,"failed":0,"failures":{},"mismatches":0,
//	 "elapsed_s":12.3,"handshakes":1000,"messages":123456,"messages_per_s":10000.0,
//	 "mb_per_s":10.2,"latency_us":{"p50":800,"p99":5000,"p999":9000,"max":12000},
//	 "handshake_latency_us":{...},"established_s":3.2,"procs":1}
//
// always: scenario, conns, ok, failed, failures (by reason: dial, handshake, write, read,
// mismatch, protocol, timeout, canceled), errors (first error per reason, when any),
// mismatches, elapsed_s, procs. handshake adds handshakes, resumed, handshakes_per_s,
// handshake_latency_us; idle adds handshakes, resumed, handshake_latency_us, alive,
// established_s, pongs; echo adds handshakes, messages, messages_per_s, mb_per_s, latency_us,
// handshake_latency_us, established_s; storm adds handshakes (the reconnects' too), resumed,
// handshake_latency_us, alive (connections back), established_s, recovery_s,
// reconnect_latency_us, pongs; stall adds messages, messages_per_s, mb_per_s, latency_us (with
// the stallers), baseline_latency_us and baseline_messages_per_s (without), stallers,
// staller_closes, staller_failures, and its conns, ok and failed cover both phases' echo
// connections. Latencies are whole microseconds {p50, p99, p999, max}, left out when nothing
// was measured.
//
// Exit status: 0 when a result was printed (look at its failures), 1 when the run could not be
// made (a file, a child process, the backend's address), 2 for bad flags.
//
// # Concurrency
//
// Main may run several times at once in one process (tests do), each with its own Stdio.
// Config and Result are plain values for one goroutine at a time.
//
// # Limitations
//
//   - The clients offer X25519 and P-256 only (what phones offer); TLS 1.3 and 1.2 as the
//     server chooses. No client certificates.
//   - A storm reconnects each connection once; one that fails counts as failed (phones retry).
//   - Stallers reuse one ClientHello; the target does a full handshake's work for each, as for
//     distinct ones, but a server that remembered hellos would see duplicates.
//   - With -procs, the children's echo windows are started together by GO but end each on its
//     own clock; rates are summed over children, which is exact only while the windows overlap.
//   - Generator and target share the machine: their CPU use competes (the report pins them to
//     different cores when it can).
package load
