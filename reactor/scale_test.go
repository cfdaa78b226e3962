package reactor_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/internal/loadgen"
	"github.com/tlsmux/tlsmux/reactor"
)

// TestScale: 2,000 TLS connections open at once, each registering and echoing messages through
// tlsmux (loadgen verifies every echo byte for byte) and pinging while all are open; then all
// close and nothing stays open. The process holds 4 fds per connection (client, tlsmux's two
// sides, the core's side): 8,000 of the 20,000 allowed.
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 connections: not with -short")
	}
	const (
		n        = 2000
		messages = 3
	)
	// Timeouts generous enough for a starved machine (go test ./... runs packages side by
	// side): this test is about holding many connections, not about deadlines.
	e := start(t, setup{opts: func(o *reactor.Options) {
		o.HelloTimeout = time.Minute
		o.HandshakeTimeout = time.Minute
		o.DialTimeout = time.Minute
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	allOpen := make(chan struct{})
	var once sync.Once
	type result struct {
		rep *loadgen.Report
		err error
	}
	res := make(chan result, 1)
	var progress loadgen.Progress
	t0 := time.Now()
	go func() {
		rep, err := loadgen.Run(ctx, loadgen.Options{
			Target: e.addr, TLS: e.client,
			Conns: n, Concurrency: 200,
			Messages: messages, Size: 1024,
			Hold:      10 * time.Minute, // until cancelled
			KeepAlive: time.Second,
			Timeout:   time.Minute,
			Progress:  &progress,
			OnHold: func(held int) {
				if held == n {
					once.Do(func() { close(allOpen) })
				}
			},
		})
		res <- result{rep, err}
	}()
	// Wait for all to be open; after a failure they never will be, so stop there.
	poll := time.NewTicker(50 * time.Millisecond) // polling a counter
	defer poll.Stop()
	giveUp := time.After(5 * time.Minute)
	for open := false; !open; {
		select {
		case <-allOpen:
			open = true
		case <-poll.C:
			if progress.Failed.Load() > 0 {
				cancel()
				r := <-res
				t.Fatalf("a connection failed before all were open: %v", r.rep)
			}
		case <-giveUp:
			cancel()
			r := <-res
			t.Fatalf("not all connections opened: %v", r.rep)
		}
	}
	opened := time.Since(t0)
	assert.EqualValues(t, n, e.srv.Stats().Open, "tlsmux holds every connection")
	assert.EqualValues(t, n, e.core.Stats().Active, "the core holds every backend connection")
	// Traffic while all are open: the keepalives reach the core and come back.
	pings := e.core.Stats().Pings
	waitFor(t, "keepalives while all connections are open", func() bool { return e.core.Stats().Pings >= pings+n })

	cancel() // ends the holds
	r := <-res
	require.ErrorIs(t, r.err, context.Canceled)
	rep := r.rep
	assert.Equal(t, n, rep.OK, "connections ok: %v", rep)
	assert.Zero(t, rep.Failed, "failures: %v", rep.Errors)
	assert.Equal(t, n, rep.Registers)
	assert.Equal(t, n*messages, rep.Messages, "messages echoed and verified byte for byte")
	assert.Positive(t, rep.Pongs)
	waitFor(t, "every connection to close", func() bool { return e.srv.Stats().Open == 0 })
	st := e.srv.Stats()
	assert.Equal(t, map[string]uint64{"client_closed": n}, st.Closed)
	// A pong on its way back when its phone hung up has nowhere to go.
	for r, b := range st.DroppedBytes {
		assert.Equal(t, "client_closed", r)
		assert.LessOrEqual(t, b, uint64(2*n), "no more than one CRLF pong per connection")
	}
	assert.EqualValues(t, n, st.Handshakes)
	t.Logf("%d connections open after %v; %d handshakes/s; handshake p50 %v p99 %v; whole test %v",
		n, opened.Round(time.Millisecond), int(float64(n)/opened.Seconds()),
		rep.HandshakeLatency.Quantile(0.5), rep.HandshakeLatency.Quantile(0.99), time.Since(t0).Round(time.Millisecond))
}

// TestMaxConnections: over MaxConnections a connection is closed at accept and counted; the
// connections already open keep working, and a slot freed is a slot usable again.
func TestMaxConnections(t *testing.T) {
	const limit = 3
	e := start(t, setup{opts: func(o *reactor.Options) { o.MaxConnections = limit }})
	var open []*tls.Conn
	for i := range limit {
		c, err := e.dial(nil)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, echo(c, sipMessage(t, i, 500)))
		open = append(open, c)
	}
	before := e.srv.Stats()
	_, err := e.dial(nil)
	require.Error(t, err, "the connection over the limit is refused")
	e.waitClosed(t, before, "max_connections")
	assert.Contains(t, e.logs.String(), "reason=max_connections")
	assert.EqualValues(t, limit, e.srv.Stats().Open)
	for i, c := range open {
		require.NoError(t, echo(c, sipMessage(t, 10+i, 500)), "open connections keep working")
	}
	require.NoError(t, open[0].Close())
	waitFor(t, "a slot to free", func() bool { return e.srv.Stats().Open == limit-1 })
	c, err := e.dial(nil)
	require.NoError(t, err, "a freed slot is usable")
	defer c.Close()
	require.NoError(t, echo(c, sipMessage(t, 20, 500)))
	assert.EqualValues(t, 1, e.srv.Stats().Closed["max_connections"])
}

// TestMaxHandshakes: with one handshake slot and clients that stall their handshakes, later
// hellos wait for the slot (Stats().Waiting), and a good client queued behind them completes
// once the stalled ones have timed out. With one loop the queue is FIFO, so the good client goes
// last; with two, a slot freed on one loop reaches the other's waiters at its next tick.
func TestMaxHandshakes(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run(fmt.Sprintf("loops=%d", loops), func(t *testing.T) {
			const stalled = 3
			e := start(t, setup{opts: func(o *reactor.Options) {
				o.Loops = loops
				o.MaxHandshakes = 1
				o.HandshakeTimeout = 500 * time.Millisecond
				o.HelloTimeout = 10 * time.Second
			}})
			hello := clientHello(t, e.client)
			maxInFlight := 0
			sample := func() reactor.Stats {
				st := e.srv.Stats()
				maxInFlight = max(maxInFlight, st.HandshakesInFlight)
				return st
			}
			for i := range stalled {
				c := dialRaw(t, e.addr)
				_, err := c.Write(hello)
				require.NoError(t, err)
				if i == 0 {
					waitFor(t, "the first handshake to hold the slot", func() bool { return sample().HandshakesInFlight == 1 })
				}
			}
			waitFor(t, "hellos waiting for the slot", func() bool { return sample().Waiting > 0 })

			c, err := e.dial(nil) // blocks while it waits for the slot
			require.NoError(t, err, "a good client completes once the stalled handshakes time out")
			defer c.Close()
			timedOut := sample().Closed["handshake_timeout"]
			if loops == 1 {
				assert.EqualValues(t, stalled, timedOut, "FIFO: the good client went after every stalled one")
			} else {
				assert.Positive(t, timedOut, "a stalled handshake freed the slot")
			}
			require.NoError(t, echo(c, sipMessage(t, 1, 500)))
			waitFor(t, "every stalled handshake to time out", func() bool {
				return sample().Closed["handshake_timeout"] == stalled
			})
			st := sample()
			assert.Zero(t, st.Waiting)
			assert.Equal(t, 1, maxInFlight, "never more than MaxHandshakes in flight")
			assert.EqualValues(t, 1, st.Handshakes)
		})
	}
}
