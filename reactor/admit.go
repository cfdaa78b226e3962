package reactor

import (
	"net/netip"
	"time"

	"github.com/tlsmux/tlsmux/memguard"
	"github.com/tlsmux/tlsmux/tlsconn"
)

// MemGuard is what the reactor asks of the memory guard (memguard.Guard): whether free memory is
// under low_mem_threshold1 (refuse new TLS connections) or low_mem_threshold2 (refuse new queue
// memory). Both are read on the loops for every decision, so they must be cheap (an atomic load);
// Sample is called from the ticker goroutine every tick and decides itself how often to sample.
type MemGuard interface {
	RefuseHandshakes() bool
	RefuseQueueGrowth() bool
	Sample(now time.Time) (changed bool)
}

func (s *Server) refuseHandshakes() bool  { return s.o.Guard != nil && s.o.Guard.RefuseHandshakes() }
func (s *Server) refuseQueueGrowth() bool { return s.o.Guard != nil && s.o.Guard.RefuseQueueGrowth() }

// admitOpen decides at accept, before anything is read, whether a connection from a may stay:
// under low_mem_threshold1 nothing new is taken on, and the per-source connection limit is
// counted here (the returned Source, if any, must be closed when the connection ends). A refusal
// is a plain close: no ClientHello yet, so no alert to answer it with.
func (s *Server) admitOpen(a netip.Addr) (*memguard.Source, Reason) {
	if s.refuseHandshakes() {
		return nil, ReasonLowMem1
	}
	if s.o.Sources == nil {
		return nil, ReasonNone
	}
	src, r := s.o.Sources.Open(a)
	switch r {
	case memguard.PerSource:
		return nil, ReasonPerSource
	case memguard.SourceTableFull:
		return nil, ReasonSourceTableFull
	}
	return src, ReasonNone
}

// admit runs once c's whole ClientHello is buffered, before any crypto: refuse it (low memory,
// its source over its rate), start its handshake, or queue it until a slot and a rate token are
// free. Queued connections wait in WaitHello, bounded by the hello timeout and by -max-waiting.
func (l *loop) admit(c *conn) {
	s := l.s
	switch {
	case s.refuseHandshakes():
		c.refuse(ReasonLowMem1)
		return
	case c.src != nil && !s.o.Sources.AllowHandshake(c.src, l.now):
		c.refuse(ReasonPerSource)
		return
	}
	if len(l.waiters) == 0 && l.tryStart(c) {
		return
	}
	if s.stats.waiting.Load() >= s.tune.maxWaiting.Load() && !l.shedOldest() {
		// The list is full and the waiters are on other loops: this one goes. Shedding across
		// loops would need their goroutines; the bound holds either way.
		c.refuse(ReasonWaitShed)
		return
	}
	if c.blocked == ReasonNone {
		c.blocked = ReasonHandshakeBusy // queued behind others without trying
	}
	c.waiting = true
	s.stats.waiting.Add(1)
	l.waiters = append(l.waiters, c)
	l.admitWaiters()
}

// tryStart starts c's handshake if a slot and a rate token are free, taking both, or records
// which one it waits for.
func (l *loop) tryStart(c *conn) bool {
	s := l.s
	if !s.adm.TryAcquire() {
		c.blocked = ReasonHandshakeBusy
		return false
	}
	if s.o.HandshakeRate != nil && !s.o.HandshakeRate.Allow(l.now) {
		s.adm.Release()
		c.blocked = ReasonHandshakeRate
		return false
	}
	c.startHandshake()
	return true
}

// admitWaiters starts the oldest waiting handshakes for as long as slots and tokens allow.
func (l *loop) admitWaiters() {
	for len(l.waiters) > 0 {
		c := l.waiters[0]
		if c.waiting {
			if !l.tryStart(c) {
				break
			}
			c.waiting = false
			l.s.stats.waiting.Add(-1)
		}
		l.waiters[0] = nil
		l.waiters = l.waiters[1:]
	}
	if len(l.waiters) == 0 {
		l.waiters = nil // let a burst's backing array go
	}
}

// shedOldest refuses the oldest connection waiting on this loop to make room, and reports
// whether there was one.
func (l *loop) shedOldest() bool {
	for len(l.waiters) > 0 {
		c := l.waiters[0]
		l.waiters[0] = nil
		l.waiters = l.waiters[1:]
		if c.waiting {
			c.refuse(ReasonWaitShed)
			return true
		}
	}
	return false
}

// kickWaiters has every loop but except retry its waiters now rather than at its next tick: a
// slot freed on one loop (or a raised cap) would otherwise leave the others' waiters idle for up
// to a tick.
func (s *Server) kickWaiters(except *loop) {
	if s.stats.waiting.Load() == 0 {
		return
	}
	for _, l := range s.loopList() {
		if l != except {
			l.tickOffLoop()
		}
	}
}

// refuse turns away a connection whose ClientHello has arrived, before any crypto: a fatal
// internal_error alert (RFC 8446 §6.2: the server cannot proceed for a reason unrelated to the
// peer), then close, counted under r.
func (c *conn) refuse(r Reason) {
	if c.phase == phaseHello {
		c.tc.SendAlert(tlsconn.InternalError)
		c.flushClient()
	}
	c.close(r, nil)
	c.finish()
}
