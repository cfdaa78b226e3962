package reactor

import (
	"crypto/tls"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tlsmux/tlsmux/tlsconn"
)

// These tests drive one proxied pair's timer and limits with a clock of their own and fake
// sockets: no loop, no goroutine, no wall clock. The integration tests (timeouts_test.go,
// badinput_test.go) show the same behaviour over real sockets; these pin the exact deadlines
// and byte counts that sockets make nondeterministic.

// fakeConn is a gnet.Conn whose outbound buffer is a number the test sets; everything written
// stays queued. Any method not stubbed panics (nil embedded interface).
type fakeConn struct {
	gnet.Conn
	outbound int
	closed   bool
}

func (f *fakeConn) OutboundBuffered() int { return f.outbound }
func (f *fakeConn) Close() error          { f.closed = true; return nil }
func (f *fakeConn) Write(p []byte) (int, error) {
	f.outbound += len(p)
	return len(p), nil
}

type pairHarness struct {
	s      *Server
	l      *loop
	c      *conn
	cl, be *fakeConn
	start  time.Time
}

// newPair returns a pair in the proxying phase, its timer armed as after the handshake.
func newPair(t *testing.T, o Options) *pairHarness {
	t.Helper()
	o.Listen = []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:0")}
	o.Backend = netip.MustParseAddrPort("127.0.0.1:1")
	o.TLS = &tls.Config{}
	o.Logger = slog.New(slog.DiscardHandler)
	if o.Tick == 0 {
		o.Tick = 10 * time.Millisecond
	}
	s, err := New(o)
	require.NoError(t, err)
	t.Cleanup(s.cancel)
	l := newLoop(s, nil)
	h := &pairHarness{s: s, l: l, cl: &fakeConn{}, be: &fakeConn{}, start: l.now}
	c := &conn{id: 1, l: l, cl: h.cl, be: h.be, clOpen: true, beOpen: true, established: true,
		phase: phaseProxying, lastIO: l.now}
	c.timer.Owner = c
	c.tc = tlsconn.NewServer(o.TLS, tlsconn.Options{})
	s.stats.open.Add(1)
	l.link(c)
	c.rescheduleIdle()
	h.c = c
	return h
}

// advance moves the loop's clock by d, one tick at a time, firing the timers that are due, as
// the tick task does (a timer re-armed inside fire for a time already passed waits for the next
// Advance, so one big step would hide the polls in between).
func (h *pairHarness) advance(d time.Duration) {
	for d > 0 {
		step := min(d, h.s.o.Tick)
		d -= step
		h.l.now = h.l.now.Add(step)
		h.l.wheel.Advance(h.l.now, h.l.fire)
	}
}

func (h *pairHarness) deadline(t *testing.T) time.Duration {
	t.Helper()
	at, ok := h.c.timer.Deadline()
	require.True(t, ok, "the timer is armed")
	return at.Sub(h.start)
}

func (h *pairHarness) dropped() map[string]uint64 { return h.s.Stats().DroppedBytes }

func TestIdleTimerFollowsIO(t *testing.T) {
	h := newPair(t, Options{IdleTimeout: time.Second})
	assert.Equal(t, time.Second, h.deadline(t))
	h.advance(600 * time.Millisecond)
	h.c.lastIO = h.l.now // I/O only moves lastIO; the timer catches up when it fires
	h.advance(400 * time.Millisecond)
	require.Equal(t, phaseProxying, h.c.phase, "I/O 400ms ago: not idle")
	assert.Equal(t, 1600*time.Millisecond, h.deadline(t), "re-armed for one idle period after the I/O")
	h.advance(599 * time.Millisecond)
	require.Equal(t, phaseProxying, h.c.phase)
	h.advance(time.Millisecond)
	assert.Equal(t, phaseClosed, h.c.phase)
	assert.True(t, h.cl.closed && h.be.closed)
	st := h.s.Stats()
	assert.Equal(t, map[string]uint64{"idle_timeout": 1}, st.Closed)
	assert.Zero(t, st.Open)
	assert.Empty(t, st.DroppedBytes)
}

func TestIdleTimerNever(t *testing.T) {
	h := newPair(t, Options{IdleTimeout: -1})
	assert.False(t, h.c.timer.Armed(), "no idle deadline")
	h.advance(time.Minute)
	assert.Equal(t, phaseProxying, h.c.phase)
	assert.Empty(t, h.s.Stats().Closed)
}

func TestSendTimeout(t *testing.T) {
	h := newPair(t, Options{SendTimeout: time.Second, TCPConnWqMax: 1000})
	h.be.outbound = 500
	h.c.checkOutbound()
	assert.Equal(t, time.Second, h.deadline(t), "send timer armed")
	h.be.outbound = 400 // progress resets the clock
	h.advance(time.Second)
	require.Equal(t, phaseProxying, h.c.phase)
	h.advance(999 * time.Millisecond)
	require.Equal(t, phaseProxying, h.c.phase, "no progress, but not for a whole send timeout yet")
	h.advance(time.Millisecond)
	assert.Equal(t, phaseClosed, h.c.phase)
	assert.Equal(t, map[string]uint64{"send_timeout": 1}, h.s.Stats().Closed)
	assert.Equal(t, map[string]uint64{"send_timeout": 400}, h.dropped(), "what was stuck, counted once")
}

