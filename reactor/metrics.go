package reactor

import (
	"sync/atomic"
	"time"
)

// LatencyBounds are the upper bounds, in seconds, of the latency histograms (handshake, backend
// dial): a full TLS 1.3 handshake costs ~0.2 ms of CPU and a phone's round trip 10-300 ms.
var LatencyBounds = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// histogram counts observations in fixed buckets; safe from any goroutine (atomics).
type histogram struct {
	counts [len(LatencyBounds) + 1]atomic.Uint64
	sumNs  atomic.Uint64
}

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(LatencyBounds) && s > LatencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNs.Add(uint64(max(d, 0)))
}

// Histogram is a snapshot: Counts[i] counts observations in (LatencyBounds[i-1],
// LatencyBounds[i]], the last one those above the last bound; Sum is in seconds.
type Histogram struct {
	Counts [len(LatencyBounds) + 1]uint64
	Sum    float64
}

func (h *histogram) snapshot() Histogram {
	var out Histogram
	for i := range h.counts {
		out.Counts[i] = h.counts[i].Load()
	}
	out.Sum = time.Duration(h.sumNs.Load()).Seconds()
	return out
}

// HandshakeKey is one kind of completed handshake; there are a handful (versions × suites).
type HandshakeKey struct {
	Version uint16
	Cipher  uint16
	Resumed bool
}

// Metrics are what /metrics shows beyond Stats: they need a walk of every loop.
type Metrics struct {
	ConnsByPhase     map[string]int64 // open client connections by phase
	Handshakes       map[HandshakeKey]uint64
	HandshakeLatency Histogram // from a whole ClientHello (admitted) to the end of the handshake
	DialLatency      Histogram // successful backend dials
}

// Metrics walks the loops (on their goroutines) for the connection states and per-loop counts.
// Safe from any goroutine; costs O(open connections), for a scrape, not a hot path.
func (s *Server) Metrics() Metrics {
	m := Metrics{ConnsByPhase: map[string]int64{}, Handshakes: map[HandshakeKey]uint64{}}
	type part struct {
		phases [phaseClosed + 1]int64
		hs     map[HandshakeKey]uint64
	}
	parts := perLoop(s, func(l *loop) part {
		p := part{hs: make(map[HandshakeKey]uint64, len(l.handshakes))}
		for c := l.head.next; c != &l.head; c = c.next {
			p.phases[c.phase]++
		}
		for k, v := range l.handshakes {
			p.hs[k] = v
		}
		return p
	})
	for _, p := range parts {
		for ph, n := range p.phases {
			if n > 0 {
				m.ConnsByPhase[phase(ph).String()] += n
			}
		}
		for k, v := range p.hs {
			m.Handshakes[k] += v
		}
	}
	m.HandshakeLatency = s.hsLatency.snapshot()
	m.DialLatency = s.dialLatency.snapshot()
	return m
}
