package load

import (
	"context"
	"time"

	"github.com/tlsmux/tlsmux/internal/loadgen"
)

// options are the loadgen options every scenario starts from.
func (b *bench) options(conns, workers int) loadgen.Options {
	c := &b.cfg
	return loadgen.Options{
		Target: c.Target, TLS: b.tls, Conns: conns, Concurrency: workers, Size: c.Size,
		LocalAddrs: b.src, Timeout: c.Timeout, Resume: c.Resume, Progress: new(loadgen.Progress),
	}
}

// rampBound is the longest a ramp-up of n connections, c at a time, can take: each one's
// connect and handshake, REGISTER and first keepalive are bounded by the step timeout.
func (b *bench) rampBound(n, c int) time.Duration {
	return time.Duration((n+c-1)/c)*3*b.cfg.Timeout + b.cfg.Timeout
}

// waitBound is how long a run waits for the end of a hold or for GO: -duration, or, in a
// child, until its parent says so (bounded all the same, should the parent misbehave).
func (b *bench) waitBound() time.Duration {
	if b.cfg.Child > 0 {
		return b.cfg.Duration + 2*b.cfg.Timeout + time.Minute
	}
	return b.cfg.Duration
}

type runOut struct {
	rep *loadgen.Report
	err error
}

// launch runs loadgen on a goroutine of its own; the channel yields the outcome. The caller
// must receive it.
func launch(ctx context.Context, o loadgen.Options) <-chan runOut {
	done := make(chan runOut, 1)
	go func() {
		rep, err := loadgen.Run(ctx, o)
		done <- runOut{rep, err}
	}()
	return done
}

// handshake: N connections, C workers, each closed right after its handshake.
func (b *bench) handshake(ctx context.Context, p *progress) (*Result, error) {
	n, c, _ := b.cfg.Loads()
	o := b.options(n, c)
	o.SkipRegister = true
	p.set(func() (string, int, int) { return "handshakes", int(o.Progress.Done.Load()), n })
	rep, err := loadgen.Run(ctx, o)
	if rep == nil {
		return nil, err
	}
	res := fromReport(Handshake, rep)
	res.HandshakesPerSec = rep.HandshakesPerSec()
	return res, err
}

// idle: N connections, each with its REGISTER answered, held with keepalives; READY once all
// are made, then held for -duration or until stdin closes.
func (b *bench) idle(ctx context.Context, p *progress) (*Result, error) {
	n, c, _ := b.cfg.Loads()
	o := b.options(n, c)
	o.KeepAlive = b.cfg.KeepAlive
	o.Hold = b.rampBound(n, c) + b.waitBound()
	ready := make(chan int, 1)
	o.OnReady = func(open int) { ready <- open }
	holdCtx, endHold := context.WithCancel(ctx)
	defer endHold()
	t0 := time.Now()
	done := launch(holdCtx, o)
	held := func() int { return int(o.Progress.Held.Load()) }
	p.set(func() (string, int, int) { return "established", held(), n })
	var established time.Duration
	select {
	case open := <-ready:
		established = time.Since(t0)
		b.ready(open)
		p.set(func() (string, int, int) { return "alive", held(), n })
		t := time.NewTimer(b.waitBound())
		select {
		case <-t.C:
		case <-b.eof:
		case <-ctx.Done():
		}
		t.Stop()
		p.set(nil) // what follows is the teardown, not the hold
		endHold()
	case <-ctx.Done():
	}
	out := <-done
	if out.rep == nil {
		return nil, out.err
	}
	res := fromReport(Idle, out.rep)
	// A hold that our end ended counts as ok; one that died before (reset, no pong) failed.
	res.Established, res.Alive = established, out.rep.OK
	return res, ctx.Err()
}

// storm: N connections held; READY; at GO all are reset at once and every one reconnects at
// once; the result says how long until all were back.
func (b *bench) storm(ctx context.Context, p *progress) (*Result, error) {
	n, c, _ := b.cfg.Loads()
	o := b.options(n, c)
	o.KeepAlive = b.cfg.KeepAlive
	o.Hold = b.rampBound(n, c) + b.waitBound() + b.rampBound(n, n)
	drop := make(chan struct{})
	o.Drop = drop
	ready := make(chan int, 1)
	o.OnReady = func(open int) { ready <- open }
	t0 := time.Now()
	done := launch(ctx, o)
	held := func() int { return int(o.Progress.Held.Load()) }
	p.set(func() (string, int, int) { return "established", held(), n })
	var established time.Duration
	select {
	case open := <-ready:
		established = time.Since(t0)
		b.ready(open)
		if !b.cfg.Auto {
			eof := b.inEOF // the end of stdin: no GO can come any more
			if b.cfg.Child > 0 {
				eof = nil // a child's stdin ending ends its ctx: stop, do not storm
			}
			t := time.NewTimer(b.waitBound())
			select {
			case <-b.goLines:
			case <-eof:
			case <-t.C:
				b.errw.println("storm: no GO within -duration; dropping now")
			case <-ctx.Done():
			}
			t.Stop()
		}
		if ctx.Err() == nil {
			p.set(func() (string, int, int) { return "back", held(), n })
			close(drop)
		}
	case <-ctx.Done():
	}
	out := <-done
	if out.rep == nil {
		return nil, out.err
	}
	res := fromReport(Storm, out.rep)
	res.Established, res.Alive = established, out.rep.Reconnects
	return res, out.err
}

