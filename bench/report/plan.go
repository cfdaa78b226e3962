package report

import "time"

// Plan is what one report run measures: scenario sizes and durations. Quick, Full and Tiny are
// the three the command offers; every count is bounded by the fd limit (see SpreadAbove).
type Plan struct {
	Name string // "quick", "full", "tiny": printed in the report's title

	// Handshakes new connections, HandshakeConcurrency at a time, close right after the
	// handshake; run once without and once with session resumption.
	Handshakes, HandshakeConcurrency int

	// Idle lists the idle-connection counts whose memory is measured, each by a fresh target.
	// Settle is how long after all are established the memory is sampled.
	Idle   []int
	Settle time.Duration

	// Echo lists the echo loads of the table, each run for EchoDuration.
	Echo         []EchoLoad
	EchoDuration time.Duration
	// Sweep lists further connection counts of 1 KiB echo, for the latency-against-load chart,
	// each run for SweepDuration.
	Sweep         []int
	SweepDuration time.Duration

	// Storm connections are established, dropped at once and re-established.
	Storm int

	// Stallers connections stall (half mid-handshake, half before sending anything) while
	// StallEcho connections echo 1 KiB messages for StallDuration (half of it without the
	// stallers, half with them).
	Stallers, StallEcho int
	StallDuration       time.Duration

	// Timeout bounds each step of a client (tlsbench -timeout).
	Timeout time.Duration

	// Rerun runs a step once more when other processes on the machine took more than a
	// tenth of a CPU during it, and keeps the quieter run.
	Rerun bool

	// SpreadAbove is the number of connections one tlsmux process is given at most; above it
	// the report starts several tlsmux processes on one port with SO_REUSEPORT. Zero means
	// what the fd limit allows (two fds per connection). Tests set it low to exercise the
	// spreading.
	SpreadAbove int
}

// EchoLoad is a number of connections each echoing messages of Size bytes, one at a time.
type EchoLoad struct {
	Conns, Size int
}

// Quick finishes in under three minutes on two cores: the memory figure at 1,000 connections
// only.
func Quick() Plan {
	return Plan{
		Name:       "quick",
		Handshakes: 3000, HandshakeConcurrency: 50,
		Idle: []int{1000}, Settle: time.Second,
		Echo:         []EchoLoad{{Conns: 1000, Size: 1024}, {Conns: 50, Size: 16 << 10}},
		EchoDuration: 5 * time.Second,
		Sweep:        []int{10, 100}, SweepDuration: 3 * time.Second,
		Storm:    1000,
		Stallers: 200, StallEcho: 50, StallDuration: 6 * time.Second,
		Timeout: 10 * time.Second,
		Rerun:   true,
	}
}

// Full finishes in under fifteen minutes on two cores.
func Full() Plan {
	return Plan{
		Name:       "full",
		Handshakes: 10000, HandshakeConcurrency: 50,
		Idle: []int{1000, 9000}, Settle: 2 * time.Second,
		Echo:         []EchoLoad{{Conns: 1000, Size: 1024}, {Conns: 50, Size: 16 << 10}},
		EchoDuration: 15 * time.Second,
		Sweep:        []int{10, 100, 300, 3000}, SweepDuration: 8 * time.Second,
		Storm:    9000,
		Stallers: 1000, StallEcho: 100, StallDuration: 20 * time.Second,
		Timeout: 20 * time.Second,
		Rerun:   true,
	}
}

// Tiny runs every scenario at a few connections for about a second each, with tlsmux spread
// over two processes: the report's smoke test, not a measurement.
func Tiny() Plan {
	return Plan{
		Name:       "tiny",
		Handshakes: 40, HandshakeConcurrency: 4,
		Idle: []int{20}, Settle: 100 * time.Millisecond,
		Echo:         []EchoLoad{{Conns: 20, Size: 1024}, {Conns: 4, Size: 16 << 10}},
		EchoDuration: time.Second,
		Sweep:        []int{5}, SweepDuration: time.Second,
		Storm:    20,
		Stallers: 6, StallEcho: 4, StallDuration: 2 * time.Second,
		Timeout:     10 * time.Second,
		SpreadAbove: 12,
	}
}
