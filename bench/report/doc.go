// Package report measures tlsmux against a baseline on one machine and writes the comparison:
// the orchestration behind `go run ./bench/cmd/report`.
//
// Run builds tlsmux (./cmd/tlsmux), the load generator (./bench/cmd/tlsbench) and the
// baseline proxy (./bench/cmd/baseline, package bench/baseline) from the tree, writes a test
// PKI, starts `tlsbench backend` (the demo SIP core, echoing), and then, for every scenario,
// starts a fresh target process, drives it with `tlsbench <scenario> -json`, reads the target's
// CPU time (utime+stime, /proc/PID/stat) and memory (VmRSS, VmHWM, /proc/PID/status) around
// the load, stops it with SIGTERM and checks that it exited 0. Each scenario runs against
// tlsmux and then the baseline before the next begins, so drift in the machine hits both.
// When taskset exists and two CPUs are allowed, targets run on the first, the generator and
// the backend on the second; otherwise the report says "not pinned".
//
// The scenarios (sizes from a Plan: Quick, Full, or Tiny for the smoke test):
//
//   - handshake: new connections that close after the handshake; server CPU per handshake.
//   - resume: the same with a session cache per client worker; CPU per resumed handshake.
//   - idle N: N connections held open; RSS growth per connection, sampled as they come up.
//   - echo: N connections echoing S-byte SIP messages one at a time; messages per target
//     CPU-second (the connections' handshakes taken out) and p99 round trip.
//   - sweep: more 1 KiB echo loads, for the chart of latency against load.
//   - storm: N connections dropped at once and re-established; recovery time, memory peak.
//   - stall: clients that stall their handshakes while an echo load runs; p99 with and without.
//
// Usage:
//
//	rep, err := report.Run(ctx, report.Options{Plan: report.Quick(), Progress: os.Stderr})
//	if err != nil { ... } // could not build or start; a failed scenario is in rep instead
//	fmt.Print(rep.Markdown())
//	err = rep.WriteFiles(dir) // report.md, memory.svg, latency.svg
//
// When one tlsmux process cannot hold a scenario's connections under the fd limit (two fds per
// connection, at most 20,000 per process), Run starts several on one port with -reuse-port,
// sums their CPU and memory, and says so in the report.
//
// # Concurrency
//
// Run is called from one goroutine and returns after every process it started has exited and
// every goroutine it started has returned. A Report is plain data.
//
// # Limitations
//
//   - Linux only: it reads /proc, and USER_HZ is taken to be 100 (10 ms CPU ticks), so a
//     scenario must burn well over a second of target CPU for a precise per-operation figure.
//   - One machine, loopback: the generator and the backend share a CPU, so absolute rates are
//     the generator's as much as the target's; the per-CPU-second figures and the ratios are
//     what the report is for.
//   - RSS per connection includes the garbage collector's headroom at the moment of sampling;
//     it is not the live heap.
//   - Summed VmHWM of several processes overstates a peak reached at different moments.
package report