// echo: C connections echo -size-byte messages one at a time for -duration.
func (b *bench) echo(ctx context.Context, p *progress) (*Result, error) {
	n, c, _ := b.cfg.Loads()
	rep, established, err := b.timedEcho(ctx, p, n, c, b.cfg.Duration)
	if rep == nil {
		return nil, err
	}
	res := fromReport(Echo, rep)
	res.Established = established
	res.MessagesPerSec, res.MBPerSec = rep.MessagesPerSec(), b.mbPerSec(rep)
	return res, err
}

// timedEcho runs one timed echo of n connections, made c at a time, for d. A child says READY
// at the end of the ramp-up and starts the window at its parent's GO, so that the windows of
// all processes coincide.
func (b *bench) timedEcho(ctx context.Context, p *progress, n, c int, d time.Duration) (*loadgen.Report, time.Duration, error) {
	o := b.options(n, c)
	o.Duration = d
	var start chan struct{}
	if b.cfg.Child > 0 {
		start = make(chan struct{})
		o.Start = start
	}
	ready := make(chan int, 1)
	o.OnReady = func(open int) { ready <- open }
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	t0 := time.Now()
	done := launch(runCtx, o)
	p.set(func() (string, int, int) { return "established", int(o.Progress.Connected.Load()), n })
	var established time.Duration
	select {
	case open := <-ready:
		established = time.Since(t0)
		if start != nil {
			b.ready(open)
			t := time.NewTimer(b.waitBound())
			select {
			case <-b.goLines:
				close(start)
			case <-t.C:
				b.errw.println("no GO from the parent: stopping")
				stop()
			case <-ctx.Done():
			}
			t.Stop()
		}
		p.set(func() (string, int, int) { return "messages", int(o.Progress.Messages.Load()), 0 })
	case <-ctx.Done():
	}
	out := <-done
	return out.rep, established, out.err
}

func (b *bench) mbPerSec(rep *loadgen.Report) float64 {
	if rep.Window <= 0 {
		return 0
	}
	return float64(rep.Messages) * float64(b.cfg.Size) / rep.Window.Seconds() / 1e6
}

// stall: the echo load for -duration/2 without stallers, then M stallers (half stalled after
// their ClientHello, half silent) and the echo load again for -duration/2.
func (b *bench) stall(ctx context.Context, p *progress) (*Result, error) {
	n, c, m := b.cfg.Loads()
	half := b.cfg.Duration / 2
	t0 := time.Now()
	base, _, err := b.timedEcho(ctx, p, n, c, half)
	if base == nil {
		return nil, err
	}
	hello, err := clientHello(b.tls)
	if err != nil {
		return nil, err
	}
	sctx, stopStallers := context.WithCancel(ctx)
	defer stopStallers()
	sg := startStallers(sctx, m, b.cfg.Target, hello, b.src, n, b.cfg.Timeout)
	p.set(func() (string, int, int) { return "stallers up", m - int(sg.pending.Load()), m })
	select {
	case <-sg.up:
	case <-ctx.Done():
	}
	loaded, established, err := b.timedEcho(ctx, p, n, c, half)
	stopStallers()
	sg.wait()
	if loaded == nil {
		return nil, err
	}
	res := fromReport(Stall, loaded)
	res.addOutcomes(fromReport(Stall, base))
	res.Elapsed = time.Since(t0)
	res.Established = established
	res.MessagesPerSec, res.MBPerSec = loaded.MessagesPerSec(), b.mbPerSec(loaded)
	res.BaselineLatency.Merge(&base.Latency)
	res.BaselineMessagesPerSec = base.MessagesPerSec()
	res.Stallers = m
	res.StallerCloses = int(sg.closes.Load())
	res.StallerFailures = int(sg.failures.Load())
	return res, err
}
