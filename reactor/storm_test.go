package reactor_test

import (
	"context"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/internal/loadgen"
	"github.com/tlsmux/tlsmux/reactor"
)

// TestStorm: thousands of phones connect at once (the reconnect storm after an outage) into a
// tlsmux that admits 64 handshakes at a time. Every connection either completes (handshake,
// REGISTER) or is refused with a counted reason within its timeouts; nothing is stuck when the
// storm has passed (no handshake in flight, nobody waiting, and the leak check of TestMain finds
// no goroutine left). The heap high-water mark is reported.
func TestStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("a storm of thousands of connections: not with -short")
	}
	n := 5000 // waiting: 2 descriptors each here (client, tlsmux); completed ones close
	if raceEnabled {
		n = 1500
	}
	e := start(t, setup{opts: func(o *reactor.Options) {
		o.MaxHandshakes = 64
		o.HelloTimeout = 20 * time.Second
		o.HandshakeTimeout = 20 * time.Second
		o.DialTimeout = 20 * time.Second
	}})
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // heap high-water mark, sampled as the storm runs
		defer close(sampled)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := loadgen.Run(ctx, loadgen.Options{
		Target: e.addr, TLS: e.client,
		Conns: n, Concurrency: n, // all at once
		Timeout: 60 * time.Second,
	})
	close(stop)
	<-sampled
	require.NoError(t, err)
	st := e.srv.Stats()
	refused := uint64(0)
	for _, r := range []string{"handshake_busy", "handshake_rate", "wait_shed", "hello_timeout", "handshake_timeout", "lowmem1", "max_connections"} {
		refused += st.Closed[r]
	}
	t.Logf("storm of %d: %d completed, %d failed (%v), tlsmux closes %v, heap high-water %.1f MiB",
		n, rep.OK, rep.Failed, rep.Failures, st.Closed, float64(peak.Load())/(1<<20))
	assert.Equal(t, n, rep.OK+rep.Failed, "every connection has an outcome")
	assert.LessOrEqual(t, uint64(rep.Failed), refused, "every failure is a refusal tlsmux counted")
	assert.Positive(t, rep.OK, "the storm is absorbed, not amplified: connections complete")
	waitFor(t, "the storm to pass", func() bool {
		st := e.srv.Stats()
		return st.Open == 0 && st.HandshakesInFlight == 0 && st.Waiting == 0
	})
}
