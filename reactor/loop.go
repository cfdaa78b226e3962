package reactor

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/tlsmux/tlsmux/internal/timerwheel"
)

// loop is the state of one gnet event loop. Every field is touched only on that loop's
// goroutine, except those marked atomic.
type loop struct {
	s  *Server
	el gnet.EventLoop

	now   time.Time        // the loop's clock, refreshed on every callback that needs it
	nowFn func() time.Time // returns now: tlsconn's clock for certificate expiry ($tls_peer_expired)
	wheel *timerwheel.Wheel

	// conns links every client connection on this loop, for shutdown.
	head conn

	// waiters are connections with a whole ClientHello waiting for a handshake slot, oldest
	// first. Closed connections stay until they reach the front (lazy removal).
	waiters []*conn

	plain []byte // scratch for decrypted clear text
	out   []byte // scratch for ciphertext on its way to gnet

	tickQueued atomic.Bool // a tick task is queued and has not run yet

	handshakes map[HandshakeKey]uint64 // completed, by kind (Metrics)
}

func newLoop(s *Server, el gnet.EventLoop) *loop {
	now := time.Now()
	l := &loop{
		s:          s,
		el:         el,
		now:        now,
		wheel:      timerwheel.New(s.o.Tick, 4096, now),
		plain:      make([]byte, 0, 64<<10),
		handshakes: map[HandshakeKey]uint64{},
		out:        make([]byte, 0, 64<<10),
	}
	l.head.next, l.head.prev = &l.head, &l.head
	l.nowFn = func() time.Time { return l.now }
	return l
}

func (l *loop) link(c *conn) {
	c.prev, c.next = l.head.prev, &l.head
	l.head.prev.next = c
	l.head.prev = c
}

func (l *loop) unlink(c *conn) {
	if c.next == nil {
		return
	}
	c.prev.next, c.next.prev = c.next, c.prev
	c.next, c.prev = nil, nil
}

// tickOffLoop queues one timer pass on the loop unless one is already queued, so a busy loop
// never accumulates tick tasks.
func (l *loop) tickOffLoop() {
	if !l.tickQueued.CompareAndSwap(false, true) {
		return
	}
	if err := l.el.Execute(l.s.ctx, l); err != nil {
		l.tickQueued.Store(false)
	}
}

// Run is the tick task (gnet.Runnable); it runs on the loop.
func (l *loop) Run(context.Context) error {
	l.tickQueued.Store(false)
	l.now = time.Now()
	l.wheel.Advance(l.now, l.fire)
	l.admitWaiters()
	return nil
}

func (l *loop) fire(t *timerwheel.Timer) {
	c := t.Owner.(*conn)
	defer l.s.recoverConn(c)
	c.onTimer()
}

// closeAll closes every connection on the loop (shutdown).
func (l *loop) closeAll(r Reason) {
	l.now = time.Now()
	for c := l.head.next; c != &l.head; {
		next := c.next
		c.close(r, nil)
		c = next
	}
}
