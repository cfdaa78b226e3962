// Package loadgen drives many SIP-over-TLS clients at an address and reports what happened: the
// load side of `tlsmux demo`, of integration tests and of benchmarks.
//
// Run makes Options.Conns connections, Options.Concurrency at a time. Each one: TCP connect
// (optionally from one of Options.LocalAddrs), TLS handshake with the caller's *tls.Config (nil
// for plain TCP), a REGISTER that must be answered 200, then Options.Messages messages of exactly
// Options.Size bytes (a valid MESSAGE request built by sipmsg.AppendSized), sent one at a time,
// each compared byte for byte with its echo from the core (sipcore echoes). OPTIONS requests from
// the core are answered 200 OK whenever they arrive (RFC 3261 §18.2.2 connection reuse). With
// Options.Hold, the connection then stays open, pinging with RFC 5626 CRLF keepalives if
// Options.KeepAlive is set. Every wait is bounded by Options.Timeout and by the context.
//
// Three modes serve the benchmarks in bench/: Options.Resume keeps a TLS session cache per
// worker, so handshakes after a worker's first resume the session; Options.Duration makes a
// timed echo, every connection sending at once for a fixed window after the ramp-up (optionally
// started by Options.Start, to line up several processes); Options.Drop, with Hold, is the
// reconnect storm: every held connection reset at once and remade at once. Options.OnReady
// marks the end of the ramp-up.
//
// The Report counts connections ok and failed, failures by Reason (dial, handshake, write, read,
// mismatch, protocol, timeout, canceled) with the first error of each, handshakes/s, messages/s,
// and latency quantiles from a small log-bucket Histogram (HdrHistogram's layout, ~3% precision).
//
// Scenarios are compositions of the steps: the default is register+echo; Messages 0 with Hold is
// an idle-connections run ("hold N connections"); SkipRegister with Messages 0 is a bare
// handshake run; Duration is a timed echo; Hold with Drop is a storm. A new scenario is a new
// step in client.exchange, client.hold or client.timed, selected by an Options field.
//
// # Concurrency
//
// Run may be called from several goroutines at once with different Options; it returns when
// every goroutine it started has returned. Options.Progress is updated atomically while it runs
// and may be read from any goroutine. A Report belongs to the caller; a Histogram is for one
// goroutine at a time.
//
// # Usage
//
//	rep, err := loadgen.Run(ctx, loadgen.Options{
//		Target: "127.0.0.1:5061", TLS: &tls.Config{RootCAs: pool},
//		Conns: 300, Concurrency: 50, Messages: 20, Size: 1024,
//	})
//	if err != nil { ... } // bad Options, or ctx ended (rep is then partial)
//	fmt.Println(rep)
//
// # Limitations
//
//   - One goroutine per working connection and one per held connection: fine for thousands of
//     connections, not the tool for a million.
//   - Messages are pipelined one at a time (send, wait for the echo); there is no windowed mode.
//   - The core must echo: a core that answers MESSAGE with a response instead (Kamailio, Asterisk)
//     fails with Mismatch. Run with Messages 0 against a real core.
//   - Rates are over the whole run's wall time, including ramp-up and ramp-down, except the
//     message rate of a timed echo (Options.Duration), which is over its window.
//   - A storm makes one reconnect attempt per connection (the kernel's SYN retransmissions
//     included): a connection that fails it counts as failed, it does not retry as a phone would.
//   - Messages larger than sipmsg.DefaultMax need a core configured for them.
package loadgen
