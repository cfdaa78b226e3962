package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultConcurrency = 50
	DefaultSize        = 1024
	DefaultTimeout     = 10 * time.Second
)

// Options configures Run. Zero values mean the documented defaults.
type Options struct {
	// Target is the address to connect to, host:port.
	Target string
	// TLS is the client configuration; nil means plain TCP (tests against sipcore directly).
	// ServerName defaults to Target's host. Run does not modify it.
	TLS *tls.Config
	// Conns is the number of connections to make, one after another as slots free up. Zero means 1.
	Conns int
	// Concurrency bounds connections working at once (dialing, handshaking, exchanging
	// messages). Held connections do not take a slot. Zero means DefaultConcurrency, capped at Conns.
	Concurrency int
	// Messages is how many messages each connection sends after its REGISTER, one at a time,
	// each verified against its echo.
	Messages int
	// Size is each message's size in bytes, whole SIP message included. Zero means DefaultSize;
	// it must be at least the size of the headers (about 250 bytes).
	Size int
	// SkipRegister skips the REGISTER that otherwise opens each connection's exchange.
	// With Messages 0 and no Hold, a connection is then a bare handshake.
	SkipRegister bool
	// LocalAddrs are source addresses to bind, used in turn (127.0.0.x spreading to get past the
	// ~28k ephemeral ports of one source address). Empty lets the system choose.
	LocalAddrs []netip.Addr
	// Timeout bounds each step: the connect and handshake, one message's round trip, a pong's
	// arrival. Zero means DefaultTimeout.
	Timeout time.Duration
	// Hold keeps each connection open this long after its messages, answering the core's requests.
	// Zero closes at once. A held connection gives its concurrency slot to the next one, so
	// Conns connections can be open together; ending the context ends holds early without
	// counting them as failures.
	Hold time.Duration
	// KeepAlive sends an RFC 5626 §4.4.1 "\r\n\r\n" ping this often while holding, and expects
	// the "\r\n" pong within Timeout. Zero sends none.
	KeepAlive time.Duration
	// Progress, if set, is updated as the run goes.
	Progress *Progress
	// OnHold, if set, is called each time a connection starts holding, with the number of
	// connections holding at that moment (so OnHold(Conns) means all are open at once: the time
	// to measure memory per connection). After a Drop, connections start holding again once they
	// are back. It runs on the connection's goroutine and must not block.
	OnHold func(held int)

	// Resume gives each worker a TLS session cache of its own (tls.NewLRUClientSessionCache), so
	// that a worker's first handshake is full and the following ones resume the session (RFC 8446
	// §2.2; RFC 5077 with TLS 1.2) when the server issues tickets. A ClientSessionCache set in TLS
	// is used instead, shared by every connection, with or without Resume. Report.Resumed counts
	// resumed handshakes. A TLS 1.3 server sends its ticket after the handshake (§4.6.1) and a
	// bare handshake (SkipRegister, no Messages, Hold or Duration) reads nothing afterwards, so
	// after a full one it waits up to a second (or Timeout) for the ticket; a worker that once gets
	// none stops waiting.
	Resume bool
	// Duration, if positive, makes the run a timed echo: once every connection has finished its
	// handshake, REGISTER and Messages (the ramp-up), all of them send messages one at a time for
	// Duration, each verified like the others. A connection in its timed phase gives its
	// concurrency slot to the next one, as a held one does, so Concurrency only bounds the
	// ramp-up. Report.Window is the timed phase, and the message rate is over it. Not with Hold.
	Duration time.Duration
	// Start, with Duration, holds the timed phase back until it is closed, so that several runs
	// (in several processes) measure the same window. Nil starts at the end of the ramp-up. The
	// run waits for it until ctx ends.
	Start <-chan struct{}
	// OnReady, if set, is called once at the end of the ramp-up, when every connection has
	// either failed or finished its handshake, REGISTER and Messages and is holding (Hold) or
	// waiting for the timed phase (Duration), with the number open then. It is not called when
	// ctx ends first, nor without Hold or Duration. It runs on a connection's goroutine and must
	// not block.
	OnReady func(open int)
	// Drop, with Hold, is the reconnect storm after an outage. When it is closed, every held
	// connection is closed at once with a TCP RST (SO_LINGER 0, as a crashed peer or a NAT that
	// forgot the flow looks to the server) and at once makes a new one: connect, handshake,
	// REGISTER, Messages, one attempt each. Connections back hold again until every dropped
	// connection is back or has failed, then end, and Run returns. Report.Reconnects, Recovery
	// and ReconnectLatency describe the storm.
	Drop <-chan struct{}
}

