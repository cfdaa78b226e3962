package tlsconn

import (
	"context"
	"crypto/tls"
	"sync"
	"sync/atomic"
)

// handshake is the state shared between the loop and the handshake goroutine. It exists from
// StartHandshake until Poll collects the result (or Close abandons it), so an established
// connection does not carry it.
//
// The goroutine runs (*tls.Conn).HandshakeContext over memConn, parked in memConn.Read (on cond)
// whenever it needs bytes the loop has not fed yet. The loop never waits for it: the goroutine
// reports output and completion through notify, and the loop collects them in Poll. This is the
// pattern of crypto/tls's own QUICConn (quic.go: the handshake runs in a goroutine and hands control
// back over channels), minus the lockstep: the loop does no crypto and never blocks.
type handshake struct {
	// constant
	cond   sync.Cond // L is &memConn.mu; signalled by feed and Close
	cancel context.CancelFunc
	onOut  func() // Options.Notify, may be nil

	// guarded by memConn.mu
	done        bool
	err         error
	sentAlert   Alert // first plaintext alert the handshake wrote
	sentAlertOK bool

	// atomic
	notified atomic.Bool // a Notify call is outstanding: do not call it again until Poll
	stopped  atomic.Bool // the loop called Close: do not call Notify any more
}

// notify calls Options.Notify unless a call is already outstanding, so a burst of writes costs the
// loop one wake-up. It is called from the handshake goroutine, never with memConn.mu held.
func (h *handshake) notify() {
	if h.onOut == nil || h.stopped.Load() {
		return
	}
	if h.notified.CompareAndSwap(false, true) {
		h.onOut()
	}
}

// start launches the handshake goroutine. Called on the loop with the Conn in WaitHello.
func (c *Conn) start() {
	ctx, cancel := context.WithCancel(context.Background())
	hs := &handshake{cancel: cancel, onOut: c.notify}
	hs.cond.L = &c.mc.mu

	var tc *tls.Conn
	if c.isClient {
		tc = tls.Client(&c.mc, c.cfg)
	} else {
		tc = tls.Server(&c.mc, c.cfg)
	}
	c.tc = tc
	c.hs = hs

	c.mc.mu.Lock()
	c.mc.hs = hs
	if c.pre != nil {
		// Hand the buffer over rather than copy it; memConn releases it once read. A ClientHello
		// in large records is re-framed first, so crypto/tls's never-shrinking record buffer
		// stays small (see helloFragment).
		c.pre.buf = refragmentHello(c.pre.buf)
		c.mc.in, c.mc.inOwned = *c.pre.buf, c.pre.buf
		c.pre = nil
	}
	c.mc.mu.Unlock()

	go runHandshake(ctx, tc, &c.mc, hs)
}

// runHandshake is the body of the handshake goroutine. It touches nothing of the Conn but the
// tls.Conn (which the loop leaves alone until done is set), memConn (locked) and hs.
func runHandshake(ctx context.Context, tc *tls.Conn, mc *memConn, hs *handshake) {
	err := tc.HandshakeContext(ctx)
	mc.mu.Lock()
	hs.done, hs.err = true, err
	mc.mu.Unlock()
	hs.notify()
}

// collect returns the handshake result if the goroutine has finished. Loop only.
func (c *Conn) collect() (done bool, err error, sent Alert, sentOK bool) {
	hs := c.hs
	// Clear the flag before looking, so that anything the goroutine does after this point
	// notifies again.
	hs.notified.Store(false)
	c.mc.mu.Lock()
	if !hs.done {
		c.mc.mu.Unlock()
		return false, nil, 0, false
	}
	// From here the loop owns the tls.Conn. Read no longer parks: it returns errWouldBlock.
	c.mc.hs = nil
	c.mc.mu.Unlock()
	c.hs = nil
	hs.cancel()
	return true, hs.err, hs.sentAlert, hs.sentAlertOK
}

// abandonHandshake stops a handshake in flight: the goroutine's Read fails with net.ErrClosed, it returns
// promptly and exits without calling Notify. Loop only.
func (c *Conn) abandonHandshake() {
	hs := c.hs
	c.hs = nil
	hs.stopped.Store(true)
	hs.cancel()
	c.mc.Close()
}