// A socket whose queue goes over TCPConnWqMax closes the pair; the pair drains for at most the
// send timeout. Bytes are dropped only if the drain fails, and counted once.
func TestSendQueueFull(t *testing.T) {
	t.Run("stalled", func(t *testing.T) {
		h := newPair(t, Options{SendTimeout: time.Second, TCPConnWqMax: 1000})
		require.True(t, h.c.send(h.be, make([]byte, 1500)), "nothing waited: written, the kernel took none")
		require.Equal(t, phaseClosing, h.c.phase)
		h.advance(990 * time.Millisecond)
		require.Equal(t, phaseClosing, h.c.phase, "draining")
		assert.True(t, h.cl.closed, "the side with nothing queued is closed at once")
		h.advance(10 * time.Millisecond)
		assert.Equal(t, phaseClosed, h.c.phase, "the send timeout ends the drain")
		assert.Equal(t, map[string]uint64{"send_queue_full": 1}, h.s.Stats().Closed)
		assert.Equal(t, map[string]uint64{"send_queue_full": 1500}, h.dropped(), "the queued bytes, counted once")
		assert.Zero(t, h.s.Stats().SendqUsed, "the send budget is given back")
	})
	t.Run("drained", func(t *testing.T) {
		h := newPair(t, Options{SendTimeout: time.Second, TCPConnWqMax: 1000})
		h.c.send(h.be, make([]byte, 1500))
		require.Equal(t, phaseClosing, h.c.phase)
		h.be.outbound = 0 // the peer took it all after all
		h.advance(10 * time.Millisecond)
		assert.Equal(t, phaseClosed, h.c.phase)
		assert.Equal(t, map[string]uint64{"send_queue_full": 1}, h.s.Stats().Closed)
		assert.Empty(t, h.dropped(), "every byte was delivered")
	})
	t.Run("refused whole", func(t *testing.T) {
		h := newPair(t, Options{SendTimeout: time.Second, TCPConnWqMax: 1000})
		require.True(t, h.c.send(h.be, make([]byte, 800)))
		require.Equal(t, phaseProxying, h.c.phase, "800 of 1000 waiting")
		require.Equal(t, int64(800), h.s.Stats().SendqUsed)
		require.True(t, h.c.send(h.be, make([]byte, 200)), "exactly the limit")
		require.False(t, h.c.send(h.be, make([]byte, 1)), "one byte over: refused")
		assert.Equal(t, 1000, h.be.outbound, "a refused write queues nothing")
		assert.Equal(t, map[string]uint64{"send_queue_full": 1}, h.dropped())
		h.advance(time.Second)
		assert.Equal(t, phaseClosed, h.c.phase)
		assert.Equal(t, map[string]uint64{"send_queue_full": 1001}, h.dropped(), "the refused byte and the 1000 never sent")
		assert.Zero(t, h.s.Stats().SendqUsed)
	})
}

// TestSendGlobalBudget: tcp.wq_max is shared by every socket; the write that would take it over
// is the one refused, exactly at the limit, and bytes the kernel takes give the budget back.
func TestSendGlobalBudget(t *testing.T) {
	h := newPair(t, Options{SendTimeout: time.Second, TCPConnWqMax: 10000, TCPWqMax: 2000})
	require.True(t, h.c.send(h.be, make([]byte, 1500)))
	require.True(t, h.c.send(h.be, make([]byte, 500)), "1500+500: exactly the global limit")
	assert.Equal(t, int64(2000), h.s.Stats().SendqUsed)
	h.be.outbound = 1200 // the kernel took 800
	h.c.checkOutbound()
	assert.Equal(t, int64(1200), h.s.Stats().SendqUsed, "settled when the pair is looked at")
	require.True(t, h.c.send(h.be, make([]byte, 800)), "room again: 1200+800")
	require.False(t, h.c.send(h.be, make([]byte, 1)), "global limit")
	assert.Equal(t, map[string]uint64{"send_global_full": 1}, h.s.Stats().Closed)
	assert.Equal(t, map[string]uint64{"send_global_full": 1}, h.dropped())

	// Lowered at runtime below what is in use: nothing is taken back, new charges are refused.
	h2 := newPair(t, Options{SendTimeout: time.Second, TCPConnWqMax: 10000, TCPWqMax: 2000})
	require.True(t, h2.c.send(h2.be, make([]byte, 1000)))
	require.NoError(t, h2.s.Set("tcp", "wq_max", 500))
	require.False(t, h2.c.send(h2.be, make([]byte, 1)))
	assert.Equal(t, map[string]uint64{"send_global_full": 1}, h2.s.Stats().Closed)
}
