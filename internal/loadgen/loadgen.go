package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
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
	// to measure memory per connection). It runs on the connection's goroutine and must not block.
	OnHold func(held int)
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
	if o.Messages < 0 || o.Hold < 0 || o.KeepAlive < 0 {
		return o, errors.New("loadgen: negative Messages, Hold or KeepAlive")
	}
	if o.Messages > 0 {
		if _, err := appendMessage(nil, o.Conns-1, uint32(o.Messages)+1, o.Size, o.TLS != nil); err != nil {
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
// their echo, then an optional hold. Requests the core sends on the connection are answered
// 200 OK at any point.
//
// Run returns when every connection has ended. If ctx ends first, connections not yet started are
// not made, working ones fail as Canceled, held ones close normally, and Run returns the partial
// Report with ctx's error. Invalid Options give a nil Report and an error.
func Run(ctx context.Context, o Options) (*Report, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &runner{o: o, rep: &Report{
		Target: o.Target, TLS: o.TLS != nil, Size: o.Size,
		Failures: map[Reason]int{}, Errors: map[Reason]string{},
	}}
	start := time.Now()
	var next atomic.Int64 // index of the next connection to make
	var workers, holds sync.WaitGroup
	for range o.Concurrency {
		workers.Go(func() {
			w := &worker{}
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= o.Conns {
					break
				}
				if c := r.conn(ctx, i, w); c != nil {
					holds.Go(func() { r.finish(c.hold(ctx)) })
				}
			}
			r.mu.Lock()
			r.rep.Latency.Merge(&w.latency)
			r.rep.HandshakeLatency.Merge(&w.handshake)
			r.mu.Unlock()
		})
	}
	workers.Wait()
	holds.Wait()
	r.rep.Elapsed = time.Since(start)
	return r.rep, ctx.Err()
}

type runner struct {
	o   Options
	mu  sync.Mutex // guards rep
	rep *Report
}

// worker holds what one worker goroutine accumulates without locking.
type worker struct {
	latency, handshake Histogram
}

// result is one connection's contribution to the Report.
type result struct {
	err                                          *failure // nil: the connection completed
	handshakes, registers, messages, core, pongs int
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
	rep.Registers += res.registers
	rep.Messages += res.messages
	rep.CoreRequests += res.core
	rep.Pongs += res.pongs
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

// conn runs connection i up to its hold. It returns the client if it is to be held (the caller
// starts the hold on its own goroutine); otherwise the connection is closed and accounted.
func (r *runner) conn(ctx context.Context, i int, w *worker) *client {
	r.o.Progress.Started.Add(1)
	c := &client{o: &r.o, id: i, w: w}
	err := c.connect(ctx)
	if err == nil {
		r.o.Progress.Connected.Add(1)
		err = c.exchange()
	}
	if err == nil && r.o.Hold > 0 {
		return c
	}
	c.close()
	c.res.err = classify(ctx, err)
	r.finish(c.res)
	return nil
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
