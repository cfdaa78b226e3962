package loadgen

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Reason classifies why a connection failed. Each failed connection counts once, under the
// reason of its first error.
type Reason uint8

const (
	Dial      Reason = iota // TCP connect failed (refused, no route, out of ports)
	Handshake               // TLS handshake failed (certificate, alert, version)
	Write                   // writing to the connection failed
	Read                    // reading failed: reset, or EOF before the reply
	Mismatch                // the echo differed from what was sent
	Protocol                // unframeable reply, or a wrong answer (REGISTER not 200, unexpected request)
	Timeout                 // a step took longer than Options.Timeout
	Canceled                // the context ended while the connection was working
	numReasons
)

var reasonNames = [numReasons]string{"dial", "handshake", "write", "read", "mismatch", "protocol", "timeout", "canceled"}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// Report is the outcome of Run.
type Report struct {
	Target string
	TLS    bool
	Size   int // bytes per message

	Conns    int               // connections attempted
	OK       int               // connections that completed every step
	Failed   int               // connections that failed; see Failures
	Failures map[Reason]int    // failed connections by reason (only reasons that occurred)
	Errors   map[Reason]string // the first error seen for each reason, for diagnosis

	Handshakes   int // TLS handshakes completed (TCP connects when TLS is off)
	Resumed      int // of which resumed a session (Options.Resume)
	Registers    int // REGISTERs answered 200
	Messages     int // messages echoed and verified
	CoreRequests int // core-originated requests answered
	Pongs        int // keepalive pongs received

	Elapsed          time.Duration // wall time of the whole run
	Window           time.Duration // Options.Duration: start of the timed phase to its last message
	HandshakeLatency Histogram     // TCP connect through handshake end, per connection (and reconnect)
	Latency          Histogram     // per message: write start to last echo byte read

	// The storm (Options.Drop).
	Reconnects       int           // connections back after the drop
	Recovery         time.Duration // from the drop until the last connection was back
	ReconnectLatency Histogram     // per connection back: from the drop until its REGISTER was answered
}

// HandshakesPerSec is Handshakes over the whole run's Elapsed time. With Messages > 0 it includes
// the time spent on messages; run with Messages 0 for a handshake rate.
func (r *Report) HandshakesPerSec() float64 { return perSec(r.Handshakes, r.Elapsed) }

// MessagesPerSec is verified echoes over Window with Options.Duration (the messages of the
// ramp-up, Options.Messages, count too, which is a small error when there are few), otherwise
// over Elapsed.
func (r *Report) MessagesPerSec() float64 {
	if r.Window > 0 {
		return perSec(r.Messages, r.Window)
	}
	return perSec(r.Messages, r.Elapsed)
}

func perSec(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// String renders a short multi-line summary.
func (r *Report) String() string {
	var b strings.Builder
	proto := "TCP"
	if r.TLS {
		proto = "TLS"
	}
	fmt.Fprintf(&b, "%s %s: %d conns, %d ok, %d failed in %v\n", proto, r.Target, r.Conns, r.OK, r.Failed, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "handshakes: %d, %.0f/s; connect+handshake %s\n", r.Handshakes, r.HandshakesPerSec(), quantiles(&r.HandshakeLatency))
	if r.Resumed > 0 {
		fmt.Fprintf(&b, "resumed: %d, full: %d\n", r.Resumed, r.Handshakes-r.Resumed)
	}
	fmt.Fprintf(&b, "messages: %d x %d B, %.0f/s; round trip %s\n", r.Messages, r.Size, r.MessagesPerSec(), quantiles(&r.Latency))
	if r.Window > 0 {
		fmt.Fprintf(&b, "timed phase: %v\n", r.Window.Round(time.Millisecond))
	}
	if r.Reconnects > 0 {
		fmt.Fprintf(&b, "storm: %d back within %v; per connection %s\n", r.Reconnects, round(r.Recovery), quantiles(&r.ReconnectLatency))
	}
	if r.Registers > 0 || r.CoreRequests > 0 || r.Pongs > 0 {
		fmt.Fprintf(&b, "registers: %d, core requests answered: %d, pongs: %d\n", r.Registers, r.CoreRequests, r.Pongs)
	}
	for reason := range numReasons {
		if n := r.Failures[reason]; n > 0 {
			fmt.Fprintf(&b, "failed %s: %d (first: %s)\n", reason, n, r.Errors[reason])
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func quantiles(h *Histogram) string {
	if h.Count() == 0 {
		return "n/a"
	}
	return fmt.Sprintf("p50 %v p99 %v p999 %v max %v", round(h.Quantile(0.5)), round(h.Quantile(0.99)), round(h.Quantile(0.999)), round(h.Max()))
}

// round keeps three significant digits, enough for a summary.
func round(d time.Duration) time.Duration {
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit)
		}
	}
	return d.Round(time.Second)
}

// Progress counts a run as it goes. Pass one in Options.Progress to watch a run from another
// goroutine (for example to measure memory once every connection is held); fields are atomics.
type Progress struct {
	Started   atomic.Int64 // connections begun
	Connected atomic.Int64 // connections through their handshake
	Held      atomic.Int64 // connections holding now (Options.Hold)
	Done      atomic.Int64 // connections ended, ok or not
	Failed    atomic.Int64 // connections failed
	Messages  atomic.Int64 // messages verified
}