func (o Options) withDefaults() (Options, error) {
	if o.Target == "" {
		return o, errors.New("loadgen: no Target")
	}
	if o.Conns <= 0 {
		o.Conns = 1
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	o.Concurrency = min(o.Concurrency, o.Conns)
	if o.Size <= 0 {
		o.Size = DefaultSize
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Messages < 0 || o.Hold < 0 || o.KeepAlive < 0 || o.Duration < 0 {
		return o, errors.New("loadgen: negative Messages, Hold, KeepAlive or Duration")
	}
	switch {
	case o.Duration > 0 && o.Hold > 0:
		return o, errors.New("loadgen: Duration and Hold together")
	case o.Start != nil && o.Duration == 0:
		return o, errors.New("loadgen: Start without Duration")
	case o.Drop != nil && o.Hold == 0:
		return o, errors.New("loadgen: Drop without Hold")
	}
	if o.Messages > 0 || o.Duration > 0 {
		if _, err := appendMessage(nil, o.Conns-1, math.MaxUint32, o.Size, o.TLS != nil); err != nil {
			return o, fmt.Errorf("loadgen: Size %d: %w", o.Size, err)
		}
	}
	if o.TLS != nil {
		o.TLS = o.TLS.Clone()
		if o.TLS.ServerName == "" {
			host, _, err := net.SplitHostPort(o.Target)
			if err != nil {
				return o, fmt.Errorf("loadgen: Target: %w", err)
			}
			o.TLS.ServerName = host
		}
	}
	if o.Progress == nil {
		o.Progress = new(Progress)
	}
	return o, nil
}

// Run makes o.Conns connections to o.Target, o.Concurrency at a time, and returns what happened.
// Each connection: TCP connect, TLS handshake (unless o.TLS is nil), REGISTER (expects 200),
// o.Messages messages of o.Size bytes each sent one at a time and compared byte for byte with
// their echo, then an optional hold (o.Hold, o.Drop) or timed echo (o.Duration). Requests the
// core sends on the connection are answered 200 OK at any point.
//
// Run returns when every connection has ended. If ctx ends first, connections not yet started are
// not made, working ones fail as Canceled, held ones close normally, and Run returns the partial
// Report with ctx's error. Invalid Options give a nil Report and an error.
func Run(ctx context.Context, o Options) (*Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, ready: make(chan struct{}), rep: &Report{
		Target: o.Target, TLS: o.TLS != nil, Size: o.Size,
		Failures: map[Reason]int{}, Errors: map[Reason]string{},
	}}
	if o.Drop != nil {
		var endDrop context.CancelFunc
		r.dropCtx, endDrop = context.WithCancel(ctx)
		r.backCtx, r.back = context.WithCancel(ctx)
		var watcher sync.WaitGroup
		watcher.Go(func() {
			select {
			case <-o.Drop:
				r.dropAt = time.Now() // published by the cancel below
				r.dropped.Store(true)
				endDrop()
			case <-r.dropCtx.Done(): // ctx ended, or the run did
			}
		})
		defer func() {
			endDrop() // ends the watcher if Drop never closed
			r.back()
			watcher.Wait()
		}()
	}
	start := time.Now()
	var next atomic.Int64 // index of the next connection to make
	var workers, handoffs sync.WaitGroup
	for range o.Concurrency {
		workers.Go(func() {
			w := &worker{}
			switch {
			case o.TLS != nil && o.TLS.ClientSessionCache != nil:
				w.cache = o.TLS.ClientSessionCache
			case o.TLS != nil && o.Resume:
				w.cache = tls.NewLRUClientSessionCache(1)
			}
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= o.Conns {
					break
				}
				c := r.conn(ctx, i, w)
				switch {
				case c == nil:
				case o.Duration > 0:
					handoffs.Go(func() { r.finish(c.timed(ctx)) })
				default:
					handoffs.Go(func() { r.finish(c.hold(ctx)) })
				}
			}
			r.mu.Lock()
			r.rep.Latency.Merge(&w.latency)
			r.rep.HandshakeLatency.Merge(&w.handshake)
			r.mu.Unlock()
		})
	}
	workers.Wait()
	handoffs.Wait()
	for i := range r.shards {
		r.rep.Latency.Merge(&r.shards[i].latency)
		r.rep.HandshakeLatency.Merge(&r.shards[i].handshake)
	}
	if !r.winStart.IsZero() {
		r.rep.Window = max(r.lastEnd.Sub(r.winStart), 0)
	}
	r.rep.Elapsed = time.Since(start)
	return r.rep, ctx.Err()
}

// numShards spreads the latency histograms of handed-off connections (held or timed, each on
// its own goroutine) so that their locks are rarely contended.
const numShards = 16

type runner struct {
	o Options

	mu      sync.Mutex // guards rep and lastEnd
	rep     *Report
	lastEnd time.Time // when the last timed phase ended

	shards [numShards]shard

	// The ramp-up: settled counts connections that failed or were handed off; ready is closed
	// when it reaches Conns. open counts handed-off connections not yet ended.
	settled, open atomic.Int64
	ready         chan struct{}
	winOnce       sync.Once
	winStart      time.Time // start of the timed phase; written once under winOnce

	// The storm (Options.Drop). dropCtx ends when Drop closes (dropped is then true, dropAt
	// set) or ctx ends; backCtx ends when every connection dropped is back or has failed.
	dropCtx, backCtx context.Context
	back             context.CancelFunc
	dropped          atomic.Bool
	dropAt           time.Time
	unsettled        atomic.Int64 // held connections not yet back (or ended) after the drop
}

// hists are the histograms one goroutine (a worker) or one shard accumulates.
type hists struct {
	latency, handshake Histogram
}

// worker holds what one worker goroutine accumulates without locking.
type worker struct {
	hists
	cache     tls.ClientSessionCache // Options.Resume: this worker's; nil: none
	noTickets bool                   // a wait for a TLS 1.3 ticket came back empty: stop waiting
}

// shard holds histograms shared by handed-off connections.
type shard struct {
	mu sync.Mutex
	hists
}

// result is one connection's contribution to the Report.
type result struct {
	err                                          *failure // nil: the connection completed
	handshakes, registers, messages, core, pongs int
	resumed                                      int
	ended                                        time.Time // end of the timed phase
	back                                         time.Time // back after the drop; zero: not
}

type failure struct {
	reason Reason
	err    error
}

func (f *failure) Error() string { return f.reason.String() + ": " + f.err.Error() }

func (f *failure) Unwrap() error { return f.err }

func (r *runner) finish(res result) {
	p := r.o.Progress
	p.Done.Add(1)
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.rep
	rep.Conns++
	rep.Handshakes += res.handshakes
	rep.Resumed += res.resumed
	rep.Registers += res.registers
	rep.Messages += res.messages
	rep.CoreRequests += res.core
	rep.Pongs += res.pongs
	if res.ended.After(r.lastEnd) {
		r.lastEnd = res.ended
	}
	if !res.back.IsZero() {
		d := res.back.Sub(r.dropAt)
		rep.Reconnects++
		rep.ReconnectLatency.Record(d)
		rep.Recovery = max(rep.Recovery, d)
	}
	if res.err == nil {
		rep.OK++
		return
	}
	p.Failed.Add(1)
	rep.Failed++
	rep.Failures[res.err.reason]++
	if _, ok := rep.Errors[res.err.reason]; !ok {
		rep.Errors[res.err.reason] = res.err.err.Error()
	}
}

// conn runs connection i up to its hold or timed phase. It returns the client if it is to be
// handed off (the caller starts it on its own goroutine); otherwise the connection is closed and
// accounted.
func (r *runner) conn(ctx context.Context, i int, w *worker) *client {
	r.o.Progress.Started.Add(1)
	c := &client{o: &r.o, r: r, id: i, w: w, cache: w.cache}
	err := c.connect(ctx)
	if err == nil {
		r.o.Progress.Connected.Add(1)
		err = c.exchange()
	}
	if err == nil && (r.o.Hold > 0 || r.o.Duration > 0) {
		// From here on the connection runs on its own goroutine: it records into a shard.
		c.w, c.shard = nil, &r.shards[i%numShards]
		r.open.Add(1)
		r.settle()
		return c
	}
	c.close()
	c.res.err = classify(ctx, err)
	r.settle()
	r.finish(c.res)
	return nil
}

// settle counts one connection through the ramp-up; the last one ends it.
func (r *runner) settle() {
	if r.settled.Add(1) != int64(r.o.Conns) {
		return
	}
	close(r.ready)
	if r.o.OnReady != nil && (r.o.Hold > 0 || r.o.Duration > 0) {
		r.o.OnReady(int(r.open.Load()))
	}
}

// window waits for the timed phase to start and returns its end.
func (r *runner) window(ctx context.Context) (time.Time, error) {
	select {
	case <-r.ready:
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	}
	if r.o.Start != nil {
		select {
		case <-r.o.Start:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
	r.winOnce.Do(func() { r.winStart = time.Now() })
	return r.winStart.Add(r.o.Duration), nil
}

// reconnected counts one held connection as settled after the drop (back, failed, or ended
// before it); the last one ends the storm.
func (r *runner) reconnected() {
	if r.unsettled.Add(-1) == 0 && r.dropped.Load() {
		r.back()
	}
}

// classify turns a step's error into a failure: context end and deadlines override the step.
func classify(ctx context.Context, err error) *failure {
	if err == nil {
		return nil
	}
	f, ok := err.(*failure)
	if !ok {
		f = &failure{reason: Protocol, err: err}
	}
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return &failure{reason: Canceled, err: f.err}
	case errors.As(f.err, &ne) && ne.Timeout(), errors.Is(f.err, context.DeadlineExceeded):
		return &failure{reason: Timeout, err: fmt.Errorf("%s: %w", f.reason, f.err)}
	}
	return f
}

func fail(r Reason, err error) error { return &failure{reason: r, err: err} }
